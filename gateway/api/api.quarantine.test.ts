/**
 * The quarantines as the UI reads them: items quarantined through the running gateway's pipeline
 * listed for a viewer (reason, where, error, size, sealed), their raw bytes for an admin only
 * (opened when sealed, identical to what the input handed over), and no path out of the folder.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { MalformedInputError, SinkPermanentError } from '../plugin-api/errors.js';
import type { StoredRecord } from '../plugin-api/record.js';
import { SinkQuarantine } from '../quarantine/outputs.js';
import { type ApiRig, startApiRig } from './test-support/api-rig.js';

interface Item {
  kind: string;
  name: string;
  item: string;
  reason: string;
  where: string | null;
  error: { code: string | null; message: string };
  size: number | null;
  records: number | null;
  sealed: boolean;
  class: string | null;
  hasData: boolean;
}
interface ListAnswer {
  items: Item[];
  total: number;
  counts: { kind: string; name: string; reason: string; items: number; bytes: number }[];
  hidden: number;
}

let rig: ApiRig;
let viewer: string;
let admin: string;
const plain = randomBytes(300);
const secret = randomBytes(200);

/** a GET whose answer is kept as bytes; the path is sent as written (no URL normalisation) */
function getBytes(rawPath: string, token: string): Promise<{ status: number; type: string | undefined; bytes: Buffer }> {
  const { hostname, port } = new URL(rig.api.url);
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: hostname, port, path: rawPath, method: 'GET', ca: rig.api.tls!.cert, headers: { authorization: `Bearer ${token}` } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, type: res.headers['content-type'], bytes: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  rig = await startApiRig();
  viewer = rig.tokenFor('viewer');
  admin = rig.tokenFor('admin');
  // as an input does: a block it cannot parse, once from an ordinary input, once from a confidential one (sealed at rest)
  rig.gateway.pipeline.contextFor('health').quarantine('lpbf/m1/meltpool', new MalformedInputError('truncated: block of 300 bytes, header says 8016'), plain);
  rig.gateway.pipeline.contextFor('health', 'confidential').quarantine('lpbf/m1/recipe', new MalformedInputError('not JSON'), secret);
  rig.gateway.pipeline.contextFor('health').quarantine('lpbf/m1/events', new Error('no bytes kept'));
  await rig.gateway.pipeline.flush();
});
afterAll(async () => {
  await rig?.stop();
});

describe('quarantine', () => {
  it('a viewer lists the items newest first with reason, where, error, size and whether sealed, and the counts per reason', async () => {
    const r = await rig.request('GET', '/api/v1/quarantine', { token: viewer });
    expect(r.status).toBe(200);
    const a = r.json<ListAnswer>();
    expect(a.items.map((i) => i.where)).toEqual(['lpbf/m1/events', 'lpbf/m1/recipe', 'lpbf/m1/meltpool']);
    const [none, sealed, open] = a.items;
    expect(open).toMatchObject({ kind: 'inputs', name: 'health', reason: 'truncated', size: 300, sealed: false, class: null, hasData: true });
    expect(open!.error).toMatchObject({ code: 'LG_INPUT_MALFORMED', message: 'truncated: block of 300 bytes, header says 8016' });
    expect(sealed).toMatchObject({ reason: 'LG_INPUT_MALFORMED', size: 200, sealed: true, class: 'confidential', hasData: true });
    expect(none).toMatchObject({ reason: 'Error', size: null, hasData: false });
    expect(a.counts).toEqual([
      { kind: 'inputs', name: 'health', reason: 'Error', items: 1, bytes: 0 },
      { kind: 'inputs', name: 'health', reason: 'LG_INPUT_MALFORMED', items: 1, bytes: 200 },
      { kind: 'inputs', name: 'health', reason: 'truncated', items: 1, bytes: 300 },
    ]);
    expect(a.hidden).toBe(0);
    // narrowed by reason (the counts stay whole), by output (none), and by limit
    const byReason = (await rig.request('GET', '/api/v1/quarantine?reason=truncated', { token: viewer })).json<ListAnswer>();
    expect(byReason.items.map((i) => i.item)).toEqual([open!.item]);
    expect(byReason.counts).toHaveLength(3);
    expect((await rig.request('GET', '/api/v1/quarantine?output=lake', { token: viewer })).json<ListAnswer>().items).toEqual([]);
    expect((await rig.request('GET', '/api/v1/quarantine?input=health&limit=1', { token: viewer })).json<ListAnswer>()).toMatchObject({
      total: 3,
      items: [{ item: none!.item }],
    });
  });

  it('a token limited below confidential does not see the sealed item', async () => {
    const internal = rig.api.identity.createToken({ label: 'internal-viewer', role: 'viewer', maxClass: 'internal', expiresMs: null, createdBy: 'test' }).token;
    const a = (await rig.request('GET', '/api/v1/quarantine', { token: internal })).json<ListAnswer>();
    expect(a.items.map((i) => i.where)).toEqual(['lpbf/m1/events', 'lpbf/m1/meltpool']);
    expect(a.hidden).toBe(1);
  });

  it('an admin reads the raw bytes, identical to the input, the sealed ones opened; a viewer is refused; reads are audited', async () => {
    const items = (await rig.request('GET', '/api/v1/quarantine', { token: viewer })).json<ListAnswer>().items;
    const open = items.find((i) => i.where === 'lpbf/m1/meltpool')!;
    const sealed = items.find((i) => i.where === 'lpbf/m1/recipe')!;
    const a = await getBytes(`/api/v1/quarantine/inputs/health/${open.item}/raw`, admin);
    expect([a.status, a.type]).toEqual([200, 'application/octet-stream']);
    expect(a.bytes.equals(plain)).toBe(true);
    // on disk the confidential bytes are sealed; the admin gets them opened
    const dir = path.join(rig.dir, 'data', 'quarantine', 'inputs', 'health');
    expect(readdirSync(dir)).toContain(`${sealed.item}.bin.sealed`);
    expect(readFileSync(path.join(dir, `${sealed.item}.bin.sealed`)).includes(secret)).toBe(false);
    const s = await getBytes(`/api/v1/quarantine/inputs/health/${sealed.item}/raw`, admin);
    expect(s.status).toBe(200);
    expect(s.bytes.equals(secret)).toBe(true);
    const v = await getBytes(`/api/v1/quarantine/inputs/health/${open.item}/raw`, viewer);
    expect(v.status).toBe(403);
    const reads = rig.audit.entries().filter((e) => e.type === 'quarantine-raw-read');
    expect(reads.map((e) => [e.data.item, e.data.sealed])).toEqual([
      [open.item, false],
      [sealed.item, true],
    ]);
    // an item without kept bytes, and one that does not exist
    const none = items.find((i) => i.where === 'lpbf/m1/events')!;
    expect((await getBytes(`/api/v1/quarantine/inputs/health/${none.item}/raw`, admin)).status).toBe(404);
    expect((await getBytes('/api/v1/quarantine/inputs/health/20200101T000000.000Z-1/raw', admin)).status).toBe(404);
  });

  it('no path out of the quarantine folder: dot segments and separators in the name or item are refused', async () => {
    const open = (await rig.request('GET', '/api/v1/quarantine', { token: viewer })).json<ListAnswer>().items.find((i) => i.where === 'lpbf/m1/meltpool')!;
    const attempts = [
      `/api/v1/quarantine/inputs/health/..%2F..%2F..%2Faudit%2Faudit.jsonl/raw`,
      `/api/v1/quarantine/inputs/health/../raw`,
      `/api/v1/quarantine/inputs/../health/${open.item}/raw`,
      `/api/v1/quarantine/inputs/..%2Finputs%2Fhealth/${open.item}/raw`,
      `/api/v1/quarantine/inputs/%2E%2E/${open.item}/raw`,
      `/api/v1/quarantine/..%2Fquarantine%2Finputs/health/${open.item}/raw`,
      `/api/v1/quarantine/inputs/health/${open.item}%2F..%2F..%2F..%2Fkeys/raw`,
    ];
    for (const p of attempts) {
      const r = await getBytes(p, admin);
      expect([400, 404], p).toContain(r.status);
      expect(r.bytes.includes(plain), p).toBe(false);
      expect(r.bytes.toString('utf8'), p).toMatch(/"error":"LG_API_(INVALID|NOT_FOUND)"/);
    }
  });

  it("a sink's refused records: listed with their reason and count; the file for an admin, refused (409) while it holds sealed bodies", async () => {
    const sink = new SinkQuarantine(path.join(rig.dir, 'data'), 'lake', 1 << 20, pino({ level: 'silent' }), rig.gateway.sealer);
    const record = (seq: number, cls: StoredRecord['class']): StoredRecord => ({
      seq,
      source: 'health',
      signal: 'gateway.process.rss',
      kind: 'scalar',
      receiveTimeNs: 1_000_000n * BigInt(Date.now()),
      class: cls,
      contentType: 'application/vnd.layergate.scalar+json',
      routes: ['lake'],
      body: Buffer.from('{"v":1,"type":"float64"}'),
    });
    expect(await sink.keep([record(1, 'internal'), record(2, 'internal')], new SinkPermanentError('too-large', 'record too large for the sink'))).toBe(true);
    expect(await sink.keep([record(3, 'confidential')], new SinkPermanentError('policy', 'refused by policy'))).toBe(true);
    const a = (await rig.request('GET', '/api/v1/quarantine?output=lake', { token: viewer })).json<ListAnswer>();
    expect(a.items.map((i) => [i.kind, i.name, i.reason, i.records, i.sealed])).toEqual([
      ['outputs', 'lake', 'policy', 1, true],
      ['outputs', 'lake', 'too-large', 2, false],
    ]);
    const dir = path.join(rig.dir, 'data', 'quarantine', 'outputs', 'lake');
    const plainItem = a.items[1]!;
    const r = await getBytes(`/api/v1/quarantine/outputs/lake/${plainItem.item}/raw`, admin);
    expect(r.status).toBe(200);
    expect(r.bytes.equals(readFileSync(path.join(dir, `${plainItem.item}.records`)))).toBe(true);
    expect(r.bytes.length).toBe(plainItem.size);
    const sealed = await getBytes(`/api/v1/quarantine/outputs/lake/${a.items[0]!.item}/raw`, admin);
    expect(sealed.status).toBe(409);
    expect(sealed.bytes.toString('utf8')).toMatch(/sealed/);
  });
});
