/**
 * The postgres output against the harness's real PostgreSQL (TLS, SCRAM password): each test writes
 * into a schema of its own, read back with a second `pg` client the way any SQL user would, and
 * dropped afterwards. Records come through the real buffer, pipeline and forwarder (sink-harness.ts).
 */
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { AesGcmSealer, newKeyLine, parseKeyRing } from '../../../gateway/crypto/sealer.js';
import type { Sealer } from '../../../gateway/crypto/sealer.js';
import { CONTENT_TYPES, encodeScalarBody } from '../../../gateway/plugin-api/record.js';
import type { StoredRecord } from '../../../gateway/plugin-api/record.js';
import { POSTGRES } from '../../../test/services/endpoints.js';
import { expectSinkConfigFailing, recordingLog, samplesDraft, scalarDrafts, simulatorSource, sinkRig } from '../../../test/support/sink-harness.js';
import type { SimulatedSource, SinkRig } from '../../../test/support/sink-harness.js';
import { definition } from './index.js';
import type { PostgresOutput } from './index.js';
import { channelStats } from './rows.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const sealer = new AesGcmSealer(parseKeyRing(newKeyLine('k-test-1'), 'test key ring'));
const ssl = { ca: readFileSync(POSTGRES.caFile), rejectUnauthorized: true };
const reader = new pg.Client({ ...POSTGRES, ssl });
const connected = reader.connect();
const schemas: string[] = [];
const rigs: SinkRig[] = [];
const sources: SimulatedSource[] = [];

afterEach(async () => {
  for (const s of sources.splice(0)) await s.stop();
  for (const r of rigs.splice(0)) await r.close();
});
afterAll(async () => {
  for (const s of schemas) await reader.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
  await reader.end();
});

function config(over: Record<string, unknown> = {}): Record<string, unknown> {
  const schema = `lgt_${randomUUID().slice(0, 8)}`;
  schemas.push(schema);
  return {
    host: POSTGRES.host,
    port: POSTGRES.port,
    database: POSTGRES.database,
    user: POSTGRES.user,
    password: POSTGRES.password,
    tls: { ca: POSTGRES.caFile },
    schema,
    ...over,
  };
}

function output(over: Record<string, unknown> = {}, env: { sealer?: Sealer } = {}): PostgresOutput {
  return definition.create(definition.configSchema.parse(config(over)), { dataDir: '/nonexistent', machine: 'pbf-sim', ...env }) as PostgresOutput;
}

async function query<T extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<T[]> {
  await connected;
  return (await reader.query<T>(sql, params)).rows;
}

interface SeqRow {
  tbl: string;
  seq: string;
  class: string;
  build: string | null;
  layer: number | null;
  signal: string;
}

/** every (table, seq, class, build, layer) the output wrote for the machine, duplicates included */
async function allRows(schema: string): Promise<SeqRow[]> {
  return query<SeqRow>(
    ['scalars', 'events', 'samples', 'files']
      .map((t) => `SELECT '${t}' AS tbl, seq::text, class, build, layer, signal FROM ${schema}.${t} WHERE machine = 'pbf-sim'`)
      .join(' UNION ALL '),
  );
}

function expectAccounted(rows: SeqRow[], routed: StoredRecord[]): void {
  const seqs = rows.map((r) => Number(r.seq)).sort((a, b) => a - b);
  expect(seqs).toEqual(routed.map((x) => x.seq));
  const bySeq = new Map(rows.map((r) => [Number(r.seq), r]));
  for (const x of routed) {
    const r = bySeq.get(x.seq)!;
    expect({ class: r.class, build: r.build, layer: r.layer, signal: r.signal }).toEqual({
      class: x.class,
      build: x.build ?? null,
      layer: x.layer ?? null,
      signal: x.signal,
    });
  }
}

describe('postgres output (real PostgreSQL)', () => {
  it('a simulator run: every routed record arrives once, with its class, build and layer; blocks with their statistics; builds and layers summarised', async () => {
    const out = output();
    const r = await sinkRig([{ name: 'pg', plugin: out }]);
    rigs.push(r);
    const src = await simulatorSource(r, { layers: 3, frames: true });
    sources.push(src);
    await src.committed();
    await r.drained('pg');
    const routed = r.routed('pg');
    expect(new Set(routed.map((x) => x.class))).toEqual(new Set(['internal', 'sensitive']));
    expect(new Set(routed.map((x) => x.kind))).toEqual(new Set(['samples', 'event', 'frame']));
    const rows = await allRows(out.schema);
    expectAccounted(rows, routed);
    expect(new Set(rows.map((x) => x.tbl))).toEqual(new Set(['samples', 'events', 'files']));

    // a block's statistics are those of its samples
    const block = routed.find((x) => x.kind === 'samples')!;
    const [s] = await query<{
      channels: string[];
      ch_count: number[];
      ch_nan: number[];
      ch_min: number[];
      ch_max: number[];
      ch_mean: number[];
      ch_std: number[];
      body_bytes: number;
    }>(`SELECT channels, ch_count, ch_nan, ch_min, ch_max, ch_mean, ch_std, body_bytes FROM ${out.schema}.samples WHERE machine = 'pbf-sim' AND seq = $1`, [
      block.seq,
    ]);
    const channels = block.attributes!.channels!.split(',');
    expect(s!.channels).toEqual(channels);
    expect(s!.body_bytes).toBe(block.body!.length);
    const frames = block.body!.length / 4 / channels.length;
    channels.forEach((_, c) => {
      const col = Float32Array.from({ length: frames }, (_, i) => block.body!.readFloatLE((i * channels.length + c) * 4));
      const want = channelStats(col);
      expect([s!.ch_count[c], s!.ch_nan[c], s!.ch_min[c], s!.ch_max[c]]).toEqual([want.count, want.nan, want.min, want.max]);
      expect(s!.ch_mean[c]).toBeCloseTo(want.mean!, 9);
      expect(s!.ch_std[c]).toBeCloseTo(want.std!, 9);
    });
    // the view: one row per block and channel
    const [v] = await query<{ n: string }>(`SELECT count(*) AS n FROM ${out.schema}.melt_pool_channels`);
    expect(Number(v!.n)).toBe(routed.filter((x) => x.kind === 'samples').length * channels.length);

    // summaries count each stored record once, per build and layer
    const layers = await query<{ build: string; layer: number; records: string; state: string | null; first_time: Date; last_time: Date }>(
      `SELECT build, layer, records, state, first_time, last_time FROM ${out.schema}.layers WHERE machine = 'pbf-sim' ORDER BY layer`,
    );
    const withLayer = routed.filter((x) => x.build !== undefined && x.layer !== undefined);
    for (const l of layers) expect(Number(l.records)).toBe(withLayer.filter((x) => x.build === l.build && x.layer === l.layer).length);
    expect(layers.reduce((n, l) => n + Number(l.records), 0)).toBe(withLayer.length);
    expect(layers.some((l) => l.state !== null)).toBe(true);
    const builds = await query<{ build: string; records: string; state: string | null }>(
      `SELECT build, records, state FROM ${out.schema}.builds WHERE machine = 'pbf-sim'`,
    );
    expect(builds.map((b) => b.build)).toEqual([...new Set(routed.filter((x) => x.build).map((x) => x.build))]);
    expect(Number(builds[0]!.records)).toBe(routed.filter((x) => x.build === builds[0]!.build).length);
    expect(out.stats()).toMatchObject({ rows: routed.length, duplicates: 0, refused: 0 });
  }, 120_000);

  it('at least once becomes exactly once: a batch sent again adds no row and counts nothing twice', async () => {
    const out = output();
    const r = await sinkRig([{ name: 'pg', plugin: out }]);
    rigs.push(r);
    await r.emit([...scalarDrafts(50, 'chamber.o2'), samplesDraft('meltpool.a', 0, 100)]);
    await r.drained('pg');
    const routed = r.routed('pg');
    const before = await query<{ layer: number; records: string }>(`SELECT layer, records FROM ${out.schema}.layers ORDER BY layer`);
    // what the forwarder does after a lost ack: the same records again, and a batch overlapping them
    await out.send(routed);
    await out.send([...routed.slice(25), ...routed.slice(0, 3)]);
    expectAccounted(await allRows(out.schema), routed);
    expect(await query<{ layer: number; records: string }>(`SELECT layer, records FROM ${out.schema}.layers ORDER BY layer`)).toEqual(before);
    expect(out.stats()).toMatchObject({ rows: routed.length, duplicates: routed.length + (routed.length - 25) + 3 });
    expect(out.stats().staged).toBeGreaterThan(0);
  });

  it('a gateway whose buffer was wiped (its seqs start at 1 again) adds rows beside the old ones: none is taken for a replay', async () => {
    const out = output();
    const before = await sinkRig([{ name: 'pg', plugin: out }]);
    rigs.push(before);
    await before.emit(scalarDrafts(30, 'chamber.o2'));
    await before.drained('pg');
    // a new buffer folder, the same machine and tables
    const after = await sinkRig([{ name: 'pg', plugin: output({ schema: out.schema }) }]);
    rigs.push(after);
    await after.emit(scalarDrafts(30, 'chamber.o2'));
    await after.drained('pg');
    const seqs = before.routed('pg').map((x) => x.seq);
    expect(after.routed('pg').map((x) => x.seq)).toEqual(seqs);
    const perSeq = await query<{ seq: string; n: number }>(
      `SELECT seq, count(*)::int AS n FROM ${out.schema}.scalars WHERE machine = 'pbf-sim' GROUP BY seq ORDER BY seq`,
    );
    expect(perSeq).toEqual(seqs.map((seq) => ({ seq: String(seq), n: 2 })));
  });

  it('the README example query runs as documented: a layer’s mean melt-pool intensity against its O2 level', async () => {
    const out = output();
    const r = await sinkRig([{ name: 'pg', plugin: out }]);
    rigs.push(r);
    const blocks = [0, 1, 2].map((i) => ({
      ...samplesDraft('meltpool.a', i * 100, 100),
      attributes: { channels: 'intensity,temperature', sample_rate_hz: '10000', first_sample: String(i * 100) },
    }));
    await r.emit([...scalarDrafts(20, 'chamber.o2'), ...blocks]);
    await r.drained('pg');
    const readme = readFileSync(path.join(here, 'README.md'), 'utf8');
    const sql = /<!-- example: intensity-vs-o2 -->\s*```sql\n([\s\S]*?)```/.exec(readme)![1]!.replaceAll('layergate.', `${out.schema}.`);
    const rows = await query<{ build: string; layer: number; mean_intensity: number; o2_ppm: number }>(sql);
    // the blocks are all of layer 3; the O2 values of layer 3 are those with v % 5 == 2
    const routed = r.routed('pg');
    const o2 = routed.filter((x) => x.signal === 'chamber.o2' && x.layer === 3).map((x) => JSON.parse(x.body!.toString()).v as number);
    const intensities = blocks.flatMap((b) => Array.from({ length: 100 }, (_, i) => b.body.readFloatLE(i * 8)));
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ build: 'JOB-7', layer: 3 });
    expect(rows[0]!.o2_ppm).toBeCloseTo(o2.reduce((a, b) => a + b, 0) / o2.length, 9);
    expect(rows[0]!.mean_intensity).toBeCloseTo(intensities.reduce((a, b) => a + b, 0) / intensities.length, 6);
  });

  it('refused for good (NUL in text, NUL in a JSON string, a constraint the plant added, a row too large): those quarantined, the rest of the batch lands', async () => {
    // bodies above 64 KiB are spooled by the buffer and only catalogued here: a row too large is an inline one
    const out = output({ maxRowBytes: '16KiB' });
    // the plant's DBA constrains O2 readings: the output migrates first, then the constraint is added
    await out.start({ name: 'pg', log: recordingLog().log, blobs: { read: async () => Buffer.alloc(0), path: () => '' } });
    await out.stop();
    await query(`ALTER TABLE ${out.schema}.scalars ADD CONSTRAINT o2_plausible CHECK (signal <> 'chamber.o2' OR value < 1000000)`);
    const r = await sinkRig([{ name: 'pg', plugin: out, forwarder: { linger: 0, batchSize: 1000 } }]);
    rigs.push(r);
    const good = scalarDrafts(30, 'chamber.o2');
    const nulText = { ...good[0]!, signal: 'operator.note', body: encodeScalarBody({ type: 'string', v: 'before\u0000after' }) };
    const nulJson = {
      ...good[0]!,
      signal: 'machine.events',
      kind: 'event' as const,
      contentType: CONTENT_TYPES.event,
      body: Buffer.from('{"type":"note","text":"a\\u0000b"}'),
    };
    const implausible = { ...good[0]!, body: encodeScalarBody({ type: 'float64', v: 5e6, unit: 'ppm' }) };
    const huge = {
      ...good[0]!,
      signal: 'machine.events',
      kind: 'event' as const,
      contentType: CONTENT_TYPES.event,
      body: Buffer.from(JSON.stringify({ type: 'dump', text: 'x'.repeat(30_000) })),
    };
    await r.emit([...good.slice(0, 10), nulText, ...good.slice(10, 20), nulJson, implausible, ...good.slice(20), huge]);
    await r.drained('pg');
    const routed = r.routed('pg');
    const refusedSeqs = routed
      .filter((x) => x.signal === 'operator.note' || x.signal === 'machine.events' || JSON.parse(x.body!.toString()).v === 5e6)
      .map((x) => x.seq);
    expect(refusedSeqs).toHaveLength(4);
    const stored = routed.filter((x) => !refusedSeqs.includes(x.seq));
    expectAccounted(await allRows(out.schema), stored);
    const stats = r.forwarders.get('pg')!.stats();
    expect(stats).toMatchObject({ quarantinedRecords: 4, lagRecords: 0 });
    const qdir = path.join(r.dataDir, 'quarantine', 'outputs', 'pg');
    const sides = readdirSync(qdir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => JSON.parse(readFileSync(path.join(qdir, f), 'utf8')) as { seqs: number[]; error: { reason: string; message: string } });
    expect(sides.flatMap((s) => s.seqs).sort((a, b) => a - b)).toEqual(refusedSeqs);
    // one refusal per batch, named by its first record's reason; the message names the server's SQLSTATEs
    expect(sides.map((s) => s.error.reason).every((x) => ['too-large', 'invalid-value', 'constraint'].includes(x))).toBe(true);
    const messages = sides.map((s) => s.error.message).join(' ');
    expect(messages).toContain('refused by the server');
    expect(messages).toMatch(/22021|22P05|23514/);
    expect(out.stats().refused).toBe(4);
    // the layer summaries count the stored records only
    const [sum] = await query<{ n: string }>(`SELECT sum(records) AS n FROM ${out.schema}.layers`);
    expect(Number(sum!.n)).toBe(stored.length);
  });

  it('confidential records: stored sealed (the value unreadable, metadata readable); without a key refused and quarantined, the rest stored', async () => {
    const out = output({}, { sealer });
    const r = await sinkRig([{ name: 'pg', plugin: out }]);
    rigs.push(r);
    await r.emit([...scalarDrafts(5, 'recipe.power', 'confidential'), ...scalarDrafts(5, 'chamber.o2', 'internal')]);
    await r.drained('pg');
    const routed = r.routed('pg');
    expectAccounted(await allRows(out.schema), routed);
    const rows = await query<{ seq: string; value: number | null; unit: string | null; sealed: Buffer | null }>(
      `SELECT seq::text, value, unit, sealed FROM ${out.schema}.scalars WHERE class = 'confidential' ORDER BY seq`,
    );
    expect(rows).toHaveLength(5);
    for (const row of rows) {
      expect(row.value).toBeNull();
      expect(row.unit).toBeNull();
      const original = routed.find((x) => x.seq === Number(row.seq))!;
      expect(sealer.open(row.sealed!)).toEqual(original.body);
      expect(row.sealed!.includes(original.body!)).toBe(false);
    }

    const plain = output();
    const r2 = await sinkRig([{ name: 'pg', plugin: plain }]);
    rigs.push(r2);
    await r2.emit([...scalarDrafts(5, 'recipe.power', 'confidential'), ...scalarDrafts(5, 'chamber.o2', 'internal')]);
    await r2.drained('pg');
    expect(r2.forwarders.get('pg')!.stats()).toMatchObject({ quarantinedRecords: 5, sentRecords: 5 });
    expect(r2.forwarders.get('pg')!.stats().errorsByKind['no-sealer']).toBe(1);
    expectAccounted(
      await allRows(plain.schema),
      r2.routed('pg').filter((x) => x.class === 'internal'),
    );
  });

  it('partitions: created ahead at start, on demand for a day outside them, dropped by retention', async () => {
    const out = output({ partitions: { ahead: 3, retention: '5d' } });
    const r = await sinkRig([{ name: 'pg', plugin: out }]);
    rigs.push(r);
    const parts = async () =>
      (
        await query<{ name: string }>(
          `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
           JOIN pg_namespace n ON n.oid = p.relnamespace WHERE n.nspname = $1 AND p.relname = 'scalars' ORDER BY 1`,
          [out.schema],
        )
      ).map((x) => x.name);
    const day = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10).replace(/-/g, '');
    expect(await parts()).toEqual([-1, 0, 1, 2, 3].map((d) => `scalars_p${day(d)}`));
    // a record from 30 days ago and one 20 days ahead: their partitions are made on demand
    const now = BigInt(Date.now()) * 1_000_000n;
    await r.emit([
      ...scalarDrafts(1, 'chamber.o2', 'internal', { sourceTimeNs: now - 30n * 86_400_000_000_000n }),
      ...scalarDrafts(1, 'chamber.o2', 'internal', { sourceTimeNs: now + 20n * 86_400_000_000_000n }),
    ]);
    await r.drained('pg');
    expect(await parts()).toContain(`scalars_p${day(-30)}`);
    expect(await parts()).toContain(`scalars_p${day(20)}`);
    expectAccounted(await allRows(out.schema), r.routed('pg'));
    // retention (5 days): the old day goes, with its row; yesterday stays
    const { dropped } = await out.maintain();
    expect(dropped).toContain(`scalars_p${day(-30)}`);
    expect(await parts()).not.toContain(`scalars_p${day(-30)}`);
    expect(await parts()).toContain(`scalars_p${day(-1)}`);
    const [n] = await query<{ n: string }>(`SELECT count(*) AS n FROM ${out.schema}.scalars`);
    expect(Number(n!.n)).toBe(1);
    // the migration ran once and is recorded
    expect(await query(`SELECT version, description FROM ${out.schema}.layergate_schema_version`)).toEqual([{ version: 1, description: expect.any(String) }]);
  });

  it('TLS: the connection is encrypted and the certificate verified; an untrusted CA is a failing sink (tls), the password from the environment', async () => {
    process.env.LG_TEST_PGPASSWORD = POSTGRES.password;
    const out = output({ password: process.env.LG_TEST_PGPASSWORD });
    const r = await sinkRig([{ name: 'pg', plugin: out }]);
    rigs.push(r);
    await r.emit(scalarDrafts(3, 'chamber.o2'));
    await r.drained('pg');
    const [s] = await query<{ ssl: boolean; version: string }>(
      `SELECT s.ssl, s.version FROM pg_stat_ssl s JOIN pg_stat_activity a ON a.pid = s.pid WHERE a.application_name = 'layergate:pg' AND a.datname = $1 LIMIT 1`,
      [POSTGRES.database],
    );
    expect(s).toMatchObject({ ssl: true });
    expect(s!.version).toMatch(/^TLSv1\.[23]$/);

    // a CA that did not sign the server's certificate: refused at the handshake, a configuration failure
    const other = path.join(path.dirname(path.dirname(POSTGRES.caFile)), '..', 'mosquitto', 'certs', 'ca.crt');
    const untrusted = output({ tls: { ca: other } });
    const { log, lines } = recordingLog();
    const r2 = await sinkRig([{ name: 'pg', plugin: untrusted, forwarder: { log, backoff: { initialMs: 50, maxMs: 200 } } }]);
    rigs.push(r2);
    await r2.emit(scalarDrafts(4, 'chamber.o2'));
    await expectSinkConfigFailing(r2, 'pg', 4, 'tls', lines);
    // and a wrong password: not-authorized, with what to fix
    const wrong = output({ password: 'not-the-password' });
    const w = recordingLog();
    const r3 = await sinkRig([{ name: 'pg', plugin: wrong, forwarder: { log: w.log, backoff: { initialMs: 50, maxMs: 200 } } }]);
    rigs.push(r3);
    await r3.emit(scalarDrafts(2, 'chamber.o2'));
    await expectSinkConfigFailing(r3, 'pg', 2, 'not-authorized', w.lines);
    expect(r3.forwarders.get('pg')!.stats().configFailure!.action).toContain('PGPASSWORD');
  });
});
