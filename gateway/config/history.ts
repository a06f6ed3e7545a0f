/**
 * The configuration's history: every version the gateway ran with, kept with when, who and why, in
 * `<dataDir>/config/history.sqlite` (mode 0600), so any two can be compared and a plant can say
 * which settings a build was made with.
 *
 * Layout: versions(n INTEGER PRIMARY KEY, at TEXT, author TEXT, comment TEXT, origin TEXT,
 * sha256 TEXT, text TEXT) — `text` is the file as it was (its `${VAR}` references unresolved, so a
 * secret given through the environment is never in it; a secret written in plain text in the file is,
 * as in the file itself, which the loader warns about).
 *
 * Constraints:
 * - A version is recorded when its text differs from the newest one: a restart with an unchanged
 *   file adds nothing.
 * - Read by the API for admins only; what leaves through it is redacted by the caller.
 * - Backed up by `layergate backup` (an online SQLite backup).
 */
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { createTwoFilesPatch } from 'diff';

export const HISTORY_FILE = 'history.sqlite';

export function historyPath(dataDir: string): string {
  return path.join(dataDir, 'config', HISTORY_FILE);
}

export interface ConfigVersion {
  n: number;
  at: string;
  author: string;
  comment: string;
  /** the file it came from, or `(text)` for one given as text (the API) */
  origin: string;
  sha256: string;
}

export class ConfigHistory {
  private readonly db: Database.Database;

  constructor(readonly file: string) {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    this.db = new Database(file, { timeout: 5_000 });
    chmodSync(file, 0o600);
    this.db.pragma('journal_mode = WAL');
    this.db.exec(`CREATE TABLE IF NOT EXISTS versions (
      n INTEGER PRIMARY KEY, at TEXT NOT NULL, author TEXT NOT NULL, comment TEXT NOT NULL,
      origin TEXT NOT NULL, sha256 TEXT NOT NULL, text TEXT NOT NULL
    )`);
  }

  close(): void {
    this.db.close();
  }

  /** Record `text` as the newest version unless it is the newest already; returns the version in force. */
  record(text: string, meta: { author: string; comment: string; origin: string }): ConfigVersion {
    const sha256 = createHash('sha256').update(text).digest('hex');
    return this.db
      .transaction(() => {
        const newest = this.latest();
        if (newest?.sha256 === sha256) return newest;
        const at = new Date().toISOString();
        const r = this.db
          .prepare('INSERT INTO versions (at, author, comment, origin, sha256, text) VALUES (?, ?, ?, ?, ?, ?)')
          .run(at, meta.author, meta.comment, meta.origin, sha256, text);
        return { n: Number(r.lastInsertRowid), at, author: meta.author, comment: meta.comment, origin: meta.origin, sha256 };
      })
      .immediate();
  }

  latest(): ConfigVersion | undefined {
    return this.db.prepare('SELECT n, at, author, comment, origin, sha256 FROM versions ORDER BY n DESC LIMIT 1').get() as ConfigVersion | undefined;
  }

  /** Every version, newest first, without its text. */
  list(): ConfigVersion[] {
    return this.db.prepare('SELECT n, at, author, comment, origin, sha256 FROM versions ORDER BY n DESC').all() as ConfigVersion[];
  }

  /** A version's text, or undefined when there is no such version. */
  text(n: number): string | undefined {
    return (this.db.prepare('SELECT text FROM versions WHERE n = ?').get(n) as { text: string } | undefined)?.text;
  }

  /** A unified diff from version `a` to version `b` (undefined when either does not exist). */
  diff(a: number, b: number, redact: (text: string) => string = (t) => t): string | undefined {
    const from = this.text(a);
    const to = this.text(b);
    if (from === undefined || to === undefined) return undefined;
    return createTwoFilesPatch(`version ${a}`, `version ${b}`, redact(from), redact(to), undefined, undefined, { context: 3 });
  }
}
