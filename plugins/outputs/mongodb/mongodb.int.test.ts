/**
 * The mongodb output against a real MongoDB wire-protocol server (FerretDB v1 from the test harness,
 * test/services/ferretdb.ts), written and read back with the official driver, unchanged: the shared
 * server for delivery, replays, refusals and TLS (a database of its own per test, dropped after), a
 * dedicated one (same binary, own ports and data) for the kill-and-restart test. No mock anywhere.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { MongoClient } from 'mongodb';
import type { Document } from 'mongodb';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RecordDraft } from '../../../gateway/plugin-api/contract.js';
import { CONTENT_TYPES } from '../../../gateway/plugin-api/record.js';
import type { StoredRecord } from '../../../gateway/plugin-api/record.js';
import { MONGODB } from '../../../test/services/endpoints.js';
import { DedicatedFerretdb } from '../../../test/services/ferretdb.js';
import { silent, sinkOutage, sinkRig, simulatorSource } from '../../../test/support/sink-harness.js';
import type { SimulatedSource, SinkRig } from '../../../test/support/sink-harness.js';
import { definition as fileLake } from '../file-lake/index.js';
import { type MongodbOutput, definition } from './index.js';

const rigs: SinkRig[] = [];
const sources: SimulatedSource[] = [];
const databases: string[] = [];
let reader: MongoClient;
let dedicated: DedicatedFerretdb;

beforeAll(async () => {
  reader = new MongoClient(MONGODB.url, { serverSelectionTimeoutMS: 5000 });
  await reader.connect();
  dedicated = new DedicatedFerretdb();
  await dedicated.start();
}, 120_000);
afterEach(async () => {
  for (const s of sources.splice(0)) await s.stop();
  for (const r of rigs.splice(0)) await r.close();
  for (const d of databases.splice(0)) await reader.db(d).dropDatabase();
});
afterAll(async () => {
  await reader.close();
  await dedicated.dispose();
});

function newDatabase(): string {
  const name = `lgt_${randomUUID().slice(0, 8)}`;
  databases.push(name);
  return name;
}

function output(config: Record<string, unknown>): { out: MongodbOutput; caps: ReturnType<typeof definition.capabilities> } {
  const parsed = definition.configSchema.parse({ url: MONGODB.url, connectTimeout: '2s', writeTimeout: '5s', ...config });
  return { out: definition.create(parsed, { dataDir: '/nonexistent', machine: 'pbf-sim' }) as MongodbOutput, caps: definition.capabilities(parsed) };
}

let eventNo = 0;
/** n machine events of build JOB-M, a layer every 10 */
function eventDrafts(n: number, extra: (i: number) => Record<string, unknown> = () => ({})): RecordDraft[] {
  return Array.from({ length: n }, () => {
    const i = eventNo++;
    return {
      signal: 'machine.events',
      kind: 'event' as const,
      contentType: CONTENT_TYPES.event,
      build: 'JOB-M',
      layer: 1 + Math.floor(i / 10),
      sourceTimeNs: 1_764_000_000_000_000_000n + BigInt(i) * 1_000_000n,
      body: Buffer.from(JSON.stringify({ type: 'state', state: i % 2 ? 'exposing' : 'recoating', i, ...extra(i) })),
    };
  });
}

/** a record's document id: machine, seq and time (source, else receive) */
const idOf = (r: StoredRecord): string => `pbf-sim:${r.seq}:${r.sourceTimeNs ?? r.receiveTimeNs}`;

/** every document of the record collections, by _id */
async function recordDocs(db: string): Promise<Document[]> {
  const out: Document[] = [];
  for (const c of ['events', 'files', 'frames', 'scalars']) out.push(...(await reader.db(db).collection(c).find().toArray()));
  return out;
}

describe('mongodb output (real MongoDB wire protocol: FerretDB v1)', () => {
  it('simulator run: every routed record arrives once, with its class, build and layer; builds and layers reference them; a replay changes nothing', async () => {
    const db = newDatabase();
    const { out, caps } = output({ database: db });
    const r = await sinkRig([{ name: 'docs', plugin: out, capabilities: caps }]);
    rigs.push(r);
    const src = await simulatorSource(r, { layers: 2, frames: true });
    sources.push(src);
    await src.committed();
    await r.drained('docs');
    const routed = r.routed('docs');
    // the run had samples too, which this output does not take by default
    expect(r.routed('all').some((x) => x.kind === 'samples')).toBe(true);
    expect(new Set(routed.map((x) => x.kind))).toEqual(new Set(['event', 'frame']));

    const docs = await recordDocs(db);
    // once each: one document per routed record, the seqs exactly those routed
    expect(docs).toHaveLength(routed.length);
    expect(docs.map((d) => d.seq as number).sort((a, b) => a - b)).toEqual(routed.map((x) => x.seq));
    const byId = new Map(docs.map((d) => [d._id as string, d]));
    for (const rec of routed) {
      const d = byId.get(idOf(rec))!;
      expect(d).toMatchObject({ class: rec.class, kind: rec.kind, signal: rec.signal });
      expect(d.build).toBe(rec.build);
      expect(d.layer).toBe(rec.layer);
      if (rec.kind === 'frame') expect(d).toMatchObject({ sha256: rec.blob!.sha256, size: rec.blob!.size });
    }

    // the build document and its layers, referencing the events and frames
    const withBuild = routed.filter((x) => x.build !== undefined);
    const builds = [...new Set(withBuild.map((x) => x.build!))];
    expect(builds.length).toBeGreaterThan(0);
    const buildDocs = await reader.db(db).collection('builds').find().toArray();
    expect(buildDocs.map((b) => b._id).sort()).toEqual(builds.map((b) => `pbf-sim:${b}`).sort());
    for (const b of builds) {
      const recs = withBuild.filter((x) => x.build === b);
      const doc = buildDocs.find((x) => x.build === b)!;
      const layers = [...new Set(recs.filter((x) => x.layer !== undefined).map((x) => x.layer!))].sort((x, y) => x - y);
      expect([...(doc.layers as number[])].sort((x, y) => x - y)).toEqual(layers);
      expect(doc.firstSeq).toBe(recs[0]!.seq);
      expect(doc.lastSeq).toBe(recs[recs.length - 1]!.seq);
      for (const layer of layers) {
        const l = await reader
          .db(db)
          .collection('layers')
          .findOne({ _id: `pbf-sim:${b}:${layer}` as unknown as never });
        const inLayer = recs.filter((x) => x.layer === layer);
        const ids = (kind: string) =>
          inLayer
            .filter((x) => x.kind === kind)
            .map(idOf)
            .sort();
        expect(l).toMatchObject({ build: b, layer, firstSeq: inLayer[0]!.seq, lastSeq: inLayer[inLayer.length - 1]!.seq });
        expect([...((l?.frames as string[]) ?? [])].sort()).toEqual(ids('frame'));
        // a layer's events name it: found by build and layer
        const events = await reader.db(db).collection('events').find({ build: b, layer }).toArray();
        expect(events.map((e) => String(e._id)).sort()).toEqual(ids('event'));
      }
    }

    // the same records again, as one batch (a redelivery after a lost ack): nothing duplicated or changed
    const snapshot = async () => ({
      docs: await recordDocs(db),
      builds: await reader.db(db).collection('builds').find().sort({ _id: 1 }).toArray(),
      layers: await reader.db(db).collection('layers').find().sort({ _id: 1 }).toArray(),
    });
    const before = await snapshot();
    await out.send(routed);
    await out.send(routed.slice(0, Math.ceil(routed.length / 2)));
    const after = await snapshot();
    expect(after.docs).toHaveLength(routed.length);
    expect(after).toEqual(before);
    // the build's state is its newest state event's, replays of older ones notwithstanding
    for (const b of after.builds) {
      const states = withBuild.filter((x) => x.build === b.build && x.kind === 'event' && typeof JSON.parse(x.body!.toString()).state === 'string');
      const newest = states[states.length - 1]!;
      expect(b).toMatchObject({ state: JSON.parse(newest.body!.toString()).state, stateSeq: newest.seq });
    }
    expect(out.stats().duplicates).toBeGreaterThanOrEqual(routed.length);
  }, 120_000);

  it('a record refused for good (a key the server refuses, a document over 16 MiB) is quarantined; the rest of its batch lands', async () => {
    const db = newDatabase();
    const { out, caps } = output({ database: db });
    const r = await sinkRig([{ name: 'docs', plugin: out, capabilities: caps, forwarder: { batchSize: 500, linger: 200 } }]);
    rigs.push(r);
    const drafts = [
      ...eventDrafts(5),
      // FerretDB, like MongoDB before 5.0, refuses a field name with a dot
      ...eventDrafts(1, () => ({ 'recipe.laser.power': 280 })),
      ...eventDrafts(3),
      // over BSON's limit: the buffer spools it, the output refuses it without sending it
      ...eventDrafts(1, () => ({ dump: 'x'.repeat(17 * 1024 * 1024) })),
      ...eventDrafts(4),
    ];
    await r.emit(drafts);
    await r.drained('docs');
    const routed = r.routed('docs');
    expect(routed).toHaveLength(14);
    const refused = [routed[5]!.seq, routed[9]!.seq];
    const stats = r.forwarders.get('docs')!.stats();
    expect(stats.quarantinedRecords).toBe(2);
    expect(stats.sentRecords).toBe(12);
    const landed = (await reader.db(db).collection('events').find().toArray()).map((d) => d.seq as number).sort((a, b) => a - b);
    expect(landed).toEqual(routed.map((x) => x.seq).filter((s) => !refused.includes(s)));
    const qdir = path.join(r.dataDir, 'quarantine', 'outputs', 'docs');
    expect(existsSync(qdir)).toBe(true);
    // one sidecar per refusal (the 17 MiB record is a batch of its own: over the forwarder's batchBytes)
    const sidecars = readdirSync(qdir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => JSON.parse(readFileSync(path.join(qdir, f), 'utf8')) as { seqs: number[]; error: { reason: string } });
    expect(sidecars.flatMap((x) => x.seqs).sort((a, b) => a - b)).toEqual(refused);
    expect(sidecars.map((x) => x.error.reason).sort()).toEqual(['refused-document', 'too-large']);
    // the build still summarises what landed
    const build = await reader
      .db(db)
      .collection('builds')
      .findOne({ _id: 'pbf-sim:JOB-M' as unknown as never });
    expect(build?.lastSeq).toBe(routed[13]!.seq);
  }, 120_000);

  it('a gateway whose buffer was wiped (its seqs start at 1 again) adds its records beside the old ones: none is taken for a replay', async () => {
    const db = newDatabase();
    const before = await sinkRig([{ name: 'docs', plugin: output({ database: db }).out, capabilities: output({ database: db }).caps }]);
    rigs.push(before);
    await before.emit(eventDrafts(20));
    await before.drained('docs');
    // a new buffer folder, the same machine and database
    const after = await sinkRig([{ name: 'docs', plugin: output({ database: db }).out, capabilities: output({ database: db }).caps }]);
    rigs.push(after);
    await after.emit(eventDrafts(20));
    await after.drained('docs');
    const oldSeqs = before.routed('docs').map((x) => x.seq);
    const newSeqs = after.routed('docs').map((x) => x.seq);
    expect(newSeqs).toEqual(oldSeqs);
    const events = await reader.db(db).collection('events').find().toArray();
    expect(events).toHaveLength(40);
    expect(events.map((e) => String(e._id)).sort()).toEqual([...before.routed('docs'), ...after.routed('docs')].map(idOf).sort());
  }, 120_000);

  it('TLS: delivers over the TLS listener trusting the harness CA; without that CA the connection is refused and nothing is acknowledged', async () => {
    const db = newDatabase();
    const { out, caps } = output({ database: db, url: MONGODB.tlsUrl, tls: { ca: MONGODB.caFile } });
    const r = await sinkRig([{ name: 'docs', plugin: out, capabilities: caps }]);
    rigs.push(r);
    await r.emit(eventDrafts(20));
    await r.drained('docs');
    expect(await reader.db(db).collection('events').countDocuments()).toBe(20);
    // system CAs only: the test CA is not among them
    const { out: untrusting } = output({ database: db, url: MONGODB.tlsUrl, tls: true, connectTimeout: '1s' });
    await untrusting.start({ name: 'x', log: silent, blobs: { read: async () => Buffer.alloc(0), path: () => '' } });
    const batch: StoredRecord[] = r.routed('docs').slice(0, 1);
    await expect(untrusting.send(batch)).rejects.toMatchObject({ code: 'LG_SINK_SEND' });
    await untrusting.stop();
  }, 60_000);

  it('server SIGKILLed mid-stream and restarted (dedicated), then stopped cleanly and restarted: nothing lost, nothing duplicated', async () => {
    const db = newDatabase();
    const { out, caps } = output({ database: db, url: dedicated.url, connectTimeout: '1s', writeTimeout: '3s' });
    const lakeDir = path.join(dedicated.dir, `lake-${db}`);
    const r = await sinkRig([
      { name: 'docs', plugin: out, capabilities: caps, forwarder: { backoff: { initialMs: 100, maxMs: 500 }, batchSize: 100 } },
      {
        name: 'lake',
        plugin: fileLake.create(fileLake.configSchema.parse({ path: lakeDir }), { dataDir: dedicated.dir, machine: 'pbf-sim' }),
        forwarder: { linger: 0 },
      },
    ]);
    rigs.push(r);
    const readBack = async () => {
      const client = new MongoClient(dedicated.url, { serverSelectionTimeoutMS: 5000 });
      try {
        return (
          await client
            .db(db)
            .collection('events')
            .find({}, { projection: { seq: 1 } })
            .toArray()
        ).map((d) => d.seq as number);
      } finally {
        await client.close();
      }
    };
    await sinkOutage({
      label: 'mongodb restart',
      r,
      sink: 'docs',
      other: 'lake',
      server: 'FerretDB',
      downHow: 'SIGKILL',
      duplicatesIn: 'in the events collection',
      burst: () => eventDrafts(20),
      pauseMs: 50,
      deliveringBefore: 200,
      deliveringTimeoutMs: 30_000,
      // long enough for the send in flight to fail by its write timeout (3 s) even on a loaded machine
      downMs: 6000,
      otherDeliveredAbove: 300,
      otherLagBelow: 200,
      sinkLagAbove: 300,
      stopServer: () => dedicated.stop({ kill: true }),
      startServer: () => dedicated.start(),
      drainTimeoutMs: 60_000,
      afterDrain: async () => {
        // a clean stop while a burst is in flight, then start again: the same accounting must hold
        const more = r.emit(eventDrafts(200));
        await dedicated.stop();
        await more;
        await dedicated.start();
        await r.drained('docs', 60_000);
      },
      readBack,
    });
    const seqs = await readBack();
    expect(seqs.length).toBe(new Set(seqs).size);
    expect(seqs).toHaveLength(r.routed('docs').length);
    // one document per build and per layer after the replays, spanning exactly the records routed
    const routed = r.routed('docs');
    const client = new MongoClient(dedicated.url);
    const layers = await client.db(db).collection('layers').find().sort({ layer: 1 }).toArray();
    const layerNos = [...new Set(routed.map((x) => x.layer!))].sort((a, b) => a - b);
    expect(layers.map((l) => l.layer)).toEqual(layerNos);
    for (const l of layers) {
      const inLayer = routed.filter((x) => x.layer === l.layer);
      expect(l).toMatchObject({ firstSeq: inLayer[0]!.seq, lastSeq: inLayer[inLayer.length - 1]!.seq });
    }
    expect(await client.db(db).collection('builds').countDocuments()).toBe(1);
    await client.close();
  }, 180_000);
});
