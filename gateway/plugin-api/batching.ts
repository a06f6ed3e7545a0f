/**
 * Group commit for inputs: drafts gather while one emit (one buffer commit) is in flight and go to
 * the buffer together in the next, so a high message rate costs one transaction per batch instead of
 * one per message.
 *
 * Delivery guarantee:
 * - A batch's promise (`enqueue`) resolves true only after `emit` resolved, i.e. after the buffer
 *   commit: an input may ack its source then. It resolves false when the emit failed; nothing of the
 *   batch was stored, the failure is counted (`failedBatches`, `failedRecords`) and reported once to
 *   `onFailed`. The emitter never retries a failed batch itself: an input whose source redelivers
 *   (MQTT) leaves the messages unacked, one that cannot (OPC-UA) counts them as dropped.
 * - Batches are emitted one at a time, in the order their drafts arrived.
 *
 * Design constraints:
 * - At most `maxBatch` units per emit. A unit is what the caller counts: one draft for `push`, one
 *   source message (any number of drafts, possibly none) for `enqueue`. A batch that reaches
 *   `maxBatch` is closed at once and emitted as soon as the one in flight is done.
 * - Linger of one turn: a batch opened while nothing is in flight is emitted on the next event-loop
 *   turn (setImmediate), so the messages of one socket read share a commit. While an emit is in flight
 *   nothing is scheduled: its completion emits what gathered.
 * - Hot path (tens of thousands of drafts per second): `push` and `enqueue` allocate nothing per draft
 *   beyond the array slot; promises and timers are per batch.
 */
import type { RecordDraft } from './contract.js';

export interface BatchingEmitterOptions {
  /** the commit: `InputContext.emit` (its result is not read: the emitter counts per batch) */
  emit: (drafts: RecordDraft[]) => Promise<unknown>;
  /** most units per emit (see the module header) */
  maxBatch: number;
  /** after a commit (per batch; for the input's own counters or logs) */
  onCommitted?: (records: number, units: number) => void;
  /** after a failed commit (per batch): log it; the batch is not retried */
  onFailed?: (err: unknown, records: number, units: number) => void;
}

interface Batch {
  drafts: RecordDraft[];
  units: number;
  /** made on the first `enqueue` into the batch (a `push`-only batch has none) */
  committed: Promise<boolean> | undefined;
  resolve: ((committed: boolean) => void) | undefined;
}

export class BatchingEmitter {
  /** records committed (drafts of successful emits) */
  committedRecords = 0;
  /** emits that succeeded, including batches of messages with no drafts */
  committedBatches = 0;
  failedBatches = 0;
  failedRecords = 0;
  failedUnits = 0;

  private readonly emit: (drafts: RecordDraft[]) => Promise<unknown>;
  private readonly maxBatch: number;
  private readonly onCommitted: ((records: number, units: number) => void) | undefined;
  private readonly onFailed: ((err: unknown, records: number, units: number) => void) | undefined;
  /** the batch taking drafts now */
  private open: Batch | undefined;
  /** full batches waiting for the emit in flight, oldest first */
  private readonly closed: Batch[] = [];
  private inFlight: Promise<void> | undefined;
  private scheduled = false;
  private readonly onImmediate = (): void => {
    this.scheduled = false;
    this.next();
  };

  constructor(opts: BatchingEmitterOptions) {
    if (!Number.isInteger(opts.maxBatch) || opts.maxBatch < 1) throw new RangeError(`maxBatch: expected a positive integer, got ${opts.maxBatch}`);
    this.emit = opts.emit;
    this.maxBatch = opts.maxBatch;
    this.onCommitted = opts.onCommitted;
    this.onFailed = opts.onFailed;
  }

  /** True while nothing waits and no emit is in flight. */
  get idle(): boolean {
    return this.open === undefined && this.closed.length === 0 && this.inFlight === undefined;
  }

  /** Add one draft (one unit), fire and forget: the outcome shows in the counters and callbacks. */
  push(draft: RecordDraft): void {
    const b = this.open ?? this.openBatch();
    b.drafts.push(draft);
    if (++b.units >= this.maxBatch) this.close();
  }

  /**
   * Add the drafts of one source message (one unit, possibly no drafts). Resolves after its batch's
   * commit: true when stored, false when the emit failed (never rejects).
   */
  enqueue(drafts: readonly RecordDraft[]): Promise<boolean> {
    const b = this.open ?? this.openBatch();
    for (let i = 0; i < drafts.length; i++) b.drafts.push(drafts[i]!);
    b.committed ??= new Promise<boolean>((resolve) => (b.resolve = resolve));
    const committed = b.committed;
    if (++b.units >= this.maxBatch) this.close();
    return committed;
  }

  /** Emit whatever waits, one batch after the other, and resolve once all were committed or failed. */
  async drain(): Promise<void> {
    while (!this.idle) {
      if (!this.inFlight) this.next();
      await this.inFlight;
    }
  }

  private openBatch(): Batch {
    const b: Batch = { drafts: [], units: 0, committed: undefined, resolve: undefined };
    this.open = b;
    if (!this.scheduled && !this.inFlight) {
      this.scheduled = true;
      setImmediate(this.onImmediate);
    }
    return b;
  }

  private close(): void {
    this.closed.push(this.open!);
    this.open = undefined;
    if (!this.inFlight) this.next();
  }

  /** Start the emit of the oldest waiting batch, unless one is in flight. */
  private next(): void {
    if (this.inFlight !== undefined) return;
    let b = this.closed.shift();
    if (!b) {
      b = this.open;
      this.open = undefined;
    }
    if (!b) return;
    this.inFlight = this.commit(b);
  }

  private async commit(b: Batch): Promise<void> {
    // a turn of the microtask queue first: the caller that closed the batch finishes before the commit runs
    await undefined;
    const records = b.drafts.length;
    let failure: { err: unknown } | undefined;
    try {
      if (records > 0) await this.emit(b.drafts);
    } catch (err) {
      failure = { err };
    }
    try {
      if (failure === undefined) {
        this.committedRecords += records;
        this.committedBatches++;
        b.resolve?.(true);
        this.onCommitted?.(records, b.units);
      } else {
        this.failedBatches++;
        this.failedRecords += records;
        this.failedUnits += b.units;
        b.resolve?.(false);
        this.onFailed?.(failure.err, records, b.units);
      }
    } catch {
      // a throwing callback (a log that failed) must not stall the batches behind this one
    } finally {
      this.inFlight = undefined;
      this.next();
    }
  }
}
