/**
 * `layergate run` reloads its config file on SIGHUP (`systemctl reload layergate`, the unit's
 * ExecReload): a file that adds an input and changes an output is applied live, and records from the
 * new input reach the lake; a file that changes a key only a restart applies (`buffer.maxBytes`), or
 * that does not parse, is logged as not applied and the gateway runs on, ingesting, with what it had.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { readEndpoint } from '../../gateway/api/endpoint.js';
import { readTableFile } from '../../plugins/outputs/shared/table-files.js';
import { waitFor } from '../support/wait.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const tsxLoader = createRequire(import.meta.url).resolve('tsx');
const children: ChildProcess[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  children.length = 0;
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs.length = 0;
});

/** `layergate run` in a child process, as systemd runs it */
function startGateway(cfg: string, cwd: string) {
  const env = { ...process.env };
  delete env.LAYERGATE_CONFIG;
  delete env.LAYERGATE_DATA_DIR;
  const child = spawn(process.execPath, ['--import', tsxLoader, path.join(repo, 'gateway/cli/main.ts'), 'run', '-c', cfg], {
    cwd,
    env,
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
  /** the JSON log lines so far (a line still being written is left for the next call) */
  const lines = (): LogLine[] =>
    stdout
      .split('\n')
      .slice(0, -1)
      .map((l) => JSON.parse(l) as LogLine);
  return { child, exited, lines, err: () => stderr };
}

interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

/**
 * The newest seq the lake holds per source (input). Monotonic while the background compaction merges
 * files (a merged file keeps its rows' seqs); a file renamed away while it is read is skipped.
 */
async function newestSeqBySource(lake: string): Promise<Map<string, number>> {
  const newest = new Map<string, number>();
  if (!existsSync(lake)) return newest;
  for (const f of readdirSync(lake, { recursive: true, encoding: 'utf8' }).filter((x) => x.endsWith('.arrow'))) {
    let rows: { source: string; seq: number | bigint }[];
    try {
      rows = (await readTableFile(path.join(lake, f))).toArray() as { source: string; seq: number | bigint }[];
    } catch {
      continue;
    }
    for (const r of rows) newest.set(r.source, Math.max(newest.get(r.source) ?? 0, Number(r.seq)));
  }
  return newest;
}

const until = <T>(what: string, fn: () => T | undefined | false | PromiseLike<T | undefined | false>, ms = 30_000): Promise<T> => waitFor(what, fn, ms, 100);

describe('layergate run: SIGHUP reloads the config file', () => {
  it('applies inputs and outputs live; refuses buffer.maxBytes and a YAML syntax error and runs on; SIGTERM exits 0', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lg-sighup-'));
    dirs.push(dir);
    const dataDir = path.join(dir, 'data');
    const lake = path.join(dataDir, 'lake');
    const cfg = path.join(dir, 'layergate.yaml');
    const config = (o: { health2?: boolean; linger: string; maxBytes?: string }) =>
      [
        `gateway: { dataDir: ${dataDir}, machine: m400-test, shutdownGraceMs: 5s }`,
        'api: { host: 127.0.0.1, port: 0, grpc: { port: 0 } }',
        ...(o.maxBytes ? [`buffer: { maxBytes: ${o.maxBytes} }`] : []),
        'inputs:',
        '  health: { type: gateway-health, interval: 100ms }',
        ...(o.health2 ? ['  health2: { type: gateway-health, interval: 100ms }'] : []),
        'outputs:',
        `  lake: { type: file-lake, linger: ${o.linger} }`,
        '',
      ].join('\n');
    writeFileSync(cfg, config({ linger: '200ms' }));
    const run = startGateway(cfg, dir);
    // the SIGHUP handler is in place once the API is up (runGateway: start, API, then the handler)
    await until('the API listening', () => readEndpoint(path.join(dataDir, 'api')), 60_000);
    await until('health records in the lake', async () => (await newestSeqBySource(lake)).has('health'));

    const logged = (msg: string, after: number): Promise<LogLine> =>
      until(`log line '${msg}'`, () => {
        if (run.child.exitCode !== null) throw new Error(`the gateway exited (${run.child.exitCode}): ${run.err()}`);
        return run
          .lines()
          .slice(after)
          .find((l) => l.msg === msg);
      });

    // 1. a second input and the lake's linger changed: applied live
    let mark = run.lines().length;
    writeFileSync(cfg, config({ health2: true, linger: '300ms' }));
    run.child.kill('SIGHUP');
    const applied = await logged('SIGHUP: configuration applied', mark);
    expect(applied.level).toBe(30);
    expect(applied).toMatchObject({
      inputs: { added: ['health2'], removed: [], changed: [], unchanged: ['health'] },
      outputs: { added: [], removed: [], changed: ['lake'], unchanged: [] },
      policyChanged: false,
    });
    expect(typeof applied.version === 'number' || applied.version === undefined).toBe(true);
    const seen = await until('health2 records in the lake', async () => {
      const s = await newestSeqBySource(lake);
      return s.has('health2') && s;
    });

    // 2. buffer.maxBytes is fixed for the life of the process: not applied, named, the gateway runs on
    mark = run.lines().length;
    writeFileSync(cfg, config({ health2: true, linger: '300ms', maxBytes: '512MiB' }));
    run.child.kill('SIGHUP');
    const refused = await logged('SIGHUP: the configuration was not applied; the gateway runs on with the one it had', mark);
    expect(refused.level).toBe(50);
    expect(JSON.stringify(refused.err)).toContain('buffer.maxBytes');
    expect(
      run
        .lines()
        .slice(mark)
        .map((l) => l.msg),
    ).not.toContain('SIGHUP: configuration applied');
    // both inputs keep ingesting, through the lake as it was (records newer than any seen before)
    await until('both inputs still delivered after the refused reload', async () => {
      const s = await newestSeqBySource(lake);
      return (s.get('health') ?? 0) > seen.get('health')! && (s.get('health2') ?? 0) > seen.get('health2')!;
    });

    // 3. a file that does not parse: not applied, the gateway runs on
    const before = await newestSeqBySource(lake);
    mark = run.lines().length;
    // the lake's flow mapping left open: a YAML syntax error
    writeFileSync(cfg, config({ health2: true, linger: '300ms' }).replace('linger: 300ms }', 'linger: 300ms'));
    run.child.kill('SIGHUP');
    const broken = await logged('SIGHUP: the configuration was not applied; the gateway runs on with the one it had', mark);
    expect(broken.level).toBe(50);
    expect(JSON.stringify(broken.err)).toContain('YAML syntax error');
    expect(run.child.exitCode).toBeNull();
    await until('still ingesting after the unparsable file', async () => (await newestSeqBySource(lake)).get('health2')! > before.get('health2')!);

    run.child.kill('SIGTERM');
    expect(await run.exited).toEqual({ code: 0, signal: null });
    expect(run.err()).toBe('');
    const lines = run.lines();
    const msgs = lines.map((l) => l.msg);
    expect(msgs.filter((m) => m === 'SIGHUP: reloading the configuration file')).toHaveLength(3);
    expect(msgs.filter((m) => m === 'SIGHUP: configuration applied')).toHaveLength(1);
    expect(msgs).toContain('layergate stopped');
    // errors only from the two refused reloads
    expect(lines.filter((l) => l.level >= 50).map((l) => l.msg)).toEqual([refused.msg, broken.msg]);
  }, 120_000);
});
