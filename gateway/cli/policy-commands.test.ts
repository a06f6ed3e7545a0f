/**
 * `layergate explain` as the command runs it (`main`, in this process) on a config file with no
 * gateway running: `--access-pattern` routes the record by the rules for that pattern and the answer
 * names it (text and `--json`); without it the record is explained as one without a pattern; a value
 * outside the vocabulary is refused by the option parser. (The running gateway's answer, the same
 * object, is tested in gateway/api/api.explain.test.ts.)
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from './main.js';

let stdout: string;
let stderr: string;
beforeEach(() => {
  stdout = '';
  stderr = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    stdout += String(chunk);
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    stderr += String(chunk);
    return true;
  });
});
afterEach(() => {
  vi.restoreAllMocks();
  process.exitCode = undefined;
});

const dir = mkdtempSync(path.join(os.tmpdir(), 'lg-explain-pattern-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = path.join(dir, 'layergate.yaml');
writeFileSync(
  file,
  [
    'gateway:',
    `  dataDir: ${JSON.stringify(path.join(dir, 'var'))}`,
    'inputs:',
    '  health: { type: gateway-health }',
    'outputs:',
    '  lake: { type: file-lake }',
    `  training: { type: file-lake, path: ${JSON.stringify(path.join(dir, 'training'))} }`,
    `  live: { type: file-lake, path: ${JSON.stringify(path.join(dir, 'live'))} }`,
    'routing:',
    '  rules:',
    '    - { name: keep-all, may: [lake] }',
    '    - { name: training-sets, accessPatterns: [ml_training], must: [lake, training] }',
    '    - { name: dashboards, accessPatterns: [realtime], may: [live] }',
    '',
  ].join('\n'),
);

const explain = (...args: string[]) => main(['node', 'layergate', 'explain', '-c', file, '--input', 'health', '--signal', 'kpi.utilisation', ...args]);

describe('layergate explain --access-pattern', () => {
  it('names the pattern and the outputs its rules send the record to', async () => {
    expect(await explain('--access-pattern', 'ml_training')).toBe(0);
    const lines = stdout.split('\n');
    expect(lines[0]).toBe('record       input health, signal kpi.utilisation, kind scalar, access pattern ml_training');
    expect(lines).toContain('routes       lake, training');
    expect(lines.find((l) => l.startsWith('  training '))).toContain('yes  must, by routing rule training-sets');
    expect(lines.find((l) => l.startsWith('  live '))).toContain('no   no matching routing rule names it');
  });

  it('--json carries accessPattern and the routes', async () => {
    expect(await explain('--access-pattern', 'realtime', '--json')).toBe(0);
    const answer = JSON.parse(stdout) as { accessPattern?: string; routing: { routes: string[] } };
    expect(answer.accessPattern).toBe('realtime');
    expect(answer.routing.routes).toEqual(['lake', 'live']);
  });

  it('without it: a record without a pattern, which only the rules without accessPatterns match', async () => {
    expect(await explain('--json')).toBe(0);
    const answer = JSON.parse(stdout) as { accessPattern?: string; routing: { routes: string[] } };
    expect(answer).not.toHaveProperty('accessPattern');
    expect(answer.routing.routes).toEqual(['lake']);
  });

  it('refuses a pattern outside the vocabulary, listing the allowed ones', async () => {
    expect(await explain('--access-pattern', 'streaming')).not.toBe(0);
    expect(stderr).toContain('expected access pattern realtime | batch | ml_training | research | archive, got "streaming"');
  });
});
