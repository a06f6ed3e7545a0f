/**
 * Crash safety with a real process kill: a child process (test-support/crash-writer.ts) appends
 * small and spooled records as fast as it can and prints each returned seq range; the test sends it
 * SIGKILL at a random moment, reopens the buffer, and checks that every record whose append had
 * returned is present and intact (inline body or blob content re-hashed), that no row refers to a
 * missing or damaged blob, that no temp or orphan spool file survives recovery, and that seqs keep
 * increasing across the crashes. Repeated 20 times on one buffer folder.
 */
import { spawn } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { openBuffer, type RecordBuffer } from './index.js';
import { CRASH_INLINE_MAX, bodyFor, crashBodyKey, crashRecordSize, sha256, tempDir } from './test-support/records.js';

const KILLS = 20;
const root = path.resolve(import.meta.dirname, '../..');
const writer = path.join(import.meta.dirname, 'test-support/crash-writer.ts');

interface Acked {
  firstSeq: number;
  lastSeq: number;
  firstN: number;
}

/** Start the writer, let it run for `runMs` after its first ack, SIGKILL it; return the acked ranges. */
function runAndKill(dir: string, startN: number, runMs: number): Promise<Acked[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', writer, dir, String(startN)], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const acked: Acked[] = [];
    let pending = '';
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        const [a, b, c] = line.split(' ').map(Number);
        acked.push({ firstSeq: a!, lastSeq: b!, firstN: c! });
      }
      timer ??= setTimeout(() => child.kill('SIGKILL'), runMs);
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (signal !== 'SIGKILL') reject(new Error(`crash writer exited on its own (code ${code}): ${stderr}`));
      else resolve(acked);
    });
  });
}

function allRecords(buf: RecordBuffer): ReturnType<RecordBuffer['read']> {
  // the test reads without acknowledging: the cursor stays at 0
  return buf.read('kafka', 1_000_000);
}

describe('buffer survives kill -9 during appends', () => {
  it(`keeps every acknowledged record intact across ${KILLS} kills`, async () => {
    const dir = tempDir('lg-buffer-crash-');
    const opts = { dir, maxBytes: 1024 ** 3, sinks: ['kafka'], inlineMaxBytes: CRASH_INLINE_MAX };
    const expected = new Map<number, number>(); // seq -> n
    let nextN = 1;
    let lastSeqSeen = 0;
    try {
      for (let round = 0; round < KILLS; round++) {
        const acked = await runAndKill(dir, nextN, 20 + Math.floor(Math.random() * 300));
        expect(acked.length).toBeGreaterThan(0);
        for (const a of acked) {
          expect(a.firstSeq).toBeGreaterThan(lastSeqSeen);
          lastSeqSeen = a.lastSeq;
          for (let seq = a.firstSeq; seq <= a.lastSeq; seq++) expect(expected.has(seq)).toBe(false);
          for (let i = 0; i <= a.lastSeq - a.firstSeq; i++) expected.set(a.firstSeq + i, a.firstN + i);
        }
        const last = acked[acked.length - 1]!;
        // records the writer appended after its last printed line may or may not be there;
        // the next writer starts with fresh n so they cannot be confused with acknowledged ones
        nextN = last.firstN + (last.lastSeq - last.firstSeq + 1) + 100_000;

        const buf = openBuffer(opts, pino({ level: 'silent' }));
        try {
          const stats = buf.stats();
          expect(stats.missingBlobs).toBe(0);
          const present = new Map<number, ReturnType<RecordBuffer['read']>[number]>();
          for (const r of allRecords(buf)) present.set(r.seq, r);
          for (const [seq, n] of expected) {
            const r = present.get(seq);
            expect(r, `acknowledged seq ${seq} (n ${n}) is missing after kill ${round + 1}`).toBeDefined();
            expect(r!.attributes?.n).toBe(String(n));
            const want = bodyFor(crashBodyKey(n), crashRecordSize(n));
            if (want.length > CRASH_INLINE_MAX) {
              expect(r!.blob).toEqual({ sha256: sha256(want), size: want.length });
            } else {
              expect(r!.body?.equals(want), `body of seq ${seq}`).toBe(true);
            }
          }
          // every row, acknowledged or not, points at an intact blob (readBlob re-hashes it)
          const blobs = new Set<string>();
          for (const r of present.values()) if (r.blob) blobs.add(JSON.stringify(r.blob));
          for (const b of blobs) await buf.readBlob(JSON.parse(b) as { sha256: string; size: number });
          expect(stats.spoolBlobs).toBe(blobs.size);
          // recovery removed temp files and orphans: the spool holds exactly the referenced blobs
          expect(readdirSync(path.join(dir, 'spool', 'tmp'))).toEqual([]);
          const files = readdirSync(path.join(dir, 'spool'))
            .filter((d) => d !== 'tmp')
            .flatMap((d) => readdirSync(path.join(dir, 'spool', d)).map((f) => d + f));
          expect(files.sort()).toEqual([...blobs].map((b) => (JSON.parse(b) as { sha256: string }).sha256).sort());
          const newest = stats.newestSeq ?? 0;
          expect(newest).toBeGreaterThanOrEqual(lastSeqSeen);
          lastSeqSeen = newest;
        } finally {
          buf.close();
        }
      }
      expect(expected.size).toBeGreaterThan(KILLS);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
