/**
 * The table files of a lake partition folder: how they are named, encoded and described.
 *
 *   part-<firstSeq>-<lastSeq>[-dupN].<arrow|parquet>
 *
 * Design constraints:
 * - A name states the seq range the file holds (16 digits, so names sort in seq order); `-dupN` is a
 *   file that met another with the same name and other bytes (durable.ts), never merged.
 * - Every file carries in its schema metadata the receive-time range of its records, which the
 *   compactor groups files by (samples have no receive-time column) and the arrow size of its rows
 *   (the compactor's memory bound); both survive Arrow IPC and Parquet (embedded Arrow schema).
 * - Rows in a file are sorted by signal, then seq (then sample_index): a reader filters by signal with
 *   the Parquet row-group statistics, and merging sorted files stays a linear pass (merge.ts).
 * - Files of an older lake stay as they are. The compactor reads every file in the current layout
 *   (`readPartFile`): a samples file from before `block_seq` and `sample_rate_hz` has them as nulls,
 *   a scalars file from before the typed value columns has its values in them (columns.ts
 *   `withScalarValueColumns`), so it is grouped, merged and compared with the files written since,
 *   not left small beside them.
 */
import { Schema, Table, tableToIPC } from 'apache-arrow';
import type { Data } from 'apache-arrow';
import { toParquet, withSamplesBlockColumns, withScalarValueColumns } from '../shared/columns.js';
import { seqName } from '../shared/layout.js';
import { readTableFile } from '../shared/table-files.js';

export type LakeFormat = 'arrow' | 'parquet';

/** Rows per Parquet row group: small enough that a signal filter skips most of a file by statistics. */
export const PARQUET_ROW_GROUP_ROWS = 64 * 1024;

const PART_NAME = /^part-(\d{16})-(\d{16})(-dup\d+)?\.(arrow|parquet)$/;

export interface PartName {
  name: string;
  first: number;
  last: number;
  dup: boolean;
  format: LakeFormat;
}

export function parsePart(name: string): PartName | undefined {
  const m = PART_NAME.exec(name);
  return m ? { name, first: Number(m[1]), last: Number(m[2]), dup: m[3] !== undefined, format: m[4] as LakeFormat } : undefined;
}

/** The file name without extension of a file holding seqs first..last. */
export function partBase(first: number, last: number): string {
  return `part-${seqName(first)}-${seqName(last)}`;
}

const RECEIVE_MIN = 'layergate.receive_time_min_ns';
const RECEIVE_MAX = 'layergate.receive_time_max_ns';
const ARROW_BYTES = 'layergate.arrow_bytes';

/** What the compactor needs to know of a file without merging it. */
export interface PartInfo {
  rows: number;
  /** size of its rows in memory as Arrow (buffers), the compactor's memory measure */
  bytes: number;
  receiveMinNs: bigint;
  receiveMaxNs: bigint;
  /** column names and types: only files with equal columns are merged (samples differ by channel) */
  columns: string;
}

function dataBytes(data: Data): number {
  let n = (data.values?.byteLength ?? 0) + (data.valueOffsets?.byteLength ?? 0) + (data.nullBitmap?.byteLength ?? 0);
  for (const child of data.children) n += dataBytes(child);
  if (data.dictionary) for (const d of data.dictionary.data) n += dataBytes(d);
  return n;
}

/** The in-memory size of a table's buffers. */
export function arrowBytes(table: Table): number {
  let n = 0;
  for (const batch of table.batches) n += dataBytes(batch.data);
  return n;
}

/** Column names and types (not nullability: a batch without nulls in a column says not-null, the next may not). */
export function columnsKey(table: Table): string {
  return table.schema.fields.map((f) => `${f.name}:${String(f.type)}`).join(',');
}

/** The table with its receive-time range and arrow size in the schema metadata. */
export function describe(table: Table, receiveMinNs: bigint, receiveMaxNs: bigint): Table {
  const metadata = new Map(table.schema.metadata);
  metadata.set(RECEIVE_MIN, String(receiveMinNs));
  metadata.set(RECEIVE_MAX, String(receiveMaxNs));
  metadata.set(ARROW_BYTES, String(arrowBytes(table)));
  return new Table(new Schema(table.schema.fields, metadata), table.batches);
}

/** What a file's table says of itself; undefined when it carries no receive-time range (not ours). */
export function partInfo(table: Table): PartInfo | undefined {
  const min = table.schema.metadata.get(RECEIVE_MIN);
  const max = table.schema.metadata.get(RECEIVE_MAX);
  if (min === undefined || max === undefined) return undefined;
  return { rows: table.numRows, bytes: arrowBytes(table), receiveMinNs: BigInt(min), receiveMaxNs: BigInt(max), columns: columnsKey(table) };
}

export function receiveRange(table: Table): { min: bigint; max: bigint } | undefined {
  const min = table.schema.metadata.get(RECEIVE_MIN);
  const max = table.schema.metadata.get(RECEIVE_MAX);
  return min === undefined || max === undefined ? undefined : { min: BigInt(min), max: BigInt(max) };
}

/** A part file's table in the current layout: what the compactor groups, compares and merges. */
export async function readPartFile(file: string): Promise<Table> {
  return withScalarValueColumns(withSamplesBlockColumns(await readTableFile(file)));
}

export function encodeTable(table: Table, format: LakeFormat): Uint8Array {
  return format === 'parquet' ? toParquet(table, { rowGroupRows: PARQUET_ROW_GROUP_ROWS }) : tableToIPC(table, 'file');
}
