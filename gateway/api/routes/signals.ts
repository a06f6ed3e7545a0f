/**
 * Signals for the UI (viewer):
 *
 * - `GET /api/v1/signals`: every signal the buffer has interned (its streams table: source, signal,
 *   content type, and the record kind that content type carries), with the class and routes the
 *   running policy gives it (as `layergate explain` answers: the rules, the input's class, the
 *   default; a class an input proposes or a job marking raises is per record and not shown here).
 * - `GET /api/v1/signals/values?source=&signal=&from=&to=&points=N`: a scalar signal's values
 *   received in [from, to] (RFC 3339; default the last 15 minutes), decimated on the server to at
 *   most N time buckets of equal width, each with its count, min and max, and its first and last
 *   value with their receive times, so a fast trace draws right (every peak is in some bucket's min
 *   or max). min/max are for numeric value types (int8..uint64, float32, float64; 64-bit integers as
 *   the nearest double, NaN and infinities left out); other types (bool, string, datetime, bytes,
 *   arrays) get first/last only. `first`/`last` are the body's `v` as stored (64-bit integers and
 *   datetimes as strings, docs/values.md). The value type and unit are the newest record's.
 *
 * Constraints:
 * - A caller limited to a class (`maxClass` of a token, gateway/api/identity/store.ts `mayRead`)
 *   does not see a signal the policy classes above it, in the list or its values (404, as for a
 *   signal that does not exist), and no record of a class above it (a record raised by its job).
 * - Read on a connection of the API's own, bounded (gateway/buffer/stream-read.ts): past
 *   MAX_RECORDS records the answer says `truncated` and from where it covers the range.
 * - Sample blocks (kind `samples`: the melt-pool blocks, CONTENT_TYPES.samplesF32 as the mqtt input
 *   stores them, or a melt-pool block as received, wire/meltpool-block.ts): `channel=` picks the
 *   channel (default: the first channel of the newest block), every sample of the range is put in
 *   its bucket by its own time (the record's source time, else its receive time, plus i / rate,
 *   rounded to the ns), each bucket with min/max of its finite samples and its first and last sample
 *   (NaN as null); NaN samples are counted (`count`, `nan`) and never in min/max. Blocks are looked
 *   up by receive time in [from, to + SAMPLE_SLACK_NS] (a block arrives after it was sampled).
 *   Bounded like the scalars, and by MAX_SAMPLES samples per request (newest first: `truncated`,
 *   `coveredFrom` the oldest sample time covered). Spooled blocks (over the buffer's inline size)
 *   are not read.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { withStreamReader } from '../../buffer/stream-read.js';
import type { Stream } from '../../buffer/streams.js';
import { ApiNotFoundError } from '../../plugin-api/errors.js';
import { CONTENT_TYPES, RECORD_KINDS, SENSITIVITY_CLASSES, type RecordKind } from '../../plugin-api/record.js';
import { datetimeText, parseDatetime } from '../../../wire/scalar-value.js';
import { type BlockFormat, type MeltPoolBlock, decodeBlock } from '../../../wire/meltpool-block.js';
import type { GatewayData } from '../gateway-data.js';
import type { StreamReader } from '../../buffer/stream-read.js';
import { type ApiDeps, typed } from '../deps.js';
import { mayRead } from '../identity/store.js';

/** records one values request decodes at most */
export const MAX_RECORDS = 1_000_000;
/**
 * rows with data one values request reads at most: the read runs on the main thread, where the
 * inputs append, and rows hold the records of every signal (no index by stream), so this bounds how
 * long a plot can hold ingest; a wider range answers `truncated` with how far back it got
 */
const MAX_ROWS = 5_000;
const DEFAULT_RANGE_NS = 15n * 60n * 1_000_000_000n;
const NUMERIC_TYPES = new Set(['int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64', 'float32', 'float64']);
const SAMPLE_TYPES = new Set<string>([CONTENT_TYPES.samplesF32, CONTENT_TYPES.meltPoolBlockBinary, CONTENT_TYPES.meltPoolBlockProtobuf]);
/** samples one values request decimates at most (a 100 kHz channel: 40 s), so a plot holds ingest for tens of ms */
export const MAX_SAMPLES = 4_000_000;
/** blocks received this long after `to` may still hold samples of the range */
const SAMPLE_SLACK_NS = 60n * 1_000_000_000n;
const BLOCK_FORMAT_OF: Record<string, BlockFormat> = {
  [CONTENT_TYPES.meltPoolBlockBinary]: 'binary',
  [CONTENT_TYPES.meltPoolBlockProtobuf]: 'protobuf',
};

/** The record kind a stream's content type carries (records of one stream share it in practice). */
export function kindOfContentType(contentType: string): RecordKind {
  if (contentType === CONTENT_TYPES.scalar) return 'scalar';
  if (SAMPLE_TYPES.has(contentType)) return 'samples';
  if (contentType === CONTENT_TYPES.event) return 'event';
  if (contentType.startsWith('image/')) return 'frame';
  return 'document';
}

const signalInfo = z.object({
  source: z.string(),
  signal: z.string(),
  contentType: z.string(),
  kind: z.enum(RECORD_KINDS),
  class: z.enum(SENSITIVITY_CLASSES),
  /** what decided the class: a rule, the input's class, the default */
  rule: z.string(),
  routes: z.array(z.string()),
});

const bucket = z.object({
  start: z.string(),
  count: z.number(),
  min: z.number().nullable(),
  max: z.number().nullable(),
  first: z.unknown(),
  firstAt: z.string(),
  last: z.unknown(),
  lastAt: z.string(),
  /** sample blocks: NaN samples in the bucket (in `count`, not in min/max) */
  nan: z.number().optional(),
});

const rfc3339 = z
  .string()
  .max(64)
  .refine((v) => {
    try {
      parseDatetime(v);
      return true;
    } catch {
      return false;
    }
  }, 'an RFC 3339 time, e.g. 2026-12-03T10:00:00Z');

interface Acc {
  count: number;
  min: number | null;
  max: number | null;
  first: unknown;
  firstNs: bigint;
  last: unknown;
  lastNs: bigint;
}

export function signalRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const r = typed(app);
  const dataOf = () => {
    if (!deps.data) throw new ApiNotFoundError('this API is not attached to a running gateway');
    return deps.data;
  };

  r.get('/api/v1/signals', { config: { access: 'viewer' }, schema: { response: { 200: z.object({ signals: z.array(signalInfo) }) } } }, async (req) => {
    const data = dataOf();
    const maxClass = req.principal!.maxClass;
    const streams = withStreamReader(data.bufferDir, (reader) => reader.streams());
    const signals: z.infer<typeof signalInfo>[] = [];
    for (const s of streams) {
      const kind = kindOfContentType(s.contentType);
      const e = data.explain(s.source, s.signal, kind);
      if (!mayRead(maxClass, e.class)) continue;
      signals.push({ source: s.source, signal: s.signal, contentType: s.contentType, kind, class: e.class, rule: e.rule, routes: e.routes });
    }
    signals.sort((a, b) => (a.source === b.source ? (a.signal < b.signal ? -1 : a.signal > b.signal ? 1 : 0) : a.source < b.source ? -1 : 1));
    return { signals };
  });

  r.get(
    '/api/v1/signals/values',
    {
      config: { access: 'viewer' },
      schema: {
        querystring: z.strictObject({
          source: z.string().min(1).max(128),
          signal: z.string().min(1).max(1024),
          from: rfc3339.optional(),
          to: rfc3339.optional(),
          points: z.coerce.number().int().min(1).max(5000).default(500),
          /** sample blocks: the channel (default: the newest block's first) */
          channel: z.string().min(1).max(256).optional(),
        }),
        response: {
          200: z.object({
            source: z.string(),
            signal: z.string(),
            class: z.enum(SENSITIVITY_CLASSES),
            type: z.string().nullable(),
            unit: z.string().nullable(),
            numeric: z.boolean(),
            from: z.string(),
            to: z.string(),
            /** width of a bucket in ns (decimal) */
            bucketNs: z.string(),
            records: z.number(),
            truncated: z.boolean(),
            /** when truncated: the oldest receive time the answer covers */
            coveredFrom: z.string().nullable(),
            /** sample blocks: the channel drawn, the channels the blocks have, the samples counted */
            channel: z.string().optional(),
            channels: z.array(z.string()).optional(),
            samples: z.number().optional(),
            buckets: z.array(bucket),
          }),
        },
      },
    },
    async (req) => {
      const data = dataOf();
      const q = req.query;
      const maxClass = req.principal!.maxClass;
      const toNs = q.to !== undefined ? parseDatetime(q.to) : BigInt(Date.now()) * 1_000_000n;
      const fromNs = q.from !== undefined ? parseDatetime(q.from) : toNs - DEFAULT_RANGE_NS;
      if (fromNs > toNs) throw new RangeError(`from (${q.from ?? datetimeText(fromNs)}) is after to (${q.to ?? datetimeText(toNs)})`);
      const notFound = () => new ApiNotFoundError(`no signal "${q.signal}" of source "${q.source}" in the buffer`);
      return withStreamReader(data.bufferDir, (reader) => {
        const all = reader.streams().filter((s: Stream) => s.source === q.source && s.signal === q.signal);
        const visible = all.filter((s) => mayRead(maxClass, data.explain(s.source, s.signal, kindOfContentType(s.contentType)).class));
        if (visible.length === 0) throw notFound();
        const scalar = visible.filter((s) => kindOfContentType(s.contentType) === 'scalar');
        if (scalar.length === 0) {
          const blocks = visible.filter((s) => kindOfContentType(s.contentType) === 'samples');
          if (blocks.length > 0) return sampleValues(reader, data, blocks, { ...q, fromNs, toNs, maxClass: SENSITIVITY_CLASSES.indexOf(maxClass) });
          throw new RangeError(
            `signal "${q.signal}" of source "${q.source}" is ${kindOfContentType(visible[0]!.contentType)} (${visible[0]!.contentType}): ` +
              'values are served for scalar signals and sample blocks',
          );
        }
        if (q.channel !== undefined) throw new RangeError(`signal "${q.signal}" of source "${q.source}" is scalar: channel= is for sample blocks`);
        const cls = data.explain(q.source, q.signal, 'scalar').class;
        const width = (toNs - fromNs + 1n + BigInt(q.points) - 1n) / BigInt(q.points);
        const buckets = new Map<number, Acc>();
        let type: string | null = null;
        let unit: string | null = null;
        let typeNs = -1n;
        let numeric = false;
        const scan = reader.scan(
          {
            streams: new Set(scalar.map((s) => s.id)),
            fromNs,
            toNs,
            maxClass: SENSITIVITY_CLASSES.indexOf(maxClass),
            maxRecords: MAX_RECORDS,
            maxRows: MAX_ROWS,
          },
          (rec) => {
            if (rec.kind !== 'scalar') return;
            let body: { v?: unknown; type?: unknown; unit?: unknown };
            try {
              const bytes = SENSITIVITY_CLASSES[rec.cls] === 'confidential' ? data.unseal(Buffer.from(rec.body)) : rec.body;
              body = JSON.parse(bytes.toString('utf8')) as typeof body;
            } catch {
              return; // a body that does not parse or open is not a value to draw
            }
            if (body === null || typeof body !== 'object' || !('v' in body)) return;
            const t = typeof body.type === 'string' ? body.type : typeof body.v === 'number' ? 'float64' : null;
            if (rec.receiveNs > typeNs) {
              typeNs = rec.receiveNs;
              type = t;
              unit = typeof body.unit === 'string' ? body.unit : null;
            }
            let n: number | null = null;
            if (t !== null && NUMERIC_TYPES.has(t)) {
              const x = typeof body.v === 'number' ? body.v : typeof body.v === 'string' ? Number(body.v) : Number.NaN;
              if (Number.isFinite(x)) {
                n = x;
                numeric = true;
              }
            }
            const i = Number((rec.receiveNs - fromNs) / width);
            let acc = buckets.get(i);
            if (!acc) {
              buckets.set(i, (acc = { count: 0, min: null, max: null, first: body.v, firstNs: rec.receiveNs, last: body.v, lastNs: rec.receiveNs }));
            }
            acc.count++;
            if (n !== null) {
              if (acc.min === null || n < acc.min) acc.min = n;
              if (acc.max === null || n > acc.max) acc.max = n;
            }
            if (rec.receiveNs < acc.firstNs) {
              acc.first = body.v;
              acc.firstNs = rec.receiveNs;
            }
            if (rec.receiveNs >= acc.lastNs) {
              acc.last = body.v;
              acc.lastNs = rec.receiveNs;
            }
          },
        );
        const out = [...buckets.entries()]
          .sort((a, b) => a[0] - b[0])
          .map(([i, a]) => ({
            start: datetimeText(fromNs + BigInt(i) * width),
            count: a.count,
            min: a.min,
            max: a.max,
            first: a.first,
            firstAt: datetimeText(a.firstNs),
            last: a.last,
            lastAt: datetimeText(a.lastNs),
          }));
        return {
          source: q.source,
          signal: q.signal,
          class: cls,
          type,
          unit,
          numeric,
          from: datetimeText(fromNs),
          to: datetimeText(toNs),
          bucketNs: width.toString(),
          records: out.reduce((n, b) => n + b.count, 0),
          truncated: scan.truncated,
          coveredFrom: scan.truncated && scan.oldestNs !== null ? datetimeText(scan.oldestNs) : null,
          buckets: out,
        };
      });
    },
  );
}

interface SampleAcc {
  count: number;
  nan: number;
  min: number | null;
  max: number | null;
  first: number;
  firstOff: number;
  last: number;
  lastOff: number;
}

/** One block's channels, sample rate and first sample time, or undefined when its body does not decode. */
function blockOf(stream: Stream, body: Buffer, attrs: Readonly<Record<string, string>> | undefined, t0: bigint) {
  if (stream.contentType === CONTENT_TYPES.samplesF32) {
    const names = attrs?.channels?.split(',') ?? [];
    const rate = Number(attrs?.sample_rate_hz);
    if (names.length === 0 || !(rate > 0) || body.length % (4 * names.length) !== 0) return undefined;
    const f = body.byteOffset % 4 === 0 ? new Float32Array(body.buffer, body.byteOffset, body.length / 4) : new Float32Array(new Uint8Array(body).buffer);
    const n = f.length / names.length;
    return { names, rate, t0, n, at: (ch: number, i: number) => f[i * names.length + ch]! };
  }
  const format = BLOCK_FORMAT_OF[stream.contentType];
  if (format === undefined) return undefined;
  let b: MeltPoolBlock;
  try {
    b = decodeBlock(body, format);
  } catch {
    return undefined;
  }
  if (!(b.sampleRateHz > 0)) return undefined;
  return { names: b.channels, rate: b.sampleRateHz, t0: b.firstSampleTimeNs, n: b.samples[0]?.length ?? 0, at: (ch: number, i: number) => b.samples[ch]![i]! };
}

/** The values of a sample-block signal (see the header): decimated per channel, by sample time. */
function sampleValues(
  reader: StreamReader,
  data: GatewayData,
  streams: Stream[],
  q: { source: string; signal: string; points: number; channel?: string | undefined; fromNs: bigint; toNs: bigint; maxClass: number },
) {
  const { fromNs, toNs } = q;
  const width = (toNs - fromNs + 1n + BigInt(q.points) - 1n) / BigInt(q.points);
  const w = Number(width);
  const span = Number(toNs - fromNs);
  const byId = new Map(streams.map((s) => [s.id, s]));
  const buckets = new Map<number, SampleAcc>();
  const channels = new Set<string>();
  let channel = q.channel;
  let blocks = 0;
  let samples = 0;
  let oldestOff: number | null = null;
  let full = false;
  const scan = reader.scan(
    {
      streams: new Set(byId.keys()),
      fromNs,
      toNs: toNs + SAMPLE_SLACK_NS,
      maxClass: q.maxClass,
      maxRecords: MAX_RECORDS,
      maxRows: MAX_ROWS,
    },
    (rec) => {
      if (rec.kind !== 'samples') return;
      let body: Buffer;
      try {
        body = SENSITIVITY_CLASSES[rec.cls] === 'confidential' ? data.unseal(Buffer.from(rec.body)) : rec.body;
      } catch {
        return; // a body that does not open is not a trace to draw
      }
      const b = blockOf(byId.get(rec.stream)!, body, rec.attributes, rec.sourceNs ?? rec.receiveNs);
      if (b === undefined) return;
      for (const name of b.names) if (channels.size < 256) channels.add(name);
      channel ??= b.names[0];
      const ch = b.names.indexOf(channel!);
      if (ch < 0) return;
      const off0 = Number(b.t0 - fromNs);
      const step = 1e9 / b.rate;
      let used = false;
      for (let i = 0; i < b.n; i++) {
        const off = off0 + Math.round(i * step);
        if (off < 0 || off > span) continue;
        if (samples >= MAX_SAMPLES) {
          full = true;
          return false;
        }
        used = true;
        samples++;
        if (oldestOff === null || off < oldestOff) oldestOff = off;
        const v = b.at(ch, i);
        const k = Math.floor(off / w);
        let acc = buckets.get(k);
        if (!acc) buckets.set(k, (acc = { count: 0, nan: 0, min: null, max: null, first: v, firstOff: off, last: v, lastOff: off }));
        acc.count++;
        if (Number.isNaN(v)) acc.nan++;
        else {
          if (acc.min === null || v < acc.min) acc.min = v;
          if (acc.max === null || v > acc.max) acc.max = v;
        }
        if (off < acc.firstOff) {
          acc.first = v;
          acc.firstOff = off;
        }
        if (off >= acc.lastOff) {
          acc.last = v;
          acc.lastOff = off;
        }
      }
      if (used) blocks++;
      return undefined;
    },
  );
  if (q.channel !== undefined && channels.size > 0 && !channels.has(q.channel)) {
    throw new ApiNotFoundError(`signal "${q.signal}" of source "${q.source}" has no channel "${q.channel}" (it has ${[...channels].join(', ')})`);
  }
  const finite = (v: number) => (Number.isNaN(v) ? null : v);
  const out = [...buckets.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([i, a]) => ({
      start: datetimeText(fromNs + BigInt(i) * width),
      count: a.count,
      min: a.min,
      max: a.max,
      first: finite(a.first),
      firstAt: datetimeText(fromNs + BigInt(a.firstOff)),
      last: finite(a.last),
      lastAt: datetimeText(fromNs + BigInt(a.lastOff)),
      nan: a.nan,
    }));
  const truncated = full || scan.truncated;
  return {
    source: q.source,
    signal: q.signal,
    class: data.explain(q.source, q.signal, 'samples').class,
    type: 'float32',
    unit: null,
    numeric: out.some((b) => b.min !== null),
    from: datetimeText(fromNs),
    to: datetimeText(toNs),
    bucketNs: width.toString(),
    records: blocks,
    truncated,
    coveredFrom: truncated && oldestOff !== null ? datetimeText(fromNs + BigInt(oldestOff)) : null,
    ...(channel !== undefined ? { channel } : {}),
    channels: [...channels],
    samples,
    buckets: out,
  };
}
