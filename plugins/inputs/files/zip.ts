/**
 * Reading zip files that nobody vouches for (3MF packages, vendor job archives, zipped slice stacks):
 * the central directory is listed and held to limits before any entry is inflated, and every entry
 * read is counted as it inflates.
 *
 * Design constraints (against zip bombs and lying sizes):
 * - More than `maxEntries` entries, more than `maxExpandedBytes` declared in all, or an entry over
 *   1 MiB declaring more than `maxRatio` times its compressed size: rejected (`zip-bomb`) before a
 *   byte is inflated.
 * - While an entry inflates, its bytes are counted: past its declared size (yauzl's
 *   validateEntrySizes) or past what is left of `maxExpandedBytes` for the whole file, the read is
 *   destroyed and the file rejected (`zip-bomb`); nothing inflated is kept beyond the caller's chunk.
 * - A zip that does not parse is `corrupt`. Entry names are never used as paths (nothing is extracted).
 */
import yauzl from 'yauzl';
import type { Entry, ZipFile } from 'yauzl';
import { FileRejected } from './file.js';

export interface ZipLimits {
  maxEntries: number;
  maxExpandedBytes: number;
  maxRatio: number;
}

export interface ZipEntryInfo {
  name: string;
  compressedSize: number;
  uncompressedSize: number;
}

/** Entries smaller than this are not held to `maxRatio` (a small run of zeros compresses 1000:1). */
const RATIO_FLOOR = 1 << 20;

export class SafeZip {
  private readonly byName = new Map<string, Entry>();
  /** bytes inflated so far, held to `maxExpandedBytes` */
  private inflated = 0;

  private constructor(
    private readonly zip: ZipFile,
    readonly entries: readonly ZipEntryInfo[],
    entries_: Entry[],
    private readonly limits: ZipLimits,
    private readonly where: string,
  ) {
    for (const e of entries_) this.byName.set(e.fileName, e);
  }

  /** List the central directory and hold it to the limits; rejects `corrupt` or `zip-bomb`. */
  static async open(bytes: Buffer, limits: ZipLimits, where: string): Promise<SafeZip> {
    let zip: ZipFile;
    try {
      zip = await new Promise<ZipFile>((resolve, reject) =>
        yauzl.fromBuffer(bytes, { lazyEntries: true, autoClose: false, validateEntrySizes: true, strictFileNames: false, decodeStrings: true }, (err, z) =>
          err ? reject(err) : resolve(z),
        ),
      );
    } catch (err) {
      throw new FileRejected('corrupt', `${where}: not a readable zip (${(err as Error).message})`, { cause: err });
    }
    try {
      if (zip.entryCount > limits.maxEntries) {
        throw new FileRejected('zip-bomb', `${where}: ${zip.entryCount} zip entries is more than archive.maxEntries (${limits.maxEntries})`);
      }
      const list = await new Promise<Entry[]>((resolve, reject) => {
        const out: Entry[] = [];
        zip.on('entry', (e: Entry) => {
          out.push(e);
          zip.readEntry();
        });
        zip.once('end', () => resolve(out));
        zip.once('error', reject);
        zip.readEntry();
      }).catch((err: unknown) => {
        throw new FileRejected('corrupt', `${where}: zip directory unreadable (${(err as Error).message})`, { cause: err });
      });
      let declared = 0;
      for (const e of list) {
        declared += e.uncompressedSize;
        if (e.uncompressedSize > RATIO_FLOOR && e.uncompressedSize > limits.maxRatio * Math.max(1, e.compressedSize)) {
          throw new FileRejected(
            'zip-bomb',
            `${where}: zip entry ${JSON.stringify(e.fileName.slice(0, 200))} expands ${e.compressedSize} bytes to ${e.uncompressedSize} (more than archive.maxRatio ${limits.maxRatio})`,
          );
        }
      }
      if (declared > limits.maxExpandedBytes) {
        throw new FileRejected(
          'zip-bomb',
          `${where}: zip entries declare ${declared} bytes in all, more than archive.maxExpandedBytes (${limits.maxExpandedBytes})`,
        );
      }
      const infos = list.map((e) => ({ name: e.fileName, compressedSize: e.compressedSize, uncompressedSize: e.uncompressedSize }));
      return new SafeZip(zip, infos, list, limits, where);
    } catch (err) {
      zip.close();
      throw err;
    }
  }

  /** Inflate one entry, chunk by chunk, counted against the limits; rejects `zip-bomb` or `corrupt`. */
  async read(name: string, onChunk: (chunk: Buffer) => void): Promise<void> {
    const entry = this.byName.get(name);
    if (!entry) throw new FileRejected('corrupt', `${this.where}: no zip entry ${JSON.stringify(name.slice(0, 200))}`);
    const stream = await new Promise<NodeJS.ReadableStream & { destroy(err?: Error): void }>((resolve, reject) =>
      this.zip.openReadStream(entry, (err, s) => (err ? reject(err) : resolve(s as never))),
    ).catch((err: unknown) => {
      throw new FileRejected('corrupt', `${this.where}: zip entry ${JSON.stringify(name.slice(0, 200))} unreadable (${(err as Error).message})`, {
        cause: err,
      });
    });
    try {
      for await (const c of stream as AsyncIterable<Buffer>) {
        this.inflated += c.length;
        if (this.inflated > this.limits.maxExpandedBytes) {
          stream.destroy();
          throw new FileRejected('zip-bomb', `${this.where}: zip entries expand past archive.maxExpandedBytes (${this.limits.maxExpandedBytes})`);
        }
        onChunk(c);
      }
    } catch (err) {
      if (err instanceof FileRejected) throw err;
      const msg = (err as Error).message;
      // yauzl's validateEntrySizes: the entry inflated to more (or fewer) bytes than it declared
      const lying = /too many bytes in the stream/.test(msg);
      throw new FileRejected(lying ? 'zip-bomb' : 'corrupt', `${this.where}: zip entry ${JSON.stringify(name.slice(0, 200))}: ${msg}`, { cause: err });
    }
  }

  close(): void {
    this.zip.close();
  }
}
