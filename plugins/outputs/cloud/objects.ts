/**
 * A cloud object made from records (a realtime JSON-lines part, a time-series Parquet part): its bytes
 * placed in the sync store and the row that queues it, with its class and its members (the records it
 * carries, per build, for the build's manifest).
 *
 * Design constraints:
 * - An object's class is the strictest class of its records; its members name the seq range and layer
 *   range per build, whatever order the records are in (a time-series object's rows are sorted by
 *   signal, not by seq). Its metadata states ranges over all its records (seq, layer), never the
 *   first record's value.
 * - The bytes are fsynced in the store's object folder before the row that names them commits
 *   (`SyncStore.placeBytes`); the caller discards the placed files when its commit fails.
 */
import type { SensitivityClass, StoredRecord } from '../../../gateway/plugin-api/index.js';
import { classRank } from '../../../gateway/plugin-api/index.js';
import { SEQ_KEY } from '../shared/sink.js';
import type { Member, NewObject, SyncMode, SyncStore } from './sync/store.js';

/** metadata of an object of records: the lowest and highest layer inside (`<min>-<max>`, one value when equal) */
export const LAYER_KEY = 'layergate-layer';

export function strictest(classes: Iterable<SensitivityClass>): SensitivityClass {
  let out: SensitivityClass = 'public';
  for (const c of classes) if (classRank(c) > classRank(out)) out = c;
  return out;
}

/** The member entry of records of one build: seq range, layer range, count, strictest class. */
export function memberOf(records: StoredRecord[]): Member {
  let firstSeq = records[0]!.seq;
  let lastSeq = firstSeq;
  let layerMin: number | null = null;
  let layerMax: number | null = null;
  for (const r of records) {
    if (r.seq < firstSeq) firstSeq = r.seq;
    if (r.seq > lastSeq) lastSeq = r.seq;
    if (r.layer !== undefined) {
      if (layerMin === null || r.layer < layerMin) layerMin = r.layer;
      if (layerMax === null || r.layer > layerMax) layerMax = r.layer;
    }
  }
  return {
    build: records[0]!.build ?? '',
    firstSeq,
    lastSeq,
    layerMin,
    layerMax,
    records: records.length,
    class: strictest(records.map((r) => r.class)),
  };
}

export function groupBy<T>(items: T[], key: (t: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const i of items) {
    const k = key(i);
    const list = m.get(k);
    if (list) list.push(i);
    else m.set(k, [i]);
  }
  return m;
}

export interface RecordsObject {
  key: string;
  contentType: string;
  contentEncoding?: string;
  mode: SyncMode;
  priority: number;
  records: StoredRecord[];
  /** extra metadata besides the seq range */
  metadata?: Record<string, string>;
}

/** Place `bytes` in the store (its file name is pushed to `placed`) and describe the object to queue. */
export function placeRecordsObject(store: SyncStore, bytes: Uint8Array, o: RecordsObject, placed: string[]): NewObject {
  store.ensureRoom(bytes.length);
  const p = store.placeBytes(bytes);
  placed.push(p.file);
  const members = [...groupBy(o.records, (r) => r.build ?? '').values()].map(memberOf);
  let oldest = o.records[0]!.receiveTimeNs;
  for (const r of o.records) if (r.receiveTimeNs < oldest) oldest = r.receiveTimeNs;
  const first = Math.min(...members.map((m) => m.firstSeq));
  const last = Math.max(...members.map((m) => m.lastSeq));
  const layers = members.flatMap((m) => (m.layerMin === null || m.layerMax === null ? [] : [m.layerMin, m.layerMax]));
  const layerMin = Math.min(...layers);
  const layerMax = Math.max(...layers);
  return {
    key: o.key,
    file: p.file,
    size: p.size,
    sha256: p.sha256,
    md5: p.md5,
    contentType: o.contentType,
    ...(o.contentEncoding ? { contentEncoding: o.contentEncoding } : {}),
    class: strictest(o.records.map((r) => r.class)),
    mode: o.mode,
    priority: o.priority,
    recordTimeNs: oldest,
    members,
    metadata: {
      [SEQ_KEY]: `${first}-${last}`,
      // every layer inside, as a range: an object of layers 7 and 8 is not an object of layer 7
      ...(layers.length > 0 ? { [LAYER_KEY]: layerMin === layerMax ? String(layerMin) : `${layerMin}-${layerMax}` } : {}),
      ...o.metadata,
    },
  };
}
