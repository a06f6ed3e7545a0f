/**
 * A reader of a buffer that another object owns: a second, read-only connection to the same
 * database, for the delivery thread (gateway/runtime/delivery-worker.ts), which reads the records of
 * its sinks while the owner appends and evicts on the main thread.
 *
 * Constraints:
 * - It never writes: cursors, lags and the ledger stay the owner's (the delivery thread posts its
 *   acks to the owner). `query_only` makes a write through this connection an error.
 * - WAL gives each read a snapshot of what was committed when it started; rows evicted meanwhile are
 *   simply not there on the next read, as for the owner's own reads.
 * - Streams and sink bits are read from the database as they appear: a stream id or route bit this
 *   reader does not know yet reloads the table once (the owner inserted it in a later commit).
 * - Records and bodies are decoded by the owner's own code (`decodeRows`, ./read.ts): the two readers
 *   cannot disagree on the layout.
 * - A spooled blob found damaged (wrong size or hash) is refused as the owner refuses it, and reported
 *   to `onDamagedBlob` at once: the loss ledger and the quarantine are the owner's to write (the delivery
 *   thread posts it to the main thread), and waiting for the owner's next `check()` would leave the
 *   loss unaccounted meanwhile.
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import { BlobMissingError } from '../plugin-api/errors.js';
import type { BlobRef, StoredRecord } from '../plugin-api/record.js';
import { DB_FILE, type PackedRowRead, READ_SINK_SQL } from './layout.js';
import { ReaderTables } from './reader-tables.js';
import { blobPath, decodeRows, readBlob } from './read.js';
import { Spool } from './spool.js';

export class BufferReader {
  readonly dbPath: string;
  private readonly db: Database.Database;
  private readonly readRows: Database.Statement;
  private readonly tables: ReaderTables;
  private readonly spool: Spool;

  private readonly onDamagedBlob: ((ref: BlobRef) => void) | undefined;

  /**
   * Open the buffer in `dir` (it must exist: its owner created it). `onDamagedBlob`: called when
   * `readBlob` finds a spooled file that is there but not the blob its name says, for the owner to
   * account and quarantine.
   */
  constructor(dir: string, opts: { onDamagedBlob?: (ref: BlobRef) => void } = {}) {
    this.onDamagedBlob = opts.onDamagedBlob;
    this.dbPath = path.join(path.resolve(dir), DB_FILE);
    this.db = new Database(this.dbPath, { fileMustExist: true, timeout: 5_000 });
    this.db.pragma('query_only = ON');
    // the owner's reads are measured with 16 MiB (./layout.ts); a reader that follows the newest rows needs less
    this.db.pragma('cache_size = -8192');
    this.readRows = this.db.prepare(READ_SINK_SQL).raw(true);
    this.tables = new ReaderTables(this.db, this.dbPath);
    this.spool = new Spool(path.join(path.dirname(this.dbPath), 'spool'));
  }

  /**
   * Records routed to `sink` with seq > `from`, ascending: at most `limit`, and `maxBytes` of payload
   * (the first always). `sawRow`: whether any row for the sink was there.
   */
  read(sink: string, from: number, limit: number, maxBytes?: number): { records: StoredRecord[]; sawRow: boolean } {
    const bit = this.tables.bitOf(sink);
    return decodeRows(
      this.readRows.iterate(from, 1 << bit) as IterableIterator<PackedRowRead>,
      from,
      Math.floor(limit),
      maxBytes,
      (id) => this.tables.stream(id),
      (mask) => this.tables.namesOf(mask),
    );
  }

  /** absolute path of a spooled blob (read-only) */
  blobPath(ref: BlobRef): string {
    return blobPath(this.spool, ref);
  }

  /**
   * A spooled body, checked against its size and hash (as the owner's `readBlob`). A damaged file is
   * refused (BlobMissingError, what the sinks skip a gone body on) and reported to `onDamagedBlob`; a
   * missing one only refused, as by the owner.
   */
  async readBlob(ref: BlobRef): Promise<Buffer> {
    try {
      return await readBlob(this.spool, ref);
    } catch (e) {
      // told apart as the owner does (./read.ts readOwnedBlob): a file that is there but does not hash to its name
      if (e instanceof BlobMissingError && this.onDamagedBlob !== undefined && (await this.spool.verify(ref.sha256, ref.size)) === 'damaged') {
        this.onDamagedBlob({ sha256: ref.sha256, size: ref.size });
      }
      throw e;
    }
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
