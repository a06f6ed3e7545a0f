/**
 * The buffer as the delivery thread sees it: a `RecordBuffer` for the forwarders and outputs that run
 * there, over a read connection of its own (gateway/buffer/reader.ts), while the buffer itself is
 * owned, appended to and evicted from on the main thread.
 *
 * Constraints:
 * - Reads are the buffer's reads (same rows, same decoding), from the sink's cursor as this thread
 *   knows it: an ack moves the local cursor at once and is posted to the owner (`onAck`), which moves
 *   the durable one. A crash between the two re-sends records: at least once, as before.
 * - The owner posts the newest seq and the sinks' lags after it changed them (`update`); an update
 *   with a newer seq is this thread's 'append' event, what an idle forwarder waits for.
 * - Appending, the loss ledger and the checks are the owner's: those methods throw here.
 */
import { EventEmitter } from 'node:events';
import type { BlobRef, RecordInput, StoredRecord } from '../plugin-api/record.js';
import type { BufferReader } from '../buffer/reader.js';
import type { AppendResult, BufferStats, CheckResult, KnownSink, LossEntry, RecordBuffer } from '../buffer/types.js';

/** A sink's cursor and lag as the buffer's owner knows them. */
export interface SinkPosition {
  sink: string;
  cursor: number;
  lagRecords: number;
  lagBytes: number;
}

interface SinkView {
  cursor: number;
  lagRecords: number;
  lagBytes: number;
  /** no record for this sink in (cursor, emptyThrough] */
  emptyThrough: number;
}

export class BufferView extends EventEmitter implements RecordBuffer {
  private readonly sinks = new Map<string, SinkView>();
  private newestSeq: number;

  constructor(
    private readonly reader: BufferReader,
    positions: readonly SinkPosition[],
    newestSeq: number,
    private readonly onAck: (sink: string, seq: number) => void,
  ) {
    super();
    this.newestSeq = newestSeq;
    for (const p of positions) this.sinks.set(p.sink, { cursor: p.cursor, lagRecords: p.lagRecords, lagBytes: p.lagBytes, emptyThrough: 0 });
  }

  /** The owner's news: newest seq and lags (a sink new to this view starts at its position). Emits 'append' when there are newer records. */
  update(newestSeq: number, positions: readonly SinkPosition[]): void {
    for (const p of positions) {
      const s = this.sinks.get(p.sink);
      if (!s) {
        // a sink configured while the gateway runs (an output added live)
        this.sinks.set(p.sink, { cursor: p.cursor, lagRecords: p.lagRecords, lagBytes: p.lagBytes, emptyThrough: 0 });
        continue;
      }
      // the owner's cursor may trail this thread's (an ack in flight): keep the later one
      s.cursor = Math.max(s.cursor, p.cursor);
      s.lagRecords = p.lagRecords;
      s.lagBytes = p.lagBytes;
    }
    if (newestSeq > this.newestSeq) {
      this.newestSeq = newestSeq;
      this.emit('append');
    }
  }

  read(sink: string, limit: number, maxBytes?: number, afterSeq?: number): StoredRecord[] {
    const s = this.sink(sink);
    if (!(limit > 0)) return [];
    const newest = this.newestSeq;
    const fromCursor = Math.max(s.cursor, s.emptyThrough);
    const from = afterSeq === undefined ? fromCursor : Math.max(fromCursor, Math.floor(afterSeq));
    if (from >= newest) return [];
    const { records, sawRow } = this.reader.read(sink, from, limit, maxBytes);
    if (!sawRow && from === fromCursor) s.emptyThrough = newest;
    return records;
  }

  ack(sink: string, uptoSeq: number): void {
    const s = this.sink(sink);
    // not capped at `newestSeq`: a read may return rows committed after the owner's last news; the
    // owner caps the cursor at what it holds
    const upto = Math.floor(uptoSeq);
    if (!(upto > s.cursor)) return;
    s.cursor = upto;
    this.onAck(sink, upto);
  }

  cursor(sink: string): number {
    return this.sink(sink).cursor;
  }

  lag(sink: string): { records: number; bytes: number } {
    const s = this.sink(sink);
    return { records: s.lagRecords, bytes: s.lagBytes };
  }

  blobPath(ref: BlobRef): string {
    return this.reader.blobPath(ref);
  }

  readBlob(ref: BlobRef): Promise<Buffer> {
    return this.reader.readBlob(ref);
  }

  append(_records: RecordInput[]): AppendResult {
    throw ownerOnly('append');
  }

  stats(): BufferStats {
    throw ownerOnly('stats');
  }

  noteUnstored(_records: RecordInput[], _reason: string): void {
    throw ownerOnly('noteUnstored');
  }

  losses(_limit?: number): LossEntry[] {
    throw ownerOnly('losses');
  }

  check(): CheckResult {
    throw ownerOnly('check');
  }

  configureSinks(_sinks: readonly string[]): void {
    throw ownerOnly('configureSinks');
  }

  knownSinks(): KnownSink[] {
    throw ownerOnly('knownSinks');
  }

  dropSink(_name: string): { records: number; bytes: number } {
    throw ownerOnly('dropSink');
  }

  forgetSink(_name: string): void {
    throw ownerOnly('forgetSink');
  }

  close(): void {
    this.reader.close();
    this.removeAllListeners();
  }

  private sink(name: string): SinkView {
    const s = this.sinks.get(name);
    if (!s) throw new RangeError(`delivery thread: no sink "${name}"`);
    return s;
  }
}

function ownerOnly(what: string): Error {
  return new Error(`buffer ${what}: only the buffer's owner (the main thread) can do this, not the delivery thread`);
}
