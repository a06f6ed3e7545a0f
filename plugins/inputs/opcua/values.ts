/**
 * OPC-UA values to record bodies: a DataValue's variant to the scalar body value, the scalar body
 * bytes, and source/server timestamps to ns.
 *
 * Design constraints:
 * - Hot path (every value change, 50,000/s): the body is built as text without an intermediate
 *   object, quality tails and units are made once per status name and item, and repeated timestamps
 *   reuse one bigint and its decimal text (`TimeCache`).
 * - A value that cannot be stored (non-finite number) throws `MalformedInputError`: the caller
 *   quarantines it with the node id; it is never stored as JSON null.
 */
// first: node-opcua must not print to stdout (see the module)
import './node-opcua-log.js';
import { DataType, type DataValue } from 'node-opcua';
import { MalformedInputError } from '../../../gateway/plugin-api/index.js';
import type { ScalarBody } from '../../../gateway/plugin-api/index.js';
import type { ResolvedItem } from './nodes.js';

/** `,"quality":"<status name>"}`, the end of a scalar body, per status name */
const qualityTail = new Map<string, string>();

/**
 * The scalar body `{"v":..,"unit":..,"quality":..}` (the bytes `JSON.stringify` of a ScalarBody gives,
 * in its key order), made without an intermediate object: this runs for every value change.
 */
export function scalarBody(it: ResolvedItem, v: ScalarBody['v'], status: string): Buffer {
  it.unitJson ??= it.unit ? `,"unit":${JSON.stringify(it.unit)}` : '';
  let tail = qualityTail.get(status);
  if (tail === undefined) qualityTail.set(status, (tail = `,"quality":${JSON.stringify(status)}}`));
  return Buffer.from(`{"v":${JSON.stringify(v)}${it.unitJson}${tail}`);
}

function timeNs(d: Date | null | undefined, picoseconds: number | undefined): bigint | undefined {
  if (!d) return undefined;
  const ms = d.getTime();
  if (!Number.isFinite(ms) || ms <= 0) return undefined;
  return BigInt(ms) * 1_000_000n + BigInt(Math.floor((picoseconds ?? 0) / 1000));
}

/**
 * `timeNs` for a stream of timestamps that mostly repeat (the values of one publish usually share
 * their source and server timestamps): the bigint and its decimal text are made once per distinct
 * time, not per value.
 */
export class TimeCache {
  private ms = Number.NaN;
  private pico: number | undefined = undefined;
  private ns: bigint | undefined = undefined;
  private text: string | undefined = undefined;

  of(d: Date | null | undefined, picoseconds: number | undefined): bigint | undefined {
    if (!d) return undefined;
    const ms = d.getTime();
    if (ms !== this.ms || picoseconds !== this.pico) {
      this.ms = ms;
      this.pico = picoseconds;
      this.ns = timeNs(d, picoseconds);
      this.text = undefined;
    }
    return this.ns;
  }

  /** the decimal text of the time `of` returned last */
  lastText(): string | undefined {
    if (this.ns === undefined) return undefined;
    return (this.text ??= this.ns.toString());
  }
}

/** A DataValue's value as a scalar body value; undefined when there is none; throws on what is not storable. */
export function scalarValue(dv: DataValue): ScalarBody['v'] | undefined {
  const variant = dv.value;
  const v: unknown = variant?.value;
  if (v === null || v === undefined || variant.dataType === DataType.Null) return undefined;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new MalformedInputError(`non-finite value ${v} (${DataType[variant.dataType]})`);
    return v;
  }
  if (typeof v === 'boolean' || typeof v === 'string') return v;
  if ((variant.dataType === DataType.Int64 || variant.dataType === DataType.UInt64) && Array.isArray(v) && v.length === 2) {
    const [hi, lo] = v as [number, number];
    return hi * 2 ** 32 + lo;
  }
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'object' && v !== null && 'text' in v) return String((v as { text: unknown }).text ?? '');
  if (typeof v === 'object' && v !== null && 'name' in v && variant.dataType === DataType.QualifiedName) return String((v as { name: unknown }).name);
  if (typeof v === 'bigint') return Number(v);
  if (Array.isArray(v) || ArrayBuffer.isView(v)) return JSON.stringify(Array.from(v as ArrayLike<unknown>));
  return String(v);
}

export function safeJson(v: unknown): string {
  try {
    return (
      JSON.stringify(v, (_k, x: unknown) => (typeof x === 'number' && !Number.isFinite(x) ? String(x) : typeof x === 'bigint' ? x.toString() : x)) ?? String(v)
    );
  } catch {
    return String(v);
  }
}
