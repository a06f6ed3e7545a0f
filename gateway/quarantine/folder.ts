/**
 * The quarantine writer: one capped folder under <dataDir>/quarantine/ (an input's or a sink's) that
 * keeps items the gateway could not handle, each as a data file plus a JSON sidecar naming why.
 * Both the ingest side (raw bytes an input could not parse, gateway/quarantine/inputs.ts) and the
 * forward side (records a sink refused for good, gateway/quarantine/outputs.ts) write through it.
 *
 * Design constraints:
 * - Capped in bytes. The folder's size is read once (on the first item), then tracked; room is
 *   reserved before the write, so concurrent items never overshoot the cap together. What does not
 *   fit is not written: the caller decides what that means (counted and dropped for inputs, kept in
 *   the buffer and retried for sinks).
 * - Data file first, sidecar second: a sidecar never names a file that is not there.
 * - A failed write gives its reservation back and throws; the caller counts and logs it.
 */
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** One quarantined item: `<base><dataSuffix>` (absent when there are no bytes) and `<base>.json`. */
export interface QuarantineItem {
  base: string;
  /** e.g. `.bin`, `.bin.sealed`, `.records` */
  dataSuffix: string;
  data: Uint8Array | undefined;
  sidecar: Uint8Array | string;
}

export class QuarantineFolder {
  /** bytes in the folder (undefined until first needed) */
  private used: number | undefined;

  constructor(
    readonly dir: string,
    readonly maxBytes: number,
  ) {}

  /** Bytes in the folder: read once (files only, not recursive), then tracked. */
  usedBytes(): number {
    if (this.used !== undefined) return this.used;
    let used = 0;
    try {
      mkdirSync(this.dir, { recursive: true });
      for (const e of readdirSync(this.dir, { withFileTypes: true })) {
        if (e.isFile()) used += statSync(path.join(this.dir, e.name)).size;
      }
    } catch {
      // unreadable folder: count from zero; the write will report the real problem
    }
    this.used = used;
    return used;
  }

  /** Reserve room for an item of `bytes`; false (nothing reserved) when it would pass the cap. */
  reserve(bytes: number): boolean {
    const used = this.usedBytes();
    if (used + bytes > this.maxBytes) return false;
    this.used = used + bytes;
    return true;
  }

  /** Write an item whose `bytes` were reserved; on failure the reservation is given back and the error thrown. */
  async write(item: QuarantineItem, bytes: number): Promise<void> {
    try {
      await mkdir(this.dir, { recursive: true });
      if (item.data) await writeFile(path.join(this.dir, `${item.base}${item.dataSuffix}`), item.data);
      await writeFile(path.join(this.dir, `${item.base}.json`), item.sidecar);
    } catch (err) {
      this.used = (this.used ?? bytes) - bytes;
      throw err;
    }
  }
}

/** The time part of an item's name: the ISO time without `-` and `:` (sorts in time order). */
export function itemTime(at: Date): string {
  return at.toISOString().replace(/[-:]/g, '');
}
