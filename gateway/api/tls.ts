/**
 * The API's TLS certificate: the one configured (`api.tls.certFile`/`keyFile`), or a self-signed one
 * made on first start and kept in `<dataDir>/api/tls/` (cert.pem, key.pem with mode 0600), so that
 * the API is HTTPS from the first start with nothing to configure. Its SHA-256 fingerprint is
 * logged at start and printed by `layergate api info`, for a browser's or a script's first visit
 * to be checked against.
 *
 * The generated certificate: ECDSA P-256, valid for 10 years (an appliance on a closed plant
 * network has no ACME), names the host name, `localhost`, 127.0.0.1 and ::1.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generate } from 'selfsigned';
import { ApiTlsError } from '../plugin-api/errors.js';

export interface TlsMaterial {
  cert: string;
  key: string;
  /** SHA-256 of the certificate (DER), colon-separated upper-case hex as browsers show it */
  fingerprint: string;
  /** where the certificate came from */
  source: 'configured' | 'generated' | 'kept';
  certFile: string;
  /** the certificate's end of validity */
  validTo: string;
}

export function tlsDir(apiDir: string): string {
  return path.join(apiDir, 'tls');
}

/** The configured certificate, or the generated one (made now when missing). */
export async function loadTls(apiDir: string, configured: { certFile?: string | undefined; keyFile?: string | undefined }): Promise<TlsMaterial> {
  if (configured.certFile !== undefined || configured.keyFile !== undefined) {
    if (configured.certFile === undefined || configured.keyFile === undefined) {
      throw new ApiTlsError('api.tls: certFile and keyFile go together (give both, or neither for the generated certificate)');
    }
    return material(readPem(configured.certFile, 'api.tls.certFile'), readPem(configured.keyFile, 'api.tls.keyFile'), 'configured', configured.certFile);
  }
  const dir = tlsDir(apiDir);
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  if (existsSync(certFile) && existsSync(keyFile)) return material(readPem(certFile, certFile), readPem(keyFile, keyFile), 'kept', certFile);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const host = os.hostname();
  const now = new Date();
  const pems = await generate([{ name: 'commonName', value: `LayerGate ${host}` }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(now.getTime() - 60_000),
    notAfterDate: new Date(now.getTime() + 10 * 365 * 24 * 3600_000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: host },
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  });
  // the key first, then the certificate by rename: a crash between them leaves no certificate
  // without its key (the next start makes both again)
  writeFileSync(keyFile, pems.private, { mode: 0o600 });
  writeFileSync(`${certFile}.tmp`, pems.cert, { mode: 0o644 });
  renameSync(`${certFile}.tmp`, certFile);
  return material(pems.cert, pems.private, 'generated', certFile);
}

function readPem(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new ApiTlsError(`${what}: cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
}

function material(cert: string, key: string, source: TlsMaterial['source'], certFile: string): TlsMaterial {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new ApiTlsError(`${certFile}: not a PEM certificate: ${(err as Error).message}`, { cause: err });
  }
  return { cert, key, fingerprint: x509.fingerprint256, source, certFile, validTo: new Date(x509.validTo).toISOString() };
}

/** The fingerprint of the certificate a running or stopped gateway serves (for `layergate api info`). */
export function certificateFingerprint(certFile: string): { fingerprint: string; validTo: string } | undefined {
  if (!existsSync(certFile)) return undefined;
  const x509 = new X509Certificate(readFileSync(certFile));
  return { fingerprint: x509.fingerprint256, validTo: new Date(x509.validTo).toISOString() };
}
