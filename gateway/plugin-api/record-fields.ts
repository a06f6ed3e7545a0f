/**
 * The typed range of every field an input puts into a record, checked once at the ingest boundary
 * (`Pipeline.emit`) for every input, present and future: a record outside them is quarantined with
 * the reason, never stored, and never holds up the other records of its emit.
 *
 * Design constraints:
 * - The ranges are the ones every sink can hold: times in signed 64-bit nanoseconds since the epoch
 *   (SQLite INTEGER, Kafka/proto int64, Parquet TIMESTAMP(NANOS)), not before 1970; a layer in
 *   0..2^31-1 (the protobuf field is uint32, the lake's column int32: the narrower wins); build,
 *   signal, source and attributes as bounded strings; the `access_pattern` attribute, which routing
 *   reads, one of `ACCESS_PATTERNS` (a value outside them would otherwise route as "no pattern").
 * - Inputs convert their own wire values into these types and refuse what does not fit with their
 *   own, more precise reason (mqtt decoders, frames sidecars and headers, using the constants
 *   here); this check is the floor that holds for all of them, including a plugin that forgot.
 * - Pure and cheap: called per record on the hot path; no allocation unless a field is out of range.
 */
import { ACCESS_PATTERNS, ACCESS_PATTERN_ATTRIBUTE, RECORD_KINDS, SENSITIVITY_CLASSES, isAccessPattern } from './record.js';
import type { RecordInput } from './record.js';

/** the largest signed 64-bit integer: the last nanosecond any sink's time column holds (2262-04-11) */
export const MAX_TIME_NS = (1n << 63n) - 1n;
/** the largest layer number every sink holds (the lake's int32 column; the proto's uint32 holds more) */
export const MAX_LAYER = 2 ** 31 - 1;
/** the longest build id, in UTF-16 code units */
export const MAX_BUILD_LENGTH = 256;
/** the longest signal or source name, in UTF-16 code units (MQTT topics can be far longer; none is meant to be) */
export const MAX_NAME_LENGTH = 1024;
/** the most attributes one record carries */
export const MAX_ATTRIBUTES = 256;
/** the longest attribute key */
export const MAX_ATTRIBUTE_KEY_LENGTH = 256;
/** the longest attribute value */
export const MAX_ATTRIBUTE_VALUE_LENGTH = 4096;

const KINDS: ReadonlySet<string> = new Set(RECORD_KINDS);
const CLASSES: ReadonlySet<string> = new Set(SENSITIVITY_CLASSES);

function show(v: unknown): string {
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  if (typeof v === 'number') return String(v);
  if (v === null) return 'null';
  return Array.isArray(v) ? 'an array' : typeof v;
}

function timeProblem(field: string, v: unknown): string | undefined {
  if (typeof v !== 'bigint') return `${field} must be a bigint of nanoseconds, got ${show(v)}`;
  if (v < 0n || v > MAX_TIME_NS) return `${field} ${v} is outside 0..${MAX_TIME_NS} ns (1970 to 2262)`;
  return undefined;
}

function nameProblem(field: string, v: unknown, max: number): string | undefined {
  if (typeof v !== 'string' || v.length === 0 || v.length > max) return `${field} must be a non-empty string of at most ${max} characters, got ${show(v)}`;
  return undefined;
}

/**
 * Why a stamped record does not fit the ranges every sink holds, or undefined when it does. Checks
 * what the input and the machine context put in (not `class` and `routes`, which the pipeline sets),
 * and the draft's own attributes (`draftAttributes`) when stamping merged them into a new object,
 * which would otherwise hide a draft's attributes that are not an object of strings.
 */
export function recordFieldProblem(r: RecordInput, draftAttributes?: unknown): string | undefined {
  const p =
    nameProblem('signal', r.signal, MAX_NAME_LENGTH) ??
    nameProblem('source', r.source, MAX_NAME_LENGTH) ??
    (typeof r.kind === 'string' && KINDS.has(r.kind) ? undefined : `kind must be one of ${RECORD_KINDS.join(', ')}, got ${show(r.kind)}`) ??
    (r.class === undefined || (typeof r.class === 'string' && CLASSES.has(r.class))
      ? undefined
      : `class must be one of ${SENSITIVITY_CLASSES.join(', ')}, got ${show(r.class)}`) ??
    (typeof r.contentType === 'string' && r.contentType.length > 0 && r.contentType.length <= MAX_NAME_LENGTH
      ? undefined
      : `contentType must be a non-empty string of at most ${MAX_NAME_LENGTH} characters, got ${show(r.contentType)}`) ??
    (r.body instanceof Uint8Array ? undefined : `body must be bytes, got ${show(r.body)}`) ??
    (r.sourceTimeNs === undefined ? undefined : timeProblem('sourceTimeNs', r.sourceTimeNs)) ??
    timeProblem('receiveTimeNs', r.receiveTimeNs) ??
    (r.layer === undefined || (Number.isInteger(r.layer) && r.layer >= 0 && r.layer <= MAX_LAYER)
      ? undefined
      : `layer must be an integer in 0..${MAX_LAYER}, got ${show(r.layer)}`) ??
    (r.build === undefined ? undefined : nameProblem('build', r.build, MAX_BUILD_LENGTH));
  if (p !== undefined) return p;
  if (draftAttributes !== undefined && draftAttributes !== r.attributes) {
    const own = attributesProblem(draftAttributes);
    if (own !== undefined) return own;
  }
  return r.attributes === undefined ? undefined : (attributesProblem(r.attributes) ?? accessPatternProblem(r.attributes));
}

/** the routing attribute (`ACCESS_PATTERN_ATTRIBUTE`) of attributes already known to be an object of strings */
function accessPatternProblem(a: Record<string, string>): string | undefined {
  // read as routing reads it (a plain property read), so what passes here is what routing gets
  const v = a[ACCESS_PATTERN_ATTRIBUTE];
  return v === undefined || isAccessPattern(v)
    ? undefined
    : `attribute ${ACCESS_PATTERN_ATTRIBUTE} must be one of ${ACCESS_PATTERNS.join(', ')}, got ${show(v)}`;
}

export function attributesProblem(a: unknown): string | undefined {
  if (typeof a !== 'object' || a === null || Array.isArray(a)) return `attributes must be an object of strings, got ${show(a)}`;
  let n = 0;
  for (const k in a) {
    if (!Object.hasOwn(a, k)) continue;
    if (++n > MAX_ATTRIBUTES) return `more than ${MAX_ATTRIBUTES} attributes`;
    if (k.length === 0 || k.length > MAX_ATTRIBUTE_KEY_LENGTH) return `attribute key ${show(k)} must be 1..${MAX_ATTRIBUTE_KEY_LENGTH} characters`;
    const v = (a as Record<string, unknown>)[k];
    if (typeof v !== 'string' || v.length > MAX_ATTRIBUTE_VALUE_LENGTH)
      return `attribute ${show(k)} must be a string of at most ${MAX_ATTRIBUTE_VALUE_LENGTH} characters, got ${show(v)}`;
  }
  return undefined;
}
