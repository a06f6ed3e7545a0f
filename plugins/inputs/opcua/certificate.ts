/**
 * The gateway's own OPC-UA application certificate: made with the plant's subject (config
 * `certificate`: organisation, unit, locality, country, application URI, host names) on the first
 * start, renewed by `layergate pki renew`, and read back (subject, URI, thumbprint) for the session
 * and for the log's hints.
 *
 * Design constraints:
 * - The certificate is made here, not by node-opcua's client (whose default subject is its vendor's,
 *   O=Sterfive, L=Orleans): the client finds the file present and uses it.
 * - The application URI a session announces is the one in the certificate on disk, whatever the config
 *   says now: a server checks that they match (BadCertificateUriInvalid), and a certificate made
 *   before a config change is still the one the servers trust. A difference is logged with the
 *   renewal command.
 * - Renewal keeps the key pair (own/private/private_key.pem) and moves the old certificate to
 *   own/backup/ (outside own/certs, so it is never offered and `pki list` shows it apart): moving it
 *   back undoes the renewal.
 */
// first: node-opcua must not print to stdout (see the module)
import './node-opcua-log.js';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { OPCUACertificateManager } from 'node-opcua';
import type { CertificateConfig } from './schema.js';

export interface OwnCertificateSettings {
  applicationName: string;
  certificate: CertificateConfig;
}

/** What the certificate should say, with the defaults that depend on the host filled in. */
export interface WantedCertificate {
  subject: {
    commonName: string;
    organization: string;
    organizationalUnit?: string;
    locality?: string;
    state?: string;
    country?: string;
  };
  applicationUri: string;
  dnsNames: string[];
  ipAddresses: string[];
  validityDays: number;
}

export function wantedCertificate(s: OwnCertificateSettings, hostname = os.hostname()): WantedCertificate {
  const c = s.certificate;
  const subject: WantedCertificate['subject'] = { commonName: c.commonName ?? `${s.applicationName}@${hostname}`, organization: c.organization };
  if (c.organizationalUnit !== undefined) subject.organizationalUnit = c.organizationalUnit;
  if (c.locality !== undefined) subject.locality = c.locality;
  if (c.state !== undefined) subject.state = c.state;
  if (c.country !== undefined) subject.country = c.country;
  return {
    subject,
    applicationUri: c.applicationUri ?? `urn:${hostname}:${s.applicationName}`,
    dnsNames: c.dnsNames ?? [hostname],
    ipAddresses: c.ipAddresses,
    validityDays: c.validityDays,
  };
}

/** where node-opcua's client looks for the certificate (its default name in the PKI folder) */
export function ownCertificateFile(pkiDir: string): string {
  return path.join(pkiDir, 'own', 'certs', 'client_certificate.pem');
}

export interface CertificateInfo {
  file: string;
  /** SHA-1 of the DER bytes, lowercase hex (what OPC-UA tools and servers' trust lists show) */
  thumbprint: string;
  /** "CN=..., O=..., L=..." */
  subject: string;
  applicationUri: string | undefined;
  dnsNames: string[];
  validTo: string;
}

export function readCertificateInfo(file: string): CertificateInfo {
  const cert = new X509Certificate(readFileSync(file));
  const san = (cert.subjectAltName ?? '').split(/,\s*/);
  return {
    file,
    thumbprint: cert.fingerprint.replace(/:/g, '').toLowerCase(),
    subject: cert.subject.replace(/\n/g, ', '),
    applicationUri: san.find((x) => x.startsWith('URI:'))?.slice(4),
    dnsNames: san.filter((x) => x.startsWith('DNS:')).map((x) => x.slice(4)),
    validTo: cert.validTo,
  };
}

/** The settings in which a certificate differs from what the config asks for ("O=Sterfive (config: LayerGate)"). */
export function certificateDifferences(info: CertificateInfo, want: WantedCertificate): string[] {
  const have = new Map(info.subject.split(', ').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
  const fields: [string, string | undefined][] = [
    ['CN', want.subject.commonName],
    ['O', want.subject.organization],
    ['OU', want.subject.organizationalUnit],
    ['L', want.subject.locality],
    ['ST', want.subject.state],
    ['C', want.subject.country],
  ];
  const out: string[] = [];
  for (const [k, v] of fields) if (have.get(k) !== v) out.push(`${k}=${have.get(k) ?? '(none)'} (config: ${v ?? '(none)'})`);
  if (info.applicationUri !== want.applicationUri) out.push(`URI ${info.applicationUri ?? '(none)'} (config: ${want.applicationUri})`);
  const dns = [...info.dnsNames].sort().join(',');
  if (dns !== [...want.dnsNames].sort().join(',')) out.push(`DNS ${dns || '(none)'} (config: ${want.dnsNames.join(',')})`);
  return out;
}

/** A certificate manager on the PKI folder, initialised (it makes the key pair on first use). */
export async function openCertificateManager(pkiDir: string): Promise<OPCUACertificateManager> {
  for (const d of ['own', 'trusted', 'rejected']) mkdirSync(path.join(pkiDir, d), { recursive: true });
  // no file watchers: the input reads the folders before each connect attempt instead. With them,
  // an admin's move seen halfway (gone from rejected/, not yet in trusted/) during an attempt got the
  // certificate filed as unknown into rejected/ again, or moved back there from trusted/
  const cm = new OPCUACertificateManager({ rootFolder: pkiDir, automaticallyAcceptUnknownCertificate: false, disableFileWatchers: true });
  await cm.initialize();
  return cm;
}

async function createCertificate(cm: OPCUACertificateManager, file: string, want: WantedCertificate): Promise<void> {
  mkdirSync(path.dirname(file), { recursive: true });
  await cm.createSelfSignedCertificate({
    outputFile: file,
    subject: want.subject,
    applicationUri: want.applicationUri,
    dns: want.dnsNames,
    ip: want.ipAddresses,
    startDate: new Date(),
    validity: want.validityDays,
  });
}

/** The certificate in the PKI folder, made with the configured subject when there is none yet. */
export async function ensureOwnCertificate(cm: OPCUACertificateManager, pkiDir: string, s: OwnCertificateSettings): Promise<CertificateInfo> {
  const file = ownCertificateFile(pkiDir);
  if (!existsSync(file)) await createCertificate(cm, file, wantedCertificate(s));
  return readCertificateInfo(file);
}

export interface Renewal {
  certificate: CertificateInfo;
  /** where the previous certificate went (undefined when there was none) */
  backup: string | undefined;
}

/** A new certificate with the configured subject (same key pair); the old one moves to own/backup/. */
export async function renewOwnCertificate(pkiDir: string, s: OwnCertificateSettings, now = new Date()): Promise<Renewal> {
  const cm = await openCertificateManager(pkiDir);
  try {
    const file = ownCertificateFile(pkiDir);
    let backup: string | undefined;
    if (existsSync(file)) {
      const dir = path.join(pkiDir, 'own', 'backup');
      mkdirSync(dir, { recursive: true });
      backup = path.join(dir, `client_certificate.${now.toISOString().replace(/[:.]/g, '-')}.pem`);
      renameSync(file, backup);
    }
    try {
      await createCertificate(cm, file, wantedCertificate(s));
    } catch (err) {
      // leave the folder as it was: the old certificate keeps working
      if (backup !== undefined && !existsSync(file)) renameSync(backup, file);
      throw err;
    }
    return { certificate: readCertificateInfo(file), backup };
  } finally {
    await cm.dispose();
  }
}
