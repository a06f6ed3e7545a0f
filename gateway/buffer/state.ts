/**
 * The state the buffer's modules share: the resolved options, the database handle and its prepared
 * statements, and the in-memory mirror of what the database persists (counters, sink cursors and
 * lags, stream ids), plus the bookkeeping over it that more than one job needs.
 *
 * Constraints:
 * - Memory mirrors the database: counters and lags change inside a transaction, are written with
 *   `saveState` in that same transaction, and are put back with `restore(snapshot)` when it rolls
 *   back. `stats()` can then answer from memory alone (see ./layout.ts).
 * - One object, plain fields: the hot paths read them directly, with no per-record indirection.
 * - `db` and `s` are replaced when a damaged database is quarantined at run time (see ./recovery.ts):
 *   read them from here at use, never keep them across calls.
 */
import type { EventEmitter } from 'node:events';
import path from 'node:path';
import type Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { UnknownSinkError } from '../plugin-api/errors.js';
import { SENSITIVITY_CLASSES } from '../plugin-api/record.js';
import { bufferFootprint, type BufferFootprint } from './footprint.js';
import { DB_FILE, MAX_SINKS, ROW_OVERHEAD_BYTES, SEQ_MARK_FILE, type Statements } from './layout.js';
import { Spool } from './spool.js';
import { StreamTable } from './streams.js';
import type { BufferOptions } from './types.js';

export const DEFAULT_INLINE_MAX_BYTES = 64 * 1024;

export interface SinkState {
  name: string;
  bit: number;
  cursor: number;
  /** reads: no record routed to this sink in (cursor, emptyThrough] (in memory only) */
  emptyThrough: number;
  /** lag changed in the running transaction and must be written with the state */
  lagDirty: boolean;
  /** listed in the sinks the buffer was opened or last configured with: it can read and ack, and is in the stats */
  configured: boolean;
  /** holds records back (they are not delivered until it has them, see `heldMask`) and takes records routed to it; every listed sink is held */
  held: boolean;
  lagRecords: number;
  lagBytes: number;
}

export interface Counters {
  nextSeq: number;
  records: number;
  inlineBytes: number;
  spoolBlobs: number;
  spoolBytes: number;
  missingBlobs: number;
  oldestSeq: number | null;
  oldestReceiveNs: bigint | null;
  newestSeq: number | null;
  newestReceiveNs: bigint | null;
}

/** undelivered records evicted from one source and class, since the buffer was created */
export interface EvictionTotal {
  source: string;
  cls: number;
  records: number;
  bytes: number;
}

/** undelivered records evicted since the last warning, for one reason, source and class */
export interface EvictionWarning {
  reason: string;
  source: string;
  signal: string;
  cls: number;
  firstSeq: number;
  lastSeq: number;
  records: number;
  bytes: number;
}

/** records not stored for a full disk, of one reason, source and class: one loss ledger entry (./disk-full.ts) */
export interface UnstoredRun extends EvictionWarning {
  /** the configured sinks they were routed to */
  sinksMask: number;
}

/** what a transaction may change in memory, taken before it starts */
export interface Snapshot {
  c: Counters;
  lag: [SinkState, number, number][];
  streams: number;
  deliveredScanFrom: number;
}

export class AppendLogState {
  readonly dir: string;
  readonly dbPath: string;
  readonly seqMarkPath: string;
  readonly log: Logger;
  /** where 'append' and 'space' are emitted: the RecordBuffer the gateway holds */
  readonly events: EventEmitter;
  readonly maxBytes: number;
  /** how maxBytes divides into records, WAL and reserve (./footprint.ts); eviction keeps `recordBytes` */
  readonly footprint: BufferFootprint;
  readonly maxAgeNs: bigint | null;
  readonly inlineMaxBytes: number;
  readonly synchronous: 'FULL' | 'NORMAL';
  /** the first seq of a database this open creates */
  readonly firstSeq: number;
  /** per class index: true when the class has the `block` policy */
  readonly blocks: boolean[];
  readonly spool: Spool;

  db!: Database.Database;
  s!: Statements;
  closed = false;

  sinks = new Map<string, SinkState>();
  bitToSink: (SinkState | undefined)[] = [];
  /**
   * the bits of the sinks that hold records back (`held`): the listed ones, and with
   * `holdUnlistedSinks` every other sink row not dropped during this open
   */
  heldMask = 0;
  /** BufferOptions.holdUnlistedSinks */
  readonly holdUnlistedSinks: boolean;
  /** sinks dropped with `dropSink` during this open, not listed since: they no longer hold records back */
  readonly droppedSinks = new Set<string>();
  /** route mask -> sink names, built once per distinct mask */
  routeNames = new Map<number, string[]>();
  readonly streams = new StreamTable();
  c!: Counters;
  evictionTotals = new Map<string, EvictionTotal>();

  /** delivered-first eviction: every row at or below this seq is undelivered (or gone) */
  deliveredScanFrom = 0;
  /** evictions of undelivered records not yet logged, per reason, source and class (see warnEvictions) */
  evictionWarnings = new Map<string, EvictionWarning>();
  /** when the last eviction warning was logged (ms since the epoch) */
  evictionWarnedAt = 0;
  /** bytes of the last refused batch, until a 'space' event was emitted */
  spaceWanted = 0;
  /**
   * records that could not be stored because the filesystem was full, per (reason, source, class),
   * until a transaction writes them to the loss ledger (./disk-full.ts)
   */
  unstored = new Map<string, UnstoredRun>();
  /** the reserve file exists (./disk-full.ts), and when making it was last tried (ms since the epoch) */
  reservePresent = false;
  reserveTriedAt = 0;
  lastQuarantine: string | undefined;

  /** append: no seq at or above this has been reserved in the seq-mark file yet */
  seqReservedBelow = 0;

  /** Resolve and check the options; touches no file. */
  constructor(opts: BufferOptions, log: Logger, events: EventEmitter) {
    this.log = log;
    this.events = events;
    if (!(opts.maxBytes > 0)) throw new RangeError(`buffer.maxBytes: expected a positive number, got ${opts.maxBytes}`);
    if (opts.maxAgeMs !== undefined && !(opts.maxAgeMs > 0)) {
      throw new RangeError(`buffer.maxAgeMs: expected a positive number, got ${opts.maxAgeMs}`);
    }
    this.dir = path.resolve(opts.dir);
    this.dbPath = path.join(this.dir, DB_FILE);
    this.seqMarkPath = path.join(this.dir, SEQ_MARK_FILE);
    this.maxBytes = opts.maxBytes;
    this.footprint = bufferFootprint(opts.maxBytes);
    this.maxAgeNs = opts.maxAgeMs !== undefined ? BigInt(Math.round(opts.maxAgeMs)) * 1_000_000n : null;
    this.inlineMaxBytes = opts.inlineMaxBytes ?? DEFAULT_INLINE_MAX_BYTES;
    this.synchronous = opts.synchronous ?? 'FULL';
    this.firstSeq = opts.firstSeq ?? 1;
    if (!Number.isSafeInteger(this.firstSeq) || this.firstSeq < 1) {
      throw new RangeError(`buffer.firstSeq: expected a positive safe integer, got ${opts.firstSeq}`);
    }
    this.holdUnlistedSinks = opts.holdUnlistedSinks ?? false;
    this.blocks = SENSITIVITY_CLASSES.map((cls) => (opts.fullPolicy?.[cls] ?? 'drop-oldest') === 'block');
    const names = new Set<string>();
    for (const s of opts.sinks) {
      if (names.has(s)) throw new RangeError(`buffer.sinks: sink "${s}" is listed twice`);
      names.add(s);
    }
    this.spool = new Spool(path.join(this.dir, 'spool'));
  }

  assertOpen(): void {
    if (this.closed) throw new Error(`buffer ${this.dbPath} is closed`);
  }

  /** stored bytes as the bound counts them (held to `footprint.recordBytes`) */
  bytes(): number {
    return this.c.inlineBytes + this.c.records * ROW_OVERHEAD_BYTES + this.c.spoolBytes;
  }

  snapshot(): Snapshot {
    return {
      c: { ...this.c },
      lag: [...this.sinks.values()].map((s) => [s, s.lagRecords, s.lagBytes]),
      streams: this.streams.size,
      deliveredScanFrom: this.deliveredScanFrom,
    };
  }

  /** undo what a rolled-back transaction did to the in-memory state */
  restore(snap: Snapshot): void {
    this.c = snap.c;
    this.deliveredScanFrom = snap.deliveredScanFrom;
    this.streams.truncate(snap.streams);
    for (const [s, r, b] of snap.lag) {
      s.lagRecords = r;
      s.lagBytes = b;
    }
  }

  /** Write the counters and the changed sink lags (inside the running transaction). */
  saveState(): void {
    const c = this.c;
    this.s.saveState.run(c.nextSeq, c.records, c.inlineBytes, c.spoolBlobs, c.spoolBytes, c.missingBlobs);
    for (const s of this.sinks.values()) {
      if (s.lagDirty) {
        this.s.setLag.run(s.lagRecords, s.lagBytes, s.name);
        s.lagDirty = false;
      }
    }
  }

  refreshOldest(): void {
    const row = this.s.oldest.get() as { seq: bigint; receive_time_ns: bigint } | undefined;
    this.c.oldestSeq = row ? Number(row.seq) : null;
    this.c.oldestReceiveNs = row ? row.receive_time_ns : null;
    // eviction can remove the newest rows too (delivered or unrouted ones)
    const newest = row ? (this.s.newest.get() as { seq: bigint; receive_time_ns: bigint }) : undefined;
    this.c.newestSeq = newest ? Number(newest.seq) : null;
    this.c.newestReceiveNs = newest ? newest.receive_time_ns : null;
  }

  /** the sink names of a route mask (shared array: copy before handing it out) */
  namesOf(mask: number): string[] {
    let names = this.routeNames.get(mask);
    if (!names) {
      const list: string[] = [];
      for (let bit = 0; bit < MAX_SINKS; bit++) if (mask & (1 << bit)) list.push(this.bitToSink[bit]?.name ?? `#${bit}`);
      // one frozen array per mask, shared by every record read with it (a copy per record was garbage
      // on the forwarding path); frozen so that a consumer that changed it would fail loudly
      names = Object.freeze(list) as string[];
      this.routeNames.set(mask, names);
    }
    return names;
  }

  /** sinks in `mask` that hold records back and have not acknowledged `seq` */
  pendingMask(mask: number, seq: number): number {
    let pending = 0;
    let m = mask & this.heldMask;
    while (m !== 0) {
      const bit = 31 - Math.clz32(m & -m);
      m &= m - 1;
      if (this.bitToSink[bit]!.cursor < seq) pending |= 1 << bit;
    }
    return pending;
  }

  configuredNames(): string[] {
    return [...this.sinks.values()].filter((x) => x.configured).map((x) => x.name);
  }

  /** a configured sink by name; `what` names the operation in the error */
  sink(name: string, what: string): SinkState {
    const s = this.sinks.get(name);
    if (!s?.configured) {
      throw new UnknownSinkError(`${what}: unknown sink "${name}"; configured sinks: ${this.configuredNames().join(', ') || '(none)'}`);
    }
    return s;
  }
}
