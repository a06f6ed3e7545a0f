/**
 * Payload decoders of the `mqtt` input: each turns one MQTT message into record drafts or throws a
 * `DecodeError` carrying a short `reason` (the quarantine counter's key).
 *
 * Design constraints:
 * - The melt-pool block formats and Sparkplug B payloads are decoded by wire/ (meltpool-block.ts,
 *   sparkplug.ts), the codecs the simulator encodes with: one implementation of each wire format, so
 *   the gateway reads exactly what a machine writes. A wire error's `reason` becomes the DecodeError's.
 * - Blocks become CONTENT_TYPES.samplesF32: the wire is channel-major, the record body interleaved
 *   (one frame of all channels per sample), float32 little-endian. NaN samples are kept: inside a
 *   block they are the sensor's own dropout marker and the block's timing depends on every slot.
 * - Sparkplug state (alias tables, stale marks) lives in `SparkplugState`, one per input.
 * - A Sparkplug metric is read by its datatype (its own, else its birth's; wire/sparkplug.ts
 *   `readValue`), exactly; one that cannot be read is reported alone (`SparkplugResult.badMetrics`)
 *   and never takes the message's other metrics with it.
 */
import type { RecordDraft } from '../../../gateway/plugin-api/index.js';
import { CONTENT_TYPES, MAX_TIME_NS, encodeScalarBody, valueFromJson, valueJson } from '../../../gateway/plugin-api/index.js';
import type { ParsedScalarBody, SensitivityClass, TypedValue, ValueType } from '../../../gateway/plugin-api/index.js';
import {
  DataType,
  WireError,
  decodeBlock,
  dataTypeName,
  decodeSparkplug,
  describeDataType,
  parseSparkplugTopic,
  readDataSet,
  readValue,
  valueField,
  impliedDataType,
} from '../../../wire/index.js';
import type { BlockFormat, DecodedMetric, DecodedPayload, DecodedPropertySet, MeltPoolBlock, SparkplugDataSet, SparkplugTopic } from '../../../wire/index.js';
import type { JsonMapping } from './schema.js';

export class DecodeError extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'DecodeError';
  }
}

/** `{0}`, `{1}`: topic segments; `{topic}`; any other `{name}` from `vars`. Unknown names stay as written. */
export function renderSignal(template: string | undefined, topic: string, vars: Record<string, string> = {}, fallback?: string): string {
  const segs = topic.split('/');
  const t = template ?? fallback ?? '{topic}';
  return t.replace(/\{([A-Za-z0-9_]+)\}/g, (m, k: string) => {
    if (/^\d+$/.test(k)) return segs[Number(k)] ?? m;
    if (k === 'topic') return segs.join('.');
    return vars[k] ?? m;
  });
}

/** Channel-major float32 arrays -> one interleaved float32 LE buffer. */
export function interleave(channels: Float32Array[]): Buffer {
  const c = channels.length;
  const n = c === 0 ? 0 : channels[0]!.length;
  const out = new Float32Array(c * n);
  if (c === 1) out.set(channels[0]!);
  else
    for (let ch = 0; ch < c; ch++) {
      const src = channels[ch]!;
      for (let i = 0, o = ch; i < n; i++, o += c) out[o] = src[i]!;
    }
  // float32 arrays are in host byte order; every platform LayerGate targets (x86-64, arm64) is little-endian
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
}

export function blockToDraft(b: MeltPoolBlock, signal: string, cls: SensitivityClass | undefined): RecordDraft {
  const n = b.samples[0]?.length ?? 0;
  for (const s of b.samples) if (s.length !== n) throw new DecodeError('malformed', `channels of block seq ${b.seq} differ in length`);
  if (!(b.sampleRateHz > 0) || !Number.isFinite(b.sampleRateHz))
    throw new DecodeError('malformed', `block seq ${b.seq}: sample rate ${b.sampleRateHz} is not a positive number`);
  return {
    signal,
    kind: 'samples',
    contentType: CONTENT_TYPES.samplesF32,
    body: interleave(b.samples),
    sourceTimeNs: b.firstSampleTimeNs,
    build: b.build,
    layer: b.layer,
    attributes: {
      channels: b.channels.join(','),
      sample_rate_hz: String(b.sampleRateHz),
      first_sample: String(b.firstSampleIndex),
      // the sender's block sequence (every wire format has it): the samples tables' `block_seq`, whose
      // gaps are the blocks lost before the gateway; named `seq` as in events and the other sinks' records
      seq: String(b.seq),
    },
    ...(cls ? { class: cls } : {}),
  };
}

const BLOCK_FORMAT: Record<string, BlockFormat> = { 'binary-block': 'binary', 'protobuf-block': 'protobuf', 'json-block': 'json' };

export function decodeBlockMessage(decoder: string, payload: Buffer, signal: string, cls: SensitivityClass | undefined): RecordDraft {
  let block: MeltPoolBlock;
  try {
    block = decodeBlock(payload, BLOCK_FORMAT[decoder]!);
  } catch (err) {
    throw new DecodeError(err instanceof WireError ? err.reason : 'malformed', (err as Error).message);
  }
  return blockToDraft(block, signal, cls);
}

function parseJson(payload: Buffer): unknown {
  try {
    return JSON.parse(payload.toString('utf8'));
  } catch (err) {
    throw new DecodeError('malformed', `not JSON: ${(err as Error).message}`);
  }
}

function pick(obj: unknown, dotted: string): unknown {
  let at: unknown = obj;
  for (const k of dotted.split('.')) {
    if (at === null || typeof at !== 'object') return undefined;
    at = (at as Record<string, unknown>)[k];
  }
  return at;
}

/**
 * A mapped timestamp in nanoseconds since the epoch, refused (`bad-timestamp`) outside the range every
 * sink holds (`MAX_TIME_NS`, 1970 to 2262): a time sent in the wrong unit (microseconds as
 * milliseconds) is quarantined with that reason instead of reaching the buffer.
 */
function timestampNs(v: unknown, unit: JsonMapping['timestampUnit'], path: string): bigint {
  const ns = unitsToNs(v, unit, path);
  if (ns < 0n || ns > MAX_TIME_NS)
    throw new DecodeError(
      'bad-timestamp',
      `timestamp at "${path}" is ${JSON.stringify(v)} ${unit}, outside 1970..2262 (int64 nanoseconds); is timestampUnit "${unit}" right?`,
    );
  return ns;
}

function unitsToNs(v: unknown, unit: JsonMapping['timestampUnit'], path: string): bigint {
  if (unit === 'iso') {
    const ms = typeof v === 'string' ? Date.parse(v) : NaN;
    if (!Number.isFinite(ms)) throw new DecodeError('bad-timestamp', `timestamp at "${path}" is not an ISO 8601 time: ${JSON.stringify(v)}`);
    return BigInt(ms) * 1_000_000n;
  }
  if (unit === 'ns' && typeof v === 'string' && /^\d+$/.test(v)) return BigInt(v);
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
    throw new DecodeError('bad-timestamp', `timestamp at "${path}" is not a non-negative number: ${JSON.stringify(v)}`);
  const perUnit = { s: 1e9, ms: 1e6, us: 1e3, ns: 1 }[unit];
  // split whole and fractional parts so millisecond epochs keep their sub-ms digits without float overflow
  const whole = Math.trunc(v);
  return BigInt(whole) * BigInt(perUnit) + BigInt(Math.round((v - whole) * perUnit));
}

/**
 * The mapped JSON value as a typed value: by `valueType` when the mapping declares one, else by its JSON
 * type. A 64-bit integer beyond 2^53 must come as a decimal string: JSON.parse has already rounded a
 * number that large, so it is refused rather than stored off by a few.
 */
function typedJsonValue(v: number | string | boolean, map: JsonMapping): TypedValue {
  const type: ValueType = map.valueType ?? (typeof v === 'number' ? 'float64' : typeof v === 'boolean' ? 'bool' : 'string');
  if ((type === 'int64' || type === 'uint64') && typeof v === 'number' && !Number.isSafeInteger(v))
    throw new DecodeError(
      'wrong-type',
      `value at "${map.value}" is ${v}, beyond 2^53 as a JSON number (not exact): send ${type} values beyond 2^53 as decimal strings`,
    );
  try {
    return { type, v: valueFromJson(type, v) };
  } catch (err) {
    throw new DecodeError('wrong-type', `value at "${map.value}": ${(err as Error).message}`);
  }
}

/** A JSON message with a field mapping -> one scalar record. */
export function decodeJsonScalar(payload: Buffer, map: JsonMapping, signal: string, cls: SensitivityClass | undefined): RecordDraft {
  const doc = parseJson(payload);
  const v = pick(doc, map.value);
  if (v === undefined) throw new DecodeError('missing-field', `no value at "${map.value}"`);
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new DecodeError('nan', `value at "${map.value}" is not finite`);
  } else if (v === null) {
    throw new DecodeError('nan', `value at "${map.value}" is null (NaN on the wire)`);
  } else if (typeof v !== 'string' && typeof v !== 'boolean') {
    throw new DecodeError('wrong-type', `value at "${map.value}" is ${Array.isArray(v) ? 'an array' : typeof v}, expected a number, string or boolean`);
  }
  const unit = map.unit ? pick(doc, map.unit) : undefined;
  const body: ParsedScalarBody = { ...typedJsonValue(v, map) };
  if (typeof unit === 'string') body.unit = unit;
  else if (map.fixedUnit) body.unit = map.fixedUnit;
  const draft: RecordDraft = {
    signal,
    kind: 'scalar',
    contentType: CONTENT_TYPES.scalar,
    body: encodeScalarBody(body),
    ...(cls ? { class: cls } : {}),
  };
  if (map.timestamp) {
    const ts = pick(doc, map.timestamp);
    if (ts === undefined) throw new DecodeError('missing-field', `no timestamp at "${map.timestamp}"`);
    draft.sourceTimeNs = timestampNs(ts, map.timestampUnit, map.timestamp);
  }
  return draft;
}

/**
 * A JSON message whose mapped value is an array of samples -> one samples record (CONTENT_TYPES.samplesF32).
 * `[1.5, 2, null]` is one channel; `[[1, 2], [3, 4]]` is one sample of every channel per inner array
 * (already interleaved, the record's layout). JSON has no NaN: null is the dropout marker and stored as
 * NaN, as inside the binary blocks. Anything else inside the array is quarantined (`wrong-type`).
 */
export function decodeJsonSamples(payload: Buffer, map: JsonMapping, signal: string, cls: SensitivityClass | undefined): RecordDraft {
  const doc = parseJson(payload);
  const v = pick(doc, map.value);
  if (v === undefined) throw new DecodeError('missing-field', `no value at "${map.value}"`);
  if (!Array.isArray(v)) throw new DecodeError('wrong-type', `value at "${map.value}" is ${v === null ? 'null' : typeof v}, expected an array of samples`);
  if (v.length === 0) throw new DecodeError('malformed', `value at "${map.value}" is an empty array of samples`);
  const frames = Array.isArray(v[0]);
  const width = frames ? (v[0] as unknown[]).length : 1;
  if (width === 0) throw new DecodeError('malformed', `value at "${map.value}": a sample has no channels`);
  const out = new Float32Array(v.length * width);
  const put = (x: unknown, at: number, where: string): void => {
    if (typeof x === 'number') {
      out[at] = x;
      if (!Number.isFinite(out[at])) throw new DecodeError('wrong-type', `value at "${map.value}"${where} is ${x}, beyond float32`);
    } else if (x === null) out[at] = Number.NaN;
    else throw new DecodeError('wrong-type', `value at "${map.value}"${where} is ${Array.isArray(x) ? 'an array' : typeof x}, expected a number or null`);
  };
  for (let i = 0; i < v.length; i++) {
    const s = v[i];
    if (!frames) put(s, i, `[${i}]`);
    else {
      if (!Array.isArray(s) || s.length !== width) {
        throw new DecodeError('malformed', `value at "${map.value}"[${i}] is not a sample of ${width} channels like the first one`);
      }
      for (let c = 0; c < width; c++) put(s[c], i * width + c, `[${i}][${c}]`);
    }
  }
  let rate: unknown = map.fixedSampleRate;
  if (map.sampleRate) rate = pick(doc, map.sampleRate) ?? map.fixedSampleRate;
  if (rate === undefined) throw new DecodeError('missing-field', `no sample rate${map.sampleRate ? ` at "${map.sampleRate}"` : ''} and no fixedSampleRate`);
  if (typeof rate !== 'number' || !(rate > 0) || !Number.isFinite(rate))
    throw new DecodeError('wrong-type', `sample rate ${JSON.stringify(rate)} is not a positive number`);
  let first: unknown = 0;
  if (map.firstSample) {
    first = pick(doc, map.firstSample);
    if (first === undefined) throw new DecodeError('missing-field', `no first sample index at "${map.firstSample}"`);
    if (typeof first !== 'number' || !Number.isSafeInteger(first) || first < 0)
      throw new DecodeError('wrong-type', `first sample index ${JSON.stringify(first)} is not a non-negative integer`);
  }
  let channels = map.channels;
  if (channels === undefined) channels = width === 1 ? [map.value.split('.').pop()!] : Array.from({ length: width }, (_, c) => `c${c}`);
  else if (channels.length !== width)
    throw new DecodeError('malformed', `samples have ${width} channels, the mapping names ${channels.length} (${channels.join(', ')})`);
  const draft: RecordDraft = {
    signal,
    kind: 'samples',
    contentType: CONTENT_TYPES.samplesF32,
    // float32 arrays are in host byte order; every platform LayerGate targets is little-endian
    body: Buffer.from(out.buffer, out.byteOffset, out.byteLength),
    attributes: { channels: channels.join(','), sample_rate_hz: String(rate), first_sample: String(first) },
    ...(cls ? { class: cls } : {}),
  };
  if (map.timestamp) {
    const ts = pick(doc, map.timestamp);
    if (ts === undefined) throw new DecodeError('missing-field', `no timestamp at "${map.timestamp}"`);
    draft.sourceTimeNs = timestampNs(ts, map.timestampUnit, map.timestamp);
  }
  return draft;
}

/** A machine event (`{type, build?, layer?, timestampMs?, ...}`) -> one event record, body as received. */
export function decodeEvent(payload: Buffer, signal: string, cls: SensitivityClass | undefined): RecordDraft {
  const doc = parseJson(payload);
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new DecodeError('wrong-type', 'an event must be a JSON object');
  const e = doc as Record<string, unknown>;
  if (typeof e.type !== 'string' || e.type.length === 0) throw new DecodeError('missing-field', 'an event needs a string "type"');
  const draft: RecordDraft = { signal, kind: 'event', contentType: CONTENT_TYPES.event, body: Buffer.from(JSON.stringify(e)), ...(cls ? { class: cls } : {}) };
  if (typeof e.build === 'string' && e.build) draft.build = e.build;
  if (typeof e.layer === 'number' && Number.isInteger(e.layer) && e.layer >= 0) draft.layer = e.layer;
  if (typeof e.timestampMs === 'number' && Number.isFinite(e.timestampMs)) draft.sourceTimeNs = BigInt(Math.round(e.timestampMs)) * 1_000_000n;
  if (typeof e.seq === 'number') draft.attributes = { seq: String(e.seq) };
  return draft;
}

// ---- Sparkplug B -------------------------------------------------------------------------------

interface MetricDef {
  name: string;
  datatype?: number;
}

/** A template definition of a birth: each member's datatype, and a member template's template_ref, by member name. */
type TemplateDef = Map<string, { datatype?: number; templateRef?: string }>;

/** What a Sparkplug message turned into. */
export interface SparkplugResult {
  drafts: RecordDraft[];
  /** the edge node must be asked to rebirth (a DATA with an alias no birth defined) */
  rebirth?: { group: string; node: string };
  /** the message's `seq` is not the one after the node's previous message (counted in `seqGaps`) */
  seqGap?: { node: string; expected: number; got: number; lost: number };
  /** an NDEATH whose bdSeq is not the current birth's: a will of an older session, ignored */
  staleDeath?: { node: string; bdSeq: number; current: number };
  /**
   * Metrics that could not be read, one DecodeError each (reason `bad-value` or `unknown-datatype`,
   * the message naming the metric, the topic and the datatype): to be quarantined with the message.
   * The message's other metrics are in `drafts`.
   */
  badMetrics?: DecodeError[];
}

/** An edge node's session: the bdSeq of its NBIRTH and the seq of its last message. */
interface NodeSession {
  bdSeq: number | undefined;
  seq: number | undefined;
}

function bdSeqOf(p: { metrics?: DecodedMetric[] }): number | undefined {
  const m = p.metrics?.find((x) => x.name === 'bdSeq');
  const v = m === undefined ? undefined : (m.longValue ?? m.intValue);
  const n = v === undefined || v === null ? undefined : Number(v);
  return n !== undefined && Number.isSafeInteger(n) ? n : undefined;
}

/** Property keys read as the value's unit (Ignition and most edge nodes send `engUnit`), compared lowercased. */
const UNIT_PROPERTIES = new Set(['engunit', 'engunits', 'unit', 'units']);
/** Sparkplug's `Quality` property codes (Ignition's, after OPC DA) by name; any other code is kept as its number. */
const QUALITY_NAMES: ReadonlyMap<number, string> = new Map([
  [0, 'Bad'],
  [64, 'Uncertain'],
  [192, 'Good'],
  [500, 'Stale'],
]);
/** the content type of a DataSet's document record */
const DATASET_CONTENT_TYPE = 'application/json';
/** a File metric without a content type in its metadata */
const FILE_CONTENT_TYPE = 'application/octet-stream';

/** A typed value as attribute text: strings as they are, every other value in its scalar-body JSON form unquoted. */
function attributeText(t: TypedValue): string {
  if (typeof t.v === 'string') return t.v;
  const j = valueJson(t.type, t.v);
  return j.startsWith('"') ? (JSON.parse(j) as string) : j;
}

/** What a metric's property set says: `unit` and `quality` for the value, every other readable property as an attribute. */
interface MetricProperties {
  unit?: string;
  quality?: string;
  attributes: Record<string, string>;
}

/**
 * Read a metric's PropertySet: a unit-like key with a string value is the unit, `Quality` with an
 * integer value the quality, any other property with a value the attribute `property.<key>`.
 * Nested property sets (PropertySet, PropertySetList) are left out: no attribute could hold them.
 * A property whose value does not fit its type throws (the metric is quarantined like a bad value).
 */
function readProperties(ps: DecodedPropertySet | undefined): MetricProperties {
  const out: MetricProperties = { attributes: {} };
  if (!ps) return out;
  const keys = ps.keys ?? [];
  const values = ps.values ?? [];
  keys.forEach((key, i) => {
    const pv = values[i];
    if (!pv || pv.isNull || pv.type === DataType.PropertySet || pv.type === DataType.PropertySetList) return;
    if (valueField(pv) === undefined) return;
    let t: TypedValue;
    try {
      t = readValue(pv, pv.type ?? DataType.Unknown);
    } catch (err) {
      throw new DecodeError('bad-value', `property "${key}": ${(err as Error).message}`);
    }
    const lower = key.toLowerCase();
    if (UNIT_PROPERTIES.has(lower) && typeof t.v === 'string') out.unit = t.v;
    else if (lower === 'quality' && typeof t.v === 'number' && Number.isInteger(t.v)) out.quality = QUALITY_NAMES.get(t.v) ?? String(t.v);
    else out.attributes[`property.${key}`] = attributeText(t);
  });
  return out;
}

/** A DataSet as its document's JSON: `{"columns": [..], "types": [..], "rows": [[..], ..]}`, each cell in its type's scalar-body form. */
function dataSetJson(d: SparkplugDataSet): Buffer {
  const rows = d.rows.map((row) => `[${row.map((v, c) => (v === null ? 'null' : valueJson(d.types[c]!, v))).join(',')}]`);
  return Buffer.from(`{"columns":${JSON.stringify(d.columns)},"types":${JSON.stringify(d.types)},"rows":[${rows.join(',')}]}`);
}

/** Where the metrics of one message go: its topic and naming, its records and its unreadable metrics. */
interface MetricScope {
  topic: string;
  template: string | undefined;
  vars: Record<string, string>;
  cls: SensitivityClass | undefined;
  payloadTs: number | undefined;
  /** the node's template definitions, by name */
  defs: Map<string, TemplateDef> | undefined;
  drafts: RecordDraft[];
  bad: DecodeError[];
}

/** Why a metric is quarantined, naming the metric, the topic and the datatype. */
function badMetric(err: unknown, name: string, datatype: number | undefined, topic: string): DecodeError {
  const known = datatype !== undefined && datatype !== DataType.Unknown && dataTypeName(datatype) !== undefined;
  const reason = err instanceof DecodeError ? err.reason : known ? 'bad-value' : 'unknown-datatype';
  const dt = datatype === undefined ? 'no datatype' : describeDataType(datatype);
  return new DecodeError(reason, `Sparkplug metric "${name}" (${dt}) on ${topic}: ${(err as Error).message}`);
}

/**
 * The signal template of a Sparkplug message whose subscription names none: the metric behind its
 * group, edge node and device, so a node's metric and a device's metric of the same name (or two
 * nodes' metrics) stay apart. Sparkplug ids are unique only within their group and node.
 */
export function sparkplugSignalTemplate(t: Pick<SparkplugTopic, 'device'>): string {
  return t.device === undefined ? '{group}.{node}.{metric}' : '{group}.{node}.{device}.{metric}';
}

/**
 * Per edge node/device alias tables from NBIRTH/DBIRTH; NDATA/DDATA resolved through them;
 * NDEATH/DDEATH mark the metrics stale until the next birth. Every metric is read by its datatype:
 * its own, else its birth's (by name or alias), else, for the fields that allow only one reading
 * (float, double, boolean, string, bytes), by the field.
 */
export class SparkplugState {
  private readonly aliases = new Map<string, Map<number, MetricDef>>();
  /** per edge node/device: the metrics of its birth by name (a DATA may name a metric instead of its alias) */
  private readonly births = new Map<string, Map<string, MetricDef>>();
  /** per group/node: the template definitions of its NBIRTH, by name (its devices' instances refer to them) */
  private readonly templateDefs = new Map<string, Map<string, TemplateDef>>();
  readonly stale = new Set<string>();
  staleMetrics = 0;
  /** per group/node: Sparkplug's seq (0..255 over NBIRTH, DBIRTH, NDATA, DDATA, DDEATH) and bdSeq */
  private readonly sessions = new Map<string, NodeSession>();
  /** messages whose seq did not follow the node's previous one (lost, duplicated or reordered) */
  seqGaps = 0;
  /** messages missing by those seq jumps (modulo 256: a jump over more than 255 is not seen) */
  lostMessages = 0;
  /** NDEATHs ignored because their bdSeq was not the current birth's */
  staleDeaths = 0;

  private key(t: SparkplugTopic): string {
    return t.device === undefined ? `${t.group}/${t.node}` : `${t.group}/${t.node}/${t.device}`;
  }

  decode(topic: string, payload: Buffer, template: string | undefined, cls: SensitivityClass | undefined): SparkplugResult {
    const t = parseSparkplugTopic(topic);
    if (!t) throw new DecodeError('unknown-topic', `"${topic}" is not a Sparkplug B topic (spBv1.0/group/type/node[/device])`);
    if (t.type === 'NCMD' || t.type === 'DCMD' || t.type === 'STATE') return { drafts: [] };
    let p: DecodedPayload;
    try {
      p = decodeSparkplug(payload);
    } catch (err) {
      throw new DecodeError(err instanceof WireError ? err.reason : 'malformed', `Sparkplug payload does not decode: ${(err as Error).message}`);
    }
    const key = this.key(t);
    const vars = { group: t.group, node: t.node, device: t.device ?? '' };
    const payloadTs = typeof p.timestamp === 'number' ? p.timestamp : undefined;
    const check = this.checkSequence(t, p);
    if (check.staleDeath) return { drafts: [], staleDeath: check.staleDeath };
    const result = this.decodeType(t, p, key, vars, payloadTs, topic, template ?? sparkplugSignalTemplate(t), cls);
    if (check.seqGap) result.seqGap = check.seqGap;
    return result;
  }

  /**
   * Sparkplug's sequence checks for one message of an edge node: NBIRTH starts a session (its bdSeq,
   * seq 0); every later message of the node carries the next seq modulo 256 (a jump is counted with
   * the messages it skipped; the records are kept); an NDEATH counts only with the current bdSeq.
   */
  private checkSequence(t: SparkplugTopic, p: DecodedPayload): Pick<SparkplugResult, 'seqGap' | 'staleDeath'> {
    const node = `${t.group}/${t.node}`;
    let s = this.sessions.get(node);
    if (t.type === 'NBIRTH') {
      this.sessions.set(node, { bdSeq: bdSeqOf(p), seq: typeof p.seq === 'number' ? p.seq : undefined });
      return {};
    }
    if (t.type === 'NDEATH') {
      const bdSeq = bdSeqOf(p);
      if (s?.bdSeq !== undefined && bdSeq !== undefined && bdSeq !== s.bdSeq) {
        this.staleDeaths++;
        return { staleDeath: { node, bdSeq, current: s.bdSeq } };
      }
      this.sessions.delete(node);
      return {};
    }
    if (typeof p.seq !== 'number') return {};
    if (!s) this.sessions.set(node, (s = { bdSeq: undefined, seq: undefined }));
    const prev = s.seq;
    s.seq = p.seq;
    if (prev === undefined) return {}; // the first message seen of this node (born before the gateway came)
    const expected = (prev + 1) % 256;
    if (p.seq === expected) return {};
    const lost = (p.seq - expected + 256) % 256;
    this.seqGaps++;
    this.lostMessages += lost;
    return { seqGap: { node, expected, got: p.seq, lost } };
  }

  private decodeType(
    t: SparkplugTopic,
    p: DecodedPayload,
    key: string,
    vars: Record<string, string>,
    payloadTs: number | undefined,
    topic: string,
    template: string | undefined,
    cls: SensitivityClass | undefined,
  ): SparkplugResult {
    switch (t.type) {
      case 'NBIRTH':
      case 'DBIRTH': {
        const table = new Map<number, MetricDef>();
        const names = new Map<string, MetricDef>();
        const nodeKey = `${t.group}/${t.node}`;
        if (t.type === 'NBIRTH') {
          // a new node session: its devices' births follow and redefine their tables
          for (const k of [...this.aliases.keys()]) if (k.startsWith(`${key}/`)) this.aliases.delete(k);
          for (const k of [...this.births.keys()]) if (k.startsWith(`${key}/`)) this.births.delete(k);
          for (const k of [...this.stale]) if (k === key || k.startsWith(`${key}/`)) this.stale.delete(k);
          this.templateDefs.delete(nodeKey);
        }
        for (const m of p.metrics ?? []) {
          if (!m.name) continue;
          const def: MetricDef = { name: m.name, ...(m.datatype ? { datatype: m.datatype } : {}) };
          names.set(m.name, def);
          if (typeof m.alias === 'number') table.set(m.alias, def);
          if (m.datatype === DataType.Template && m.templateValue?.isDefinition) {
            let defs = this.templateDefs.get(nodeKey);
            if (!defs) this.templateDefs.set(nodeKey, (defs = new Map()));
            defs.set(m.name, templateDef(m.templateValue.metrics));
          }
        }
        this.aliases.set(key, table);
        this.births.set(key, names);
        this.stale.delete(key);
        const r = this.metricsToDrafts(p.metrics ?? [], table, names, this.templateDefs.get(nodeKey), payloadTs, template, topic, vars, cls);
        return { drafts: r.drafts, ...(r.bad.length ? { badMetrics: r.bad } : {}) };
      }
      case 'NDATA':
      case 'DDATA': {
        const table = this.aliases.get(key) ?? new Map<number, MetricDef>();
        const names = this.births.get(key) ?? new Map<string, MetricDef>();
        const r = this.metricsToDrafts(p.metrics ?? [], table, names, this.templateDefs.get(`${t.group}/${t.node}`), payloadTs, template, topic, vars, cls);
        return {
          drafts: r.drafts,
          ...(r.unknownAlias ? { rebirth: { group: t.group, node: t.node } } : {}),
          ...(r.bad.length ? { badMetrics: r.bad } : {}),
        };
      }
      case 'NDEATH':
      case 'DDEATH': {
        for (const k of [key, ...[...this.aliases.keys()].filter((k) => t.type === 'NDEATH' && k.startsWith(`${key}/`))]) {
          if (!this.stale.has(k)) this.staleMetrics += this.aliases.get(k)?.size ?? 0;
          this.stale.add(k);
        }
        const body = {
          type: t.type === 'NDEATH' ? 'sparkplug-node-death' : 'sparkplug-device-death',
          group: t.group,
          node: t.node,
          ...(t.device ? { device: t.device } : {}),
        };
        return {
          drafts: [
            {
              signal: renderSignal(template, topic, { ...vars, metric: t.type }),
              kind: 'event',
              contentType: CONTENT_TYPES.event,
              body: Buffer.from(JSON.stringify(body)),
              // a death happened when the broker delivered it: an NDEATH sent as the edge node's MQTT will
              // carries the time the will was made (its session's start), so the payload's time is kept aside
              sourceTimeNs: BigInt(Date.now()) * 1_000_000n,
              attributes: { stale: 'true', ...(payloadTs !== undefined ? { payload_timestamp_ms: String(payloadTs) } : {}) },
              ...(cls ? { class: cls } : {}),
            },
          ],
        };
      }
      default:
        throw new DecodeError('unknown-topic', `Sparkplug message type "${t.type}" is not handled`);
    }
  }

  /**
   * The records of a message's metrics, each read by its datatype (see the class comment). A metric
   * that cannot be read goes to `bad`, never taking its siblings with it; `unknownAlias` when a
   * metric's alias has no birth (the node must rebirth).
   */
  private metricsToDrafts(
    metrics: DecodedMetric[],
    table: Map<number, MetricDef>,
    names: Map<string, MetricDef>,
    defs: Map<string, TemplateDef> | undefined,
    payloadTs: number | undefined,
    template: string | undefined,
    topic: string,
    vars: Record<string, string>,
    cls: SensitivityClass | undefined,
  ): { drafts: RecordDraft[]; unknownAlias: boolean; bad: DecodeError[] } {
    const scope: MetricScope = { topic, template, vars, cls, payloadTs, defs, drafts: [], bad: [] };
    let unknownAlias = false;
    for (const m of metrics) {
      const def = m.name ? names.get(m.name) : typeof m.alias === 'number' ? table.get(m.alias) : undefined;
      const name = m.name || def?.name;
      if (!name) {
        unknownAlias = true;
        continue;
      }
      this.metricToDrafts(m, name, m.datatype || def?.datatype, scope, undefined, undefined);
    }
    return { drafts: scope.drafts, unknownAlias, bad: scope.bad };
  }

  /**
   * One metric (or template member, named `<template metric>/<member>`) to its records: a scalar, a
   * document (DataSet, File), or one per member of a template instance. Template definitions are not
   * data. `ts` and `attributes` are the enclosing template instance's.
   */
  private metricToDrafts(
    m: DecodedMetric,
    name: string,
    datatype: number | undefined,
    s: MetricScope,
    ts: number | undefined,
    attributes: Record<string, string> | undefined,
  ): void {
    if (m.isNull) return; // the sensor has no value now (Sparkplug's is_null): nothing to record
    const field = valueField(m);
    if (field === undefined && !m.templateValue && !m.datasetValue) return; // no value (as a birth may have)
    const time = m.timestamp ?? ts ?? s.payloadTs;
    // a structure without a datatype (none in the metric, none in its birth) is what it carries
    datatype ??= m.templateValue ? DataType.Template : m.datasetValue ? DataType.DataSet : undefined;
    try {
      if (datatype === DataType.Template) {
        this.templateToDrafts(m, name, s, time);
        return;
      }
      const props = readProperties(m.properties);
      const attrs: Record<string, string> = { ...attributes, ...props.attributes };
      if (m.isHistorical) attrs.historical = 'true';
      const draft: RecordDraft = {
        signal: renderSignal(s.template, s.topic, { ...s.vars, metric: name.replace(/\//g, '.') }),
        kind: 'scalar',
        contentType: CONTENT_TYPES.scalar,
        body: Buffer.alloc(0),
        ...(time !== undefined ? { sourceTimeNs: BigInt(time) * 1_000_000n } : {}),
        ...(s.cls ? { class: s.cls } : {}),
      };
      if (datatype === DataType.DataSet) {
        if (!m.datasetValue) throw new Error(`a DataSet carries ${field ? `${field} instead of dataset_value` : 'no dataset_value'}`);
        draft.kind = 'document';
        draft.contentType = DATASET_CONTENT_TYPE;
        draft.body = dataSetJson(readDataSet(m.datasetValue));
        if (props.unit !== undefined) attrs.unit = props.unit;
        if (props.quality !== undefined) attrs.quality = props.quality;
      } else if (datatype === DataType.File) {
        // a file is a document (a build file, a report), its bytes as they are, named by its metadata
        const bytes = readValue(m, DataType.File).v as Uint8Array;
        const md = m.metadata;
        draft.kind = 'document';
        draft.contentType = md?.contentType || FILE_CONTENT_TYPE;
        draft.body = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        if (md?.fileName) attrs.file_name = md.fileName;
        if (md?.fileType) attrs.file_type = md.fileType;
        if (md?.md5) attrs.md5 = md.md5;
        if (md?.isMultiPart) attrs.multi_part_seq = String(md.seq ?? 0n);
      } else {
        const dt = datatype ?? (field ? impliedDataType(field) : undefined);
        if (dt === undefined) throw new DecodeError('unknown-datatype', `${field} without a datatype in the metric or its birth`);
        const v = readValue(m, dt);
        draft.body = encodeScalarBody({
          ...v,
          ...(props.unit !== undefined ? { unit: props.unit } : {}),
          ...(props.quality !== undefined ? { quality: props.quality } : {}),
        });
      }
      if (Object.keys(attrs).length) draft.attributes = attrs;
      s.drafts.push(draft);
    } catch (err) {
      s.bad.push(badMetric(err, name, datatype, s.topic));
    }
  }

  /**
   * A template instance: each member a metric of its own, `<metric>/<member>`, read by its own
   * datatype or its definition's (the NBIRTH's definition its template_ref names); nested instances
   * likewise. Its template_ref and parameters become attributes of every member's record.
   */
  private templateToDrafts(m: DecodedMetric, name: string, s: MetricScope, ts: number | undefined): void {
    const tv = m.templateValue;
    if (!tv) throw new Error(`a Template carries ${valueField(m) ?? 'no value'} instead of template_value`);
    if (tv.isDefinition) return; // a definition (UDT type) in a birth: no data
    const ref = tv.templateRef ?? undefined;
    const attributes: Record<string, string> = ref ? { template: ref } : {};
    for (const p of tv.parameters ?? []) {
      if (!p.name || valueField(p) === undefined) continue;
      try {
        attributes[`parameter.${p.name}`] = attributeText(readValue(p, p.type ?? DataType.Unknown));
      } catch (err) {
        throw new DecodeError('bad-value', `template parameter "${p.name}": ${(err as Error).message}`);
      }
    }
    const def = ref ? s.defs?.get(ref) : undefined;
    for (const member of tv.metrics) {
      if (!member.name) {
        s.bad.push(new DecodeError('bad-value', `Sparkplug template metric "${name}" on ${s.topic}: a member without a name`));
        continue;
      }
      const memberDef = def?.get(member.name);
      const datatype = member.datatype || memberDef?.datatype;
      // a nested instance without its own template_ref is of the type its definition's member names
      const nested =
        datatype === DataType.Template && member.templateValue && !member.templateValue.templateRef && memberDef?.templateRef
          ? { ...member, templateValue: { ...member.templateValue, templateRef: memberDef.templateRef } }
          : member;
      this.metricToDrafts(nested, `${name}/${member.name}`, datatype, s, ts, attributes);
    }
  }
}

/** A definition's members: their datatypes and, for member templates, the definitions they are instances of. */
function templateDef(members: DecodedMetric[]): TemplateDef {
  const def: TemplateDef = new Map();
  for (const m of members) {
    if (!m.name) continue;
    const ref = m.templateValue?.templateRef;
    def.set(m.name, { ...(m.datatype ? { datatype: m.datatype } : {}), ...(ref ? { templateRef: ref } : {}) });
  }
  return def;
}
