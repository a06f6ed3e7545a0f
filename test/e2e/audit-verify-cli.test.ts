/**
 * `layergate audit verify` (the real CLI) naming the first broken entry with exit code 3 when an entry
 * is altered (with or without its hash rewritten); exit 0 on an intact log.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { logWith, sha256 } from '../../gateway/audit/test-support/audit-file.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const tsx = createRequire(import.meta.url).resolve('tsx');

function cli(args: string[]) {
  const env = { ...process.env };
  delete env.LAYERGATE_CONFIG;
  const r = spawnSync(process.execPath, ['--import', tsx, path.join(repo, 'gateway/cli/main.ts'), ...args], { encoding: 'utf8', timeout: 60_000, env });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('audit log', () => {
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
});
