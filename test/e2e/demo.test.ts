import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { listening } from '../../gateway/cli/demo.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const tsxLoader = createRequire(import.meta.url).resolve('tsx');
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** every file below `dir`, relative */
function files(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)));
}

describe('layergate demo (npm start): the simulator feeds the gateway', () => {
  it('records process values, melt-pool blocks and camera frames into the file lake, and stops cleanly with the simulator', async () => {
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'lg-demo-'));
    dirs.push(cwd);
    const child = spawn(process.execPath, ['--import', tsxLoader, path.join(repo, 'gateway/cli/main.ts'), 'demo'], {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.resume();
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const lake = path.join(cwd, 'var/demo/lake');
    const kinds = (): Set<string> => new Set(files(lake).map((f) => f.split(path.sep)[0]!));
    const deadline = Date.now() + 150_000;
    // what a newcomer looks for: OPC-UA process values, melt-pool samples and powder-bed images
    while (!['scalars', 'samples', 'images'].every((k) => kinds().has(k)) && Date.now() < deadline) {
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect([...kinds()].sort(), stderr).toEqual(expect.arrayContaining(['images', 'samples', 'scalars']));
    expect(stderr).toContain('data lands in     var/demo/lake/');
    const scalars = files(path.join(lake, 'scalars'));
    expect(scalars.some((f) => f.includes('build=B-0001'))).toBe(true);
    expect(files(path.join(lake, 'images')).some((f) => f.endsWith('.png'))).toBe(true);

    child.kill('SIGINT');
    expect(await exited).toBe(0);
    // the simulator went down with the gateway
    expect(await listening(24840)).toBe(false);
    expect(await listening(21883)).toBe(false);
  }, 200_000);
});
