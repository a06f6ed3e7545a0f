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
 * - Left for later: melt-pool and other sample blocks (kind `samples`): their values are refused
 *   (400) until blocks are decoded and decimated per channel.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { withStreamReader } from '../../buffer/stream-read.js';
import type { Stream } from '../../buffer/streams.js';
import { ApiNotFoundError } from '../../plugin-api/errors.js';
import { CONTENT_TYPES, RECORD_KINDS, SENSITIVITY_CLASSES, type RecordKind } from '../../plugin-api/record.js';
import { datetimeText, parseDatetime } from '../../../wire/scalar-value.js';
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
          throw new RangeError(
            `signal "${q.signal}" of source "${q.source}" is ${kindOfContentType(visible[0]!.contentType)} (${visible[0]!.contentType}): ` +
              'values are served for scalar signals (sample blocks are not decimated yet)',
          );
        }
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
