/**
 * Conversion of a buffer of the previous layout (user_version 1: a table `records`, one row per
 * record) to packed rows (./rows.ts), at open, so that a gateway upgraded with undelivered records
 * in its buffer delivers them.
 *
 * Constraints:
 * - One transaction: the rows are packed into `record_rows` and `records` is dropped in the same
 *   commit, so a crash during the conversion leaves the old layout to convert again at the next open.
 * - Seqs, streams, routes, classes, times, extras and blob references are kept as they are; the
 *   counters in `state` and the sink cursors and lags stay valid (they count records and bytes, not
 *   rows), and so does the `blobs` table (a spooled record keeps its one reference).
 * - Read in seq order in chunks: the old table is never loaded whole.
 */
import type Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { hasTable, insertPackedRow, prepareStatements } from './layout.js';
import { RowPacker } from './rows.js';

const CHUNK = 10_000;

type OldRow = [
  seq: bigint,
  routes: bigint,
  size: bigint,
  meta: bigint,
  receive_time_ns: bigint,
  source_time_ns: bigint | null,
  extra: string | null,
  blob_sha256: string | null,
  body: Buffer | null,
];

/** Convert a `records` table into `record_rows` (the schema must be applied); a no-op without one. */
export function migrateOneRowPerRecord(db: Database.Database, log: Logger): void {
  if (!hasTable(db, 'records')) return;
  const total = (db.prepare('SELECT count(*) FROM records').pluck().get() as number) ?? 0;
  log.info({ records: total }, 'buffer: converting one row per record to packed rows');
  const chunk = db
    .prepare('SELECT seq, routes, size, meta, receive_time_ns, source_time_ns, extra, blob_sha256, body FROM records WHERE seq > ? ORDER BY seq LIMIT ?')
    .safeIntegers(true)
    .raw(true);
  const { insertRow } = prepareStatements(db);
  let rows = 0;
  const packer = new RowPacker((row) => {
    insertPackedRow(insertRow, row);
    rows++;
  });
  db.transaction(() => {
    let after = 0n;
    for (;;) {
      const batch = chunk.all(after, CHUNK) as OldRow[];
      for (const [seq, routes, size, meta, receiveNs, sourceNs, extra, sha, body] of batch) {
        const m = Number(meta);
        packer.add(
          Number(seq),
          Number(routes),
          m & 7,
          Math.floor(m / 256),
          (m >> 3) & 31,
          receiveNs,
          sourceNs,
          extra,
          sha === null ? (body ?? Buffer.alloc(0)) : null,
          sha,
          Number(size),
        );
      }
      if (batch.length < CHUNK) break;
      after = batch[batch.length - 1]![0];
    }
    packer.flush();
    db.exec('DROP INDEX IF EXISTS records_by_blob; DROP TABLE records;');
  })();
  log.info({ records: total, rows }, 'buffer: converted to packed rows');
}
