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

describe('layergate check-config: secrets and limits', () => {
  it('URLs with passwords: redacted in the summary, a plain-text one warned about, a ${VAR} one not', async () => {
    vi.stubEnv('MQTT_PW', 'from-env-Pw-777');
    const file = configFile([
      'inputs:',
      '  m: { type: mqtt, url: "mqtt://user:${MQTT_PW}@broker:1883", subscriptions: [ { topic: a, decoder: json } ] }',
      'outputs:',
      '  dash: { type: redis, url: "redis://:plain-Redis-pw@cache:6379" }',
    ]);
    try {
      expect(await layergate('check-config', file)).toBe(0);
    } finally {
      vi.unstubAllEnvs();
    }
    expect(stdout).not.toContain('from-env-Pw-777');
    expect(stdout).not.toContain('plain-Redis-pw');
    expect(stdout).toContain('url: mqtt://user:<redacted>@broker:1883');
    expect(stdout).toContain('url: redis://:<redacted>@cache:6379');
    expect(stderr).toBe(`${file}: 1 warning\n  outputs.dash.url: a URL with a password written in plain text in the file; write the password as \${VAR}\n`);
  });

  it('a value from a secret variable reused in a field that is not secret: redacted in the summary', async () => {
    vi.stubEnv('MQTT_PASSWORD', 'reused-Secret-42');
    const file = configFile([
      'gateway: { machine: "m-${MQTT_PASSWORD}" }',
      'inputs:',
      '  m: { type: mqtt, url: "mqtt://broker:1883", username: u, password: "${MQTT_PASSWORD}", subscriptions: [ { topic: a, decoder: json } ] }',
    ]);
    try {
      expect(await layergate('check-config', file)).toBe(0);
    } finally {
      vi.unstubAllEnvs();
    }
    expect(stdout).not.toContain('reused-Secret-42');
    expect(stdout).toContain('machine: m-<redacted>');
    expect(stderr).toBe('');
  });

  it('a password written in plain text: a warning naming the path, never the value', async () => {
    const file = configFile([
      'inputs:',
      '  m: { type: mqtt, url: "mqtt://broker:1883", username: u, password: plain-Text-pw, subscriptions: [ { topic: a, decoder: json } ] }',
    ]);
    expect(await layergate('check-config', file)).toBe(0);
    expect(stderr).toBe(`${file}: 1 warning\n  inputs.m.password: a secret written in plain text in the file; set it from the environment with \${VAR}\n`);
    expect(stderr + stdout).not.toContain('plain-Text-pw');
  });

  it('a refused URL: the problem quotes it with its password redacted', async () => {
    const file = configFile(['outputs:', '  dash: { type: redis, url: "http://:quoted-Redis-pw@cache:6379" }']);
    expect(await layergate('check-config', file)).toBe(2);
    expect(stderr).not.toContain('quoted-Redis-pw');
    expect(stderr).toMatch(/\n {2}outputs\.dash\.url: .*, got "http:\/\/:<redacted>@cache:6379"\n$/);
  });

  it('an entry merely named like a credential: its ordinary settings are no plain-text secret', async () => {
    const file = configFile(['inputs:', '  token-feed: { type: mqtt, url: "mqtt://broker:1883", subscriptions: [ { topic: a, decoder: json } ] }']);
    expect(await layergate('check-config', file)).toBe(0);
    expect(stderr).toBe('');
  });

  it('a YAML alias bomb: a one-line config error, exit 2, no stack trace', async () => {
    const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 10; i++)
      lines.push(
        `a${i}: &a${i} [${Array(10)
          .fill(`*a${i - 1}`)
          .join(', ')}]`,
      );
    const file = configFile(lines);
    expect(await layergate('check-config', file)).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toBe(
      `${file}: invalid configuration\n  ${file}: YAML not accepted: too many aliases (at most 100; an alias that expands exponentially is refused)\n`,
    );
  });

  it.each([100, 400_000])('nesting %i levels deep (more than 64, or more than the parser stack holds): a config error, exit 2', async (depth) => {
    const file = configFile([`gateway: ${'['.repeat(depth)}${']'.repeat(depth)}`]);
    expect(await layergate('check-config', file)).toBe(2);
    expect(stderr).toBe(`${file}: invalid configuration\n  ${file}: YAML not accepted: nested too deeply (at most 64 levels)\n`);
  });

  it('a file over 1 MiB: refused before it is parsed, exit 2', async () => {
    const file = configFile([`gateway: { machine: ${'m'.repeat(2 * 1024 * 1024)} }`]);
    expect(await layergate('check-config', file)).toBe(2);
    expect(stderr).toMatch(
      new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: invalid configuration\n  .*: file too large \\(\\d+ bytes, at most 1048576\\)\n$`),
    );
  });

  it('a 10 MB machine value (from a variable): refused with its length, not its text, exit 2', async () => {
    vi.stubEnv('HUGE_MACHINE', 'x'.repeat(10 * 1024 * 1024));
    const file = configFile(['gateway: { machine: "${HUGE_MACHINE}" }']);
    try {
      expect(await layergate('check-config', file)).toBe(2);
    } finally {
      vi.unstubAllEnvs();
    }
    expect(stderr).toBe(`${file}: invalid configuration\n  gateway.machine: too long (10485760 characters, at most 4096)\n`);
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
