/**
 * The newest records, read from the buffer and encoded once for every StreamRecords call that follows
 * the head: ten consumers of the live stream cost one read and one encode per record, not ten.
 *
 * Constraints:
 * - Read only while a stream subscribes (`subscribe`); the reads follow the buffer's appends,
 *   coalesced to one pass per turn of the event loop, and a pass reads at most `PASS_RECORDS` so the
 *   inputs (on the same thread) get their turn.
 * - Bounded: it keeps the newest `maxRecords` records and `maxBytes` of encoded bytes; what falls out
 *   of it is still in the buffer, where a stream that lags reads it on its own (./records.ts).
 * - Complete over its span: it covers every seq in (`base`, `last`], each either a record it holds or
 *   inside a gap it holds (seqs the buffer no longer had), so a stream that takes from it misses
 *   nothing and is told of every hole.
 * - Every record is held with its wire bytes (`layergate.v1.Record`, a confidential body opened):
 *   the class limit and filter of each stream are applied when it takes them.
 */
import { RangeReader } from '../../buffer/range-read.js';
import { SENSITIVITY_CLASSES, type StoredRecord } from '../../plugin-api/record.js';
import { recordBytes } from './record-messages.js';

/** records read per pass before the feed yields to the inputs */
const PASS_RECORDS = 16_384;

export interface FeedEntry {
  record: StoredRecord;
  /** index into SENSITIVITY_CLASSES */
  cls: number;
  /** the encoded `layergate.v1.Record` */
  bytes: Buffer;
}

export interface FeedTake {
  entries: FeedEntry[];
  gaps: { from: number; to: number }[];
  /** the last seq covered: the next take's `from` */
  lastSeq: number;
}

export class LiveFeed {
  private readonly entries: FeedEntry[] = [];
  private readonly gaps: { from: number; to: number }[] = [];
  /** index of the oldest entry kept (entries before it are dropped lazily) */
  private start = 0;
  private bytes = 0;
  /** the feed covers (base, last] */
  private base = 0;
  private last = 0;
  private reader: RangeReader | undefined;
  private subscribers = 0;
  private scheduled = false;
  private readonly waiters = new Set<() => void>();
  private unsubscribeAppend: (() => void) | undefined;

  constructor(
    private readonly bufferDir: string,
    private readonly open: (sealed: Buffer) => Buffer,
    private readonly onAppend: (listener: () => void) => () => void,
    private readonly maxRecords = 65_536,
    private readonly maxBytes = 32 * 1024 * 1024,
  ) {}

  /** Start following the head (the first subscriber opens the reader); the function returned unsubscribes. */
  subscribe(): () => void {
    if (this.subscribers++ === 0) {
      this.reader = new RangeReader(this.bufferDir);
      this.base = this.last = this.reader.headSeq();
      this.unsubscribeAppend = this.onAppend(() => this.schedule());
    }
    let done = false;
    return () => {
      if (done) return;
      done = true;
      if (--this.subscribers === 0) this.stop();
    };
  }

  /** The newest seq the buffer gave out, as the feed last read it. */
  head(): number {
    return this.reader?.headSeq() ?? 0;
  }

  /** Whether the feed holds everything after `from` (a stream at `from` may take from it). */
  covers(from: number): boolean {
    return this.reader !== undefined && from >= this.base;
  }

  /** Records after `from` (at most `limit` and `maxBytes`, the first always), with the gaps among them. */
  take(from: number, maxClass: number, accept: (r: StoredRecord) => boolean, limit: number, maxBytes: number): FeedTake {
    const entries: FeedEntry[] = [];
    let bytes = 0;
    let lastSeq = Math.max(from, this.base);
    const gaps = this.gaps.filter((g) => g.to > from).map((g) => ({ from: Math.max(g.from, from + 1), to: g.to }));
    let i = this.indexAfter(from);
    for (; i < this.entries.length; i++) {
      const e = this.entries[i]!;
      if (entries.length >= limit || (entries.length > 0 && bytes + e.bytes.length > maxBytes)) break;
      lastSeq = e.record.seq;
      if (e.cls > maxClass || !accept(e.record)) continue;
      entries.push(e);
      bytes += e.bytes.length;
    }
    // every entry taken: the span ends at `last` (seqs after the last entry were gaps or never stored yet)
    if (i >= this.entries.length) lastSeq = Math.max(lastSeq, this.last);
    return { entries, gaps: gaps.filter((g) => g.from <= lastSeq).map((g) => ({ from: g.from, to: Math.min(g.to, lastSeq) })), lastSeq };
  }

  /** Resolves after the feed read what the next commit added (or at once when it stopped). */
  next(): Promise<void> {
    if (this.reader === undefined) return Promise.resolve();
    return new Promise((resolve) => this.waiters.add(resolve));
  }

  private indexAfter(seq: number): number {
    // entries are in seq order: binary search for the first with seq > `seq`
    let lo = this.start;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.entries[mid]!.record.seq <= seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pass();
    });
  }

  private pass(): void {
    const reader = this.reader;
    if (reader === undefined) return;
    let read = 0;
    for (;;) {
      const page = reader.read(this.last, { maxClass: SENSITIVITY_CLASSES.length - 1 }, 4_096, 4 * 1024 * 1024);
      for (const g of page.gaps) this.gaps.push(g);
      for (const r of page.records) {
        const bytes = recordBytes(r, this.open);
        this.entries.push({ record: r, cls: SENSITIVITY_CLASSES.indexOf(r.class), bytes });
        this.bytes += bytes.length;
      }
      read += page.records.length;
      if (page.lastSeq === this.last) break;
      this.last = page.lastSeq;
      if (read >= PASS_RECORDS) {
        // more to read: after the inputs had their turn
        this.schedule();
        break;
      }
    }
    this.trim();
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const w of waiters) w();
  }

  /** Drop the oldest entries above the bounds; the span's base moves past them. */
  private trim(): void {
    while (this.entries.length - this.start > this.maxRecords || (this.bytes > this.maxBytes && this.entries.length - this.start > 1)) {
      const e = this.entries[this.start++]!;
      this.bytes -= e.bytes.length;
      this.base = e.record.seq;
    }
    while (this.gaps.length > 0 && this.gaps[0]!.to <= this.base) this.gaps.shift();
    // compact once the dropped prefix is large, so the array does not grow for ever
    if (this.start > 4_096 && this.start * 2 > this.entries.length) {
      this.entries.splice(0, this.start);
      this.start = 0;
    }
  }

  private stop(): void {
    this.unsubscribeAppend?.();
    this.unsubscribeAppend = undefined;
    this.reader?.close();
    this.reader = undefined;
    this.entries.length = 0;
    this.gaps.length = 0;
    this.start = 0;
    this.bytes = 0;
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const w of waiters) w();
  }
}
