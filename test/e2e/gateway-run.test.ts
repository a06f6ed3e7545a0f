/** `layergate run` as a child process, as systemd or `npm start` run it: delivery, signals, a clean exit. */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../support/wait.js';
import { openBuffer } from '../../gateway/buffer/index.js';
import { loadConfig } from '../../gateway/config/load.js';
import { bufferOptions } from '../../gateway/runtime/gateway.js';
import { readTableFile } from '../../plugins/outputs/shared/table-files.js';

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
    cwd,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
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
    writeFileSync(
      cfg,
      [
        'gateway: { dataDir: "${TEST_DATA_DIR}", machine: m400-test, shutdownGraceMs: 5s }',
        'api: { host: 127.0.0.1, port: 0, grpc: { port: 0 } }',
        'inputs:',
        '  health: { type: gateway-health, interval: 100ms }',
        'outputs:',
        '  lake: { type: file-lake, linger: 200ms }',
      ].join('\n'),
    );
    const run = startCli(['run', '-c', cfg], dir, { TEST_DATA_DIR: dataDir });
    const lake = path.join(dataDir, 'lake', 'scalars', 'machine=m400-test');
    // a file per table and partition per batch (200 ms linger); the background compaction merges them later
    await until('records in the file lake', () => arrowFiles(lake).length >= 10);
    await new Promise((r) => setTimeout(r, 1000));
    run.child.kill('SIGTERM');
    const { code, signal } = await run.exited;
    expect(run.err()).toBe('');
    expect({ code, signal }).toEqual({ code: 0, signal: null });

    const lines = run
      .out()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { msg: string; level: number });
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
    // shutdown sends lingering batches at once: every record reached the lake before the exit
    const lakeDir = path.join(dir, 'var', 'lake');
    let lakeRows = 0;
    for (const f of arrowFiles(lakeDir)) lakeRows += (await readTableFile(path.join(lakeDir, f))).numRows;
    const buffer = openBuffer({ dir: path.join(dir, 'var', 'buffer'), maxBytes: 1024 ** 3, sinks: ['lake'] }, pino({ level: 'silent' }));
    try {
      const stats = buffer.stats();
      expect(stats.records).toBeGreaterThan(5);
      expect(stats.sinks).toEqual([{ sink: 'lake', cursor: stats.newestSeq, lagRecords: 0, lagBytes: 0 }]);
      expect(lakeRows).toBe(stats.records);
    } finally {
      buffer.close();
    }
  });
});
