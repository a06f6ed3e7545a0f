/**
 * node-opcua's machine-wide default PKI (~/.config/node-opcua-default-nodejs/PKI) is shared by every
 * node-opcua program of the user on the host, and made under a cross-process lock on first use. The
 * OPC-UA input must never wait for it: here another program holds that lock (a lock directory that is
 * not stale for two minutes, as a node-opcua process killed while making the folder leaves it), the
 * folder does not exist yet, and the input still reports an untrusted server with its thumbprint and
 * connects right after the admin trusts it.
 *
 * A file of its own: node-opcua keeps its default certificate manager per process, so the lock only
 * matters to a process that has not used the default PKI yet; XDG_CONFIG_HOME is where env-paths (and
 * so node-opcua) puts it, and is set before anything in this process touches it.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Simulator } from '../../../simulator/engine.js';
import { OpcuaRigs } from '../../../test/support/opcua-input.js';
import { waitFor } from '../../../test/support/wait.js';
import { moveCertificate } from './pki.js';
import { encryptedChamberInput, startOpcuaSimulator, simulatorThumbprint } from './test-support/simulator.js';

const configHome = mkdtempSync(path.join(os.tmpdir(), 'lg-opcua-xdg-'));
const defaultPki = path.join(configHome, 'node-opcua-default-nodejs', 'PKI');
const savedConfigHome = process.env.XDG_CONFIG_HOME;
process.env.XDG_CONFIG_HOME = configHome;
// held by "another program": node-opcua's lock is a directory, stale only after two minutes
mkdirSync(`${path.join(defaultPki, 'mutex')}.lock`, { recursive: true });

let simDir: string;
let sim: Simulator;
const rigs = new OpcuaRigs();

beforeAll(async () => {
  ({ sim, simDir } = await startOpcuaSimulator('opcua-shared'));
}, 60_000);

afterAll(async () => {
  await rigs.stopAll();
  await sim?.stop();
  rigs.removeAll();
  if (savedConfigHome === undefined) delete process.env.XDG_CONFIG_HOME;
  else process.env.XDG_CONFIG_HOME = savedConfigHome;
  for (const d of [simDir, configHome]) if (d) rmSync(d, { recursive: true, force: true });
});

describe("opcua input beside another program holding node-opcua's default PKI lock", () => {
  it('names the untrusted server by its thumbprint and connects right after the trust, without waiting for the lock', async () => {
    const { dataDir, buffer, pipeline, input } = rigs.open(encryptedChamberInput(sim.opcuaEndpoint!));
    await input.start(pipeline.contextFor('opcua'));
    const tp = simulatorThumbprint(simDir);
    const err = await waitFor('the untrusted-certificate error', () => input.stats().lastError?.includes('not trusted') && input.stats().lastError!, 20_000);
    expect(err).toContain(`thumbprint ${tp}`);

    const attempts = input.stats().connectAttempts;
    moveCertificate(path.join(dataDir, 'pki', 'opcua'), tp, 'trusted');
    await waitFor('values once trusted', () => buffer.read('lake', 1000).length >= 3, 20_000);
    // a few reconnects at most (1 s apart), not one stalled attempt
    expect(input.stats().connectAttempts - attempts).toBeLessThanOrEqual(3);
    // the input never made the shared folder: its own PKI served every client, the probe's included
    expect(readdirSync(defaultPki)).toEqual(['mutex.lock']);
  }, 60_000);
});
