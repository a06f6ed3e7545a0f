/**
 * The audit log: append-only JSON lines, each entry hash-chained to the one before it.
 *
 * Entry: `{"seq":N,"at":ISO time,"type":...,"data":{...},"prev":H(N-1),"hash":H(N)}` where
 * H(N) = SHA-256 (hex) of the entry's own text up to and without `,"hash":...` (plus the closing
 * brace), and `prev` of the first entry is 64 zeros. Changing any entry breaks its own hash;
 * rewriting its hash too breaks the next entry's `prev`; removing or inserting entries breaks `prev`
 * and `seq`. `verify` names the first broken entry.
 *
 * Types: `config-loaded` (config hash, and whether it changed since the last load),
 * `classification-override` (a job marked, raising the class of its records), `route-refused` (an
 * off-premises sink was handed sensitive/confidential records and refused them), `key-rotated`,
 * `key-generated`; from the API (gateway/api): `login`, `login-failed`, `login-locked-out`, `setup-refused`,
 * `user-added`, `user-removed`, `user-role-set`, `user-password-set`, `token-created`, `token-revoked`,
 * `alert-acknowledged`, `quarantine-raw-read`.
 *
 * Design constraints:
 * - Audit events are rare (not per record): each append reads the file's last line for `prev` (so a
 *   CLI command appending while the gateway runs still chains correctly), writes one line on an
 *   O_APPEND descriptor and fsyncs it. A line is written whole or not at all: on a full disk a short
 *   write is continued, and a line that cannot be finished is cut off again (`writeWhole`).
 * - What the chain cannot show alone: removing the newest entries. Every append is also logged
 *   (seq and hash) to the gateway's log, a second, independent record of the head.
 * - Entries carry no secrets and no record bodies.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fstatSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { AuditWriteError } from '../plugin-api/errors.js';

export const GENESIS = '0'.repeat(64);
const HASH_TAIL = /^(.*),"hash":"([0-9a-f]{64})"\}$/s;

export type AuditType =
  | 'config-loaded'
  | 'classification-override'
  | 'route-refused'
  | 'key-rotated'
  | 'key-generated'
  | 'login'
  | 'login-failed'
  | 'login-locked-out'
  | 'setup-refused'
  | 'user-added'
  | 'user-removed'
  | 'user-role-set'
  | 'user-password-set'
  | 'token-created'
  | 'token-revoked'
  | 'alert-acknowledged'
  | 'quarantine-raw-read'
  /** a plugin action that changes something, called through the API (gateway/api/routes/plugin-actions.ts) */
  | 'plugin-action';

export interface AuditEntry {
  seq: number;
  at: string;
  type: AuditType | string;
  data: Record<string, unknown>;
  prev: string;
  hash: string;
}

export function defaultAuditPath(dataDir: string): string {
  return path.join(dataDir, 'audit', 'audit.jsonl');
}

export class AuditLog {
  constructor(
    readonly file: string,
    private readonly log?: Logger,
  ) {}

  /** Append one entry (fsynced). Throws `AuditWriteError`; the event is logged at error either way. */
  append(type: AuditType | string, data: Record<string, unknown>): AuditEntry {
    try {
      mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o750 });
      const fd = openSync(this.file, 'a+', 0o640);
      try {
        const last = lastLine(fd);
        let prev = GENESIS;
        let seq = 1;
        if (last !== undefined) {
          const m = HASH_TAIL.exec(last);
          const parsed = m ? (safeParse(last) as { seq?: unknown } | undefined) : undefined;
          // a damaged last line: chain to its text's hash; `verify` reports the damage itself
          prev = m ? m[2]! : sha256(last);
          seq = typeof parsed?.seq === 'number' ? parsed.seq + 1 : countLines(fd) + 1;
        }
        const body = JSON.stringify({ seq, at: new Date().toISOString(), type, data, prev });
        const hash = sha256(body);
        const line = `${body.slice(0, -1)},"hash":"${hash}"}\n`;
        const size = fstatSync(fd).size;
        const lead = size > 0 && !endsWithNewline(fd, size) ? '\n' : '';
        writeWhole(fd, Buffer.from(lead + line), size);
        fsyncSync(fd);
        this.log?.info({ audit: { seq, type, hash } }, 'audit entry written');
        return JSON.parse(line) as AuditEntry;
      } finally {
        closeSync(fd);
      }
    } catch (err) {
      this.log?.error({ err, audit: { type, data } }, 'audit log write failed');
      throw new AuditWriteError(`audit log ${this.file}: could not append a ${type} entry: ${(err as Error).message}`, { cause: err });
    }
  }

  /** The newest entry of a type, if any (e.g. the last config-loaded). */
  lastOf(type: string): AuditEntry | undefined {
    if (!existsSync(this.file)) return undefined;
    const lines = readFileSync(this.file, 'utf8').split('\n');
    for (let i = lines.length - 1; i >= 0; i--) {
      const e = safeParse(lines[i]!) as AuditEntry | undefined;
      if (e?.type === type) return e;
    }
    return undefined;
  }

  /** Every entry that parses, oldest first (`verifyAuditLog` says whether the chain holds). */
  entries(): AuditEntry[] {
    if (!existsSync(this.file)) return [];
    return readFileSync(this.file, 'utf8')
      .split('\n')
      .map((l) => safeParse(l) as AuditEntry | undefined)
      .filter((e): e is AuditEntry => e !== undefined);
  }
}

export interface VerifyResult {
  ok: boolean;
  file: string;
  entries: number;
  /** hash of the last entry (compare with the gateway's log to detect removed newest entries) */
  head: string | null;
  /** the first broken entry */
  broken?: { line: number; seq: number | null; problem: string };
}

/** Check the whole chain; stops at the first broken entry. */
export function verifyAuditLog(file: string): VerifyResult {
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  let prev = GENESIS;
  let expectSeq = 1;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const n = i + 1;
    const fail = (seq: number | null, problem: string): VerifyResult => ({
      ok: false,
      file,
      entries: i,
      head: i === 0 ? null : prev,
      broken: { line: n, seq, problem },
    });
    const m = HASH_TAIL.exec(line);
    const e = safeParse(line) as Partial<AuditEntry> | undefined;
    if (!m || !e || typeof e !== 'object') return fail(null, 'not a well-formed audit entry (JSON ending in "hash")');
    const seq = typeof e.seq === 'number' ? e.seq : null;
    if (sha256(`${m[1]}}`) !== m[2]) return fail(seq, 'content does not match its hash: the entry was altered');
    if (e.prev !== prev) {
      return fail(
        seq,
        `prev does not match the hash of the entry before it (line ${n - 1}): an entry was altered (and its hash recomputed), removed or inserted`,
      );
    }
    if (seq !== expectSeq) return fail(seq, `seq ${seq} where ${expectSeq} was expected: an entry was removed or inserted`);
    prev = m[2]!;
    expectSeq++;
  }
  return { ok: true, file, entries: lines.length, head: lines.length === 0 ? null : prev };
}

function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

function safeParse(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}

/** the last non-empty line of the file (entries are small; reads at most the last 1 MiB) */
function lastLine(fd: number): string | undefined {
  const size = fstatSync(fd).size;
  if (size === 0) return undefined;
  const len = Math.min(size, 1 << 20);
  const buf = Buffer.alloc(len);
  readSync(fd, buf, 0, len, size - len);
  const lines = buf
    .toString('utf8')
    .split('\n')
    .filter((l) => l !== '');
  return lines.at(-1);
}

/**
 * Write all of `bytes` at the end of the file (O_APPEND), or nothing: a write() may be short (a disk
 * with room for only part of the line takes that part and returns its length without an error), so
 * it is repeated for the rest, and when the rest cannot be written (ENOSPC) the file is cut back to
 * `size`, where it was, before the error is thrown. A half entry would otherwise stay in the file as
 * a damaged line that every later entry chains after.
 */
function writeWhole(fd: number, bytes: Buffer, size: number): void {
  let off = 0;
  try {
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
  } catch (err) {
    if (off > 0) {
      ftruncateSync(fd, size);
      fsyncSync(fd);
    }
    throw err;
  }
}

function endsWithNewline(fd: number, size: number): boolean {
  const b = Buffer.alloc(1);
  readSync(fd, b, 0, 1, size - 1);
  return b[0] === 0x0a;
}

function countLines(fd: number): number {
  const size = fstatSync(fd).size;
  const buf = Buffer.alloc(size);
  readSync(fd, buf, 0, size, 0);
  return buf
    .toString('utf8')
    .split('\n')
    .filter((l) => l !== '').length;
}
