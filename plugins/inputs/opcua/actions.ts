/**
 * The OPC-UA input's actions in the control-plane API (gateway/plugin-api/actions.ts), beside its
 * `layergate pki` commands (./commands.ts) and on the same functions (./pki.ts):
 *
 *   GET  /api/v1/plugins/opcua/<input>/actions/pki-list     viewer     own, trusted and rejected certificates
 *   POST /api/v1/plugins/opcua/<input>/actions/pki-trust    operator   { thumbprint }: rejected/ -> trusted/
 *   POST /api/v1/plugins/opcua/<input>/actions/pki-reject   operator   { thumbprint }: trusted/ -> rejected/
 *
 * The folder is the input's as the running input uses it (its `pkiDir`, else <dataDir>/pki/opcua).
 * A folder the input has not made yet, or a thumbprint that names no certificate there, is a 404
 * that says where it looked; the running input connects to a newly trusted server at its next attempt.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { ApiInvalidRequestError, ApiNotFoundError, defineAction } from '../../../gateway/plugin-api/index.js';
import type { ActionContext, PluginActions } from '../../../gateway/plugin-api/index.js';
import { listCertificates, moveCertificate } from './pki.js';
import type { OpcuaConfig } from './schema.js';

const action = defineAction<OpcuaConfig>();

const certificate = z.object({
  where: z.enum(['own', 'trusted', 'rejected']),
  file: z.string(),
  thumbprint: z.string(),
  subject: z.string(),
  validTo: z.string(),
});

/** the input's PKI folder, which must exist (the input makes it at its first start) */
function pkiDir(ctx: ActionContext<OpcuaConfig>): string {
  const dir = path.resolve(ctx.instance.settings.pkiDir ?? path.join(ctx.config.dataDir, 'pki', 'opcua'));
  if (!['own', 'trusted', 'rejected'].some((d) => existsSync(path.join(dir, d))))
    throw new ApiNotFoundError(`opcua input ${ctx.instance.name}: no PKI folder at ${dir} yet (the input makes it at its first start)`);
  return dir;
}

const thumbprintInput = z.strictObject({
  thumbprint: z
    .string()
    .regex(/^[0-9a-fA-F:]{8,59}$/, { message: 'expected a SHA-1 thumbprint (8 to 40 hex digits, `:` allowed)' })
    .meta({ description: 'SHA-1 thumbprint, or its first 8+ hex digits, as `pki-list` or the log shows it' }),
});

function move(to: 'trusted' | 'rejected') {
  return (input: { thumbprint: string }, ctx: ActionContext<OpcuaConfig>) => {
    const dir = pkiDir(ctx);
    try {
      return moveCertificate(dir, input.thumbprint, to);
    } catch (err) {
      const message = `opcua input ${ctx.instance.name}: ${(err as Error).message}`;
      throw /matches \d+ certificates/.test(message) ? new ApiInvalidRequestError(message) : new ApiNotFoundError(message);
    }
  };
}

export const opcuaActions: PluginActions<OpcuaConfig> = {
  'pki-list': action({
    description: "the input's PKI folder: the gateway's own certificate, trusted and rejected server certificates (as `layergate pki list --json`)",
    role: 'viewer',
    changes: false,
    input: z.strictObject({}),
    output: z.array(certificate),
    run: (_input, ctx) => listCertificates(pkiDir(ctx)),
  }),
  'pki-trust': action({
    description: 'trust a rejected server certificate (moved to trusted/); the input connects at its next attempt',
    role: 'operator',
    changes: true,
    input: thumbprintInput,
    output: certificate,
    run: move('trusted'),
  }),
  'pki-reject': action({
    description: 'reject a trusted server certificate again (moved back to rejected/)',
    role: 'operator',
    changes: true,
    input: thumbprintInput,
    output: certificate,
    run: move('rejected'),
  }),
};
