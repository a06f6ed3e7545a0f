/**
 * From records to MongoDB documents and writes, pure (no driver connection): what the output sends and
 * what its unit tests check. See README.md for the shapes.
 *
 * Design constraints:
 * - Idempotent: every write is keyed by a deterministic `_id` and written so a replay changes nothing.
 *   A record's own document is `<machine>:<seq>:<time ns>`, inserted (a replay meets a duplicate key:
 *   already there). The time (source, else receive) is in the key as in the PostgreSQL output's
 *   (machine, seq, time): a buffer created again (wiped) hands out seqs from 1 again, and its records
 *   must not be taken for replays of the old ones. A build (`<machine>:<build>`) and a layer
 *   (`<machine>:<build>:<layer>`) are upserts of `$setOnInsert`, `$min`/`$max` (times, seqs, last
 *   layer) and `$addToSet` (layer numbers, ids of the events, frames and files): each is the same
 *   whether applied once or many times, in any order. The build's latest state and its job facts (material, job, parameters) are `$set` only by an upsert
 *   whose filter also asks that the stored `stateSeq` (`jobSeq`) is not newer: a replayed older record
 *   then matches nothing, its insert meets the duplicate `_id` and it changes nothing (a plain `$set`
 *   would set an old state back until the records after it came again).
 * - A layer document lists its frames and files by id, not its events: a layer can have thousands of
 *   events (an unbounded array grows the document towards BSON's limit, and every `$addToSet` to it
 *   rewrites the whole document: it cost a quarter of the output's throughput in the benchmark). An
 *   event names its build and layer instead; the layer's events are `{build, layer}` in `events`
 *   (README.md has the `$lookup`).
 * - A build or layer document holds only names this module writes, never a key taken from a record,
 *   so the server cannot refuse it for a key; a record's own document carries its body's and
 *   attributes' keys as they are, and a refusal of those is that one record's.
 * - Values keep their exact type: 64-bit integers as BSON Long (Decimal128 past int64), bytes as
 *   Binary, times as Date (ms) beside the exact ns as a decimal string.
 */
import { createHash } from 'node:crypto';
import { BSON } from 'mongodb';
import type { AnyBulkWriteOperation, Document } from 'mongodb';
import { CONTENT_TYPES, parseScalarBody } from '../../../gateway/plugin-api/index.js';
import type { ScalarValue, StoredRecord } from '../../../gateway/plugin-api/index.js';

/** the collections, by their role; the names are `<collectionPrefix><role>` */
export const COLLECTIONS = ['builds', 'layers', 'events', 'files', 'frames', 'scalars'] as const;
export type CollectionRole = (typeof COLLECTIONS)[number];

/** MongoDB's document limit (BSON 16 MiB): a larger document is refused by every server, so never sent */
export const MAX_BSON_BYTES = 16 * 1024 * 1024;

export interface RecordWrite {
  seq: number;
  role: CollectionRole;
  doc: Document & { _id: string };
  /** BSON size of `doc` */
  bytes: number;
}

/** every document this output writes has a string `_id` (deterministic, see the module header) */
export type IdDocument = Document & { _id: string };

export interface AggregateWrite {
  role: 'builds' | 'layers';
  op: AnyBulkWriteOperation<IdDocument>;
  /** the records whose build or layer this write records */
  seqs: number[];
  /**
   * a `$set` guarded by a seq (see the module header), whose duplicate key is the expected answer to a
   * replay: sent in a bulk write of its own, since FerretDB v1 reports a write error of an update
   * batch at the wrong index, which would blame the build's other write
   */
  guarded?: true;
}

export interface BatchWrites {
  records: RecordWrite[];
  /** records refused before sending: larger than BSON allows */
  tooLarge: { seq: number; bytes: number }[];
  aggregates: AggregateWrite[];
}

const ROLE_OF_KIND: Partial<Record<StoredRecord['kind'], CollectionRole>> = {
  event: 'events',
  document: 'files',
  frame: 'frames',
  scalar: 'scalars',
};

export function recordId(machine: string, r: Pick<StoredRecord, 'seq' | 'sourceTimeNs' | 'receiveTimeNs'>): string {
  return `${machine}:${r.seq}:${timeNs(r)}`;
}
export function buildId(machine: string, build: string): string {
  return `${machine}:${build}`;
}
export function layerId(machine: string, build: string, layer: number): string {
  return `${machine}:${build}:${layer}`;
}

/** the record's time: its source time, else when the gateway received it */
function timeNs(r: Pick<StoredRecord, 'sourceTimeNs' | 'receiveTimeNs'>): bigint {
  return r.sourceTimeNs ?? r.receiveTimeNs;
}
function dateOf(ns: bigint): Date {
  return new Date(Number(ns / 1_000_000n));
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** a scalar value as BSON, exact for its type */
export function bsonValue(v: ScalarValue): unknown {
  if (typeof v === 'bigint') return v >= INT64_MIN && v <= INT64_MAX ? BSON.Long.fromBigInt(v) : BSON.Decimal128.fromString(v.toString());
  if (v instanceof Uint8Array) return new BSON.Binary(v);
  if (Array.isArray(v)) return v.map((x) => bsonValue(x as ScalarValue));
  return v;
}

/** a JSON content type (a document kept as a document, not catalogued as a file) */
export const isJsonContent = (contentType: string): boolean => contentType === 'application/json' || /\+json(;|$)/.test(contentType);

function parseJsonObject(body: Buffer | undefined): Record<string, unknown> | undefined {
  if (!body) return undefined;
  try {
    const v: unknown = JSON.parse(body.toString('utf8'));
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The document of one record in its collection (the role of its kind), or undefined for a kind not kept. */
export function recordDocument(r: StoredRecord, machine: string): { role: CollectionRole; doc: Document & { _id: string } } | undefined {
  const role = ROLE_OF_KIND[r.kind];
  if (!role) return undefined;
  const t = timeNs(r);
  const doc: Document & { _id: string } = {
    _id: recordId(machine, r),
    machine,
    seq: r.seq,
    source: r.source,
    signal: r.signal,
    kind: r.kind,
    class: r.class,
    contentType: r.contentType,
    time: dateOf(t),
    timeNs: t.toString(),
    receiveTimeNs: r.receiveTimeNs.toString(),
    ...(r.build !== undefined ? { build: r.build } : {}),
    ...(r.layer !== undefined ? { layer: r.layer } : {}),
    ...(r.attributes && Object.keys(r.attributes).length > 0 ? { attributes: r.attributes } : {}),
  };
  if (role === 'events') {
    const event = parseJsonObject(r.body);
    if (event) {
      doc.event = event;
      if (typeof event.type === 'string') doc.type = event.type;
    } else if (r.body) doc.text = r.body.toString('utf8');
  } else if (role === 'files') {
    // the catalog, never the bytes: a JSON document (a file's metadata) as a document, any other body
    // (the file itself) by its size and hash
    const meta = isJsonContent(r.contentType) ? parseJsonObject(r.body) : undefined;
    if (meta) doc.meta = meta;
    const size = r.blob?.size ?? r.body?.length ?? 0;
    const sha256 = r.blob?.sha256 ?? (r.body ? createHash('sha256').update(r.body).digest('hex') : undefined);
    if (!meta) Object.assign(doc, { size, ...(sha256 ? { sha256 } : {}) });
    // the file this record is about: a metadata document names it (`meta_of`), a file record is it
    const file = r.attributes?.meta_of ?? r.attributes?.sha256 ?? (meta ? undefined : sha256);
    if (file) doc.fileSha256 = file;
    if (r.attributes?.file_name) doc.fileName = r.attributes.file_name;
    if (r.attributes?.file_type) doc.fileType = r.attributes.file_type;
  } else if (role === 'frames') {
    Object.assign(doc, {
      size: r.blob?.size ?? r.body?.length ?? 0,
      ...(r.blob ? { sha256: r.blob.sha256 } : r.body ? { sha256: createHash('sha256').update(r.body).digest('hex') } : {}),
    });
  } else if (r.contentType === CONTENT_TYPES.scalar && r.body) {
    try {
      const s = parseScalarBody(r.body);
      Object.assign(doc, {
        value: bsonValue(s.v),
        type: s.type,
        ...(s.unit !== undefined ? { unit: s.unit } : {}),
        ...(s.quality !== undefined ? { quality: s.quality } : {}),
      });
    } catch {
      doc.text = r.body.toString('utf8');
    }
  }
  return { role, doc };
}

/** keys MongoDB (and every server speaking its protocol) takes in an update path: no `.`, no leading `$` */
function safeKeys(v: unknown, depth = 0): boolean {
  if (depth > 16) return false;
  if (Array.isArray(v)) return v.every((x) => safeKeys(x, depth + 1));
  if (v === null || typeof v !== 'object') return true;
  return Object.entries(v).every(([k, x]) => k.length > 0 && !k.includes('.') && !k.startsWith('$') && safeKeys(x, depth + 1));
}

interface Span {
  firstNs: bigint;
  lastNs: bigint;
  firstSeq: number;
  lastSeq: number;
  seqs: number[];
}
function widen(s: Span | undefined, r: StoredRecord): Span {
  const t = timeNs(r);
  if (!s) return { firstNs: t, lastNs: t, firstSeq: r.seq, lastSeq: r.seq, seqs: [r.seq] };
  if (t < s.firstNs) s.firstNs = t;
  if (t > s.lastNs) s.lastNs = t;
  s.firstSeq = Math.min(s.firstSeq, r.seq);
  s.lastSeq = Math.max(s.lastSeq, r.seq);
  s.seqs.push(r.seq);
  return s;
}

/** fields set from the newest record of a batch that has them, guarded by that record's seq */
interface Facts {
  seq: number;
  set: Record<string, unknown>;
}
interface BuildAcc {
  span?: Span;
  layers: Set<number>;
  files: string[];
  state?: Facts;
  job?: Facts;
}
interface LayerAcc {
  build: string;
  layer: number;
  span?: Span;
  frames: string[];
  files: string[];
}

const spanFields = (s: Span) => ({
  min: { firstTime: dateOf(s.firstNs), firstSeq: s.firstSeq },
  max: { lastTime: dateOf(s.lastNs), lastSeq: s.lastSeq },
});

/** what an event tells of its build: its state, and its job, material and parameters */
function buildFacts(r: StoredRecord, event: Record<string, unknown>, b: BuildAcc): void {
  if (typeof event.state === 'string') b.state = { seq: r.seq, set: { state: event.state, stateTime: dateOf(timeNs(r)), stateSeq: r.seq } };
  const job: Record<string, unknown> = {};
  for (const key of ['material', 'feedstockLot', 'job', 'jobName', 'recipe'] as const) {
    if (typeof event[key] === 'string') job[key] = event[key];
  }
  if (event.parameters !== null && typeof event.parameters === 'object' && !Array.isArray(event.parameters) && safeKeys(event.parameters)) {
    job.parameters = event.parameters;
  }
  if (Object.keys(job).length > 0) b.job = { seq: r.seq, set: { ...b.job?.set, ...job, jobSeq: r.seq } };
}

/**
 * `$set` of facts only over older ones: the filter matches the build when its `<guard>` is missing or
 * older; else the upsert's insert meets the existing `_id` (duplicate key: a newer fact is there).
 */
function guardedSet(id: string, guard: 'stateSeq' | 'jobSeq', facts: Facts): AnyBulkWriteOperation<IdDocument> {
  return { updateOne: { filter: { _id: id, [guard]: { $not: { $gte: facts.seq } } }, update: { $set: facts.set }, upsert: true } };
}

/** The writes of a batch (records in ascending seq order): the records' documents and their builds' and layers'. */
export function batchWrites(batch: readonly StoredRecord[], machine: string): BatchWrites {
  const records: RecordWrite[] = [];
  const tooLarge: { seq: number; bytes: number }[] = [];
  const builds = new Map<string, BuildAcc>();
  const layers = new Map<string, LayerAcc>();
  for (const r of batch) {
    const made = recordDocument(r, machine);
    if (!made) continue;
    const bytes = BSON.calculateObjectSize(made.doc);
    if (bytes > MAX_BSON_BYTES) {
      tooLarge.push({ seq: r.seq, bytes });
      continue;
    }
    records.push({ seq: r.seq, role: made.role, doc: made.doc, bytes });
    if (r.build === undefined) continue;
    const b: BuildAcc = builds.get(r.build) ?? { layers: new Set<number>(), files: [] };
    builds.set(r.build, b);
    b.span = widen(b.span, r);
    if (made.role === 'events' && made.doc.event) buildFacts(r, made.doc.event as Record<string, unknown>, b);
    if (r.layer === undefined) {
      if (made.role === 'files') b.files.push(made.doc._id);
      continue;
    }
    b.layers.add(r.layer);
    const key = layerId(machine, r.build, r.layer);
    const l = layers.get(key) ?? { build: r.build, layer: r.layer, frames: [], files: [] };
    layers.set(key, l);
    l.span = widen(l.span, r);
    if (made.role === 'frames') l.frames.push(made.doc._id);
    else if (made.role === 'files') l.files.push(made.doc._id);
  }
  const aggregates: AggregateWrite[] = [];
  for (const [build, b] of builds) {
    const s = spanFields(b.span!);
    const addToSet: Record<string, unknown> = {};
    if (b.layers.size > 0) addToSet.layers = { $each: [...b.layers].sort((x, y) => x - y) };
    if (b.files.length > 0) addToSet.files = { $each: b.files };
    const maxLayer = b.layers.size > 0 ? { lastLayer: Math.max(...b.layers) } : {};
    aggregates.push({
      role: 'builds',
      seqs: b.span!.seqs,
      op: {
        updateOne: {
          filter: { _id: buildId(machine, build) },
          update: {
            $setOnInsert: { machine, build },
            $min: s.min,
            $max: { ...s.max, ...maxLayer },
            ...(Object.keys(addToSet).length > 0 ? { $addToSet: addToSet } : {}),
          },
          upsert: true,
        },
      },
    });
    if (b.state) aggregates.push({ role: 'builds', seqs: [b.state.seq], op: guardedSet(buildId(machine, build), 'stateSeq', b.state), guarded: true });
    if (b.job) aggregates.push({ role: 'builds', seqs: [b.job.seq], op: guardedSet(buildId(machine, build), 'jobSeq', b.job), guarded: true });
  }
  for (const [id, l] of layers) {
    const s = spanFields(l.span!);
    const addToSet: Record<string, unknown> = {};
    if (l.frames.length > 0) addToSet.frames = { $each: l.frames };
    if (l.files.length > 0) addToSet.files = { $each: l.files };
    aggregates.push({
      role: 'layers',
      seqs: l.span!.seqs,
      op: {
        updateOne: {
          filter: { _id: id },
          update: {
            $setOnInsert: { machine, build: l.build, layer: l.layer },
            $min: s.min,
            $max: s.max,
            ...(Object.keys(addToSet).length > 0 ? { $addToSet: addToSet } : {}),
          },
          upsert: true,
        },
      },
    });
  }
  return { records, tooLarge, aggregates };
}
