/**
 * The mongodb output's pure parts: where a URL is (premises), the documents and writes a batch makes
 * (ids, shapes, exact values, idempotent operators, nothing of a record's keys in a build or layer
 * document), and `layergate check-config` refusing a rule that sends sensitive records to Atlas.
 * No server: the writes against a real one are in mongodb.int.test.ts.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BSON } from 'mongodb';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../../gateway/cli/main.js';
import { CONTENT_TYPES } from '../../../gateway/plugin-api/index.js';
import type { StoredRecord } from '../../../gateway/plugin-api/index.js';
import { definition } from './definition.js';
import { MAX_BSON_BYTES, batchWrites, recordDocument } from './documents.js';
import { hostOnPremises, premisesOfUrl, urlHosts } from './premises.js';

const caps = (url: string, extra: Record<string, unknown> = {}) => definition.capabilities(definition.configSchema.parse({ url, ...extra }));

describe('premises from the URL', () => {
  it.each([
    ['mongodb://127.0.0.1:27017/', 'on'],
    ['mongodb://localhost/', 'on'],
    ['mongodb://[::1]:27017/', 'on'],
    ['mongodb://10.0.3.7:27017,10.0.3.8:27017/?replicaSet=rs0', 'on'],
    ['mongodb://user:pw@192.168.10.5/', 'on'],
    ['mongodb://172.20.0.4/', 'on'],
    ['mongodb://mongo/', 'on'],
    ['mongodb://docs.plant.local:27017/', 'on'],
    ['mongodb://[fd12:3456::1]:27017/', 'on'],
    ['mongodb+srv://plant.abcde.mongodb.net/', 'off'],
    ['mongodb+srv://mongo.plant.local/', 'off'],
    ['mongodb://ac-xyz-shard-00-00.abcde.mongodb.net:27017/?tls=true', 'off'],
    ['mongodb://172.32.0.1/', 'off'],
    ['mongodb://8.8.8.8/', 'off'],
    ['mongodb://docs.example.com/', 'off'],
    // one host off is enough to be off
    ['mongodb://10.0.0.1,docs.example.com/', 'off'],
  ] as const)('%s is %s', (url, premises) => {
    expect(premisesOfUrl(url)).toBe(premises);
    expect(caps(url).premises).toBe(premises);
  });

  it('hostOnPremises trusts the plant DNS names it is told to, never Atlas or srv', () => {
    expect(caps('mongodb://docs.example.com/', { hostOnPremises: true }).premises).toBe('on');
    expect(caps('mongodb://x.abcde.mongodb.net/', { hostOnPremises: true }).premises).toBe('off');
    expect(caps('mongodb+srv://docs.example.com/', { hostOnPremises: true }).premises).toBe('off');
    expect(hostOnPremises('8.8.8.8', true)).toBe(false);
  });

  it('hosts are parsed without credentials, ports or brackets', () => {
    expect(urlHosts('mongodb://u:p@[::1]:1,B.local:2/db?x=1')).toEqual({ srv: false, hosts: ['::1', 'b.local'] });
  });

  it('declares events, documents and frames by default, never confidential', () => {
    expect(caps('mongodb://127.0.0.1/')).toEqual({ premises: 'on', accepts: ['public', 'internal', 'sensitive'], kinds: ['event', 'document', 'frame'] });
    expect(caps('mongodb://127.0.0.1/', { kinds: ['event', 'scalar'] }).kinds).toEqual(['event', 'scalar']);
    expect(() => definition.configSchema.parse({ url: 'mongodb://127.0.0.1/', kinds: ['samples'] })).toThrow();
    expect(() => definition.configSchema.parse({ url: 'http://127.0.0.1/' })).toThrow();
  });
});

const T0 = 1_764_000_000_123_456_789n;
let seq = 0;
function rec(r: Partial<StoredRecord> & Pick<StoredRecord, 'kind'>): StoredRecord {
  seq++;
  return {
    seq,
    source: 'test',
    signal: 'machine.events',
    class: 'internal',
    contentType: CONTENT_TYPES.event,
    receiveTimeNs: T0 + 5n,
    sourceTimeNs: T0 + BigInt(seq),
    routes: ['docs'],
    build: 'JOB-1',
    layer: 3,
    ...r,
  };
}

/** a record's document id on machine m1: machine, seq and time (source, else receive) */
const idOf = (r: StoredRecord): string => `m1:${r.seq}:${r.sourceTimeNs ?? r.receiveTimeNs}`;

describe('documents', () => {
  it('the id is machine, seq and time: a replay has the same, a record of a buffer made again (its seqs from 1 again) another', () => {
    const first = rec({ kind: 'event', body: Buffer.from('{"type":"note"}') });
    const replay = { ...first };
    const day = 86_400_000_000_000n;
    const again = { ...first, receiveTimeNs: first.receiveTimeNs + day, sourceTimeNs: first.sourceTimeNs! + day };
    expect(recordDocument(replay, 'm1')!.doc._id).toBe(recordDocument(first, 'm1')!.doc._id);
    expect(recordDocument(again, 'm1')!.doc._id).not.toBe(recordDocument(first, 'm1')!.doc._id);
    expect(again.seq).toBe(first.seq);
  });

  it('an event: its id, times (Date and exact ns), the parsed event and its type', () => {
    const r = rec({ kind: 'event', body: Buffer.from(JSON.stringify({ type: 'state', state: 'exposing', layer: 3 })), attributes: { a: 'b' } });
    const d = recordDocument(r, 'm1')!;
    expect(d.role).toBe('events');
    expect(d.doc).toEqual({
      _id: `m1:${r.seq}:${r.sourceTimeNs ?? r.receiveTimeNs}`,
      machine: 'm1',
      seq: r.seq,
      source: 'test',
      signal: 'machine.events',
      kind: 'event',
      class: 'internal',
      contentType: CONTENT_TYPES.event,
      time: new Date(Number((T0 + BigInt(r.seq)) / 1_000_000n)),
      timeNs: (T0 + BigInt(r.seq)).toString(),
      receiveTimeNs: (T0 + 5n).toString(),
      build: 'JOB-1',
      layer: 3,
      attributes: { a: 'b' },
      event: { type: 'state', state: 'exposing', layer: 3 },
      type: 'state',
    });
  });

  it('a file: the catalog (size, hash, name), never the bytes; its metadata document as a document', () => {
    const bytes = Buffer.from('solid cube\nendsolid\n');
    const file = recordDocument(
      rec({
        kind: 'document',
        signal: 'files',
        contentType: 'model/stl',
        body: bytes,
        layer: undefined,
        attributes: { file_name: 'cube.stl', file_type: 'cad', sha256: 'abc' },
      }),
      'm1',
    )!;
    expect(file.role).toBe('files');
    expect(file.doc).toMatchObject({ size: bytes.length, fileSha256: 'abc', fileName: 'cube.stl', fileType: 'cad' });
    expect(file.doc.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(file.doc)).not.toContain('solid cube');
    const meta = recordDocument(
      rec({
        kind: 'document',
        signal: 'files.meta',
        contentType: 'application/json',
        body: Buffer.from('{"type":"cad","triangles":12}'),
        attributes: { meta_of: 'abc' },
      }),
      'm1',
    )!;
    expect(meta.doc).toMatchObject({ meta: { type: 'cad', triangles: 12 }, fileSha256: 'abc' });
    expect(meta.doc.size).toBeUndefined();
  });

  it('a frame: its blob reference only', () => {
    const f = recordDocument(rec({ kind: 'frame', signal: 'camera', contentType: 'image/png', blob: { sha256: 'f'.repeat(64), size: 123456 } }), 'm1')!;
    expect(f.role).toBe('frames');
    expect(f.doc).toMatchObject({ size: 123456, sha256: 'f'.repeat(64), layer: 3 });
  });

  it('a scalar keeps its exact type: int64 as Long, past int64 as Decimal128; samples are not kept', () => {
    const big = recordDocument(
      rec({ kind: 'scalar', contentType: CONTENT_TYPES.scalar, body: Buffer.from('{"v":"9007199254740993","type":"int64","unit":"count"}') }),
      'm1',
    )!;
    expect(big.role).toBe('scalars');
    expect(big.doc.value).toBeInstanceOf(BSON.Long);
    expect((big.doc.value as BSON.Long).toBigInt()).toBe(9007199254740993n);
    expect(big.doc.unit).toBe('count');
    const huge = recordDocument(
      rec({ kind: 'scalar', contentType: CONTENT_TYPES.scalar, body: Buffer.from('{"v":"18446744073709551615","type":"uint64"}') }),
      'm1',
    )!;
    expect(huge.doc.value).toBeInstanceOf(BSON.Decimal128);
    expect(recordDocument(rec({ kind: 'samples', contentType: CONTENT_TYPES.samplesF32, body: Buffer.alloc(8) }), 'm1')).toBeUndefined();
  });
});

describe('batch writes', () => {
  it('one build and one document per layer, ids deterministic, only idempotent operators, the state of the newest event', () => {
    const ev = (state: string, layer: number) => rec({ kind: 'event', layer, body: Buffer.from(JSON.stringify({ type: 'state', state, material: '316L' })) });
    const batch = [
      ev('recoating', 1),
      ev('exposing', 1),
      rec({ kind: 'frame', layer: 2, signal: 'camera', contentType: 'image/png', blob: { sha256: 'a'.repeat(64), size: 10 } }),
      rec({ kind: 'document', layer: undefined, contentType: 'application/json', body: Buffer.from('{"job":"x"}') }),
      ev('exposing', 2),
    ];
    const w = batchWrites(batch, 'm1');
    expect(w.records.map((r) => r.doc._id)).toEqual(batch.map(idOf));
    expect(w.tooLarge).toEqual([]);
    const build = w.aggregates.find((a) => a.role === 'builds')!;
    expect(build.seqs).toEqual(batch.map((r) => r.seq));
    const update = (build.op as { updateOne: { filter: unknown; update: Record<string, Record<string, unknown>> } }).updateOne;
    expect(update.filter).toEqual({ _id: 'm1:JOB-1' });
    expect(Object.keys(update.update).sort()).toEqual(['$addToSet', '$max', '$min', '$setOnInsert']);
    expect(update.update.$addToSet).toEqual({ layers: { $each: [1, 2] }, files: { $each: [idOf(batch[3]!)] } });
    expect(update.update.$max).toMatchObject({ lastSeq: batch[4]!.seq, lastLayer: 2 });
    expect(update.update.$min).toMatchObject({ firstSeq: batch[0]!.seq });
    // the state and the job facts: only over older ones (a replayed older record changes nothing)
    const guarded = w.aggregates.filter((a) => a.role === 'builds').slice(1);
    expect(guarded.map((a) => [a.seqs, a.guarded])).toEqual([
      [[batch[4]!.seq], true],
      [[batch[4]!.seq], true],
    ]);
    expect(guarded.map((a) => a.op)).toEqual([
      {
        updateOne: {
          filter: { _id: 'm1:JOB-1', stateSeq: { $not: { $gte: batch[4]!.seq } } },
          update: { $set: { state: 'exposing', stateTime: expect.any(Date), stateSeq: batch[4]!.seq } },
          upsert: true,
        },
      },
      {
        updateOne: {
          filter: { _id: 'm1:JOB-1', jobSeq: { $not: { $gte: batch[4]!.seq } } },
          update: { $set: { material: '316L', jobSeq: batch[4]!.seq } },
          upsert: true,
        },
      },
    ]);
    const layers = w.aggregates
      .filter((a) => a.role === 'layers')
      .map((a) => (a.op as { updateOne: { filter: unknown; update: Record<string, unknown> } }).updateOne);
    expect(layers.map((l) => l.filter)).toEqual([{ _id: 'm1:JOB-1:1' }, { _id: 'm1:JOB-1:2' }]);
    // frames and files by id; events name their layer instead (no unbounded array in a layer)
    expect(layers[1]!.update.$addToSet).toEqual({ frames: { $each: [idOf(batch[2]!)] } });
    expect(layers[0]!.update.$addToSet).toBeUndefined();
    expect(layers[0]!.update.$max).toMatchObject({ lastSeq: batch[1]!.seq });
  });

  it("a record's own keys never reach a build document; a document over BSON's limit is set aside, the rest kept", () => {
    const bad = rec({ kind: 'event', body: Buffer.from(JSON.stringify({ type: 'job', parameters: { 'laser.power': 200 }, material: 'Ti64' })) });
    const huge = rec({ kind: 'event', body: Buffer.from(JSON.stringify({ type: 'dump', blob: 'x'.repeat(MAX_BSON_BYTES) })) });
    const ok = rec({ kind: 'event', body: Buffer.from('{"type":"ok"}') });
    const w = batchWrites([bad, huge, ok], 'm1');
    expect(w.tooLarge.map((t) => t.seq)).toEqual([huge.seq]);
    expect(w.tooLarge[0]!.bytes).toBeGreaterThan(MAX_BSON_BYTES);
    expect(w.records.map((r) => r.seq)).toEqual([bad.seq, ok.seq]);
    const set = (w.aggregates[1]!.op as { updateOne: { update: { $set: Record<string, unknown> } } }).updateOne.update.$set;
    expect(set).toEqual({ material: 'Ti64', jobSeq: bad.seq });
  });
});

describe('layergate check-config with a mongodb output', () => {
  let stderr = '';
  const dirs: string[] = [];
  beforeEach(() => {
    stderr = '';
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      stderr += String(chunk);
      return true;
    });
  });
  afterEach(() => {
    vi.restoreAllMocks();
    process.exitCode = undefined;
  });
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const check = (lines: string[]) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lg-mongodb-config-'));
    dirs.push(dir);
    const file = path.join(dir, 'layergate.yaml');
    writeFileSync(file, `${lines.join('\n')}\n`);
    return main(['node', 'layergate', 'check-config', file]);
  };

  it('refuses a rule sending sensitive records to an Atlas URL, and takes the same rule to a plant server', async () => {
    const atlas = [
      'outputs:',
      '  lake: { type: file-lake }',
      '  atlas: { type: mongodb, url: "mongodb+srv://plant.abcde.mongodb.net" }',
      'routing:',
      '  rules:',
      '    - { name: ct-to-atlas, classes: [sensitive], may: [atlas] }',
    ];
    expect(await check(atlas)).toBe(2);
    expect(stderr).toContain('routing.rules[0] (ct-to-atlas): lets sensitive records go to output "atlas", which is off premises');
    stderr = '';
    const plant = [
      'outputs:',
      '  lake: { type: file-lake }',
      '  docs: { type: mongodb, url: "mongodb://10.0.3.7:27017/?replicaSet=rs0" }',
      'routing:',
      '  rules:',
      '    - { name: ct-local, classes: [sensitive], may: [docs] }',
    ];
    expect(await check(plant)).toBe(0);
    expect(stderr).toBe('');
  });

  it('the config cannot raise an Atlas output to on premises', async () => {
    expect(await check(['outputs:', '  atlas: { type: mongodb, url: "mongodb+srv://plant.abcde.mongodb.net", premises: on }'])).toBe(2);
    expect(stderr).toContain('outputs.atlas.premises: the output declares itself off premises; the config cannot set it to on');
  });
});
