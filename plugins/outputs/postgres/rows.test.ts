/**
 * The pure parts of the postgres output: COPY text escaping, timestamps, the per-channel statistics of
 * a melt-pool block, and each record's row (its table and fields), without a server.
 */
import { describe, expect, it } from 'vitest';
import { AesGcmSealer, newKeyLine, parseKeyRing } from '../../../gateway/crypto/sealer.js';
import { CONTENT_TYPES, encodeScalarBody } from '../../../gateway/plugin-api/record.js';
import type { StoredRecord } from '../../../gateway/plugin-api/record.js';
import { buildRow, channelStats, columnNames, copyText, dayOf, timestampText } from './rows.js';
import { partitionDay, partitionName } from './sql.js';

const T0 = 1_764_000_000_123_456_789n; // 2025-11-24T16:00:00.123456789Z

function rec(over: Partial<StoredRecord>): StoredRecord {
  return {
    seq: 7,
    source: 'opcua',
    signal: 'chamber.o2',
    kind: 'scalar',
    class: 'internal',
    contentType: CONTENT_TYPES.scalar,
    receiveTimeNs: T0 + 5n,
    sourceTimeNs: T0,
    build: 'JOB-7',
    layer: 3,
    routes: ['pg'],
    body: Buffer.from('{"v":1.5,"unit":"ppm"}'),
    ...over,
  };
}

/** the fields of a row's COPY line by column name (escapes left as they are) */
function fields(line: string, table: Parameters<typeof columnNames>[0]): Record<string, string> {
  const values = line.replace(/\n$/, '').split('\t');
  const names = columnNames(table);
  expect(values).toHaveLength(names.length);
  return Object.fromEntries(names.map((n, i) => [n, values[i]!]));
}

describe('COPY text and time', () => {
  it('escapes backslash, tab, newline and carriage return, nothing else', () => {
    expect(copyText('a\\b\tc\nd\re "x"')).toBe('a\\\\b\\tc\\nd\\re "x"');
    expect(copyText('plain')).toBe('plain');
  });

  it('writes timestamps in UTC with microseconds, cutting ns towards the past (also before 1970)', () => {
    expect(timestampText(T0)).toBe('2025-11-24 16:00:00.123456+00');
    expect(timestampText(0n)).toBe('1970-01-01 00:00:00.000000+00');
    expect(timestampText(-1n)).toBe('1969-12-31 23:59:59.999999+00');
    expect(timestampText(-1_000_001n)).toBe('1969-12-31 23:59:59.998999+00');
  });

  it('days and partition names agree, before and after midnight', () => {
    const day = dayOf(T0);
    expect(new Date(day).toISOString()).toBe('2025-11-24T00:00:00.000Z');
    expect(dayOf(-1n)).toBe(-86_400_000);
    expect(partitionName('scalars', day)).toBe('scalars_p20251124');
    expect(partitionDay('scalars', 'scalars_p20251124')).toBe(day);
    expect(partitionDay('scalars', 'events_p20251124')).toBeUndefined();
  });
});

describe('channel statistics', () => {
  it('count, min, max, mean and population std over the samples that are not NaN; NaN counted apart', () => {
    const s = channelStats(Float32Array.from([1, 2, Number.NaN, 3, 4, Number.NaN]));
    expect(s).toEqual({ count: 4, nan: 2, min: 1, max: 4, mean: 2.5, std: Math.sqrt(1.25) });
  });

  it('all NaN: no min/max/mean/std; empty: zero counts', () => {
    expect(channelStats(Float32Array.from([Number.NaN]))).toEqual({ count: 0, nan: 1, min: null, max: null, mean: null, std: null });
    expect(channelStats(new Float32Array(0))).toEqual({ count: 0, nan: 0, min: null, max: null, mean: null, std: null });
  });

  it('stays exact for float32 values far from zero (two passes: no cancellation)', () => {
    const v = Float32Array.from({ length: 1000 }, (_, i) => 1e6 + (i % 2));
    const s = channelStats(v);
    expect(s.mean).toBe(1e6 + 0.5);
    expect(s.std).toBe(0.5);
  });
});

describe('rows', () => {
  it('a scalar: the value in the column of its type, the exact double in value, type/unit/quality', () => {
    const row = buildRow('pbf-1', rec({ body: encodeScalarBody({ type: 'uint64', v: 18446744073709551615n, unit: 'parts', quality: 'Good' }) }));
    expect(row.table).toBe('scalars');
    const f = fields(row.line, 'scalars');
    expect(f).toMatchObject({
      machine: 'pbf-1',
      seq: '7',
      time: '2025-11-24 16:00:00.123456+00',
      time_ns: String(T0),
      receive_time_ns: String(T0 + 5n),
      build: 'JOB-7',
      layer: '3',
      class: 'internal',
      value_uint: '18446744073709551615',
      value_int: '\\N',
      value_type: 'uint64',
      unit: 'parts',
      quality: 'Good',
      sealed: '\\N',
    });
    // 2^64 - 1 has no exact double: value stays NULL, value_uint holds it (docs/values.md)
    expect(f.value).toBe('\\N');
  });

  it('scalars of every family: int64, bool, datetime (ns kept), bytes (hex), text with a tab, float NaN and -0, arrays as JSON', () => {
    const f = (body: Buffer) => fields(buildRow('m', rec({ body })).line, 'scalars');
    expect(f(encodeScalarBody({ type: 'int64', v: -9223372036854775808n }))).toMatchObject({
      value_int: '-9223372036854775808',
      value: '-9223372036854776000',
    });
    expect(f(encodeScalarBody({ type: 'bool', v: true }))).toMatchObject({ value_bool: 't', value: '1' });
    expect(f(encodeScalarBody({ type: 'datetime', v: 1_764_000_000_000_000_001n }))).toMatchObject({
      value_time: '2025-11-24 16:00:00.000000+00',
      value_time_ns: '1764000000000000001',
    });
    expect(f(encodeScalarBody({ type: 'bytes', v: Uint8Array.from([0, 255]) }))).toMatchObject({ value_bytes: '\\\\x00ff' });
    expect(f(encodeScalarBody({ type: 'string', v: 'a\tb' }))).toMatchObject({ value_text: 'a\\tb', value: '\\N' });
    expect(f(encodeScalarBody({ type: 'float64', v: Number.NaN }))).toMatchObject({ value: 'NaN' });
    expect(f(encodeScalarBody({ type: 'float64', v: -0 }))).toMatchObject({ value: '-0' });
    expect(f(encodeScalarBody({ type: 'int32[]', v: [1, -2] }))).toMatchObject({ value_text: '[1,-2]', value_type: 'int32[]' });
  });

  it('a samples block: per-channel statistics as arrays, the body referenced by hash and size, not stored', () => {
    const body = Buffer.alloc(3 * 8);
    for (const [i, v] of [1, 10, 2, Number.NaN, 3, 30].entries()) body.writeFloatLE(v, i * 4);
    const row = buildRow(
      'm',
      rec({
        kind: 'samples',
        contentType: CONTENT_TYPES.samplesF32,
        body,
        attributes: { channels: 'intensity,temp', sample_rate_hz: '10000', first_sample: '250', seq: '4' },
      }),
    );
    expect(row.table).toBe('samples');
    expect(fields(row.line, 'samples')).toMatchObject({
      block_seq: '4',
      first_sample: '250',
      sample_rate_hz: '10000',
      samples: '3',
      channels: '{"intensity","temp"}',
      ch_count: '{3,2}',
      ch_nan: '{0,1}',
      ch_min: '{1,10}',
      ch_max: '{3,30}',
      ch_mean: '{2,20}',
      body_bytes: '24',
    });
    expect(fields(row.line, 'samples').body_sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('an event: JSONB payload and its type; a state it reports is kept for the build and layer summaries', () => {
    const row = buildRow('m', rec({ kind: 'event', contentType: CONTENT_TYPES.event, body: Buffer.from('{"type":"state","state":"exposing","layer":3}') }));
    expect(row.table).toBe('events');
    expect(row.state).toBe('exposing');
    expect(fields(row.line, 'events')).toMatchObject({ kind: 'event', type: 'state', payload: '{"type":"state","state":"exposing","layer":3}' });
  });

  it('a frame spooled: a catalog row with its hash, size and location; a malformed scalar body: catalogued with the reason', () => {
    const sha = 'ab'.repeat(32);
    const frame = buildRow(
      'm',
      rec({ kind: 'frame', contentType: 'image/png', body: undefined, blob: { sha256: sha, size: 1234 }, attributes: { object_location: 's3://plant/x.png' } }),
    );
    expect(frame.table).toBe('files');
    expect(fields(frame.line, 'files')).toMatchObject({
      kind: 'frame',
      content_type: 'image/png',
      sha256: sha,
      size: '1234',
      location: 's3://plant/x.png',
      spooled: 't',
      error: '\\N',
    });
    const bad = buildRow('m', rec({ body: Buffer.from('not json') }));
    expect(bad.table).toBe('files');
    expect(bad.malformed).toBeDefined();
  });

  it('confidential: the value sealed (opens to the body), the readable value columns NULL; metadata readable', () => {
    const sealer = new AesGcmSealer(parseKeyRing(newKeyLine('k-test-1'), 'test key ring'));
    const body = Buffer.from('{"v":250,"type":"float64","unit":"W"}');
    const row = buildRow('m', rec({ class: 'confidential', signal: 'recipe.power', body }), sealer);
    const f = fields(row.line, 'scalars');
    expect(f).toMatchObject({ class: 'confidential', signal: 'recipe.power', value: '\\N', value_type: '\\N', unit: '\\N' });
    // no column but `sealed` holds anything of the value (the sealed hex may hold any digits: it is left out)
    const { sealed: _sealed, ...readable } = f;
    expect(Object.values(readable).filter((v) => v.includes('250') || v.includes('"W"'))).toEqual([]);
    expect(sealer.open(Buffer.from(f.sealed!.slice(3), 'hex'))).toEqual(body);
    expect(() => buildRow('m', rec({ class: 'confidential' }))).toThrow(/no sealer/);
  });
});
