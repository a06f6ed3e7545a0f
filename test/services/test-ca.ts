/**
 * The harness's TLS material for a server: a test CA and a server certificate for 127.0.0.1/localhost
 * signed by it, made with Debian's openssl CLI once and kept across runs. Each server has a CA of its
 * own (`<certs>/ca.crt`, what its clients trust), so trusting one server's CA trusts no other.
 *
 * Layout, in the folder of `caFile`: `ca.crt`, `ca.key`, `server.crt`, `server.key`, `server.csr`,
 * `server.ext` (the SAN and key usages of a TLS server certificate).
 */
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { HOST } from './endpoints.js';
import { ensureDir, runLogged, step } from './process.js';

const SERVER_EXTENSIONS =
  'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n';

export interface ServerCertificate {
  cert: string;
  key: string;
}

/** The CA (`caFile`, common name `caName`) and the server certificate beside it; made when any is missing. */
export async function serverCertificate(opts: { service: string; caFile: string; caName: string; logFile: string }): Promise<ServerCertificate> {
  const dir = path.dirname(opts.caFile);
  const cert = path.join(dir, 'server.crt');
  const key = path.join(dir, 'server.key');
  if (existsSync(opts.caFile) && existsSync(cert) && existsSync(key)) return { cert, key };
  ensureDir(dir);
  const caKey = path.join(dir, 'ca.key');
  const csr = path.join(dir, 'server.csr');
  const extensions = path.join(dir, 'server.ext');
  writeFileSync(extensions, SERVER_EXTENSIONS);
  const openssl = (...args: string[]): Promise<void> => runLogged(opts.service, 'openssl', args, { logFile: opts.logFile });
  await step(`${opts.service}: generate test CA and server certificate`, async () => {
    await openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', caKey, '-out', opts.caFile, '-days', '3650', '-subj', `/CN=${opts.caName}`);
    await openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${HOST}`);
    await openssl('x509', '-req', '-in', csr, '-CA', opts.caFile, '-CAkey', caKey, '-CAcreateserial', '-out', cert, '-days', '825', '-extfile', extensions);
  });
  return { cert, key };
}
