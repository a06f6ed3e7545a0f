/**
 * The OPC-UA input's PKI actions through the control-plane API (gateway/plugin-api/actions.ts) of a
 * running gateway against the simulator's real OPC-UA server (SignAndEncrypt): the server's
 * certificate, rejected by the gateway, is listed by `pki-list`; a viewer may not trust it; an
 * operator trusts it with `pki-trust`, the input connects, `pki-reject` takes it back; the changes are audited.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main as layergate } from '../../../gateway/cli/main.js';
import { type GatewayApiRig, startGatewayApi } from '../../../gateway/api/test-support/gateway-api-rig.js';
import type { GatewayStatus } from '../../../gateway/api/status.js';
import type { Simulator } from '../../../simulator/engine.js';
import { waitFor } from '../../../test/support/wait.js';
import type { PkiCertificate } from './pki.js';
import { encryptedChamberInput, startOpcuaSimulator, simulatorThumbprint } from './test-support/simulator.js';

const ACTIONS = '/api/v1/plugins/opcua/machine/actions';
let simDir: string;
let dir: string;
let sim: Simulator;
let rig: GatewayApiRig | undefined;

beforeAll(async () => {
  ({ sim, simDir } = await startOpcuaSimulator('opcua-api'));
  dir = mkdtempSync(path.join(os.tmpdir(), 'lg-opcua-api-'));
}, 60_000);

afterAll(async () => {
  await rig?.stop();
  await sim?.stop();
  for (const d of [simDir, dir]) if (d) rmSync(d, { recursive: true, force: true });
});

/** `layergate pki list --json` in this process */
async function cliList(configFile: string): Promise<PkiCertificate[]> {
  const write = process.stdout.write.bind(process.stdout);
  let stdout = '';
  process.stdout.write = ((chunk: string | Uint8Array) => {
    stdout += chunk.toString();
    return true;
  }) as typeof process.stdout.write;
  try {
    expect(await layergate(['node', 'layergate', 'pki', 'list', '-c', configFile, '--json'])).toBe(0);
  } finally {
    process.stdout.write = write;
    process.exitCode = undefined;
  }
  return JSON.parse(stdout) as PkiCertificate[];
}

describe('opcua PKI through the API', () => {
  it('a rejected server certificate is listed, refused to a viewer, trusted by an operator; then the input connects; rejected again', async () => {
    const r = (rig = await startGatewayApi(path.join(dir, 'layergate.json'), {
      gateway: { machine: 'pbf-01', dataDir: path.join(dir, 'data'), deliveryThread: false },
      inputs: {
        machine: { type: 'opcua', ...encryptedChamberInput(sim.opcuaEndpoint!) },
      },
      outputs: { lake: { type: 'file-lake', path: path.join(dir, 'lake') } },
      api: { statusInterval: '250ms' },
    }));
    const viewer = r.tokenFor('viewer');
    const operator = r.tokenFor('operator');
    const tp = simulatorThumbprint(simDir);
    const list = async (): Promise<PkiCertificate[]> => {
      const a = await r.request('GET', `${ACTIONS}/pki-list`, { token: viewer });
      expect(a.status, a.text).toBe(200);
      return a.json<PkiCertificate[]>();
    };
    const records = async (): Promise<number> => {
      const a = await r.request('GET', '/api/v1/status', { token: viewer });
      return a.json<GatewayStatus>().inputs.find((i) => i.name === 'machine')?.records ?? 0;
    };

    // the gateway refused the server's certificate: it is listed as rejected, by the thumbprint the server has
    const rejected = await waitFor('the rejected server certificate', async () => (await list()).find((c) => c.where === 'rejected'), 30_000, 200);
    expect(rejected.thumbprint).toBe(tp);
    expect((await list()).filter((c) => c.where === 'own')).toHaveLength(1);
    expect(await cliList(r.configFile)).toEqual(await list());
    expect(await records()).toBe(0);

    // a viewer may not trust it; a malformed thumbprint is refused; neither moves anything
    const refused = await r.request('POST', `${ACTIONS}/pki-trust`, { token: viewer, body: { thumbprint: tp } });
    expect(refused.status).toBe(403);
    const malformed = await r.request('POST', `${ACTIONS}/pki-trust`, { token: operator, body: { thumbprint: 'zz' } });
    expect(malformed.status).toBe(400);
    expect(malformed.json()).toMatchObject({ error: 'LG_API_INVALID' });
    const unknown = await r.request('POST', `${ACTIONS}/pki-trust`, { token: operator, body: { thumbprint: 'deadbeefdeadbeef' } });
    expect(unknown.status).toBe(404);
    expect((await list()).find((c) => c.thumbprint === tp)?.where).toBe('rejected');

    // an operator trusts it: moved to trusted/, and the input connects at its next attempt
    const trusted = await r.request('POST', `${ACTIONS}/pki-trust`, { token: operator, body: { thumbprint: tp } });
    expect(trusted.status, trusted.text).toBe(200);
    expect(trusted.json()).toMatchObject({ where: 'trusted', thumbprint: tp, file: expect.stringContaining(path.join('trusted', 'certs')) });
    expect((await list()).find((c) => c.thumbprint === tp)?.where).toBe('trusted');
    expect((await cliList(r.configFile)).find((c) => c.thumbprint === tp)?.where).toBe('trusted');
    await waitFor('values once trusted', async () => (await records()) >= 3 || undefined, 30_000, 200);

    // and takes the trust back: moved to rejected/ again
    const back = await r.request('POST', `${ACTIONS}/pki-reject`, { token: operator, body: { thumbprint: tp.slice(0, 8) } });
    expect(back.status, back.text).toBe(200);
    expect((await list()).find((c) => c.thumbprint === tp)?.where).toBe('rejected');

    const audited = r.gateway.audit.entries().filter((e) => e.type === 'plugin-action');
    expect(audited.map((e) => e.data)).toEqual([
      { type: 'opcua', instance: 'machine', action: 'pki-trust', input: { thumbprint: 'deadbeefdeadbeef' }, user: 'test-operator', error: 'LG_API_NOT_FOUND' },
      { type: 'opcua', instance: 'machine', action: 'pki-trust', input: { thumbprint: tp }, user: 'test-operator' },
      { type: 'opcua', instance: 'machine', action: 'pki-reject', input: { thumbprint: tp.slice(0, 8) }, user: 'test-operator' },
    ]);
  }, 90_000);
});
