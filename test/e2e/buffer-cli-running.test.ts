/**
 * `layergate buffer stats|losses` while `layergate run` holds the buffer (both real CLI processes, as
 * a user runs them on the gateway's PC): they ask the running gateway's API over loopback with the
 * local token and print what they print for a stopped gateway's buffer; a gateway that does not
 * answer is exit 1 with a message that says so; once it stops they open the buffer themselves.
 * `layergate explain` likewise asks the running gateway: the policy in force (the one it started
 * with, whatever the file says since), printed as the offline answer prints, with one line on stderr
 * saying whose answer it is; once it stops, the config file's policy answers.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../support/wait.js';
import { readEndpoint } from '../../gateway/api/endpoint.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const tsxLoader = createRequire(import.meta.url).resolve('tsx');
const children: ChildProcess[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGCONT');
      c.kill('SIGKILL');
    }
  }
  children.length = 0;
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs.length = 0;
});

function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.LAYERGATE_CONFIG;
  delete env.LAYERGATE_DATA_DIR;
  return env;
}

/** `layergate run` in a child process, as systemd runs it */
function startGateway(cfg: string, cwd: string) {
  const child = spawn(process.execPath, ['--import', tsxLoader, path.join(repo, 'gateway/cli/main.ts'), 'run', '-c', cfg], {
    cwd,
    env: childEnv(),
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

/** one `layergate ...` command, to its end */
function cli(args: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', tsxLoader, path.join(repo, 'gateway/cli/main.ts'), ...args], { cwd, env: childEnv() });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr, ms: Date.now() - t0 }));
  });
}

interface StatsJson {
  path: string;
  records: number;
  newestSeq: number;
  newestReceiveTimeNs: string;
  sinks: { sink: string; cursor: number; lagRecords: number; lagBytes: number }[];
  quarantine: unknown[];
  [k: string]: unknown;
}

describe('buffer commands beside a running gateway', () => {
  it('stats and losses read the running gateway through its API (text and --json), sync status answers too; offline again once it stops', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lg-buffer-running-'));
    dirs.push(dir);
    const dataDir = path.join(dir, 'data');
    const cfg = path.join(dir, 'layergate.yaml');
    writeFileSync(
      cfg,
      [
        `gateway: { dataDir: ${dataDir}, machine: m400-test, shutdownGraceMs: 5s }`,
        'api: { host: 127.0.0.1, port: 0, grpc: { port: 0 } }',
        'inputs:',
        '  health: { type: gateway-health, interval: 200ms }',
        'outputs:',
        '  lake: { type: file-lake, linger: 200ms }',
        // a cloud that is not there: the output queues locally and keeps trying
        '  cloud: { type: cloud, endpoint: "http://127.0.0.1:9", bucket: lg-e2e-nowhere, accessKey: k, secretKey: s, retry: { initial: 200ms, max: 1s } }',
      ].join('\n'),
    );
    const run = startGateway(cfg, dir);
    const endpoint = await waitFor('the API listening', () => readEndpoint(path.join(dataDir, 'api')), 60_000, 100);
    expect(endpoint.pid).toBe(run.child.pid);

    const first = await cli(['buffer', 'stats', '-c', cfg, '--json'], dir);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const s1 = JSON.parse(first.stdout) as StatsJson;
    expect(s1.path).toBe(path.join(dataDir, 'buffer', 'buffer.sqlite'));
    expect(s1.records).toBeGreaterThan(0);
    expect(s1.newestReceiveTimeNs).toMatch(/^\d{19}$/);
    expect(s1.sinks.map((k) => k.sink).sort()).toEqual(['cloud', 'lake']);
    expect(s1.quarantine).toEqual([]);

    // the running gateway's figures: they grow between two calls (a health record every 200 ms)
    const second = await cli(['buffer', 'stats', '-c', cfg, '--json'], dir);
    expect(second.code).toBe(0);
    const s2 = JSON.parse(second.stdout) as StatsJson;
    expect(s2.records).toBeGreaterThan(s1.records);
    expect(s2.newestSeq).toBeGreaterThan(s1.newestSeq);

    const text = await cli(['buffer', 'stats', '-c', cfg], dir);
    expect(text.stderr).toBe('');
    expect(text.code).toBe(0);
    const lines = text.stdout.split('\n');
    expect(lines[0]).toBe(`buffer       ${path.join(dataDir, 'buffer', 'buffer.sqlite')}`);
    const records = Number(/^records {6}(\d+)$/m.exec(text.stdout)?.[1]);
    expect(records).toBeGreaterThan(s2.records);
    expect(text.stdout).toMatch(/^ {2}lake {13}cursor \d+ {2}lag \d+ records/m);
    expect(text.stdout).toMatch(/^ {2}cloud {12}cursor \d+ {2}lag \d+ records/m);
    expect(text.stdout).toContain('quarantine (input that could not be turned into records)\n  none\n');

    const losses = await cli(['buffer', 'losses', '-c', cfg, '--json'], dir);
    expect(losses.stderr).toBe('');
    expect(losses.code).toBe(0);
    expect(JSON.parse(losses.stdout)).toEqual([]);
    const lossesText = await cli(['buffer', 'losses', '-c', cfg, '--limit', '5'], dir);
    expect([lossesText.code, lossesText.stdout]).toEqual([0, 'no losses recorded\n']);

    const sync = await cli(['sync', 'status', '-c', cfg], dir);
    expect(sync.stderr).toBe('');
    expect(sync.code).toBe(0);
    expect(sync.stdout).toMatch(/^cloud output cloud\n {2}progress/);

    // a gateway that does not answer (stopped by a debugger, hung): exit 1 saying so, not "locked"
    run.child.kill('SIGSTOP');
    let hung: Awaited<ReturnType<typeof cli>>;
    try {
      hung = await cli(['buffer', 'stats', '-c', cfg], dir);
    } finally {
      run.child.kill('SIGCONT');
    }
    expect(hung.code).toBe(1);
    expect(hung.stdout).toBe('');
    expect(hung.stderr).toContain(
      `a gateway is running (pid ${run.child.pid}, API ${endpoint.url}), but its API cannot be reached at 127.0.0.1:${endpoint.port}`,
    );
    expect(hung.stderr).toContain('no answer within 10 s');
    expect(hung.stderr).not.toContain('in use');

    run.child.kill('SIGTERM');
    expect(await run.exited).toEqual({ code: 0, signal: null });
    expect(readEndpoint(path.join(dataDir, 'api'))).toBeUndefined();

    // stopped: the commands open the buffer themselves; same shape, key for key, and the figures the gateway left
    const offline = await cli(['buffer', 'stats', '-c', cfg, '--json'], dir);
    expect(offline.code).toBe(0);
    const s3 = JSON.parse(offline.stdout) as StatsJson;
    expect(Object.keys(s3)).toEqual(Object.keys(s2));
    expect(Object.keys(s3.sinks[0]!)).toEqual(Object.keys(s2.sinks[0]!));
    expect(s3.path).toBe(s2.path);
    expect(s3.records).toBeGreaterThanOrEqual(records);
    expect((await cli(['buffer', 'losses', '-c', cfg, '--json'], dir)).stdout).toBe(losses.stdout);
  }, 180_000);
});

describe('layergate explain beside a running gateway', () => {
  it('answers with the policy in force, printed as offline, and says so on stderr; the file answers once the gateway stops', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lg-explain-running-'));
    dirs.push(dir);
    const dataDir = path.join(dir, 'data');
    const cfg = path.join(dir, 'layergate.yaml');
    const config = (kpiClass: string) =>
      [
        `gateway: { dataDir: ${dataDir}, machine: m400-test, shutdownGraceMs: 5s }`,
        'api: { host: 127.0.0.1, port: 0, grpc: { port: 0 } }',
        'inputs:',
        '  health: { type: gateway-health, interval: 200ms }',
        'outputs:',
        '  lake: { type: file-lake, linger: 200ms }',
        `  offsite: { type: file-lake, premises: off, linger: 200ms, path: ${path.join(dir, 'offsite')} }`,
        'classification:',
        '  rules:',
        `    - { name: kpis, signal: "kpi.*", class: ${kpiClass} }`,
      ].join('\n');
    writeFileSync(cfg, config('public'));
    const question = ['explain', '-c', cfg, '--input', 'health', '--signal', 'kpi.utilisation', '--build', 'B-9'];
    const [offlineJson, offlineText] = await Promise.all([cli([...question, '--json'], dir), cli(question, dir)]);
    expect([offlineJson.code, offlineJson.stderr, offlineText.code, offlineText.stderr]).toEqual([0, '', 0, '']);
    expect(JSON.parse(offlineJson.stdout)).toMatchObject({ classification: { class: 'public', rule: 'rule kpis' }, routing: { routes: ['lake', 'offsite'] } });
    expect(offlineText.stdout).toContain('class        public  (rule kpis)\n');

    const run = startGateway(cfg, dir);
    const endpoint = await waitFor('the API listening', () => readEndpoint(path.join(dataDir, 'api')), 60_000, 100);
    expect(endpoint.pid).toBe(run.child.pid);
    // the file changes while the gateway runs: it keeps the policy it started with until restarted
    writeFileSync(cfg, config('sensitive'));

    const said = `answered by the running gateway (pid ${run.child.pid}, API ${endpoint.url}): its policy in force; job marking it holds for build B-9: none\n`;
    const [runningJson, runningText] = await Promise.all([cli([...question, '--json'], dir), cli(question, dir)]);
    expect([runningJson.code, runningJson.stderr]).toEqual([0, said]);
    expect(runningJson.stdout).toBe(offlineJson.stdout);
    expect([runningText.code, runningText.stderr]).toEqual([0, said]);
    expect(runningText.stdout).toBe(offlineText.stdout);

    run.child.kill('SIGTERM');
    expect(await run.exited).toEqual({ code: 0, signal: null });
    // stopped: the file's policy answers, with nothing on stderr
    const after = await cli([...question, '--json'], dir);
    expect([after.code, after.stderr]).toEqual([0, '']);
    expect(JSON.parse(after.stdout)).toMatchObject({ classification: { class: 'sensitive', rule: 'rule kpis' }, routing: { routes: ['lake'] } });
  }, 180_000);
});
