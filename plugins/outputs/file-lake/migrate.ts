/**
 * `layergate lake migrate`: moves a lake of the earlier layout (one folder per signal, see layout.ts)
 * into the current one (machine/build/date folders, the signal a column).
 *
 * Design constraints:
 * - Crash-safe and repeatable. Each old file is rewritten as new files (the `signal` column added,
 *   rows split by UTC date and compaction window of their receive time; samples, which have no
 *   receive time, by their sample time), published like every lake file (temp, fsync, link, fsync
 *   folder), and only then unlinked. Rewriting is deterministic: a run after a crash finds the same
 *   names with the same bytes, keeps them, and goes on with the unlink. Frame images are hard-linked
 *   into the new images folder before the index naming them is written, and unlinked last.
 * - Signal names come from the old folder names (decoded as pyarrow decodes them). A name that was
 *   longer than 120 characters was cut and hashed in its folder name; that form is what the column gets.
 * - Afterwards the migrated partitions are compacted once (the old layout had a file per signal and
 *   hour: many small files per new partition).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Schema, Table } from 'apache-arrow';
import type { Vector } from 'apache-arrow';
import { dictionaryVector, utf8Vector } from '../shared/columns.js';
import { NULL_PARTITION, utcDate } from '../shared/layout.js';
import { readTableFile } from '../shared/table-files.js';
import { Compactor } from './compaction.js';
import { DurableFiles, fsyncPath } from './durable.js';
import { oldLayoutFolders } from './layout.js';
import { inlineMerger } from './merge-worker.js';
import { selectRows } from './merge.js';
import { describe, encodeTable, partBase, parsePart } from './part-files.js';
import { exactValues } from './rows.js';
import type { FileLakeConfig } from './schema.js';

export interface MigrationReport {
  folders: number;
  files: number;
  rows: number;
  images: number;
  /** merged files the compaction after the migration published */
  merges: number;
}

/** A Hive partition value as pyarrow reads it back (`%XX` decoded; the null partition as ''). */
function decodeSegment(segment: string): string {
  const value = segment.slice(segment.indexOf('=') + 1);
  if (value === NULL_PARTITION) return '';
  return decodeURIComponent(value);
}

/** The table with a `signal` column where the lake now has it: after `source`, else after `seq`. */
function withSignal(table: Table, signal: string): Table {
  const after = table.schema.fields.some((f) => f.name === 'source') ? 'source' : 'seq';
  const columns: Record<string, Vector> = {};
  for (const field of table.schema.fields) {
    columns[field.name] = table.getChild(field.name)!;
    if (field.name === after) columns.signal = dictionaryVector(Array<string>(table.numRows).fill(signal));
  }
  return new Table(columns);
}

export class LakeMigration {
  private readonly files: DurableFiles;
  private readonly counters = { files: 0, bytes: 0, duplicateFilesSkipped: 0, merges: 0, filesRemoved: 0 };
  private readonly windowNs: bigint;

  constructor(
    private readonly root: string,
    private readonly config: FileLakeConfig,
    private readonly progress: (line: string) => void,
  ) {
    this.files = new DurableFiles(path.join(root, '.tmp'), this.counters, () => undefined);
    this.windowNs = BigInt(Math.round(config.compactWindow)) * 1_000_000n;
  }

  async run(): Promise<MigrationReport> {
    const report: MigrationReport = { folders: 0, files: 0, rows: 0, images: 0, merges: 0 };
    await fs.mkdir(path.join(this.root, '.tmp'), { recursive: true });
    const old = await oldLayoutFolders(this.root);
    // table folders first (frames move their images), then what is left in images/
    const ordered = [...old.filter((d) => !this.top(d).startsWith('images')), ...old.filter((d) => this.top(d).startsWith('images'))];
    const touched = new Set<string>();
    for (const [i, dir] of ordered.entries()) {
      const before = { files: report.files, rows: report.rows, images: report.images };
      if (this.top(dir) === 'images') await this.migrateImages(dir, report, touched);
      else await this.migrateTableFolder(dir, report, touched);
      await this.removeIfEmpty(dir);
      report.folders++;
      this.progress(
        `[${i + 1}/${ordered.length}] ${path.relative(this.root, dir)}: ${report.files - before.files} files, ${report.rows - before.rows} rows, ${report.images - before.images} images`,
      );
    }
    if (this.windowNs > 0n && touched.size > 0) {
      this.progress(`compacting ${touched.size} partition folders`);
      const compactor = new Compactor(this.root, this.config, this.files, inlineMerger(), this.counters, () => undefined);
      await compactor.scanAll();
      await compactor.compactNow();
      await compactor.stop();
      report.merges = this.counters.merges;
    }
    return report;
  }

  /** `scalars`, `frames`, `images`, ... of an old folder */
  private top(dir: string): string {
    return path.relative(this.root, dir).split(path.sep)[0]!;
  }

  /** `machine=<m>/build=<b>` of an old folder */
  private machineBuild(dir: string): string {
    return path.relative(this.root, dir).split(path.sep).slice(1, 3).join(path.sep);
  }

  private async migrateTableFolder(dir: string, report: MigrationReport, touched: Set<string>): Promise<void> {
    const table = this.top(dir);
    const signal = decodeSegment(path.basename(dir));
    const names = (await fs.readdir(dir)).filter((n) => parsePart(n)).sort();
    for (const name of names) {
      const old = withSignal(await readTableFile(path.join(dir, name)), signal);
      const timeColumn = old.schema.fields.findIndex((f) => f.name === 'receive_time_ns' || f.name === 'time_ns');
      const times = exactValues(old, timeColumn) as bigint[];
      const seqs = exactValues(
        old,
        old.schema.fields.findIndex((f) => f.name === 'seq'),
      ) as bigint[];
      // rows by partition folder and window, in file order (old files are in seq order)
      const splits = new Map<string, number[]>();
      times.forEach((t, row) => {
        const key = `${utcDate(t)}\u0000${this.windowNs > 0n ? t / this.windowNs : 0n}`;
        splits.set(key, [...(splits.get(key) ?? []), row]);
      });
      const ext = path.extname(name).slice(1) as FileLakeConfig['format'];
      for (const [key, rows] of splits) {
        const date = key.split('\u0000')[0]!;
        const target = path.join(this.root, table, this.machineBuild(dir), `date=${date}`);
        let part = rows.length === old.numRows ? old : selectRows(old, Uint32Array.from(rows));
        if (table === 'frames') part = await this.moveImages(part, dir, date, report);
        let min = times[rows[0]!]!;
        let max = min;
        for (const r of rows) {
          if (times[r]! < min) min = times[r]!;
          if (times[r]! > max) max = times[r]!;
        }
        const bytes = encodeTable(describe(part, min, max), ext);
        await this.files.ensureDir(target);
        const tmp = await this.files.writeTmp(bytes);
        const first = Number(seqs[rows[0]!]);
        const last = Number(seqs[rows[rows.length - 1]!]);
        await this.files.publish(tmp, target, partBase(first, last), ext, createHash('sha256').update(bytes).digest('hex'), bytes.length);
        await fsyncPath(target);
        touched.add(target);
        report.rows += rows.length;
      }
      // the new files are durable: the old one may go
      await fs.unlink(path.join(dir, name));
      await fsyncPath(dir);
      report.files++;
    }
  }

  /** Link the images a frames index part names into the new images folder; the index with their new paths. */
  private async moveImages(part: Table, dir: string, date: string, report: MigrationReport): Promise<Table> {
    const imageDir = path.join(this.root, 'images', this.machineBuild(dir), `date=${date}`);
    await this.files.ensureDir(imageDir);
    const files = [...part.getChild('file')!] as string[];
    const hashes = [...part.getChild('sha256')!] as string[];
    const sizes = exactValues(
      part,
      part.schema.fields.findIndex((f) => f.name === 'size_bytes'),
    ) as bigint[];
    const moved: string[] = [];
    for (const [i, file] of files.entries()) {
      const from = path.join(this.root, ...file.split('/'));
      const ext = path.extname(file).slice(1);
      const base = path.basename(file, path.extname(file));
      let name = path.basename(file);
      try {
        const tmp = this.files.tmpName();
        await fs.link(from, tmp);
        ({ name } = await this.files.publish(tmp, imageDir, base, ext, hashes[i]!, Number(sizes[i])));
      } catch (err) {
        // already moved by an earlier, interrupted run (the old one is gone, the new one there)
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      moved.push(path.posix.join('images', ...this.machineBuild(dir).split(path.sep), `date=${date}`, name));
      report.images++;
    }
    await fsyncPath(imageDir);
    const columns: Record<string, Vector> = {};
    for (const f of part.schema.fields) columns[f.name] = f.name === 'file' ? utf8Vector(moved) : part.getChild(f.name)!;
    return new Table(new Schema(part.schema.fields, part.schema.metadata), new Table(columns).batches);
  }

  /**
   * Images left in an old images folder once every frames index was migrated: moved (their index rows
   * were migrated with their links) or not named by any index; the latter go by their file's date.
   */
  private async migrateImages(dir: string, report: MigrationReport, touched: Set<string>): Promise<void> {
    for (const name of (await fs.readdir(dir)).sort()) {
      const from = path.join(dir, name);
      // a second link: moved with its index row already
      if ((await fs.stat(from)).nlink < 2) {
        const { mtimeMs } = await fs.stat(from);
        const target = path.join(this.root, 'images', this.machineBuild(dir), `date=${utcDate(BigInt(Math.round(mtimeMs)) * 1_000_000n)}`);
        await this.files.ensureDir(target);
        const tmp = this.files.tmpName();
        await fs.link(from, tmp);
        const bytes = await fs.readFile(from);
        const ext = path.extname(name).slice(1);
        await this.files.publish(tmp, target, path.basename(name, path.extname(name)), ext, createHash('sha256').update(bytes).digest('hex'), bytes.length);
        await fsyncPath(target);
        touched.add(target);
        report.images++;
      }
      await fs.unlink(from);
    }
    await fsyncPath(dir);
  }

  private async removeIfEmpty(dir: string): Promise<void> {
    try {
      await fs.rmdir(dir);
      await fsyncPath(path.dirname(dir));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOTEMPTY' && (err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}
