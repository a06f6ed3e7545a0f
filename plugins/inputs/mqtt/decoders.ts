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
 */
import type { RecordDraft } from '../../../gateway/plugin-api/index.js';
import { CONTENT_TYPES } from '../../../gateway/plugin-api/index.js';
import type { ScalarBody, SensitivityClass } from '../../../gateway/plugin-api/index.js';
import { WireError, decodeBlock, decodeSparkplug, parseSparkplugTopic } from '../../../wire/index.js';
import type { BlockFormat, MeltPoolBlock, SparkplugMetric, SparkplugPayload, SparkplugTopic } from '../../../wire/index.js';
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

function timestampNs(v: unknown, unit: JsonMapping['timestampUnit'], path: string): bigint {
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
  const body: ScalarBody = { v };
  const unit = map.unit ? pick(doc, map.unit) : undefined;
  if (typeof unit === 'string') body.unit = unit;
  else if (map.fixedUnit) body.unit = map.fixedUnit;
  const draft: RecordDraft = {
    signal,
    kind: 'scalar',
    contentType: CONTENT_TYPES.scalar,
    body: Buffer.from(JSON.stringify(body)),
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

/** What a Sparkplug message turned into. */
export interface SparkplugResult {
  drafts: RecordDraft[];
  /** the edge node must be asked to rebirth (a DATA with an alias no birth defined) */
  rebirth?: { group: string; node: string };
  /** the message's `seq` is not the one after the node's previous message (counted in `seqGaps`) */
  seqGap?: { node: string; expected: number; got: number; lost: number };
  /** an NDEATH whose bdSeq is not the current birth's: a will of an older session, ignored */
  staleDeath?: { node: string; bdSeq: number; current: number };
}

/** An edge node's session: the bdSeq of its NBIRTH and the seq of its last message. */
interface NodeSession {
  bdSeq: number | undefined;
  seq: number | undefined;
}

function bdSeqOf(p: { metrics?: SparkplugMetric[] }): number | undefined {
  const m = p.metrics?.find((x) => x.name === 'bdSeq');
  const v = m === undefined ? undefined : (m.longValue ?? m.intValue);
  const n = typeof v === 'string' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) ? n : undefined;
}

function metricValue(m: SparkplugMetric): number | string | boolean | undefined {
  if (m.doubleValue !== undefined && m.doubleValue !== null) return m.doubleValue;
  if (m.floatValue !== undefined && m.floatValue !== null) return m.floatValue;
  if (m.intValue !== undefined && m.intValue !== null) return m.intValue;
  if (m.longValue !== undefined && m.longValue !== null) return typeof m.longValue === 'string' ? Number(m.longValue) : m.longValue;
  if (m.booleanValue !== undefined && m.booleanValue !== null) return m.booleanValue;
  if (m.stringValue !== undefined && m.stringValue !== null) return m.stringValue;
  return undefined;
}

/**
 * Per edge node/device alias tables from NBIRTH/DBIRTH; NDATA/DDATA resolved through them;
 * NDEATH/DDEATH mark the metrics stale until the next birth.
 */
export class SparkplugState {
  private readonly aliases = new Map<string, Map<number, MetricDef>>();
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
    let p: SparkplugPayload;
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
    const result = this.decodeType(t, p, key, vars, payloadTs, topic, template, cls);
    if (check.seqGap) result.seqGap = check.seqGap;
    return result;
  }

  /**
   * Sparkplug's sequence checks for one message of an edge node: NBIRTH starts a session (its bdSeq,
   * seq 0); every later message of the node carries the next seq modulo 256 (a jump is counted with
   * the messages it skipped; the records are kept); an NDEATH counts only with the current bdSeq.
   */
  private checkSequence(t: SparkplugTopic, p: SparkplugPayload): Pick<SparkplugResult, 'seqGap' | 'staleDeath'> {
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
    p: SparkplugPayload,
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
        for (const m of p.metrics ?? [])
          if (m.name && typeof m.alias === 'number') table.set(m.alias, { name: m.name, ...(m.datatype !== undefined ? { datatype: m.datatype } : {}) });
        this.aliases.set(key, table);
        if (t.type === 'NBIRTH') {
          // a new node session: its devices' births follow and redefine their tables
          for (const k of [...this.aliases.keys()]) if (k.startsWith(`${key}/`)) this.aliases.delete(k);
          for (const k of [...this.stale]) if (k === key || k.startsWith(`${key}/`)) this.stale.delete(k);
        }
        this.stale.delete(key);
        return { drafts: this.metricsToDrafts(p.metrics ?? [], table, payloadTs, template, topic, vars, cls).drafts };
      }
      case 'NDATA':
      case 'DDATA': {
        const table = this.aliases.get(key);
        const r = this.metricsToDrafts(p.metrics ?? [], table ?? new Map(), payloadTs, template, topic, vars, cls);
        return r.unknownAlias ? { drafts: r.drafts, rebirth: { group: t.group, node: t.node } } : { drafts: r.drafts };
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
              signal: renderSignal(template, topic, { ...vars, metric: t.type }, '{metric}'),
              kind: 'event',
              contentType: CONTENT_TYPES.event,
              body: Buffer.from(JSON.stringify(body)),
              ...(payloadTs !== undefined ? { sourceTimeNs: BigInt(payloadTs) * 1_000_000n } : {}),
              attributes: { stale: 'true' },
              ...(cls ? { class: cls } : {}),
            },
          ],
        };
      }
      default:
        throw new DecodeError('unknown-topic', `Sparkplug message type "${t.type}" is not handled`);
    }
  }

  private metricsToDrafts(
    metrics: SparkplugMetric[],
    table: Map<number, MetricDef>,
    payloadTs: number | undefined,
    template: string | undefined,
    topic: string,
    vars: Record<string, string>,
    cls: SensitivityClass | undefined,
  ): { drafts: RecordDraft[]; unknownAlias: boolean } {
    const drafts: RecordDraft[] = [];
    let unknownAlias = false;
    for (const m of metrics) {
      const name = m.name || (typeof m.alias === 'number' ? table.get(m.alias)?.name : undefined);
      if (!name) {
        unknownAlias = true;
        continue;
      }
      if (m.isNull) continue; // the sensor has no value now (Sparkplug's is_null): nothing to record
      const v = metricValue(m);
      if (v === undefined || (typeof v === 'number' && !Number.isFinite(v))) continue;
      const body: ScalarBody = { v };
      const ts = typeof m.timestamp === 'number' ? m.timestamp : payloadTs;
      drafts.push({
        signal: renderSignal(template, topic, { ...vars, metric: name.replace(/\//g, '.') }, '{metric}'),
        kind: 'scalar',
        contentType: CONTENT_TYPES.scalar,
        body: Buffer.from(JSON.stringify(body)),
        ...(ts !== undefined ? { sourceTimeNs: BigInt(ts) * 1_000_000n } : {}),
        ...(cls ? { class: cls } : {}),
      });
    }
    return { drafts, unknownAlias };
  }
}
