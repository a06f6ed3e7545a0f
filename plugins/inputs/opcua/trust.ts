/**
 * Trust in OPC-UA server certificates: thumbprints, and a failed connect explained as what an
 * operator must do.
 *
 * Design constraints:
 * - Unknown server certificates are never accepted automatically: node-opcua puts them in
 *   <pkiDir>/rejected; the error names the thumbprint and where to move the file (or the
 *   `layergate pki trust` command), so the next connect attempt succeeds.
 */
// first: node-opcua must not print to stdout (see the module)
import './node-opcua-log.js';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { OPCUAClient } from 'node-opcua';
import type { Logger } from 'pino';
import { OpcuaUntrustedServerError } from '../../../gateway/plugin-api/index.js';

/** SHA-1 thumbprint of a DER certificate (what OPC-UA tools and node-opcua's PKI show), lowercase hex. */
export function thumbprint(der: Buffer): string {
  return createHash('sha1').update(der).digest('hex');
}

export function pemToDer(pem: string): Buffer {
  const m = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(pem);
  return Buffer.from((m?.[1] ?? '').replace(/\s+/g, ''), 'base64');
}

/** Turn a failed connect into an error an operator can act on (logged at error when it is about trust). */
export async function explainConnectError(err: unknown, endpoint: string, pkiDir: string, log: Logger | undefined): Promise<Error> {
  const msg = err instanceof Error ? err.message : String(err);
  if (!/certificate verification failed/i.test(msg)) return err instanceof Error ? err : new Error(msg);
  const rejected = path.join(pkiDir, 'rejected');
  const trusted = path.join(pkiDir, 'trusted', 'certs');
  let found: { file: string; tp: string } | undefined;
  const serverTp = await serverThumbprint(endpoint).catch(() => undefined);
  try {
    for (const f of readdirSync(rejected)) {
      if (!/\.(pem|der)$/.test(f)) continue;
      const raw = readFileSync(path.join(rejected, f));
      const der = f.endsWith('.pem') ? pemToDer(raw.toString('utf8')) : raw;
      const tp = thumbprint(der);
      if (serverTp === undefined || serverTp === tp) found = { file: path.join(rejected, f), tp };
      if (found) break;
    }
  } catch {
    /* no rejected folder yet: fall through with what the server tells */
  }
  const tp = found?.tp ?? serverTp ?? 'unknown';
  const where = found ? `move ${found.file} to ${trusted}/` : `put the server's certificate into ${trusted}/`;
  const e = new OpcuaUntrustedServerError(
    `the OPC-UA server certificate of ${endpoint} is not trusted (SHA-1 thumbprint ${tp}); ` +
      `to trust it, ${where} (or run \`layergate pki trust ${tp}\`) and the input connects on its next attempt`,
    { cause: err },
  );
  log?.error({ thumbprint: tp, rejected: found?.file, trusted }, e.message);
  return e;
}

/** The thumbprint of the certificate the server offers for our security policy (via GetEndpoints). */
async function serverThumbprint(endpoint: string): Promise<string | undefined> {
  const probe = OPCUAClient.create({ endpointMustExist: false, connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 } });
  try {
    await probe.connect(endpoint);
    const eps = await probe.getEndpoints();
    const cert = eps.find((e) => e.serverCertificate && e.serverCertificate.length > 0)?.serverCertificate;
    return cert ? thumbprint(Buffer.from(cert)) : undefined;
  } finally {
    await probe.disconnect().catch(() => undefined);
  }
}
