/**
 * The simulator's OPC-UA server certificate, as an admin reads it on the machine: the PEM file in the
 * simulator's PKI folder and its SHA-1 thumbprint, the one the gateway's trust hints and `pki list` show.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pemToDer, thumbprint } from '../trust.js';

/** the PEM file of the server certificate of a simulator whose data folder is `simDir` */
export function simulatorCertificateFile(simDir: string): string {
  const dir = path.join(simDir, 'opcua', 'pki', 'own', 'certs');
  const pem = readdirSync(dir).find((f) => f.endsWith('.pem'));
  if (!pem) throw new Error(`no certificate in ${dir}`);
  return path.join(dir, pem);
}

/** its SHA-1 thumbprint, lowercase hex */
export function simulatorThumbprint(simDir: string): string {
  return thumbprint(pemToDer(readFileSync(simulatorCertificateFile(simDir), 'utf8')));
}
