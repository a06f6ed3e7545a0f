/**
 * The OPC-UA server, checked with a real node-opcua client: the machine model can be browsed by
 * its OPC 40540 / Machinery-style paths, values read and subscribed with source timestamps on the
 * simulator's exact grid, the security policies and user login work, and the restart fault drops
 * clients and comes back.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  AttributeIds,
  ClientMonitoredItem,
  makeBrowsePath,
  MessageSecurityMode,
  OPCUACertificateManager,
  OPCUAClient,
  SecurityPolicy,
  StatusCodes,
  TimestampsToReturn,
  UserTokenType,
  type BrowseResult,
  type ClientSession,
  type DataValue,
} from 'node-opcua';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeConfig } from '../config.js';
import { Simulator } from '../engine.js';
import { DI_URI, MACHINERY_URI, NAMESPACE_URI } from './opcua.js';
import { freePort, sleep, waitFor } from '../test-support/wait.js';

const USER = { username: 'operator', password: 'sim-secret' };
let dir: string;
let sim: Simulator;
let endpoint: string;
let clientCerts: OPCUACertificateManager;
const clients: OPCUAClient[] = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'lg-sim-opcua-'));
  const cfg = makeConfig({
    seed: 11,
    machineId: 'pbf-test-01',
    startTimeMs: Date.UTC(2026, 0, 1),
    job: { totalLayers: 200 },
    timing: { idleS: 0, inertingS: 1, layerS: 1, recoatS: 0.25, speed: 1 },
    process: { rateHz: 10 },
  });
  sim = new Simulator({ cfg, dataDir: dir, log: pino({ level: 'silent' }), opcua: { port: await freePort(), user: USER }, controlPort: 0 });
  await sim.start();
  endpoint = sim.opcuaEndpoint as string;
  clientCerts = new OPCUACertificateManager({ rootFolder: path.join(dir, 'client-pki'), automaticallyAcceptUnknownCertificate: true });
  await clientCerts.initialize();
});

afterAll(async () => {
  for (const c of clients) await c.disconnect().catch(() => undefined);
  await sim?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function connect(
  mode = MessageSecurityMode.None,
  policy = SecurityPolicy.None,
  user: { username: string; password: string } | null = USER,
): Promise<{ client: OPCUAClient; session: ClientSession }> {
  const client = OPCUAClient.create({
    applicationName: 'layergate-sim-test',
    endpointMustExist: false,
    securityMode: mode,
    securityPolicy: policy,
    connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 },
    clientCertificateManager: clientCerts,
  });
  clients.push(client);
  await client.connect(endpoint);
  const session = await client.createSession(user ? { type: UserTokenType.UserName, userName: user.username, password: user.password } : undefined);
  return { client, session };
}

const M = '/Objects/MA:Machines/1:pbf-test-01';

/**
 * Browse paths are written with "1:" for the simulator's namespace, "DI:" for OPC UA DI and "MA:" for
 * Machinery; the indices are looked up from the server's NamespaceArray, as a client must.
 */
async function nodeIdOf(session: ClientSession, browsePath: string) {
  const nsArray = await session.readNamespaceArray();
  const [sim, di, ma] = [NAMESPACE_URI, DI_URI, MACHINERY_URI].map((u) => nsArray.indexOf(u));
  for (const n of [sim, di, ma]) expect(n).toBeGreaterThan(0);
  const resolved = browsePath.replace(/\/1:/g, `/${sim}:`).replace(/\/DI:/g, `/${di}:`).replace(/\/MA:/g, `/${ma}:`);
  const r = await session.translateBrowsePath(makeBrowsePath('RootFolder', resolved));
  expect(r.statusCode.name, browsePath).toBe('Good');
  return r.targets![0]!.targetId;
}

async function readPath(session: ClientSession, browsePath: string): Promise<DataValue> {
  return session.read({ nodeId: await nodeIdOf(session, browsePath), attributeId: AttributeIds.Value });
}

describe('OPC-UA machine model', () => {
  it("puts the machine in Machinery's Machines folder with DI identification, item state, job and monitoring, browsable by path", async () => {
    const { session } = await connect();
    expect((await readPath(session, `${M}/DI:Identification/DI:Manufacturer`)).value.value.text).toBe('LayerGate Simulated Machines');
    expect((await readPath(session, `${M}/DI:Identification/DI:SerialNumber`)).value.value).toBe('SIM-11');
    expect((await readPath(session, `${M}/1:Production/1:ActiveJob/1:JobId`)).value.value).toBe('B-0001');
    expect((await readPath(session, `${M}/1:Production/1:ActiveJob/1:Material`)).value.value).toBe('316L');
    expect((await readPath(session, `${M}/1:Production/1:ActiveJob/1:TotalLayers`)).value.value).toBe(200);
    const browse: BrowseResult = await session.browse((await nodeIdOf(session, `${M}/1:Monitoring`)).toString());
    expect(browse.references!.map((r) => r.browseName.name).sort()).toEqual(['BuildPlate', 'Chamber', 'Laser1', 'PowderDosing', 'Recoater']);
    const o2 = await nodeIdOf(session, `${M}/1:Monitoring/1:Chamber/1:OxygenConcentration`);
    const eu = await session.translateBrowsePath(makeBrowsePath(o2, '.EngineeringUnits'));
    const euValue = await session.read({ nodeId: eu.targets![0]!.targetId, attributeId: AttributeIds.Value });
    expect(euValue.value.value.displayName.text).toBe('ppm');
    await waitFor('the first layer', () => sim.core.snapshot().layer >= 1, 5000);
    await sleep(300);
    const layer = await readPath(session, `${M}/1:Production/1:ActiveJob/1:CurrentLayer`);
    expect(layer.value.value).toBeGreaterThanOrEqual(1);
    const state = (await readPath(session, `${M}/1:Production/1:ActiveJob/1:MachineState`)).value.value;
    expect(['recoating', 'exposing']).toContain(state);
    expect((await readPath(session, `${M}/MA:MachineryItemState/0:CurrentState`)).value.value.text).toBe('Executing');
    const o2Value = await readPath(session, `${M}/1:Monitoring/1:Chamber/1:OxygenConcentration`);
    expect(o2Value.value.value).toBeLessThan(1000);
    expect(o2Value.value.value).toBeGreaterThan(0);
  });

  it('subscriptions see changes with source timestamps on the exact 100 ms grid of the simulated clock', async () => {
    const { session } = await connect();
    const sub = await session.createSubscription2({
      requestedPublishingInterval: 100,
      requestedMaxKeepAliveCount: 20,
      requestedLifetimeCount: 100,
      publishingEnabled: true,
    });
    const seen: DataValue[] = [];
    const item = ClientMonitoredItem.create(
      sub,
      { nodeId: await nodeIdOf(session, `${M}/1:Monitoring/1:Chamber/1:Temperature`), attributeId: AttributeIds.Value },
      { samplingInterval: 0, queueSize: 1000, discardOldest: false },
      TimestampsToReturn.Both,
    );
    item.on('changed', (dv: DataValue) => seen.push(dv));
    await waitFor('12 changes', () => seen.length >= 12, 10_000);
    await sub.terminate();
    const start = Date.UTC(2026, 0, 1);
    const ts = seen.slice(1).map((d) => d.sourceTimestamp!.getTime() - start); // the first is the current value
    for (const t of ts) expect(t % 100).toBe(0);
    for (let i = 1; i < ts.length; i++) expect(ts[i]! - ts[i - 1]!).toBe(100);
    expect(new Set(seen.map((d) => d.value.value)).size).toBeGreaterThan(5);
  });

  it('offers None and Basic256Sha256 Sign / SignAndEncrypt, and a client gets in with SignAndEncrypt and a password', async () => {
    const { client, session } = await connect(MessageSecurityMode.SignAndEncrypt, SecurityPolicy.Basic256Sha256);
    const endpoints = await client.getEndpoints();
    const offered = endpoints.map((e) => `${(e.securityPolicyUri ?? '').split('#')[1]}/${MessageSecurityMode[e.securityMode]}`).sort();
    expect(offered).toEqual(['Basic256Sha256/Sign', 'Basic256Sha256/SignAndEncrypt', 'None/None']);
    expect((await readPath(session, `${M}/DI:Identification/DI:Model`)).value.value.text).toContain('PBF-LB/M');
    const signed = await connect(MessageSecurityMode.Sign, SecurityPolicy.Basic256Sha256);
    expect((await readPath(signed.session, `${M}/1:Production/1:ActiveJob/1:JobId`)).value.value).toBe('B-0001');
  });

  it('refuses anonymous and wrong-password logins when a user is configured', async () => {
    await expect(connect(MessageSecurityMode.None, SecurityPolicy.None, null)).rejects.toThrow();
    await expect(connect(MessageSecurityMode.SignAndEncrypt, SecurityPolicy.Basic256Sha256, { username: 'operator', password: 'wrong' })).rejects.toThrow();
  });

  it('the sensor-dropout fault turns process values Bad; switching it off makes them Good again', async () => {
    const { session } = await connect();
    const res = await fetch(`${sim.controlUrl}/faults`, { method: 'POST', body: JSON.stringify({ name: 'sensor-dropout', on: true }) });
    expect(res.status).toBe(200);
    await sleep(400);
    const bad = await readPath(session, `${M}/1:Monitoring/1:BuildPlate/1:Temperature`);
    expect(bad.statusCode).toBe(StatusCodes.BadNoCommunication);
    await fetch(`${sim.controlUrl}/faults`, { method: 'POST', body: JSON.stringify({ name: 'sensor-dropout', on: false }) });
    await sleep(400);
    expect((await readPath(session, `${M}/1:Monitoring/1:BuildPlate/1:Temperature`)).statusCode).toBe(StatusCodes.Good);
  });

  it('the opcua-restart fault drops connected clients, refuses new ones while down, and comes back on the same port', async () => {
    const { client } = await connect();
    let lost = false;
    client.on('connection_lost', () => (lost = true));
    client.on('close', () => (lost = true));
    const res = await fetch(`${sim.controlUrl}/faults`, {
      method: 'POST',
      body: JSON.stringify({ name: 'opcua-restart', on: true, params: { downMs: 1500 } }),
    });
    expect(res.status).toBe(200);
    await waitFor('the client to notice the server went away', () => lost, 5000);
    const probe = OPCUAClient.create({ endpointMustExist: false, connectionStrategy: { maxRetry: 0, initialDelay: 50, maxDelay: 50 } });
    clients.push(probe);
    await expect(probe.connect(endpoint)).rejects.toThrow();
    await waitFor('the server to restart', () => sim.state().counters.opcuaRestarts === 1, 15_000);
    expect(sim.opcuaEndpoint).toBe(endpoint);
    const again = await connect();
    expect((await readPath(again.session, `${M}/1:Production/1:ActiveJob/1:JobId`)).value.value).toBe('B-0001');
    await sleep(300);
    expect((await readPath(again.session, `${M}/1:Production/1:ActiveJob/1:CurrentLayer`)).value.value).toBeGreaterThanOrEqual(1);
  });
});
