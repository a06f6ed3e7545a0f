/**
 * Row-level comparison of two lake table files: whether every row of one is in the other. The file
 * lake uses it to recognise leftovers of a compaction (files already merged into another) and
 * redelivered rows, without trusting equal seqs alone.
 *
 * Design constraints:
 * - Exact: int64 timestamps compared as bigint (Vector.get would turn them into float ms), binary
 *   columns by their bytes, rows counted with multiplicity.
 * - Proportional to the small file: of the big one (a merged file of up to rollEvery rows) only the
 *   seq column is read in full, and only rows with a seq of the small file are compared.
 */
import { DataType } from 'apache-arrow';
import type { Table } from 'apache-arrow';

export function sameSchema(a: Table, b: Table): boolean {
  const fa = a.schema.fields;
  const fb = b.schema.fields;
  // nullability is left out: it follows the data (a column without nulls in a batch says not-null)
  return fa.length === fb.length && fa.every((f, i) => f.name === fb[i]!.name && String(f.type) === String(fb[i]!.type));
}

/** One column's values, exact: int64 and timestamps as bigint (Vector.get would turn timestamps into float ms). */
export function exactValues(table: Table, column: number): unknown[] {
  const vector = table.getChildAt(column)!;
  const int64 = DataType.isInt(vector.type) && vector.type.bitWidth === 64;
  if (!int64 && !DataType.isTimestamp(vector.type)) return Array.from({ length: vector.length }, (_, i) => vector.get(i) as unknown);
  const out: unknown[] = [];
  for (const data of vector.data) {
    const values = data.values as BigInt64Array;
    for (let i = 0; i < data.length; i++) out.push(data.getValid(i) ? values[i]! : null);
  }
  return out;
}

/** Exact cell readers per column: int64 timestamps as bigint, everything else as Vector.get gives it. */
function cellReaders(table: Table): ((row: number) => unknown)[] {
  return table.schema.fields.map((_, c) => {
    const vector = table.getChildAt(c)!;
    if (!DataType.isTimestamp(vector.type)) return (row: number) => vector.get(row) as unknown;
    const values = new BigInt64Array(vector.length);
    let at = 0;
    for (const data of vector.data) {
      values.set((data.values as BigInt64Array).subarray(0, data.length), at);
      at += data.length;
    }
    return (row: number) => (vector.isValid(row) ? values[row]! : null);
  });
}

/** One key per row whose seq passes `keep`: its values in every column, exact. */
function rowKeys(table: Table, keep: (seq: bigint) => boolean): string[] {
  const cells = cellReaders(table);
  const seqColumn = table.schema.fields.findIndex((f) => f.name === 'seq');
  const seqs = seqColumn >= 0 ? (exactValues(table, seqColumn) as bigint[]) : [];
  const keys: string[] = [];
  for (let r = 0; r < table.numRows; r++) {
    if (seqColumn >= 0 && !keep(seqs[r]!)) continue;
    keys.push(
      JSON.stringify(
        cells.map((cell) => cell(r)),
        (_, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v),
      ),
    );
  }
  return keys;
}

/**
 * Whether every row of `small` is in `big` (same schema, equal values in every column). Only then is a
 * file with a seq range inside another's a leftover copy that may go: equal seqs alone would also match
 * a buffer whose seq numbering restarted, and that data must be kept.
 */
export function rowsContained(small: Table, big: Table): boolean {
  if (!sameSchema(small, big)) return false;
  const seqColumn = small.schema.fields.findIndex((f) => f.name === 'seq');
  if (seqColumn < 0) return false;
  const seqs = new Set(exactValues(small, seqColumn) as bigint[]);
  const have = new Map<string, number>();
  for (const k of rowKeys(big, (seq) => seqs.has(seq))) have.set(k, (have.get(k) ?? 0) + 1);
  for (const k of rowKeys(small, () => true)) {
    const n = have.get(k) ?? 0;
    if (n === 0) return false;
    have.set(k, n - 1);
  }
  return true;
}
