/**
 * Encryption at rest for confidential bodies: a `RecordBuffer` decorator that seals the body of every
 * confidential record on `append` (before it reaches the SQLite row, its WAL or the spool) and opens
 * it on `read`, so forwarders and outputs only ever see plaintext.
 *
 * Design constraints:
 * - The buffer itself is unchanged: it stores sealed bytes like any body (inline when small, spooled
 *   when large; the spool's content address is then the hash of the sealed bytes, so equal
 *   confidential blobs are not deduplicated; the nonce makes each seal unique).
 * - Non-confidential records pass through untouched, without a copy (the ingest hot path).
 * - A confidential record whose body was spooled is returned by `read` with its body opened into
 *   memory and no blob reference: the spooled file is sealed, so `blobPath`/`readBlob` must not be
 *   offered for it. Forwarder batches are bounded in bytes, which bounds that memory.
 * - A sealed body that does not open (key missing from the ring, bytes altered) makes `read` throw
 *   the sealer's coded error; the forwarder backs off and logs it. The key check at start
 *   (./keys.ts) catches the usual causes before anything is read.
 */
import { readFileSync } from 'node:fs';
import type { AppendResult, BufferStats, CheckResult, KnownSink, LossEntry, RecordBuffer } from '../buffer/types.js';
import { BlobMissingError } from '../plugin-api/errors.js';
import type { BlobRef, RecordInput, StoredRecord } from '../plugin-api/record.js';
import type { Sealer } from './sealer.js';

export class SealingBuffer implements RecordBuffer {
  constructor(
    readonly inner: RecordBuffer,
    private readonly sealer: Sealer,
  ) {}

  append(records: RecordInput[]): AppendResult {
    let sealed: RecordInput[] | undefined;
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!;
      if (r.class !== 'confidential') continue;
      sealed ??= records.slice();
      sealed[i] = { ...r, body: this.sealer.seal(r.body) };
    }
    return this.inner.append(sealed ?? records);
  }

  read(sink: string, limit: number, maxBytes?: number, afterSeq?: number): StoredRecord[] {
    const rows = this.inner.read(sink, limit, maxBytes, afterSeq);
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!;
      if (r.class !== 'confidential') continue;
      if (r.blob) {
        const { blob, ...rest } = r;
        rows[i] = { ...rest, body: this.sealer.open(this.readSpooled(blob)) };
      } else if (r.body) rows[i] = { ...r, body: this.sealer.open(r.body) };
    }
    return rows;
  }

  private readSpooled(ref: BlobRef): Buffer {
    try {
      return readFileSync(this.inner.blobPath(ref));
    } catch (err) {
      throw new BlobMissingError(`blob ${ref.sha256} (sealed, ${ref.size} bytes) is not in the spool`, { cause: err });
    }
  }

  ack(sink: string, uptoSeq: number): void {
    this.inner.ack(sink, uptoSeq);
  }
  cursor(sink: string): number {
    return this.inner.cursor(sink);
  }
  lag(sink: string): { records: number; bytes: number } {
    return this.inner.lag(sink);
  }
  blobPath(ref: BlobRef): string {
    return this.inner.blobPath(ref);
  }
  readBlob(ref: BlobRef): Promise<Buffer> {
    return this.inner.readBlob(ref);
  }
  stats(): BufferStats {
    return this.inner.stats();
  }
  noteUnstored(records: RecordInput[], reason: string): void {
    // only counts and sizes are kept: nothing of the bodies reaches the disk, sealed or not
    this.inner.noteUnstored(records, reason);
  }

  losses(limit?: number): LossEntry[] {
    return this.inner.losses(limit);
  }
  check(): CheckResult {
    return this.inner.check();
  }
  configureSinks(sinks: readonly string[]): void {
    this.inner.configureSinks(sinks);
  }
  knownSinks(): KnownSink[] {
    return this.inner.knownSinks();
  }
  dropSink(name: string): { records: number; bytes: number } {
    return this.inner.dropSink(name);
  }

  forgetSink(name: string): void {
    this.inner.forgetSink(name);
  }
  on(event: 'append' | 'space', listener: () => void): this {
    this.inner.on(event, listener);
    return this;
  }
  off(event: 'append' | 'space', listener: () => void): this {
    this.inner.off(event, listener);
    return this;
  }
  close(): void {
    this.inner.close();
  }
}
