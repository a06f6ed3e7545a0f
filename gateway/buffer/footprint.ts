/**
 * How `buffer.maxBytes` divides into the parts of the buffer folder, so that the folder's disk use
 * (what `du` shows) stays within it, not only the records.
 *
 * Layout of the bound:
 *
 *   maxBytes = recordBytes                 rows (inline bodies + ROW_OVERHEAD_BYTES per record)
 *                                          + spooled blobs, as `bytes()` counts them; eviction holds this
 *            + overheadBytes               min(OVERHEAD_MAX_BYTES, maxBytes / OVERHEAD_FRACTION):
 *                = reserveBytes              the disk-full reserve file (./disk-full.ts)
 *                + FIXED_FILES_BYTES         the WAL index (-shm, 32 KiB), the lock file and its journal, seq-mark
 *                + walBytes                  the write-ahead log: `journal_size_limit`
 *
 * Constraints:
 * - The database file itself is counted through the rows: measured, the file holds 0.94-1.0 bytes per
 *   accounted byte (4 to 60 byte bodies; packed rows carry less than ROW_OVERHEAD_BYTES of metadata per
 *   record), and pages freed by eviction are reused before the file grows.
 * - The WAL grows past its checkpoint threshold only by the commits made while a checkpoint cannot
 *   complete, and SQLite truncates it back to `journal_size_limit` after each checkpoint. The
 *   checkpoint threshold (`wal_autocheckpoint`) is half the WAL budget, so the commits made while a
 *   reader holds an old snapshot (the delivery thread reads in short transactions) have the other half.
 *   It stays at SQLite's default of 1000 pages where the budget allows: more pages per checkpoint was
 *   measured no faster, fewer is only for small buffers.
 * - Below about 2 MiB a bound on the folder cannot hold (SQLite writes whole 4 KiB pages and the WAL
 *   needs a few of them): such a buffer is still bounded by its records, the proportional budget is
 *   simply too small to keep the WAL at it.
 */

/** the share of maxBytes set aside for the files that are not records */
export const OVERHEAD_FRACTION = 8;
/** the overhead is capped: a large buffer needs no larger WAL than SQLite checkpoints at by default */
export const OVERHEAD_MAX_BYTES = 64 * 1024 * 1024;
/** the reserve file's size when the budget allows (./disk-full.ts) */
export const RESERVE_MAX_BYTES = 1 << 20;
/** -shm (32 KiB), buffer.lock and its journal, seq-mark: a few pages each */
export const FIXED_FILES_BYTES = 128 * 1024;
/** SQLite's default checkpoint threshold, in pages */
const DEFAULT_AUTOCHECKPOINT_PAGES = 1000;
/** a WAL frame: one page and its 24-byte header (the buffer uses SQLite's default 4 KiB pages) */
const WAL_FRAME_BYTES = 4096 + 24;

export interface BufferFootprint {
  maxBytes: number;
  /** what rows and spooled blobs may take: the bound eviction keeps */
  recordBytes: number;
  /** the rest: reserve, fixed files and the WAL */
  overheadBytes: number;
  reserveBytes: number;
  /** `journal_size_limit`: the WAL is truncated to this after a checkpoint */
  walBytes: number;
  /** `wal_autocheckpoint`, in pages */
  walAutocheckpointPages: number;
}

export function bufferFootprint(maxBytes: number): BufferFootprint {
  const overheadBytes = Math.min(OVERHEAD_MAX_BYTES, Math.floor(maxBytes / OVERHEAD_FRACTION));
  const reserveBytes = Math.min(RESERVE_MAX_BYTES, Math.floor(overheadBytes / 4));
  const walBytes = Math.max(0, overheadBytes - reserveBytes - FIXED_FILES_BYTES);
  const walAutocheckpointPages = Math.max(1, Math.min(DEFAULT_AUTOCHECKPOINT_PAGES, Math.floor(walBytes / 2 / WAL_FRAME_BYTES)));
  return { maxBytes, recordBytes: maxBytes - overheadBytes, overheadBytes, reserveBytes, walBytes, walAutocheckpointPages };
}
