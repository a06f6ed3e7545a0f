/**
 * The audit log: entries chained by SHA-256, and the verifier naming the first broken entry when an
 * entry is altered, removed or garbled. `layergate audit verify` (the real CLI) is in
 * test/e2e/audit-verify-cli.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { AuditLog, GENESIS, verifyAuditLog } from './audit-log.js';
import { logWith, sha256 } from './test-support/audit-file.js';

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
