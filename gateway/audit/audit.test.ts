/**
 * The audit log: entries chained by SHA-256, and `layergate audit verify` (the real CLI) naming the
 * first broken entry with exit code 3 when an entry is altered (with or without its hash rewritten),
 * removed, or inserted; exit 0 on an intact log.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { AuditLog, GENESIS, verifyAuditLog } from './audit-log.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const tsx = createRequire(import.meta.url).resolve('tsx');

function cli(args: string[]) {
  const env = { ...process.env };
  delete env.LAYERGATE_CONFIG;
  const r = spawnSync(process.execPath, ['--import', tsx, path.join(repo, 'gateway/cli/main.ts'), ...args], { encoding: 'utf8', timeout: 60_000, env });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function logWith(n: number): { file: string; lines: () => string[]; write: (lines: string[]) => void } {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'lg-audit-')), 'audit', 'audit.jsonl');
  const audit = new AuditLog(file);
  audit.append('config-loaded', { origin: '/etc/layergate/layergate.yaml', configHash: 'a'.repeat(64), changed: null });
  for (let i = 2; i <= n; i++) audit.append('route-refused', { sink: 'cloud', records: i, firstSeq: i * 10, lastSeq: i * 10 + 3, classes: { sensitive: i } });
  return {
    file,
    lines: () => readFileSync(file, 'utf8').trimEnd().split('\n'),
    write: (lines) => writeFileSync(file, `${lines.join('\n')}\n`),
  };
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

describe('audit log', () => {
  it('chains each entry to the previous one by SHA-256', () => {
    const { lines } = logWith(3);
    const entries = lines().map((l) => JSON.parse(l) as { seq: number; prev: string; hash: string; type: string });
    expect(entries.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(entries[0]!.prev).toBe(GENESIS);
    expect(entries[1]!.prev).toBe(entries[0]!.hash);
    expect(entries[2]!.prev).toBe(entries[1]!.hash);
    // the hash covers the entry's own text without the hash field
    const own = lines()[1]!.replace(/,"hash":"[0-9a-f]{64}"\}$/, '}');
    expect(sha256(own)).toBe(entries[1]!.hash);
  });

  it('a second writer (the CLI while the gateway runs) continues the same chain', () => {
    const { file } = logWith(2);
    new AuditLog(file).append('key-rotated', { activeKey: 'k2', keys: ['k2', 'k1'] });
    expect(verifyAuditLog(file)).toMatchObject({ ok: true, entries: 3 });
  });

  it('`layergate audit verify`: OK and exit 0 on an intact log', () => {
    const { file, lines } = logWith(4);
    const r = cli(['audit', 'verify', '--file', file]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`OK ${file}: 4 entries, chain intact; head ${JSON.parse(lines()[3]!).hash}\n`);
  });

  it('`layergate audit verify` names a tampered entry (content changed) and exits 3', () => {
    const { file, lines, write } = logWith(5);
    const l = lines();
    l[2] = l[2]!.replace('"records":3', '"records":0'); // hide refused records
    write(l);
    const r = cli(['audit', 'verify', '--file', file]);
    expect(r.code).toBe(3);
    expect(r.stdout.split('\n')[0]).toBe(`BROKEN ${file}: entry at line 3 (seq 3): content does not match its hash: the entry was altered`);
  });

  it('names the entry after one whose hash was recomputed to match the altered content', () => {
    const { file, lines, write } = logWith(5);
    const l = lines();
    const body = l[1]!.replace(/,"hash":"[0-9a-f]{64}"\}$/, '}').replace('"sink":"cloud"', '"sink":"lake"');
    l[1] = `${body.slice(0, -1)},"hash":"${sha256(body)}"}`;
    write(l);
    const r = cli(['audit', 'verify', '--file', file, '--json']);
    expect(r.code).toBe(3);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, entries: 2, broken: { line: 3, seq: 3 } });
    expect(JSON.parse(r.stdout).broken.problem).toMatch(/^prev does not match the hash of the entry before it \(line 2\)/);
  });

  it.each([
    ['removed', (l: string[]) => l.filter((_, i) => i !== 2), 3, 'prev does not match'],
    ['garbled', (l: string[]) => l.map((x, i) => (i === 3 ? x.slice(0, 40) : x)), 4, 'not a well-formed audit entry'],
  ])('names the first broken entry when one is %s', (_what, edit, line, problem) => {
    const { file, lines, write } = logWith(5);
    write(edit(lines()));
    const r = verifyAuditLog(file);
    expect(r.ok).toBe(false);
    expect(r.broken!.line).toBe(line);
    expect(r.broken!.problem).toContain(problem);
  });
});
