/**
 * Packed rows: the records of one append go into `record_rows` a run at a time, one SQLite row per run
 * (see ./layout.ts), instead of one row per record. Packing (`RowPacker`) and decoding a row's `data`.
 *
 * Why: one SQLite row per record cost about 10 µs per record to append and read back (row insert,
 * a Buffer per BLOB column, an int64 per time column), the largest part of what a W1 process value
 * cost the gateway. A row per run of up to ROW_MAX_RECORDS records measured about 2 µs.
 *
 * ## Layout of a row's `data` BLOB (little-endian)
 *
 *     [body 0][body 1]...[body n-1][header 0][header 1]...[header n-1]
 *
 * The headers sit at the end (`data.length - n * RECORD_HEADER_BYTES`) so that the packer writes each
 * body in place as the record is added, before it knows how many records the row will take. A header
 * (RECORD_HEADER_BYTES):
 *
 *     u32 stream id | u8 kind index | u8 flags (bit 0: has a source time) | u16 index into the row's
 *     `extras` (0xffff: none) | i64 receive time ns | i64 source time ns (0 without) | u32 body length
 *
 * Record i has seq `first_seq + i`: a row holds a run of consecutive seqs, and its rowid is its last seq.
 *
 * ## What splits rows
 * A change of route mask or class (both are row columns, so reads, lag sums and eviction decide per
 * row), ROW_MAX_RECORDS, ROW_MAX_BYTES of bodies, a gap in seqs (only a migrated old buffer has gaps),
 * and a spooled record: it has a row of its own with `blob_sha256` set and a body length of 0.
 */

/** bytes of one record's header in a row's `data` */
export const RECORD_HEADER_BYTES = 28;
/**
 * Most records per row. Measured (W1-like scalars, append then read): 256 and 1,000 per row cost the
 * same per record; fewer per row costs a sink less when it reads from a cursor inside a row (the
 * records before the cursor are skipped, their headers decoded again).
 */
export const ROW_MAX_RECORDS = 256;
/** Most body bytes per row (a larger single body gets a row of its own). */
export const ROW_MAX_BYTES = 256 * 1024;
/** the header's extra index when a record has no build, layer or attributes */
export const NO_EXTRA = 0xffff;
const HAS_SOURCE_TIME = 1;

/** One row as the packer hands it over for its INSERT. */
export interface PackedRow {
  /** the row's last seq (its rowid) */
  seq: number;
  firstSeq: number;
  routes: number;
  cls: number;
  records: number;
  /** payload bytes: the bodies, or the spooled blob's size */
  size: number;
  receiveMinNs: bigint;
  receiveMaxNs: bigint;
  /** JSON array of the row's distinct extras (each `{b, l, a}`), or null */
  extras: string | null;
  blobSha256: string | null;
  /** a view of the packer's scratch: valid until the next `add` (the INSERT copies it) */
  data: Buffer;
}

/**
 * Collects records into rows and hands each finished row to `emit` (which INSERTs it). `add` a
 * record at a time in seq order, `flush` at the end of the batch. Holds no reference to a record
 * after `add`: bodies are copied into the scratch as they come.
 */
export class RowPacker {
  private body: Buffer = Buffer.allocUnsafe(ROW_MAX_BYTES);
  private header = Buffer.allocUnsafe(ROW_MAX_RECORDS * RECORD_HEADER_BYTES);
  private n = 0;
  private bodyBytes = 0;
  private firstSeq = 0;
  private lastSeq = 0;
  private routes = 0;
  private cls = 0;
  private blobSha: string | null = null;
  private blobSize = 0;
  private receiveMin = 0n;
  private receiveMax = 0n;
  private extras: string[] = [];
  private lastExtra: string | null = null;
  private lastExtraIndex = NO_EXTRA;

  constructor(private readonly emit: (row: PackedRow) => void) {}

  /**
   * Add one record. `body` is its inline body, or null with `blobSha256` and `blobSize` for a
   * spooled one. `extra` is its JSON `{b, l, a}` or null; consecutive records with an equal one
   * share its entry in the row's `extras`.
   */
  add(
    seq: number,
    routes: number,
    cls: number,
    stream: number,
    kind: number,
    receiveNs: bigint,
    sourceNs: bigint | null | undefined,
    extra: string | null,
    body: Uint8Array | null,
    blobSha256: string | null,
    blobSize: number,
  ): void {
    const len = body === null ? 0 : body.length;
    if (
      this.n > 0 &&
      (routes !== this.routes ||
        cls !== this.cls ||
        seq !== this.lastSeq + 1 ||
        blobSha256 !== null ||
        this.blobSha !== null ||
        this.n === ROW_MAX_RECORDS ||
        this.bodyBytes + len > ROW_MAX_BYTES)
    ) {
      this.flush();
    }
    if (this.n === 0) {
      this.firstSeq = seq;
      this.routes = routes;
      this.cls = cls;
      this.blobSha = blobSha256;
      this.blobSize = blobSize;
      this.receiveMin = receiveNs;
      this.receiveMax = receiveNs;
    } else if (receiveNs < this.receiveMin) this.receiveMin = receiveNs;
    else if (receiveNs > this.receiveMax) this.receiveMax = receiveNs;
    this.lastSeq = seq;
    if (len > 0) {
      if (this.bodyBytes + len > this.body.length) this.body = grow(this.body, this.bodyBytes, this.bodyBytes + len);
      this.body.set(body!, this.bodyBytes);
      this.bodyBytes += len;
    }
    let extraIndex = NO_EXTRA;
    if (extra !== null) {
      // only a run of equal extras shares an entry (one publish's records, one build and layer): a
      // search of the row's list was quadratic in a row whose records each have their own (OPC-UA
      // server timestamps), at 54 % of append time
      if (extra === this.lastExtra) extraIndex = this.lastExtraIndex;
      else {
        extraIndex = this.extras.push(extra) - 1;
        this.lastExtra = extra;
        this.lastExtraIndex = extraIndex;
      }
    }
    const h = this.header;
    const o = this.n * RECORD_HEADER_BYTES;
    h.writeUInt32LE(stream, o);
    h[o + 4] = kind;
    h[o + 5] = sourceNs === null || sourceNs === undefined ? 0 : HAS_SOURCE_TIME;
    h.writeUInt16LE(extraIndex, o + 6);
    h.writeBigInt64LE(receiveNs, o + 8);
    h.writeBigInt64LE(sourceNs ?? 0n, o + 16);
    h.writeUInt32LE(len, o + 24);
    this.n++;
  }

  /** Forget the row being filled (after it was emitted, or after a rolled-back append). */
  reset(): void {
    this.n = 0;
    this.bodyBytes = 0;
    this.blobSha = null;
    if (this.extras.length > 0) this.extras = [];
    this.lastExtra = null;
    this.lastExtraIndex = NO_EXTRA;
  }

  /** Emit the row being filled, if any. */
  flush(): void {
    const n = this.n;
    if (n === 0) return;
    const headerBytes = n * RECORD_HEADER_BYTES;
    const total = this.bodyBytes + headerBytes;
    if (total > this.body.length) this.body = grow(this.body, this.bodyBytes, total);
    this.header.copy(this.body, this.bodyBytes, 0, headerBytes);
    const extras = this.extras;
    this.emit({
      seq: this.lastSeq,
      firstSeq: this.firstSeq,
      routes: this.routes,
      cls: this.cls,
      records: n,
      size: this.blobSha === null ? this.bodyBytes : this.blobSize,
      receiveMinNs: this.receiveMin,
      receiveMaxNs: this.receiveMax,
      extras: extras.length === 0 ? null : extras.length === 1 ? `[${extras[0]}]` : `[${extras.join(',')}]`,
      blobSha256: this.blobSha,
      data: this.body.subarray(0, total),
    });
    this.reset();
  }
}

function grow(buf: Buffer, used: number, need: number): Buffer {
  const next = Buffer.allocUnsafe(Math.max(need, buf.length * 2));
  buf.copy(next, 0, 0, used);
  return next;
}

/** Where a row's headers start. */
export function headerStart(data: Uint8Array, records: number): number {
  return data.length - records * RECORD_HEADER_BYTES;
}

/** Record `i`'s fields, read from its header at `h` (see the layout above). */
export function streamAt(data: Buffer, h: number): number {
  return data.readUInt32LE(h);
}
export function kindAt(data: Buffer, h: number): number {
  return data[h + 4]!;
}
export function hasSourceTimeAt(data: Buffer, h: number): boolean {
  return (data[h + 5]! & HAS_SOURCE_TIME) !== 0;
}
export function extraIndexAt(data: Buffer, h: number): number {
  return data.readUInt16LE(h + 6);
}
export function receiveNsAt(data: Buffer, h: number): bigint {
  return data.readBigInt64LE(h + 8);
}
export function sourceNsAt(data: Buffer, h: number): bigint {
  return data.readBigInt64LE(h + 16);
}
export function bodyLengthAt(data: Buffer, h: number): number {
  return data.readUInt32LE(h + 24);
}

/**
 * Records and body bytes of a packed row with seq in (lo, hi]. `size` is the row's payload (a spooled
 * row's blob size; such a row holds one record).
 */
export function countInRange(firstSeq: number, records: number, size: number, data: Buffer, lo: number, hi: number): { records: number; bytes: number } {
  const lastSeq = firstSeq + records - 1;
  const from = Math.max(firstSeq, lo + 1);
  const to = Math.min(lastSeq, hi);
  if (to < from) return { records: 0, bytes: 0 };
  if (from === firstSeq && to === lastSeq) return { records, bytes: size };
  let bytes = 0;
  const h0 = headerStart(data, records);
  for (let seq = from; seq <= to; seq++) bytes += bodyLengthAt(data, h0 + (seq - firstSeq) * RECORD_HEADER_BYTES);
  return { records: to - from + 1, bytes };
}
