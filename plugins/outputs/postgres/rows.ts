/**
 * The rows of the `postgres` output, without a database: which table a record goes to, its row as a
 * line of COPY text format, the per-channel statistics of a melt-pool block, and the tables' columns
 * (the one definition the DDL in ./sql.ts and the COPY column lists are made from).
 *
 * Design constraints:
 * - One record, one row, in exactly one of scalars, events, samples, files: so the unique key
 *   (machine, seq, time) of each table makes a redelivered record a duplicate of itself, never a second
 *   row elsewhere.
 * - `time` is the source time, else the receive time: a function of the record only, so a redelivery
 *   lands in the same partition and hits the same key. ns are kept exact in `time_ns` beside the
 *   timestamptz (PostgreSQL keeps microseconds).
 * - Values keep their type (docs/values.md): the column of the value's family, `value` when a double
 *   holds it exactly. Nothing is clamped here; what PostgreSQL cannot hold (a NUL in text or in a JSON
 *   string) is for the server to refuse, per row, so the output can quarantine that record alone.
 * - Confidential records: the class, time, machine, signal, build and layer stay readable (routing and
 *   retention need them, as the MinIO output keeps its keys readable); the value, payload or
 *   statistics are sealed with the gateway's key into `sealed` and the readable columns left NULL.
 */
import { createHash } from 'node:crypto';
import { CONTENT_TYPES, exactNumber, isUnsignedType, valueJson } from '../../../gateway/plugin-api/index.js';
import type { Sealer, StoredRecord } from '../../../gateway/plugin-api/index.js';
import { isTextual, parseSamples, parseScalar } from '../shared/columns.js';
import type { ParsedSamples } from '../shared/columns.js';

export type DataTable = 'scalars' | 'events' | 'samples' | 'files';
export const DATA_TABLES: readonly DataTable[] = ['scalars', 'events', 'samples', 'files'];

/** columns every data table starts with, in order: [name, SQL type] */
const COMMON: readonly (readonly [string, string])[] = [
  ['machine', 'text NOT NULL'],
  ['seq', 'bigint NOT NULL'],
  ['time', 'timestamptz NOT NULL'],
  ['time_ns', 'bigint NOT NULL'],
  ['receive_time_ns', 'bigint NOT NULL'],
  ['source', 'text NOT NULL'],
  ['signal', 'text NOT NULL'],
  ['build', 'text'],
  ['layer', 'integer'],
  ['class', "text NOT NULL CHECK (class IN ('public','internal','sensitive','confidential'))"],
  ['attributes', 'jsonb'],
  ['sealed', 'bytea'],
];

/** each data table's columns after the common ones */
const OWN: Record<DataTable, readonly (readonly [string, string])[]> = {
  scalars: [
    ['value', 'double precision'],
    ['value_int', 'bigint'],
    ['value_uint', 'numeric(20,0)'],
    ['value_bool', 'boolean'],
    ['value_time', 'timestamptz'],
    ['value_time_ns', 'bigint'],
    ['value_text', 'text'],
    ['value_bytes', 'bytea'],
    ['value_type', 'text'],
    ['unit', 'text'],
    ['quality', 'text'],
  ],
  events: [
    ['kind', 'text NOT NULL'],
    ['content_type', 'text NOT NULL'],
    ['type', 'text'],
    ['payload', 'jsonb'],
  ],
  samples: [
    ['block_seq', 'bigint'],
    ['first_sample', 'bigint'],
    ['sample_rate_hz', 'double precision'],
    ['samples', 'integer'],
    ['channels', 'text[]'],
    ['ch_count', 'integer[]'],
    ['ch_nan', 'integer[]'],
    ['ch_min', 'double precision[]'],
    ['ch_max', 'double precision[]'],
    ['ch_mean', 'double precision[]'],
    ['ch_std', 'double precision[]'],
    ['body_sha256', 'text NOT NULL'],
    ['body_bytes', 'integer NOT NULL'],
  ],
  files: [
    ['kind', 'text NOT NULL'],
    ['content_type', 'text NOT NULL'],
    ['sha256', 'text NOT NULL'],
    ['size', 'bigint NOT NULL'],
    ['location', 'text'],
    ['spooled', 'boolean NOT NULL'],
    ['error', 'text'],
  ],
};

/** [name, SQL type] of every column of a data table, in COPY order */
export function columnsOf(table: DataTable): readonly (readonly [string, string])[] {
  return [...COMMON, ...OWN[table]];
}

export function columnNames(table: DataTable): string[] {
  return columnsOf(table).map(([n]) => n);
}

/** A record as one row of one table: its COPY text line (with the newline) and what the summaries need. */
export interface Row {
  table: DataTable;
  record: StoredRecord;
  line: string;
  timeNs: bigint;
  /** a state the record reports for its build and layer (machine events, `machine_state` attributes) */
  state?: string;
  /** set when the body did not fit its content type (the row went to `files` with the reason) */
  malformed?: string;
}

// ---- COPY text format ----------------------------------------------------------------------------

const NULL = '\\N';

/** One field of COPY's text format: backslash, tab, newline and carriage return escaped. */
export function copyText(v: string): string {
  return /[\\\t\n\r]/.test(v) ? v.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r')) : v;
}

/** a bytea field: hex input form `\x..`, its backslash escaped for COPY */
export function copyBytea(b: Uint8Array): string {
  return `\\\\x${Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')}`;
}

/** an array literal of text elements (each quoted), escaped for COPY */
function textArray(items: readonly string[]): string {
  return copyText(`{${items.map((s) => `"${s.replace(/["\\]/g, (c) => `\\${c}`)}"`).join(',')}}`);
}

/** an array literal of numbers (NaN, Infinity as PostgreSQL spells them; null as NULL) */
function numberArray(items: readonly (number | null)[]): string {
  return `{${items.map((n) => (n === null ? 'NULL' : Number.isNaN(n) ? 'NaN' : n === Infinity ? 'Infinity' : n === -Infinity ? '-Infinity' : String(n))).join(',')}}`;
}

/** a double precision field (PostgreSQL's names for the non-finite values; -0 kept) */
function float(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return 'Infinity';
  if (n === -Infinity) return '-Infinity';
  return Object.is(n, -0) ? '-0' : String(n);
}

/**
 * A timestamptz literal, UTC, microseconds (the ns below are cut, towards the past, so the row's day
 * is the day of its ns): `2026-12-03 10:00:00.123456+00`.
 */
export function timestampText(ns: bigint): string {
  let us = ns / 1000n;
  if (ns < 0n && ns % 1000n !== 0n) us -= 1n;
  let ms = us / 1000n;
  let micro = us % 1000n;
  if (micro < 0n) {
    micro += 1000n;
    ms -= 1n;
  }
  const iso = new Date(Number(ms)).toISOString(); // 2026-12-03T10:00:00.123Z
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}${String(micro).padStart(3, '0')}+00`;
}

/** the UTC day (ms since the epoch at 00:00) of a time in ns */
export function dayOf(ns: bigint): number {
  const ms = Number(ns / 1_000_000n) - (ns < 0n && ns % 1_000_000n !== 0n ? 1 : 0);
  return Math.floor(ms / 86_400_000) * 86_400_000;
}

/** the record's time: source time, else receive time */
export function recordTimeNs(r: StoredRecord): bigint {
  return r.sourceTimeNs ?? r.receiveTimeNs;
}

// ---- statistics ------------------------------------------------------------------------------------

/** Per-channel statistics of a samples block: NaN samples are counted apart and left out of the rest. */
export interface ChannelStats {
  /** samples that are not NaN */
  count: number;
  nan: number;
  /** null when every sample is NaN */
  min: number | null;
  max: number | null;
  mean: number | null;
  /** population standard deviation (divided by count) */
  std: number | null;
}

/** Statistics of one channel's samples (two passes in float64: the mean, then the squared deviations). */
export function channelStats(values: Float32Array): ChannelStats {
  let count = 0;
  let nan = 0;
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (Number.isNaN(v)) {
      nan++;
      continue;
    }
    count++;
    sum += v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (count === 0) return { count, nan, min: null, max: null, mean: null, std: null };
  const mean = sum / count;
  let sq = 0;
  if (Number.isFinite(mean)) {
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (!Number.isNaN(v)) sq += (v - mean) * (v - mean);
    }
  }
  return { count, nan, min, max, mean, std: Number.isFinite(mean) ? Math.sqrt(sq / count) : Number.NaN };
}

// ---- rows --------------------------------------------------------------------------------------------

function common(machine: string, r: StoredRecord, timeNs: bigint, sealed: Buffer | undefined): string[] {
  const a = r.attributes && Object.keys(r.attributes).length > 0 ? copyText(JSON.stringify(r.attributes)) : NULL;
  return [
    copyText(machine),
    String(r.seq),
    timestampText(timeNs),
    String(timeNs),
    String(r.receiveTimeNs),
    copyText(r.source),
    copyText(r.signal),
    r.build === undefined ? NULL : copyText(r.build),
    r.layer === undefined ? NULL : String(r.layer),
    r.class,
    a,
    sealed ? copyBytea(sealed) : NULL,
  ];
}

function line(fields: string[]): string {
  return `${fields.join('\t')}\n`;
}

/** the table a record goes to, with its parsed body (or why the body did not fit its content type) */
function placement(
  r: StoredRecord,
  body: Buffer | undefined,
): { table: DataTable; scalar?: ReturnType<typeof parseScalar>; samples?: ParsedSamples; json?: unknown; error?: string } {
  try {
    if (r.contentType === CONTENT_TYPES.scalar && body) return { table: 'scalars', scalar: parseScalar(body) };
    if (r.contentType === CONTENT_TYPES.samplesF32 && body) return { table: 'samples', samples: parseSamples(r, body) };
  } catch (err) {
    return { table: 'files', error: (err as Error).message };
  }
  if (body && !r.blob && (r.kind === 'event' || (isTextual(r.contentType) && r.contentType.split(';')[0]!.trim().toLowerCase().endsWith('json')))) {
    try {
      return { table: 'events', json: JSON.parse(body.toString('utf8')) };
    } catch (err) {
      return { table: 'files', error: `body is not JSON: ${(err as Error).message}` };
    }
  }
  return { table: 'files' };
}

/** the state a record reports: a machine event's `state`, else a `machine_state` attribute */
function stateOf(r: StoredRecord, json: unknown): string | undefined {
  if (json && typeof json === 'object' && !Array.isArray(json)) {
    const s = (json as { state?: unknown }).state;
    if (typeof s === 'string' && s.length > 0) return s;
  }
  return r.attributes?.machine_state || undefined;
}

/**
 * The row of a record. `body` is the record's body (inline, or read from the spool by the caller when
 * the record is small enough to be read); a spooled record without it is catalogued by its reference.
 * A confidential record needs `sealer` (the caller refuses it without one).
 */
export function buildRow(machine: string, r: StoredRecord, sealer?: Sealer): Row {
  const body = r.body;
  const timeNs = recordTimeNs(r);
  const p = placement(r, body);
  const seal = r.class === 'confidential';
  if (seal && !sealer) throw new Error(`seq ${r.seq} is confidential and no sealer was given`);
  // what is sealed: the body of a scalar or event (small), a block's statistics (its samples are not stored
  // here at all), nothing of a file (only its reference is catalogued)
  const stats = p.samples ? p.samples.columns.map(channelStats) : undefined;
  const sealed = !seal
    ? undefined
    : p.table === 'scalars' || p.table === 'events'
      ? sealer!.seal(body!)
      : p.table === 'samples'
        ? sealer!.seal(Buffer.from(JSON.stringify({ channels: p.samples!.channels, stats })))
        : undefined;
  const base = common(machine, r, timeNs, sealed);
  const row = (fields: string[], extra: Partial<Row> = {}): Row => ({ table: p.table, record: r, line: line([...base, ...fields]), timeNs, ...extra });
  const n = (k: number) => Array<string>(k).fill(NULL);
  switch (p.table) {
    case 'scalars': {
      const s = p.scalar!;
      const state = r.attributes?.machine_state || undefined;
      if (seal) return row(n(11), state ? { state } : {});
      const v = s.v;
      const exact = exactNumber(s);
      let int = NULL;
      let uint = NULL;
      let bool = NULL;
      let time = NULL;
      let timeNsText = NULL;
      let text = NULL;
      let bytes = NULL;
      if (s.type.endsWith('[]')) text = copyText(valueJson(s.type, v));
      else if (typeof v === 'string') text = copyText(v);
      else if (typeof v === 'boolean') bool = v ? 't' : 'f';
      else if (v instanceof Uint8Array) bytes = copyBytea(v);
      else if (s.type === 'datetime') {
        time = timestampText(v as bigint);
        timeNsText = String(v);
      } else if (isUnsignedType(s.type)) uint = String(v);
      else if (s.type.startsWith('int')) int = String(v);
      return row(
        [
          exact === null ? NULL : float(exact),
          int,
          uint,
          bool,
          time,
          timeNsText,
          text,
          bytes,
          copyText(s.type),
          s.unit === undefined ? NULL : copyText(s.unit),
          s.quality === undefined ? NULL : copyText(s.quality),
        ],
        state ? { state } : {},
      );
    }
    case 'events': {
      const state = stateOf(r, p.json);
      const type =
        p.json && typeof p.json === 'object' && typeof (p.json as { type?: unknown }).type === 'string' ? (p.json as { type: string }).type : undefined;
      return row(
        [copyText(r.kind), copyText(r.contentType), seal || type === undefined ? NULL : copyText(type), seal ? NULL : copyText(body!.toString('utf8'))],
        state ? { state } : {},
      );
    }
    case 'samples': {
      const s = p.samples!;
      const sha = createHash('sha256').update(body!).digest('hex');
      const head = [s.blockSeq === null ? NULL : String(s.blockSeq), String(s.firstSample), float(s.rateHz), String(s.count)];
      if (seal || !stats) return row([...head, ...n(7), sha, String(body!.length)]);
      return row([
        ...head,
        textArray(s.channels),
        numberArray(stats.map((x) => x.count)),
        numberArray(stats.map((x) => x.nan)),
        numberArray(stats.map((x) => x.min)),
        numberArray(stats.map((x) => x.max)),
        numberArray(stats.map((x) => x.mean)),
        numberArray(stats.map((x) => x.std)),
        sha,
        String(body!.length),
      ]);
    }
    case 'files': {
      const sha = r.blob
        ? r.blob.sha256
        : createHash('sha256')
            .update(body ?? Buffer.alloc(0))
            .digest('hex');
      const size = r.blob ? r.blob.size : (body?.length ?? 0);
      const location = r.attributes?.object_location ?? r.attributes?.location;
      return row(
        [
          copyText(r.kind),
          copyText(r.contentType),
          sha,
          String(size),
          location ? copyText(location) : NULL,
          r.blob ? 't' : 'f',
          p.error === undefined ? NULL : copyText(p.error),
        ],
        p.error === undefined ? {} : { malformed: p.error },
      );
    }
  }
}
