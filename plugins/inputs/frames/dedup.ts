/**
 * The frames input's dedup memory: the content hashes (with size, depth and format) of the last
 * `dedupWindow` frames, so the same bytes are neither decoded nor stored twice.
 *
 * Design constraints:
 * - The hashes of committed frames are appended to <dataDir>/inputs/<name>/recent-frames (one line
 *   each, compacted to the window when it grows past twice that), read back at start: a restart
 *   remembers them. The file is written after the commit and not fsynced; a lost tail only means a
 *   frame may be stored a second time.
 * - A hash is claimed before the emit (so a copy arriving meanwhile is not stored twice) and given up
 *   again when the emit fails.
 * - Writes happen in the background, in order; `flush` waits for them. A failed write is logged,
 *   never thrown.
 */
import { appendFile, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { FrameFormat, FrameShape } from './frame.js';

const FRAME_FORMATS = new Set<string>(['png', 'tiff', 'jpeg', 'raw'] satisfies FrameFormat[]);

/** One line of the dedup file: `<sha256> <width> <height> <depth> <format>`. */
function dedupLine(sha256: string, f: FrameShape): string {
  return `${sha256} ${f.width} ${f.height} ${f.depth} ${f.format}\n`;
}

function parseDedupLine(line: string): [string, FrameShape] | undefined {
  const m = /^([0-9a-f]{64}) (\d+) (\d+) (\d+) ([a-z]+)$/.exec(line);
  if (!m || !FRAME_FORMATS.has(m[5]!)) return undefined;
  return [m[1]!, { width: Number(m[2]), height: Number(m[3]), depth: Number(m[4]), format: m[5] as FrameShape['format'] }];
}

export class DedupMemory {
  /** the last `capacity` hashes, in insertion order */
  private readonly map = new Map<string, FrameShape>();
  /** the dedup file; undefined without a data folder or with a window of 0 */
  private file: string | undefined;
  private lines = 0;
  private writes: Promise<void> = Promise.resolve();
  private log: Logger | undefined;

  constructor(private readonly capacity: number) {}

  get(h: string): FrameShape | undefined {
    return this.map.get(h);
  }

  /** Remember a hash (in memory only; see `persist`). */
  add(h: string, shape: FrameShape): void {
    if (this.capacity === 0) return;
    this.map.delete(h);
    this.map.set(h, shape);
    while (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value as string);
  }

  delete(h: string): void {
    this.map.delete(h);
  }

  /** Read the hashes of earlier runs from `<dataDir>/inputs/<input>/recent-frames`; from then on committed hashes are written there. */
  async load(dataDir: string, input: string, log: Logger): Promise<void> {
    if (this.capacity === 0) return;
    this.log = log;
    const file = path.join(dataDir, 'inputs', input, 'recent-frames');
    this.file = file;
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log.warn({ err, file }, 'frames: cannot read the dedup memory; starting without it');
      return;
    }
    let bad = 0;
    const lines = text.split('\n').filter(Boolean);
    for (const line of lines) {
      const e = parseDedupLine(line);
      if (e) this.add(e[0], e[1]);
      else bad++;
    }
    // a torn last line after a crash is expected; more than that is worth a word
    if (bad > 1) log.warn({ file, bad }, 'frames: unreadable lines in the dedup memory were skipped');
    this.lines = lines.length;
    if (this.lines > 2 * this.capacity || bad > 0) await this.compact();
  }

  /** Remember a committed frame's hash on disk (in the background, in order). */
  persist(sha256: string, shape: FrameShape): void {
    const file = this.file;
    if (!file) return;
    this.writes = this.writes.then(async () => {
      try {
        await mkdir(path.dirname(file), { recursive: true });
        await appendFile(file, dedupLine(sha256, shape));
        if (++this.lines > 2 * this.capacity) await this.compact();
      } catch (err) {
        this.log?.warn({ err, file }, 'frames: could not write the dedup memory; a restart may store a repeated frame again');
      }
    });
  }

  /** Wait for the writes in progress. */
  async flush(): Promise<void> {
    await this.writes;
  }

  /** Rewrite the dedup file with the window's hashes only (temp file + rename). */
  private async compact(): Promise<void> {
    const file = this.file!;
    let text = '';
    let n = 0;
    for (const [h, shape] of this.map.entries()) {
      text += dedupLine(h, shape);
      n++;
    }
    try {
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(`${file}.tmp`, text);
      await rename(`${file}.tmp`, file);
      this.lines = n;
    } catch (err) {
      this.log?.warn({ err, file }, 'frames: could not compact the dedup memory');
    }
  }
}
