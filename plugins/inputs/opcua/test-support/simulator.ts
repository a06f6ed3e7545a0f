/**
 * The simulator as the OPC-UA input's tests meet it: a machine with an OPC-UA server that wants a
 * user and password, 1 s layers at real speed and 10 Hz process values; and its server certificate
 * as an admin reads it on the machine (the PEM file, and the SHA-1 thumbprint the gateway's trust
 * hints and `pki list` show).
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { makeConfig } from '../../../../simulator/config.js';
import { Simulator } from '../../../../simulator/engine.js';
import { freePort } from '../../../../test/support/wait.js';
import { pemToDer, thumbprint } from '../trust.js';

/** the user the simulator's OPC-UA server accepts */
export const SIMULATOR_USER = { username: 'operator', password: 'sim-secret' };
/** the machine's folder in the simulator's address space (browse path) */
export const SIMULATOR_ROOT = '/Objects/MA:Machines/SIM:pbf-sim-01';
export const SIMULATOR_START_MS = Date.UTC(2026, 0, 1);

/**
 * An opcua input's settings for the trust tests: the chamber temperature over a SignAndEncrypt
 * session with the simulator's user, machine context off, reconnecting within a second.
 */
export function encryptedChamberInput(endpoint: string) {
  return {
    endpoint,
    username: SIMULATOR_USER.username,
    password: SIMULATOR_USER.password,
    securityMode: 'SignAndEncrypt',
    machine: { enabled: false },
    items: [{ node: `${SIMULATOR_ROOT}/SIM:Monitoring/SIM:Chamber/SIM:Temperature` }],
    reconnect: { initial: '100ms', max: '1s' },
  };
}

/** A started simulator (seed 11, a 5,000-layer job) in a new data folder named after `name`. */
export async function startOpcuaSimulator(name: string): Promise<{ sim: Simulator; simDir: string }> {
  const simDir = mkdtempSync(path.join(os.tmpdir(), `lg-${name}-sim-`));
  const cfg = makeConfig({
    seed: 11,
    startTimeMs: SIMULATOR_START_MS,
    job: { totalLayers: 5000 },
    timing: { idleS: 0, inertingS: 0.5, layerS: 1, recoatS: 0.25, speed: 1 },
    process: { rateHz: 10 },
  });
  const sim = new Simulator({ cfg, dataDir: simDir, log: pino({ level: 'silent' }), opcua: { port: await freePort(), user: SIMULATOR_USER }, controlPort: 0 });
  await sim.start();
  return { sim, simDir };
}

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
