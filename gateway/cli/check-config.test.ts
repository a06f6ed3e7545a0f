/**
 * `layergate check-config FILE` as the command runs it (`main`, in this process): OK and the summary
 * on stdout, warnings on stderr with exit 0, errors on stderr with exit 2. The shipped configs must
 * pass with nothing on stderr.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from './main.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

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

const layergate = (...args: string[]) => main(['node', 'layergate', ...args]);

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function configFile(lines: string[]): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lg-check-config-'));
  dirs.push(dir);
  const file = path.join(dir, 'layergate.yaml');
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

describe('layergate check-config', () => {
  it.each(['config/demo.yaml', 'config/layergate.example.yaml'])('%s: OK, exit 0, no error and no warning', async (shipped) => {
    const file = path.join(repo, shipped);
    expect(await layergate('check-config', file)).toBe(0);
    expect(stderr).toBe('');
    expect(stdout.split('\n')[0]).toBe(`OK ${file}`);
  });

  it('a shadowed classification rule: OK on stdout, the warning on stderr naming both rules, exit 0', async () => {
    const file = configFile([
      'classification:',
      '  rules:',
      '    - { name: kpis, signal: "kpi.*", class: public }',
      '    - { name: kpi-load, signal: kpi.load, class: public }',
    ]);
    expect(await layergate('check-config', file)).toBe(0);
    expect(stderr).toBe(
      `${file}: 1 warning\n` +
        '  classification.rules[1] is shadowed by classification.rules[0]: rule "kpis" matches every record rule "kpi-load" matches, with the same class (public), listed first, so rule "kpi-load" never decides a class\n',
    );
    expect(stdout.split('\n')[0]).toBe(`OK ${file}`);
  });

  it('an output nothing reaches: refused with its path, exit 2, nothing on stdout', async () => {
    const file = configFile([
      'outputs:',
      '  lake: { type: file-lake }',
      '  mirror: { type: file-lake, path: /srv/mirror }',
      'routing:',
      '  unmatched: none',
      '  rules:',
      '    - { name: keep-all, may: [lake] }',
    ]);
    expect(await layergate('check-config', file)).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toBe(`${file}: invalid configuration\n  outputs.mirror: receives nothing: no routing rule names it, and routing.unmatched is none\n`);
  });

  it('a route to an output that never takes the kind it sends: refused, exit 2', async () => {
    const file = configFile([
      'outputs:',
      '  lake: { type: file-lake }',
      '  values: { type: file-lake, path: /srv/values, kinds: [scalar, event] }',
      'routing:',
      '  rules:',
      '    - { name: images, kinds: [frame], may: [values] }',
    ]);
    expect(await layergate('check-config', file)).toBe(2);
    expect(stderr).toBe(
      `${file}: invalid configuration\n` +
        '  routing.rules[0].may[0]: routing rule "images" sends frame records to output "values", which never takes frame records (it takes scalar, event): this route never delivers anything\n',
    );
  });

  it('a value outside an enum: the allowed values with the path, exit 2', async () => {
    const file = configFile(['inputs:', '  m: { type: mqtt, url: "mqtt://broker:1883", subscriptions: [ { topic: a, decoder: json, qos: 3 } ] }']);
    expect(await layergate('check-config', file)).toBe(2);
    expect(stderr).toBe(`${file}: invalid configuration\n  inputs.m.subscriptions[0].qos: expected one of 0, 1, 2, got number 3\n`);
  });
});

describe('layergate run', () => {
  it('refuses an output nothing reaches before it creates anything (the same check as check-config)', async () => {
    const file = configFile([
      'outputs:',
      '  lake: { type: file-lake }',
      '  mirror: { type: file-lake, path: /srv/mirror }',
      'routing: { unmatched: none, rules: [ { name: keep-all, may: [lake] } ] }',
    ]);
    const dataDir = path.join(path.dirname(file), 'data');
    writeFileSync(file, `gateway: { dataDir: ${JSON.stringify(dataDir)} }\n`, { flag: 'a' });
    expect(await layergate('run', '-c', file)).toBe(2);
    expect(stderr).toContain('  outputs.mirror: receives nothing: no routing rule names it, and routing.unmatched is none\n');
    expect(existsSync(dataDir)).toBe(false);
    expect(readdirSync(path.dirname(file))).toEqual(['layergate.yaml']);
  });
});
