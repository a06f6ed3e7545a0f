/**
 * How a forwarder takes its batches from the buffer: by count and bytes from the sink's cursor, with
 * read-ahead while a send is in flight and linger for sinks that prefer few large batches.
 *
 * Design constraints:
 * - Read-ahead. While a full batch's send is in flight (the sink's round trip, the event loop idle),
 *   the next few batches are read from the buffer (after the batch in flight's last seq), so buffer
 *   reads are off the critical path. It changes nothing about delivery: the cursor only moves after
 *   the sink acked the batch in flight, batches go out one at a time in seq order, and a failed send
 *   drops what was read ahead (`dropAhead`; the retry reads again from the cursor).
 * - Bounded memory, whatever the backlog: a forwarder holds at most the batch in flight plus the
 *   read-ahead, and the read-ahead holds at most READ_AHEAD_BATCHES batches, READ_AHEAD_MAX_RECORDS
 *   records and READ_AHEAD_MAX_BYTES, the smallest of the three. Records count apart from bytes: a
 *   batch of 100,000 small scalars holds tens of MB of record objects while its bodies add up to
 *   2 MB. A batch larger than the caps (a file per batch) is read ahead in part; `next` reads the
 *   rest after it, so such a sink holds one batch and the caps, not two batches.
 * - Linger (like Kafka's linger.ms). A sink that prefers few large batches (a file per batch) sets
 *   `linger`: a read that is not a full batch is held until its oldest record (by receiveTimeNs) is
 *   `linger` old or enough records arrived to fill a batch. A full batch never waits. Only the send is
 *   delayed, never ingest: the records are already committed to the buffer.
 * - Lingering costs nothing per append. Whether a full batch is there is answered by the sink's lag,
 *   which the buffer keeps in memory (`fullBatchPending`), not by reading the partial batch again: with
 *   batches of 100,000 records and ingest committing a hundred times a second, re-reading on every
 *   append would read millions of records a second to send none.
 * - One record always fits a batch, however large.
 */
import type { RecordBuffer } from '../buffer/types.js';
import type { StoredRecord } from '../plugin-api/record.js';

/** Read-ahead (see the module header): batches read at once while a send is in flight, and their byte cap. */
const READ_AHEAD_BATCHES = 4;
const READ_AHEAD_MAX_BYTES = 16 * 1024 * 1024;
const READ_AHEAD_MAX_RECORDS = 20_000;

/** How many records and body bytes a read-ahead may hold for a batch size (at most the caps, at least one record). */
export function readAheadLimits(batchSize: number, batchBytes: number): { records: number; bytes: number } {
  return {
    records: Math.min(READ_AHEAD_BATCHES * batchSize, READ_AHEAD_MAX_RECORDS),
    bytes: Math.min(READ_AHEAD_BATCHES * batchBytes, READ_AHEAD_MAX_BYTES),
  };
}

/** Body bytes of a record as the buffer accounts them: inline body or spooled blob size. */
export function recordBytes(r: StoredRecord): number {
  return r.body?.length ?? r.blob?.size ?? 0;
}

export class BatchReader {
  /** records after the batch just sent, read while a send was in flight, in seq order */
  private ahead: StoredRecord[] = [];

  constructor(
    private readonly buffer: RecordBuffer,
    private readonly sink: string,
    /** most records per batch */
    readonly batchSize: number,
    /** most body bytes per batch (one record always fits) */
    readonly batchBytes: number,
    /** ms a partial batch may wait, from its oldest record's receive time (0: never) */
    readonly linger: number,
  ) {}

  /**
   * The next batch: off the read-ahead when it holds records (topped up from the buffer when it holds
   * less than a batch, see the header), else read at the cursor (throws what the buffer throws).
   */
  next(): StoredRecord[] {
    if (this.ahead.length === 0) return this.buffer.read(this.sink, this.batchSize, this.batchBytes);
    const batch = this.takeBatch();
    if (this.ahead.length > 0 || batch.length >= this.batchSize) return batch;
    let bytes = 0;
    for (const r of batch) bytes += recordBytes(r);
    // the byte limit cut the batch: it is full
    if (bytes >= this.batchBytes) return batch;
    const rest = this.buffer.read(this.sink, this.batchSize - batch.length, this.batchBytes - bytes, batch[batch.length - 1]!.seq);
    // a first record that does not fit the bytes left waits for the next batch (the read returns it anyway)
    if (rest.length === 1 && bytes + recordBytes(rest[0]!) > this.batchBytes) return batch;
    for (const r of rest) batch.push(r);
    return batch;
  }

  /** Forget what was read ahead (after a failed send, or before a wait: the next read starts at the cursor). */
  dropAhead(): void {
    this.ahead = [];
  }

  /** Whether `batch`, just sent, is full and nothing was read ahead yet: then `readAhead` is worth it. */
  shouldReadAhead(batch: readonly StoredRecord[]): boolean {
    return this.ahead.length === 0 && batch.length >= this.batchSize;
  }

  /**
   * Read the records that follow `inFlight` (within `readAheadLimits`), once the send of
   * `inFlight` had a turn to put its request on the wire. The cursor has not moved yet, so the read
   * starts at the batch in flight; those records are dropped. Nothing is kept when `stopping()` says
   * so by then or the read failed (the next regular read reports it).
   */
  async readAhead(inFlight: readonly StoredRecord[], stopping: () => boolean): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (stopping()) {
      this.ahead = [];
      return;
    }
    const limits = readAheadLimits(this.batchSize, this.batchBytes);
    try {
      this.ahead = this.buffer.read(this.sink, limits.records, limits.bytes, inFlight[inFlight.length - 1]!.seq);
    } catch {
      this.ahead = [];
    }
  }

  /**
   * How long a batch just read should still wait before it is sent: 0 for a full batch (by count, or
   * cut by `batchBytes`), when lingering is off or `draining`, or once the oldest record is `linger`
   * old. The wait is capped at `linger`, so a receive time in the future (clock step) cannot hold it
   * longer.
   */
  lingerLeft(batch: readonly StoredRecord[], draining: boolean): number {
    if (this.linger <= 0 || draining || batch.length >= this.batchSize) return 0;
    const oldestMs = Number(batch[0]!.receiveTimeNs / 1_000_000n);
    const left = Math.min(this.linger, oldestMs + this.linger - Date.now());
    if (left <= 0) return 0;
    // fewer records than batchSize: either all there is, or the byte limit cut the batch (then it is
    // full), or more arrived since the read: only the first waits
    return this.pendingRecords() > batch.length ? 0 : Math.ceil(left);
  }

  /** Whether the sink has a full batch (by count or bytes) waiting after its cursor. */
  fullBatchPending(): boolean {
    let lag: { records: number; bytes: number };
    try {
      lag = this.buffer.lag(this.sink);
    } catch {
      return true; // read now: a buffer fault shows up on the read, with backoff
    }
    return lag.records >= this.batchSize || lag.bytes >= this.batchBytes;
  }

  private pendingRecords(): number {
    try {
      return this.buffer.lag(this.sink).records;
    } catch {
      return Number.MAX_SAFE_INTEGER; // send what was read; a buffer fault shows up on the next read
    }
  }

  /** Take the next batch (batchSize records and batchBytes at most, the first always) off the read-ahead. */
  private takeBatch(): StoredRecord[] {
    const ahead = this.ahead;
    let n = 0;
    let bytes = 0;
    while (n < ahead.length && n < this.batchSize) {
      const size = recordBytes(ahead[n]!);
      if (n > 0 && bytes + size > this.batchBytes) break;
      bytes += size;
      n++;
    }
    return ahead.splice(0, n);
  }
}
