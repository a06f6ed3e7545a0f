/**
 * Records as the gRPC API sends them: the filter a request gives, turned into a test; and the
 * `StreamRecordsResponse` / `QueryRecordsResponse` messages built as bytes, their records written by
 * the record encoder the Kafka output uses (wire/record-encoder.ts), so a record on a stream is the
 * same bytes as in a Kafka message.
 *
 * Constraint: a confidential record's body is opened (the buffer keeps it sealed) only for a caller
 * whose class ceiling is confidential; the filter's class limit is applied before (see ./records.ts).
 */
import protobuf from 'protobufjs';
import { ApiInvalidRequestError } from '../../plugin-api/errors.js';
import {
  type AccessPattern,
  isAccessPattern,
  RECORD_KINDS,
  type RecordKind,
  SENSITIVITY_CLASSES,
  type SensitivityClass,
  type StoredRecord,
} from '../../plugin-api/record.js';
import { compileGlob } from '../../classify/glob.js';
import { encodeRecordBatch, encodeRecordToBuffer } from '../../../wire/record-encoder.js';
import type { RecordFilter__Output } from '../../../wire/generated/grpc/layergate/v1/RecordFilter.js';

/** `SENSITIVITY_CLASS_INTERNAL` -> `internal`; unspecified -> undefined */
export function classOfEnum(v: string | undefined): SensitivityClass | undefined {
  if (v === undefined || v === 'SENSITIVITY_CLASS_UNSPECIFIED' || v === '') return undefined;
  const name = v.replace(/^SENSITIVITY_CLASS_/, '').toLowerCase();
  if (!(SENSITIVITY_CLASSES as readonly string[]).includes(name)) throw new ApiInvalidRequestError(`unknown class ${v}`);
  return name as SensitivityClass;
}

export function classEnum(c: SensitivityClass): `SENSITIVITY_CLASS_${Uppercase<SensitivityClass>}` {
  return `SENSITIVITY_CLASS_${c.toUpperCase() as Uppercase<SensitivityClass>}`;
}

export function kindOfEnum(v: string): RecordKind | undefined {
  if (v === 'RECORD_KIND_UNSPECIFIED' || v === '') return undefined;
  const name = v.replace(/^RECORD_KIND_/, '').toLowerCase();
  if (!(RECORD_KINDS as readonly string[]).includes(name)) throw new ApiInvalidRequestError(`unknown record kind ${v}`);
  return name as RecordKind;
}

export function kindEnum(k: RecordKind): `RECORD_KIND_${Uppercase<RecordKind>}` {
  return `RECORD_KIND_${k.toUpperCase() as Uppercase<RecordKind>}`;
}

/** `ACCESS_PATTERN_ML_TRAINING` -> `ml_training`; unspecified -> undefined */
export function accessPatternOfEnum(v: string, field: string): AccessPattern | undefined {
  if (v === 'ACCESS_PATTERN_UNSPECIFIED' || v === '') return undefined;
  const name = v.replace(/^ACCESS_PATTERN_/, '').toLowerCase();
  if (!isAccessPattern(name)) throw new ApiInvalidRequestError(`${field}: unknown value ${v}`);
  return name;
}

export interface CompiledFilter {
  /** the most sensitive class index the caller sees: the filter's, never above the token's */
  maxClass: number;
  accept(r: StoredRecord): boolean;
}

/** The request's filter for a caller limited to `ceiling`. Throws ApiInvalidRequestError naming the bad field. */
export function compileFilter(f: RecordFilter__Output | null | undefined, ceiling: SensitivityClass): CompiledFilter {
  const asked = classOfEnum(f?.maxClass);
  const limit = Math.min(SENSITIVITY_CLASSES.indexOf(asked ?? ceiling), SENSITIVITY_CLASSES.indexOf(ceiling));
  const globs = (list: string[] | undefined, field: string) =>
    (list ?? []).map((p, i) => {
      try {
        return compileGlob(p);
      } catch (err) {
        throw new ApiInvalidRequestError(`filter.${field}[${i}]: ${(err as Error).message}`);
      }
    });
  const signals = globs(f?.signals, 'signals');
  const sources = globs(f?.sources, 'sources');
  const kinds = new Set((f?.kinds ?? []).map((k) => kindOfEnum(k)).filter((k): k is RecordKind => k !== undefined));
  const build = f?.build ? f.build : undefined;
  const layer = f?.layer;
  return {
    maxClass: limit,
    accept: (r) =>
      (kinds.size === 0 || kinds.has(r.kind)) &&
      (build === undefined || r.build === build) &&
      (layer === undefined || r.layer === layer) &&
      (signals.length === 0 || signals.some((g) => g.test(r.signal))) &&
      (sources.length === 0 || sources.some((g) => g.test(r.source))),
  };
}

/** The record as sent: its body opened when it was sealed at rest (`open`), else as stored. */
export function recordBytes(r: StoredRecord, open: (sealed: Buffer) => Buffer): Buffer {
  if (r.class === 'confidential' && r.body !== undefined) return encodeRecordToBuffer({ ...r, body: open(r.body) });
  return encodeRecordToBuffer(r);
}

const TAG_RECORDS = (1 << 3) | 2; // StreamRecordsResponse.records (a RecordBatch); QueryRecordsResponse.records (repeated Record)
const TAG_HEAD_SEQ = (3 << 3) | 0; // StreamRecordsResponse.head_seq
const TAG_NEXT_PAGE = (2 << 3) | 2; // QueryRecordsResponse.next_page_token
const TAG_GAP = (3 << 3) | 2; // QueryRecordsResponse.gap

/** `StreamRecordsResponse { records: RecordBatch, head_seq }` as bytes. */
export function streamRecordsResponse(records: readonly Uint8Array[], headSeq: number): Buffer {
  const batch = encodeRecordBatch(records);
  const w = protobuf.Writer.create();
  w.uint32(TAG_RECORDS).uint32(batch.length);
  const head = w.finish();
  const tail = protobuf.Writer.create().uint32(TAG_HEAD_SEQ).uint64(headSeq).finish();
  return Buffer.concat([head, batch, tail]);
}

/** `QueryRecordsResponse { records, next_page_token, gap }` as bytes. */
export function queryRecordsResponse(records: readonly Uint8Array[], nextPageToken: string, gap?: { from: number; to: number; reason: string }): Buffer {
  const w = protobuf.Writer.create();
  for (const r of records) w.uint32(TAG_RECORDS).bytes(r);
  if (nextPageToken !== '') w.uint32(TAG_NEXT_PAGE).string(nextPageToken);
  if (gap) w.uint32(TAG_GAP).fork().uint32(8).uint64(gap.from).uint32(16).uint64(gap.to).uint32(26).string(gap.reason).ldelim();
  return Buffer.from(w.finish());
}
