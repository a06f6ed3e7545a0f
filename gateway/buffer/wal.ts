/**
 * Reading a SQLite write-ahead log before SQLite does, to see what its recovery will throw away.
 *
 * SQLite replays a WAL frame by frame and stops, without a word, at the first frame whose salt or
 * cumulative checksum does not match: every commit after a damaged frame is rolled back, including
 * records that were acknowledged to their source. The buffer must put that in the loss ledger, so
 * at open (before the first connection rewrites the tail) this module reads the WAL with the same
 * rules and reports the frames that carry the current salts (written in this WAL generation, so
 * once part of a commit) but lie after the last frame SQLite will accept. A WAL reused after a
 * checkpoint keeps stale frames of the previous generation at its end; those have other salts and
 * are not reported. Format: https://www.sqlite.org/fileformat2.html#walformat
 *
 * Constraints: read-only and synchronous, one pass over the file; only runs when a WAL was left
 * behind (a crash: a clean close checkpoints and removes it).
 */
import { existsSync, readFileSync } from 'node:fs';

const WAL_HEADER = 32;
const FRAME_HEADER = 24;

export interface WalScan {
  pageSize: number;
  /** frames SQLite's recovery will drop although they belong to this WAL generation */
  lostFrames: number;
  /** of those, the ones that ended a transaction (commit frames) */
  lostCommits: number;
  /** the dropped frames' page images, newest last, by page number */
  lostPages: Map<number, Buffer[]>;
}

/** Scan `walPath`; null when there is no WAL, it is not one, or SQLite keeps all of it. */
export function scanWal(walPath: string): WalScan | null {
  if (!existsSync(walPath)) return null;
  const wal = readFileSync(walPath);
  if (wal.length < WAL_HEADER) return null;
  const magic = wal.readUInt32BE(0);
  if (magic !== 0x377f0682 && magic !== 0x377f0683) return null;
  const bigEndian = (magic & 1) === 1;
  const pageSize = wal.readUInt32BE(8) === 1 ? 65536 : wal.readUInt32BE(8);
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) return null;
  const salt1 = wal.readUInt32BE(16);
  const salt2 = wal.readUInt32BE(20);
  let [s1, s2] = checksum(wal, 0, 24, 0, 0, bigEndian);
  // a WAL whose header fails its checksum is ignored whole by SQLite; its frames cannot be told apart
  // from stale ones, so nothing can be said about them here
  if (s1 !== wal.readUInt32BE(24) || s2 !== wal.readUInt32BE(28)) return null;
  const frameSize = FRAME_HEADER + pageSize;
  const frames = Math.floor((wal.length - WAL_HEADER) / frameSize);
  let valid = 0; // frames SQLite replays: up to the last good commit frame
  let broken = false;
  const lostPages = new Map<number, Buffer[]>();
  let lostFrames = 0;
  let lostCommits = 0;
  for (let i = 0; i < frames; i++) {
    const at = WAL_HEADER + i * frameSize;
    const sameSalt = wal.readUInt32BE(at + 8) === salt1 && wal.readUInt32BE(at + 12) === salt2;
    if (!broken) {
      [s1, s2] = checksum(wal, at, 8, s1, s2, bigEndian);
      [s1, s2] = checksum(wal, at + FRAME_HEADER, pageSize, s1, s2, bigEndian);
      if (sameSalt && s1 === wal.readUInt32BE(at + 16) && s2 === wal.readUInt32BE(at + 20)) {
        if (wal.readUInt32BE(at + 4) !== 0) valid = i + 1;
        continue;
      }
      broken = true;
      // the frames of the uncommitted tail before the break are dropped as well
      for (let j = valid; j < i; j++) addLost(wal, WAL_HEADER + j * frameSize, pageSize, lostPages);
      lostFrames += i - valid;
    }
    if (!sameSalt) continue;
    addLost(wal, at, pageSize, lostPages);
    lostFrames++;
    if (wal.readUInt32BE(at + 4) !== 0) lostCommits++;
  }
  // without a break, frames after the last commit are a transaction that never committed: not lost
  if (!broken || lostCommits === 0) return null;
  return { pageSize, lostFrames, lostCommits, lostPages };
}

function addLost(wal: Buffer, at: number, pageSize: number, into: Map<number, Buffer[]>): void {
  const pgno = wal.readUInt32BE(at);
  const list = into.get(pgno) ?? [];
  list.push(wal.subarray(at + FRAME_HEADER, at + FRAME_HEADER + pageSize));
  into.set(pgno, list);
}

/** SQLite's WAL checksum over `len` bytes (a multiple of 8) at `at`, continuing from (s1, s2). */
function checksum(b: Buffer, at: number, len: number, s1: number, s2: number, bigEndian: boolean): [number, number] {
  for (let i = at; i < at + len; i += 8) {
    const x0 = bigEndian ? b.readUInt32BE(i) : b.readUInt32LE(i);
    const x1 = bigEndian ? b.readUInt32BE(i + 4) : b.readUInt32LE(i + 4);
    s1 = (s1 + x0 + s2) >>> 0;
    s2 = (s2 + x1 + s1) >>> 0;
  }
  return [s1, s2];
}

/**
 * The integer columns of the single row of a table b-tree leaf page (the buffer's `state` table):
 * null when the page is not such a leaf or does not decode (a dropped frame may be the damaged one).
 */
export function decodeSingleRowLeaf(page: Buffer, pageNo: number): (number | null)[] | null {
  try {
    const h = pageNo === 1 ? 100 : 0;
    if (page[h] !== 0x0d || page.readUInt16BE(h + 3) !== 1) return null;
    let p = page.readUInt16BE(h + 8);
    const [payload, a] = varint(page, p);
    const [, b] = varint(page, a); // rowid
    p = b;
    if (payload > page.length - p) return null; // would overflow: not the small state row
    const [headerSize, c] = varint(page, p);
    let t = c;
    let body = p + headerSize;
    const out: (number | null)[] = [];
    while (t < p + headerSize) {
      const [type, next] = varint(page, t);
      t = next;
      const size = [0, 1, 2, 3, 4, 6, 8, 8, 0, 0][type];
      if (size === undefined) return null;
      if (type === 0) out.push(null);
      else if (type === 8) out.push(0);
      else if (type === 9) out.push(1);
      else if (type === 7) return null;
      else if (size === 8) out.push(Number(page.readBigInt64BE(body)));
      else out.push(page.readIntBE(body, size));
      body += size;
    }
    return out;
  } catch {
    return null;
  }
}

function varint(b: Buffer, at: number): [number, number] {
  let v = 0;
  for (let i = 0; i < 9; i++) {
    const byte = b[at + i]!;
    if (i === 8) return [v * 256 + byte, at + 9];
    v = v * 128 + (byte & 0x7f);
    if ((byte & 0x80) === 0) return [v, at + i + 1];
  }
  return [v, at + 9];
}
