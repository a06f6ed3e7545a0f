/**
 * SqliteAppendLog: the RecordBuffer the gateway opens. A durable append log in SQLite with one
 * cursor per sink; its on-disk layout and the invariants it keeps are described in ./layout.ts.
 *
 * This module only wires the jobs together and owns the lifecycle (open, the age-eviction timer,
 * close); each job is a module of its own working on one shared AppendLogState (./state.ts):
 * ./recovery.ts, ./append.ts, ./eviction.ts and ./read.ts.
 *
 * Constraints: every method is one direct call into its module (no per-record work here), and
 * everything is synchronous except `readBlob`, like better-sqlite3 underneath.
 */
import { EventEmitter } from 'node:events';
import { mkdirSync, rmSync } from 'node:fs';
import type Database from 'better-sqlite3';
import { pino, type Logger } from 'pino';
import type { BlobRef, RecordInput, StoredRecord } from '../plugin-api/record.js';
import { appendBatch } from './append.js';
import { ensureReserve, flushUnstored, isStorageFull, noteUnstored, releaseReserve } from './disk-full.js';
import { expireByAge, warnEvictions } from './eviction.js';
import { lockFolder, writeSeqMark } from './layout.js';
import { ackSink, blobPath, check, knownSinks, losses, readOwnedBlob, readSink, stats } from './read.js';
import { configureSinks, dropSink, forgetSink, openDatabase, recoverSpool } from './recovery.js';
import { AppendLogState } from './state.js';
import type { AppendResult, BufferOptions, BufferStats, CheckResult, KnownSink, LossEntry, RecordBuffer } from './types.js';

export class SqliteAppendLog extends EventEmitter implements RecordBuffer {
  readonly dir: string;
  readonly dbPath: string;
  private readonly state: AppendLogState;
  private ageTimer: NodeJS.Timeout | null = null;
  /** the folder's owner lock, held until close */
  private readonly lock: Database.Database;

  constructor(opts: BufferOptions, log?: Logger) {
    super();
    const st = new AppendLogState(opts, (log ?? pino({ name: 'layergate' })).child({ component: 'buffer' }), this);
    this.state = st;
    this.dir = st.dir;
    this.dbPath = st.dbPath;
    mkdirSync(st.dir, { recursive: true });
    this.lock = lockFolder(st.dir);
    try {
      try {
        st.spool.init();
        openDatabase(st, opts.sinks);
      } catch (e) {
        // started on a full disk: the reserve's space is what the open needs (./disk-full.ts)
        // (SQLITE_IOERR_SHMSIZE: the WAL index could not be sized, which a full disk causes at open)
        const full = isStorageFull(e) || (e as { code?: unknown }).code === 'SQLITE_IOERR_SHMSIZE';
        if (!full || !releaseReserve(st.dir)) throw e;
        st.log.warn({ err: e }, 'buffer filesystem full at open: reserve file released to open the buffer');
        (st.db as Database.Database | undefined)?.close();
        st.spool.init();
        openDatabase(st, opts.sinks);
        // the space just given back is for this gateway to run on, not to be set aside again at once
        st.reserveTriedAt = Date.now();
      }
      recoverSpool(st, false);
    } catch (e) {
      this.lock.close();
      throw e;
    }
    ensureReserve(st);
    if (st.maxAgeNs !== null) {
      const everyMs = Math.min(60_000, Math.max(1_000, Math.floor(Number(st.maxAgeNs / 1_000_000n) / 4)));
      this.ageTimer = setInterval(() => expireByAge(st), everyMs);
      this.ageTimer.unref();
    }
  }

  append(records: RecordInput[]): AppendResult {
    const result = appendBatch(this.state, records);
    // after a full disk: set space aside again for the next open, once there is room
    if (!this.state.reservePresent) ensureReserve(this.state);
    return result;
  }

  noteUnstored(records: RecordInput[], reason: string): void {
    noteUnstored(this.state, records, reason);
  }

  read(sink: string, limit: number, maxBytes?: number, afterSeq?: number): StoredRecord[] {
    return readSink(this.state, sink, limit, maxBytes, afterSeq);
  }

  ack(sink: string, uptoSeq: number): void {
    ackSink(this.state, sink, uptoSeq);
  }

  cursor(sink: string): number {
    return this.state.sink(sink, 'cursor').cursor;
  }

  lag(sink: string): { records: number; bytes: number } {
    const s = this.state.sink(sink, 'lag');
    return { records: s.lagRecords, bytes: s.lagBytes };
  }

  blobPath(ref: BlobRef): string {
    return blobPath(this.state.spool, ref);
  }

  readBlob(ref: BlobRef): Promise<Buffer> {
    return readOwnedBlob(this.state, ref);
  }

  stats(): BufferStats {
    return stats(this.state);
  }

  losses(limit = 100): LossEntry[] {
    return losses(this.state, limit);
  }

  check(): CheckResult {
    return check(this.state);
  }

  configureSinks(sinks: readonly string[]): void {
    configureSinks(this.state, sinks);
  }

  knownSinks(): KnownSink[] {
    return knownSinks(this.state);
  }

  dropSink(name: string): { records: number; bytes: number } {
    return dropSink(this.state, name);
  }

  forgetSink(name: string): void {
    forgetSink(this.state, name);
  }

  /** where the database was moved when it was found damaged at open or by check(), if it was */
  get quarantinedTo(): string | undefined {
    return this.state.lastQuarantine;
  }

  close(): void {
    const st = this.state;
    if (st.closed) return;
    st.closed = true;
    if (this.ageTimer) clearInterval(this.ageTimer);
    warnEvictions(st, true);
    flushUnstored(st);
    st.db.close();
    this.lock.close();
    // after a clean close the next open continues exactly where this one stopped
    try {
      writeSeqMark(st.seqMarkPath, st.c.nextSeq);
    } catch (err) {
      // on a full disk the mark on disk stays the running reservation, which is above every seq
      // handed out: seqs stay monotonic, the next open only skips a gap
      rmSync(`${st.seqMarkPath}.tmp`, { force: true });
      st.log.warn({ err }, 'buffer close: seq mark not updated (the reservation on disk still holds)');
    }
    this.removeAllListeners();
  }
}

/** Open (or create) the buffer in `opts.dir`, recovering from a crash or a damaged file. */
export function openBuffer(opts: BufferOptions, log?: Logger): RecordBuffer {
  return new SqliteAppendLog(opts, log);
}
