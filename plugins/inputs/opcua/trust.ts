/**
 * Trust, both directions, explained as what an operator must do next: the gateway trusts the server's
 * certificate (`layergate pki trust`), the server trusts the gateway's (an admin on the server), and
 * the server accepts the user. Thumbprints, and a failed connect or session turned into an error and
 * a warning that name the exact next command.
 *
 * Design constraints:
 * - Unknown server certificates are never accepted automatically: node-opcua puts them in
 *   <pkiDir>/rejected; the error names the thumbprint and where to move the file, or the
 *   `layergate pki trust` command, so the next connect attempt succeeds.
 * - A command in a hint runs as printed: it names the config file the gateway was started with
 *   (`-c`, absolute), plus `--input` when this input has a PKI folder of its own; without a config
 *   file, the PKI folder itself (`--pki`). A hint never shows a secret, only where it comes from.
 * - Logged at warn, at most once per distinct hint per 10 minutes: the input retries every few
 *   seconds, the operator needs the message once, not a page of it.
 * - A hint never holds up the next connect attempt for long: the probe that reads the server's
 *   certificate gives up after 5 s (the hint then names the certificate in rejected/).
 */
// first: node-opcua must not print to stdout (see the module)
import './node-opcua-log.js';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { OPCUAClient } from 'node-opcua';
import type { Logger } from 'pino';
import YAML from 'yaml';
import { OpcuaAccessDeniedError, OpcuaClientRejectedError, OpcuaUntrustedServerError } from '../../../gateway/plugin-api/index.js';
import { withTimeout } from './deadline.js';

/** SHA-1 thumbprint of a DER certificate (what OPC-UA tools and node-opcua's PKI show), lowercase hex. */
export function thumbprint(der: Buffer): string {
  return createHash('sha1').update(der).digest('hex');
}

export function pemToDer(pem: string): Buffer {
  const m = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(pem);
  return Buffer.from((m?.[1] ?? '').replace(/\s+/g, ''), 'base64');
}

/** What a hint needs to name the next command and the gateway's own certificate. */
export interface HintContext {
  endpoint: string;
  pkiDir: string;
  /** the config file the gateway was started with (absolute), when it was started with one */
  configFile: string | undefined;
  /** the input's name (config key) */
  inputName: string | undefined;
  /** the input has a `pkiDir` of its own: the command must name the input */
  ownPkiDir: boolean;
  /** the gateway's certificate, as the server sees it */
  ownCertificate: () => { file: string; thumbprint: string } | undefined;
  /** the configured user name, when the input logs in with one */
  username: string | undefined;
  /**
   * A client on the input's own PKI, for the probe that reads the server's certificate: a client
   * without one would use node-opcua's machine-wide default PKI, made on first use under a lock
   * that another node-opcua program on the host may hold for minutes.
   */
  probeClient: () => OPCUAClient;
}

const quote = (s: string): string => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** `layergate pki <verb> [args] -c <config> [--input <name>]`, or `--pki <dir>` without a config file: runnable as printed. */
export function pkiCommand(h: Pick<HintContext, 'configFile' | 'inputName' | 'ownPkiDir' | 'pkiDir'>, verb: string, ...args: string[]): string {
  const where =
    h.configFile !== undefined
      ? [`-c ${quote(h.configFile)}`, ...(h.ownPkiDir && h.inputName !== undefined ? [`--input ${quote(h.inputName)}`] : [])]
      : [`--pki ${quote(h.pkiDir)}`];
  return ['layergate pki', verb, ...args, ...where].join(' ');
}

/** Logs each distinct hint at warn once per 10 minutes. */
export class HintLog {
  private readonly last = new Map<string, number>();
  constructor(private readonly log: () => Logger | undefined) {}
  warn(fields: Record<string, unknown>, message: string): void {
    const now = Date.now();
    const at = this.last.get(message);
    if (at !== undefined && now - at < 600_000) return;
    this.last.set(message, now);
    this.log()?.warn(fields, message);
  }
}

/**
 * Turn a failed connect into an error an operator can act on, and log it at warn with the next
 * command: the server's certificate not trusted by the gateway, or the gateway's not by the server.
 */
export async function explainConnectError(err: unknown, h: HintContext, hints: HintLog): Promise<Error> {
  const msg = err instanceof Error ? err.message : String(err);
  if (/certificate verification failed/i.test(msg)) return untrustedServer(err, h, hints);
  // the server refused our OpenSecureChannel: node-opcua servers say BadSecurityChecksFailed, others BadCertificate*
  if (/BadCertificateUntrusted|BadSecurityChecksFailed|BadCertificateUriInvalid|BadCertificateInvalid|BadCertificateHostNameInvalid/.test(msg)) {
    return rejectedByServer(err, msg, h, hints);
  }
  return err instanceof Error ? err : new Error(msg);
}

async function untrustedServer(err: unknown, h: HintContext, hints: HintLog): Promise<Error> {
  const rejected = path.join(h.pkiDir, 'rejected');
  const trusted = path.join(h.pkiDir, 'trusted', 'certs');
  let found: { file: string; tp: string } | undefined;
  const serverTp = await serverThumbprint(h.endpoint, h.probeClient).catch(() => undefined);
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
  const command = pkiCommand(h, 'trust', tp);
  const where = found ? `run \`${command}\` (it moves ${found.file} to ${trusted}/)` : `put the server's certificate into ${trusted}/`;
  const e = new OpcuaUntrustedServerError(
    `the OPC-UA server certificate of ${h.endpoint} is not trusted by the gateway (SHA-1 thumbprint ${tp}); ` +
      `check the thumbprint against the one the server shows, then ${where}; the input connects on its next attempt`,
    { cause: err },
  );
  hints.warn({ thumbprint: tp, rejected: found?.file, trusted, command: found ? command : undefined }, e.message);
  return e;
}

function rejectedByServer(err: unknown, msg: string, h: HintContext, hints: HintLog): Error {
  const code = /Bad[A-Za-z]+/.exec(msg)?.[0] ?? 'rejected';
  const own = h.ownCertificate();
  const e = new OpcuaClientRejectedError(
    `the OPC-UA server ${h.endpoint} refused the gateway's certificate (${code}): the server does not trust it yet. ` +
      `On the server, trust the gateway's certificate ${own ? `(SHA-1 thumbprint ${own.thumbprint}, file ${own.file})` : `(in ${path.join(h.pkiDir, 'own', 'certs')})`}: ` +
      "most servers list it among their rejected certificates after this attempt; move it to the server's trusted list. " +
      `\`${pkiCommand(h, 'list')}\` shows it; the input connects on its next attempt`,
    { cause: err },
  );
  hints.warn({ status: code, thumbprint: own?.thumbprint, certificate: own?.file }, e.message);
  return e;
}

/**
 * Turn a refused session (user name or password not accepted) into an error naming where the
 * credentials come from, logged at warn; anything else is returned as it is.
 */
export function explainSessionError(err: unknown, h: HintContext, hints: HintLog): Error {
  const msg = err instanceof Error ? err.message : String(err);
  const code = /BadUserAccessDenied|BadIdentityTokenRejected|BadIdentityTokenInvalid/.exec(msg)?.[0];
  if (code === undefined) return err instanceof Error ? err : new Error(msg);
  const sources = credentialSources(h);
  const what =
    h.username === undefined
      ? 'the server refuses anonymous login: set `username` and `password` (from an environment variable, `password: ${OPCUA_PASSWORD}`) of the input'
      : `the server refused user "${h.username}" with the configured password: check the user on the server and the password${sources ? ` (${sources})` : ''}`;
  const e = new OpcuaAccessDeniedError(`the OPC-UA server ${h.endpoint} refused the session (${code}): ${what}; the input tries again on its next attempt`, {
    cause: err,
  });
  hints.warn({ status: code, username: h.username }, e.message);
  return e;
}

/** where the input's user name and password come from: `inputs.<name>.password: ${VAR}` of the config file */
function credentialSources(h: HintContext): string | undefined {
  if (h.configFile === undefined || h.inputName === undefined) return undefined;
  try {
    const raw = YAML.parse(readFileSync(h.configFile, 'utf8')) as { inputs?: Record<string, { username?: unknown; password?: unknown }> };
    const entry = raw?.inputs?.[h.inputName];
    const vars = (v: unknown) => (typeof v === 'string' ? [...v.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => `$${m[1]}`) : []);
    const parts: string[] = [];
    const pw = vars(entry?.password);
    const user = vars(entry?.username);
    parts.push(pw.length > 0 ? `password from ${pw.join(', ')}` : `password written in inputs.${h.inputName}.password`);
    if (user.length > 0) parts.push(`user name from ${user.join(', ')}`);
    return `${parts.join(', ')} in ${h.configFile}; the gateway reads the environment at start: restart it after changing a variable`;
  } catch {
    return undefined;
  }
}

/** how long the hint waits for the server's endpoints, and for the probe's disconnect: it delays the input's next connect attempt */
const PROBE_TIMEOUT_MS = 5000;

/** The thumbprint of the certificate the server offers for our security policy (via GetEndpoints); an OpcuaTimeoutError when it does not tell in time. */
async function serverThumbprint(endpoint: string, probeClient: () => OPCUAClient): Promise<string | undefined> {
  const probe = probeClient();
  const read = async () => {
    await probe.connect(endpoint);
    const eps = await probe.getEndpoints();
    const cert = eps.find((e) => e.serverCertificate && e.serverCertificate.length > 0)?.serverCertificate;
    return cert ? thumbprint(Buffer.from(cert)) : undefined;
  };
  try {
    return await withTimeout(read(), PROBE_TIMEOUT_MS, `read the server certificate of ${endpoint}`);
  } finally {
    await withTimeout(probe.disconnect(), PROBE_TIMEOUT_MS, 'disconnect the probe').catch(() => undefined);
  }
}
