/**
 * The `layergate-sim` command end to end: --help documents every option (with defaults) and every
 * fault and defect; a real run with the embedded broker (aedes) publishes blocks a subscriber can
 * decode; the control API reports state, switches faults (rejecting bad ones with a named error)
 * and pauses/resumes the job; bad flags exit with an error naming the flag.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { buildProgram } from '../../simulator/cli.js';
import { DEFECTS, FAULTS } from '../../simulator/faults.js';
import { decodeBlock } from '../../wire/index.js';
import { freePort, sleep, waitFor } from '../../simulator/test-support/wait.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// the simulator runs under node with tsx as a loader, not under the tsx binary: the binary relays
// SIGTERM to its child and, when the child does not confirm within 30 ms (a busy machine), kills it and
// exits 143, which is tsx's doing, not the simulator's
const tsxLoader = createRequire(import.meta.url).resolve('tsx');
const cli = path.join(root, 'simulator/cli.ts');
const children: ChildProcess[] = [];
const dirs: string[] = [];

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function runCli(args: string[]): { child: ChildProcess; out: () => string; done: Promise<number> } {
  const child = spawn(process.execPath, ['--import', tsxLoader, cli, ...args], { cwd: root, env: { ...process.env, LOG_LEVEL: 'info' } });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const done = new Promise<number>((r) => child.on('exit', (code) => r(code ?? -1)));
  return { child, out: () => out, done };
}

describe('layergate-sim CLI', () => {
  it('--help lists every option with its default, and every fault and defect', async () => {
    const r = runCli(['--help']);
    expect(await r.done).toBe(0);
    const help = r.out();
    const program = buildProgram();
    for (const o of program.options) {
      expect(help, o.flags).toContain(o.flags);
      if (o.defaultValue !== undefined && o.defaultValue !== false && !(Array.isArray(o.defaultValue) && o.defaultValue.length === 0) && !o.negate) {
        expect(help.replace(/\s+/g, ' '), `default of ${o.flags}`).toContain(`default: ${JSON.stringify(o.defaultValue)}`);
      }
    }
    expect(program.options.length).toBeGreaterThan(40);
    for (const name of [...Object.keys(FAULTS), ...Object.keys(DEFECTS)]) expect(help).toContain(`  ${name}`);
  }, 30_000);

  it('rejects a bad flag value and an unknown fault, naming them', async () => {
    const bad = runCli(['--layers', 'many']);
    expect(await bad.done).not.toBe(0);
    expect(bad.out()).toContain('--layers must be an integer (got "many")');
    const unknown = runCli(['--no-opcua', '--no-mqtt', '--no-control', '--fault', 'gremlins']);
    expect(await unknown.done).not.toBe(0);
    expect(unknown.out()).toMatch(/unknown fault "gremlins".*known: sensor-dropout/);
  }, 30_000);

  it('runs with the embedded broker: blocks on the wire, control API state, faults and pause/resume', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'lg-sim-cli-'));
    dirs.push(dir);
    const [mqttPort, controlPort] = [await freePort(), await freePort()];
    const r = runCli([
      '--embedded-broker',
      String(mqttPort),
      '--no-opcua',
      '--control-port',
      String(controlPort),
      '--data-dir',
      dir,
      '--idle-time',
      '0',
      '--inerting-time',
      '0.5',
      '--layer-time',
      '1',
      '--recoat-time',
      '0.2',
      '--layers',
      '1000',
      '--meltpool-rate',
      '20000',
      '--meltpool-format',
      'binary',
      '--camera-dir',
      path.join(dir, 'frames'),
      '--camera-size',
      '128x128',
    ]);
    const control = `http://127.0.0.1:${controlPort}`;
    await waitFor('the control API', () => r.out().includes('simulator running'), 20_000);
    const sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`);
    try {
      const blocks: number[] = [];
      sub.on('message', (_t, p) => blocks.push(decodeBlock(p, 'binary').seq));
      await sub.subscribeAsync('lpbf/pbf-sim-01/meltpool/binary', { qos: 1 });
      await waitFor('10 melt-pool blocks', () => blocks.length >= 10, 10_000);
      for (let i = 1; i < blocks.length; i++) expect(blocks[i]).toBe(blocks[i - 1]! + 1);

      const state = (await (await fetch(`${control}/state`)).json()) as { state: string; layer: number; endpoints: { mqtt: string } };
      expect(['recoating', 'exposing']).toContain(state.state);
      expect(state.endpoints.mqtt).toBe(`mqtt://127.0.0.1:${mqttPort}`);

      const on = await fetch(`${control}/faults`, { method: 'POST', body: JSON.stringify({ name: 'duplicate', on: true, params: { every: 3 } }) });
      expect(await on.json()).toEqual({ name: 'duplicate', on: true, params: { every: 3 } });
      const list = (await (await fetch(`${control}/faults`)).json()) as { name: string; on: boolean }[];
      expect(list.find((f) => f.name === 'duplicate')?.on).toBe(true);
      const badName = await fetch(`${control}/faults`, { method: 'POST', body: JSON.stringify({ name: 'gremlins', on: true }) });
      expect(badName.status).toBe(400);
      expect(((await badName.json()) as { error: string }).error).toContain('unknown fault "gremlins"');
      const badParam = await fetch(`${control}/faults`, { method: 'POST', body: JSON.stringify({ name: 'duplicate', params: { every: 'often' } }) });
      expect(badParam.status).toBe(400);
      expect(((await badParam.json()) as { error: string }).error).toContain('parameter "every" must be a number');
      const defect = await fetch(`${control}/defects`, { method: 'POST', body: JSON.stringify({ name: 'spatter', on: true }) });
      expect(defect.status).toBe(200);

      const paused = await fetch(`${control}/job`, { method: 'POST', body: JSON.stringify({ action: 'pause' }) });
      expect(((await paused.json()) as { state: string }).state).toBe('paused');
      const again = await fetch(`${control}/job`, { method: 'POST', body: JSON.stringify({ action: 'pause' }) });
      expect(again.status).toBe(409);
      const resumed = await fetch(`${control}/job`, { method: 'POST', body: JSON.stringify({ action: 'resume' }) });
      expect(['recoating', 'exposing']).toContain(((await resumed.json()) as { state: string }).state);
      const s2 = (await (await fetch(`${control}/state`)).json()) as {
        faults: { name: string }[];
        defects: { name: string }[];
        counters: { framesWritten: number };
      };
      expect(s2.faults.map((f) => f.name)).toEqual(['duplicate']);
      expect(s2.defects.map((f) => f.name)).toEqual(['spatter']);
      expect((await fetch(`${control}/nope`)).status).toBe(404);
      // the camera delivered into the drop folder: complete PNGs under their final names, no temp files left
      let framesWritten = 0;
      for (let i = 0; i < 100 && framesWritten < 2; i++) {
        framesWritten = ((await (await fetch(`${control}/state`)).json()) as { counters: { framesWritten: number } }).counters.framesWritten;
        if (framesWritten < 2) await sleep(100);
      }
      const files = (await readdir(path.join(dir, 'frames'))).sort();
      expect(files.length).toBeGreaterThanOrEqual(2);
      expect(files[0]).toBe('B-0001_L00001_after-exposure.png');
      expect(files.filter((f) => f.endsWith('.part'))).toEqual([]);
      expect((await sharp(path.join(dir, 'frames', files[0]!)).metadata()).width).toBe(128);
    } finally {
      await sub.endAsync();
    }
    r.child.kill('SIGTERM');
    expect(await r.done).toBe(0);
  }, 60_000);
});
