import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../test/support/wait.js';
import { openBuffer } from '../buffer/index.js';
import { loadConfig } from '../config/load.js';
import { PluginStartError } from '../plugin-api/errors.js';
import { Gateway, bufferOptions, loggerFor } from './gateway.js';
import { CONTENT_TYPES } from '../plugin-api/record.js';
import type { RecordInput } from '../plugin-api/record.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const tsxLoader = createRequire(import.meta.url).resolve('tsx');
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  children.length = 0;
});

/** `layergate run` in a child process, as systemd or `npm start` would run it */
function startCli(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) {
  const childEnv = { ...process.env, ...env };
  delete childEnv.LAYERGATE_CONFIG;
  if (!('LAYERGATE_DATA_DIR' in env)) delete childEnv.LAYERGATE_DATA_DIR;
  const child = spawn(process.execPath, ['--import', tsxLoader, path.join(repo, 'gateway/cli/main.ts'), ...args], {
    cwd, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, exited, out: () => stdout, err: () => stderr };
}

function arrowFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.arrow'));
}

const until = (what: string, fn: () => boolean, ms = 30_000): Promise<boolean> => waitFor(what, fn, ms, 50);

describe('layergate run (child process)', () => {
  it('records health figures into the file lake; SIGTERM flushes, exits 0, and the buffer reopens clean', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lg-run-'));
    const dataDir = path.join(dir, 'data');
    const cfg = path.join(dir, 'layergate.yaml');
    writeFileSync(cfg, [
      'gateway: { dataDir: "${TEST_DATA_DIR}", machine: m400-test, shutdownGraceMs: 5s }',
      'inputs:',
      '  health: { type: gateway-health, interval: 100ms }',
      'outputs:',
      '  lake: { type: file-lake, linger: 200ms }',
    ].join('\n'));
    const run = startCli(['run', '-c', cfg], dir, { TEST_DATA_DIR: dataDir });
    const lake = path.join(dataDir, 'lake', 'scalars', 'machine=m400-test');
    // the lake compacts each signal's batches into one file per hour: count signal folders, then merges
    await until('records in the file lake', () => arrowFiles(lake).length >= 10);
    await new Promise((r) => setTimeout(r, 1000));
    run.child.kill('SIGTERM');
    const { code, signal } = await run.exited;
    expect(run.err()).toBe('');
    expect({ code, signal }).toEqual({ code: 0, signal: null });

    const lines = run.out().trim().split('\n').map((l) => JSON.parse(l) as { msg: string; level: number });
    const msgs = lines.map((l) => l.msg);
    expect(msgs).toContain('layergate running');
    expect(msgs.indexOf('signal received')).toBeLessThan(msgs.indexOf('layergate stopped'));
    expect(lines.filter((l) => l.level >= 50)).toEqual([]);

    // reopen as the next start would: intact, and everything was delivered before the exit
    const { config } = loadConfig({ file: cfg, env: { TEST_DATA_DIR: dataDir } });
    const buffer = openBuffer(bufferOptions(config), pino({ level: 'silent' }));
    try {
      expect(buffer.check()).toMatchObject({ ok: true, integrity: ['ok'], missingBlobs: 0 });
      const stats = buffer.stats();
      expect(stats.records).toBeGreaterThan(20);
      expect(stats.sinks).toEqual([{ sink: 'lake', cursor: stats.newestSeq, lagRecords: 0, lagBytes: 0 }]);
    } finally {
      buffer.close();
    }
  });

  it('with no config file it starts on the defaults under ./var and stops on SIGINT', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lg-defaults-'));
    const run = startCli(['run'], dir);
    await until('running', () => run.out().includes('layergate running'));
    // the first health records are in the buffer, held back by the file lake's 60 s linger
    await new Promise((r) => setTimeout(r, 500));
    expect(arrowFiles(path.join(dir, 'var', 'lake'))).toEqual([]);
    run.child.kill('SIGINT');
    expect(await run.exited).toEqual({ code: 0, signal: null });
    expect(existsSync(path.join(dir, 'var', 'buffer', 'buffer.sqlite'))).toBe(true);
    // shutdown sends lingering batches at once: the records reached the lake before the exit
    expect(arrowFiles(path.join(dir, 'var', 'lake')).length).toBeGreaterThan(5);
  });
});

describe('Gateway.start', () => {
  it('a plugin that cannot start stops what was started and releases the buffer', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lg-fail-'));
    writeFileSync(path.join(dir, 'not-a-folder'), 'x');
    const loaded = loadConfig({
      text: `gateway: { dataDir: ${dir}/data }\noutputs:\n  lake: { type: file-lake, path: ${dir}/not-a-folder/lake }\n`,
      env: {},
    });
    const log = pino({ level: 'silent' });
    const err = await Gateway.start(loaded, { log }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PluginStartError);
    expect((err as Error).message).toMatch(/^output lake: could not start: .*(ENOTDIR|EEXIST|not a directory)/);
    // the buffer was closed: another opener gets it (it is exclusive while open)
    const again = openBuffer(bufferOptions(loaded.config), log);
    again.close();
  });
});

describe('per-output forwarder settings', () => {
  it("an output's linger and batchRecords reach its forwarder; the file lake's own linger is the default; stop delivers what lingers", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lg-linger-'));
    const loaded = loadConfig({
      text: [
        `gateway: { dataDir: ${dir}/data, machine: m }`,
        'inputs: {}',
        'outputs:',
        `  quick: { type: file-lake, path: ${dir}/quick, linger: 300ms, batchRecords: 7 }`,
        `  slow: { type: file-lake, path: ${dir}/slow }`,
      ].join('\n'),
      env: {},
    });
    const log = pino({ level: 'silent' });
    const gw = await Gateway.start(loaded, { log });
    const now = BigInt(Date.now()) * 1_000_000n;
    const records: RecordInput[] = Array.from({ length: 20 }, (_, i) => ({
      source: 'test', signal: 'chamber.o2', kind: 'scalar', class: 'internal', routes: ['quick', 'slow'],
      contentType: CONTENT_TYPES.scalar, receiveTimeNs: now, body: Buffer.from(`{"v":${i}}`),
    }));
    let lastSeq = 0;
    try {
      lastSeq = gw.buffer.append(records).lastSeq;
      await until('quick delivered', () => gw.buffer.cursor('quick') === lastSeq);
      const byName = (n: string) => gw.stats().forwarders.find((f) => f.sink === n)!;
      expect(byName('quick')).toMatchObject({ batches: 3, sentRecords: 20 }); // 7 and 7 at once, 6 after the linger
      expect(byName('slow')).toMatchObject({ state: 'lingering', cursor: 0 }); // the lake's 60 s
    } finally {
      await gw.stop();
    }
    const buffer = openBuffer(bufferOptions(loaded.config), log);
    try {
      expect(buffer.cursor('slow')).toBe(lastSeq); // delivered during shutdown, not left for the next start
    } finally {
      buffer.close();
    }
    expect(arrowFiles(path.join(dir, 'slow')).length).toBe(1);
  });
});

it('log lines never carry the AWS secret variables the S3 outputs fall back to', () => {
  const loaded = loadConfig({ env: {} });
  const lines: string[] = [];
  const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
  const log = loggerFor(loaded, { env: { AWS_SECRET_ACCESS_KEY: secret }, destination: { write: (l: string) => void lines.push(l) } });
  log.error({ err: new Error(`S3 said: signature mismatch for ${secret}`) }, `upload failed (${secret})`);
  expect(lines).toHaveLength(1);
  expect(lines[0]).not.toContain(secret);
  expect(lines[0]).toContain('signature mismatch for <redacted>');
});
