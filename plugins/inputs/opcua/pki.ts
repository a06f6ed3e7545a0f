/**
 * The OPC-UA trust list as an admin handles it (`layergate pki`): list the gateway's own certificate
 * and the trusted and rejected server certificates, and trust or reject one by its SHA-1 thumbprint.
 * Works on the files of node-opcua's PKI layout (own/certs, trusted/certs, rejected/); the running
 * input picks a newly trusted certificate up on its next connect attempt.
 *
 * Design constraints:
 * - A move, never a copy or an edit: the certificate bytes an admin trusts are the bytes the server
 *   presented.
 * - Trusted wins: a certificate in trusted/ and in rejected/ at once is trusted (the input removes
 *   the rejected copy before its next attempt, `dropRejectedDuplicates`). node-opcua files an
 *   unknown certificate into rejected/ during a connect attempt, so a copy there can appear beside
 *   one an admin has just trusted.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';

export interface PkiCertificate {
  /** own | trusted | rejected */
  where: 'own' | 'trusted' | 'rejected';
  file: string;
  /** SHA-1 of the DER bytes, lowercase hex without separators */
  thumbprint: string;
  subject: string;
  validTo: string;
}

const FOLDERS: Record<PkiCertificate['where'], string> = { own: 'own/certs', trusted: 'trusted/certs', rejected: 'rejected' };

function readCertificate(file: string): X509Certificate | undefined {
  try {
    return new X509Certificate(readFileSync(file));
  } catch {
    return undefined;
  }
}

/** Every certificate in the PKI folder. */
export function listCertificates(pkiDir: string): PkiCertificate[] {
  const out: PkiCertificate[] = [];
  for (const [where, sub] of Object.entries(FOLDERS) as [PkiCertificate['where'], string][]) {
    const dir = path.join(pkiDir, sub);
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir).sort()) {
      if (!/\.(pem|der|crt)$/i.test(f)) continue;
      const file = path.join(dir, f);
      const cert = readCertificate(file);
      if (!cert) continue;
      out.push({
        where,
        file,
        thumbprint: cert.fingerprint.replace(/:/g, '').toLowerCase(),
        subject: cert.subject.replace(/\n/g, ', '),
        validTo: cert.validTo,
      });
    }
  }
  return out;
}

/**
 * Move the certificate whose thumbprint starts with `thumbprint` (at least 8 hex digits) between
 * rejected/ and trusted/certs/. Throws naming what was not found or ambiguous.
 */
export function moveCertificate(pkiDir: string, thumbprint: string, to: 'trusted' | 'rejected'): PkiCertificate {
  const want = thumbprint.replace(/:/g, '').toLowerCase();
  if (!/^[0-9a-f]{8,40}$/.test(want)) throw new Error(`expected a SHA-1 thumbprint (8 to 40 hex digits), got "${thumbprint}"`);
  const from = to === 'trusted' ? 'rejected' : 'trusted';
  const matches = listCertificates(pkiDir).filter((c) => c.thumbprint.startsWith(want));
  const candidates = matches.filter((c) => c.where === from);
  if (candidates.length === 0) {
    const already = matches.find((c) => c.where === to);
    if (already) return already;
    throw new Error(`no certificate with thumbprint ${want} in ${path.join(pkiDir, FOLDERS[from])}`);
  }
  if (candidates.length > 1) throw new Error(`thumbprint ${want} matches ${candidates.length} certificates; give more digits`);
  const c = candidates[0]!;
  const dir = path.join(pkiDir, FOLDERS[to]);
  mkdirSync(dir, { recursive: true });
  const dest = path.join(dir, path.basename(c.file));
  renameSync(c.file, dest);
  return { ...c, where: to, file: dest };
}

/** Remove each certificate in rejected/ whose thumbprint is also in trusted/certs/; returns what was removed. */
export function dropRejectedDuplicates(pkiDir: string): PkiCertificate[] {
  const certs = listCertificates(pkiDir);
  const trusted = new Set(certs.filter((c) => c.where === 'trusted').map((c) => c.thumbprint));
  const duplicates = certs.filter((c) => c.where === 'rejected' && trusted.has(c.thumbprint));
  for (const c of duplicates) rmSync(c.file, { force: true });
  return duplicates;
}
