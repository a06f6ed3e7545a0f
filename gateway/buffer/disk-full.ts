/**
 * The filesystem under the buffer is full (SQLITE_FULL, ENOSPC, EDQUOT): what the buffer does with
 * records it could not store.
 *
 * Constraints:
 * - A full disk is transient (sinks drain, an operator frees space): nothing here is cached as a
 *   failed state. Every append simply tries again; the first one that commits after space returned
 *   succeeds like any other.
 * - Inputs that can wait (their source keeps the data: MQTT holds the ack) retry in the pipeline.
 *   Records of inputs that cannot wait (gateway-health samples) are dropped, and the drop is written
 *   to the loss ledger with reason 'disk-full': they get seqs of their own (never reused, so the
 *   ledger range names exactly them) and are collected in memory per (source, class), since the
 *   ledger cannot be written while the disk is full. The entries go into the next append transaction
 *   that commits (or the close), so the ledger is written as soon as anything can be.
 * - Opening must not need space that does not exist: an open writes a little (the WAL index `-shm`
 *   of 32 KiB, the first WAL frames), so the buffer keeps a reserve file (up to 1 MiB, within maxBytes: ./footprint.ts) made while
 *   there is room. An open that fails for a full disk deletes the reserve and opens again; the
 *   gateway then serves what it has (sinks drain, their acks free pages for new records), and the
 *   reserve is made again once appends find room.
 */
import { closeSync, existsSync, fsyncSync, openSync, renameSync, rmSync, statSync, statfsSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { RecordInput } from '../plugin-api/record.js';
import { CLASS_INDEX, LEDGER_MAX_ENTRIES } from './layout.js';
import { SEVERAL_SIGNALS } from './eviction.js';
import type { AppendLogState } from './state.js';

/** the ledger reason of records dropped because the buffer's filesystem was full */
export const DISK_FULL_REASON = 'disk-full';

/** Whether `err` says the filesystem (or the quota) under the buffer is full. */
export function isStorageFull(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'SQLITE_FULL' || code === 'ENOSPC' || code === 'EDQUOT';
}

/** Account records that could not be stored: seqs of their own, a pending ledger run per (reason, source, class). */
export function noteUnstored(st: AppendLogState, records: RecordInput[], reason: string): void {
  st.assertOpen();
  for (const r of records) {
    const cls = CLASS_INDEX.get(r.class) ?? 0;
    const seq = st.c.nextSeq++;
    let mask = 0;
    for (const name of r.routes) {
      const s = st.sinks.get(name);
      // the sinks append takes records for (./append.ts routeMask)
      if (s?.held) mask |= 1 << s.bit;
    }
    const key = `${reason}\0${r.source}\0${cls}`;
    const run = st.unstored.get(key);
    if (!run) {
      st.unstored.set(key, {
        reason,
        source: r.source,
        signal: r.signal,
        cls,
        firstSeq: seq,
        lastSeq: seq,
        records: 1,
        bytes: r.body.length,
        sinksMask: mask,
      });
      st.log.warn(
        { reason, source: r.source, class: r.class },
        'records not stored (buffer filesystem full): counted in the loss ledger once it can be written',
      );
      continue;
    }
    run.lastSeq = seq;
    run.records++;
    run.bytes += r.body.length;
    run.sinksMask |= mask;
    if (run.signal !== r.signal) run.signal = SEVERAL_SIGNALS;
  }
}

/**
 * Write the pending runs to the ledger (inside the running transaction). Returns the keys written;
 * the caller drops them from memory only after the commit (`forgetUnstored`), so a rollback keeps them.
 */
export function writeUnstored(st: AppendLogState): string[] | null {
  if (st.unstored.size === 0) return null;
  const at = BigInt(Date.now()) * 1_000_000n;
  let lastId = 0;
  const keys: string[] = [];
  for (const [key, run] of st.unstored) {
    const sinks = JSON.stringify(st.namesOf(run.sinksMask).filter((x) => !x.startsWith('#')));
    lastId = Number(
      st.s.addLoss.run(at, run.source, run.signal, run.cls, run.firstSeq, run.lastSeq, run.records, run.bytes, run.reason, sinks).lastInsertRowid,
    );
    keys.push(key);
  }
  if (lastId > LEDGER_MAX_ENTRIES) st.s.trimLosses.run(lastId - LEDGER_MAX_ENTRIES);
  return keys;
}

/** After the commit of `writeUnstored`'s transaction: the runs are in the ledger now. */
export function forgetUnstored(st: AppendLogState, keys: string[] | null): void {
  if (keys === null) return;
  for (const key of keys) {
    const run = st.unstored.get(key);
    if (run) {
      st.log.warn(
        { reason: run.reason, source: run.source, records: run.records, bytes: run.bytes, firstSeq: run.firstSeq, lastSeq: run.lastSeq },
        'records not stored while the buffer filesystem was full: written to the loss ledger',
      );
    }
    st.unstored.delete(key);
  }
}

/** Write the pending runs in a transaction of their own (close); on failure they are logged, not lost silently. */
export function flushUnstored(st: AppendLogState): void {
  if (st.unstored.size === 0) return;
  let keys: string[] | null = null;
  try {
    st.db.transaction(() => {
      keys = writeUnstored(st);
      st.saveState();
    })();
  } catch (err) {
    st.log.error({ err, runs: [...st.unstored.values()] }, 'loss ledger could not be written: records dropped while the disk was full');
    return;
  }
  forgetUnstored(st, keys);
}

/** the reserve file in the buffer folder: space set aside while there is some, given back to open on a full disk */
export const RESERVE_FILE = 'reserve';
/** a missing reserve is made again only when the filesystem has this many times its size free */
const RESERVE_FREE_FACTOR = 8;
/** a missing reserve is made again at most this often (it fails while the disk stays full) */
const RESERVE_RETRY_MS = 10_000;

/**
 * Make the reserve file when it is missing (and there is room). Never throws: without room it stays
 * missing and is tried again on a later append.
 */
export function ensureReserve(st: AppendLogState): void {
  const now = Date.now();
  if (st.reservePresent || now - st.reserveTriedAt < RESERVE_RETRY_MS) return;
  st.reserveTriedAt = now;
  const file = path.join(st.dir, RESERVE_FILE);
  const tmp = `${file}.tmp`;
  // enough for what an open writes before it can serve (the WAL index -shm of 32 KiB, a first WAL,
  // the lock), as maxBytes' share allows (./footprint.ts)
  const size = st.footprint.reserveBytes;
  try {
    if (existsSync(file) && statSync(file).size === size) {
      st.reservePresent = true;
      return;
    }
    // only out of plenty: the reserve must never take the room appends were just given back
    const fs = statfsSync(st.dir);
    if (fs.bavail * fs.bsize < RESERVE_FREE_FACTOR * size) return;
    const fd = openSync(tmp, 'w');
    try {
      // written, not just truncated: a sparse file would hold no space at all
      const n = writeSync(fd, Buffer.alloc(size));
      if (n !== size) throw Object.assign(new Error('short write'), { code: 'ENOSPC' });
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
    st.reservePresent = true;
  } catch (err) {
    rmSync(tmp, { force: true });
    if (!isStorageFull(err)) st.log.warn({ err, file }, 'buffer reserve file could not be made');
  }
}

/** Give the reserve's space back (an open that failed for a full disk); returns whether there was one. */
export function releaseReserve(dir: string): boolean {
  const file = path.join(dir, RESERVE_FILE);
  if (!existsSync(file)) return false;
  rmSync(file, { force: true });
  return true;
}
