import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import * as Minio from 'minio';
import { MongoClient } from 'mongodb';
import pg from 'pg';
import { listening } from '../../gateway/cli/demo.js';
import { MINIO_CLOUD, MINIO_LOCAL, MONGODB, POSTGRES, REDIS } from '../services/endpoints.js';

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
    // the plain demo, as `npm start` runs it on a machine without the service harness
    const child = spawn(process.execPath, ['--import', tsxLoader, path.join(repo, 'gateway/cli/main.ts'), 'demo', '-c', path.join(repo, 'config/demo.yaml')], {
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

  it('with the service harness up, runs the storage strategy: process data in PostgreSQL, documents in MongoDB, real-time values in Redis, images in the plant MinIO, history in the lake', async () => {
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'lg-demo-strategy-'));
    dirs.push(cwd);
    const db = new pg.Client({ ...POSTGRES, ssl: { ca: readFileSync(POSTGRES.caFile, 'utf8') } });
    await db.connect();
    const mongo = new MongoClient(MONGODB.url, { serverSelectionTimeoutMS: 5000 });
    const redis = new Redis(REDIS.url, { lazyConnect: true });
    await redis.connect();
    const plant = new Minio.Client({ ...MINIO_LOCAL });
    const cloud = new Minio.Client({ ...MINIO_CLOUD });
    const count = async (sql: string): Promise<number> => Number((await db.query<{ n: string }>(sql).catch(() => ({ rows: [{ n: '0' }] }))).rows[0]?.n ?? 0);
    const objects = async (s3: Minio.Client, bucket: string): Promise<string[]> => {
      const names: string[] = [];
      if (!(await s3.bucketExists(bucket).catch(() => false))) return names;
      for await (const o of s3.listObjectsV2(bucket, '', true)) names.push((o as { name: string }).name);
      return names;
    };
    /** what the strategy's outputs hold: its names are fixed (schema, database, key prefix, buckets) */
    const clean = async (): Promise<void> => {
      await db.query('DROP SCHEMA IF EXISTS layergate CASCADE').catch(() => undefined);
      await mongo
        .db('layergate')
        .dropDatabase()
        .catch(() => undefined);
      const keys = await redis.keys('layergate:pbf-sim-01:*');
      if (keys.length > 0) await redis.del(...keys);
      for (const [s3, bucket] of [
        [plant, 'layergate-plant'],
        [cloud, 'layergate-cloud'],
      ] as const) {
        const names = await objects(s3, bucket);
        if (names.length > 0) await s3.removeObjects(bucket, names);
        await s3.removeBucket(bucket).catch(() => undefined);
      }
    };
    // what an earlier run may have left in the strategy's fixed places must not count
    await clean();
    const child = spawn(process.execPath, ['--import', tsxLoader, path.join(repo, 'gateway/cli/main.ts'), 'demo'], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.resume();
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const seen = async () => ({
        scalars: await count("SELECT count(*) AS n FROM layergate.scalars WHERE machine = 'pbf-sim-01' AND build = 'B-0001'"),
        blocks: await count("SELECT count(*) AS n FROM layergate.samples WHERE machine = 'pbf-sim-01'"),
        builds: await mongo
          .db('layergate')
          .collection('builds')
          .countDocuments({ build: 'B-0001' })
          .catch(() => 0),
        latest: (await redis.keys('layergate:pbf-sim-01:latest:*')).length,
        images: (await objects(plant, 'layergate-plant')).filter((n) => n.startsWith('objects/') && n.endsWith('.png')).length,
        // history in the lake, beside the warehouse
        lake: files(path.join(cwd, 'var/strategy/lake', 'scalars')).filter((f) => f.includes('build=B-0001')).length,
      });
      let now = await seen();
      const deadline = Date.now() + 150_000;
      while (!Object.values(now).every((n) => n > 0) && Date.now() < deadline && child.exitCode === null) {
        await new Promise((r) => setTimeout(r, 1000));
        now = await seen();
      }
      expect(child.exitCode, stderr).toBe(null);
      expect(stderr).toMatch(/config {12}.*config\/storage-strategy\.yaml {2}\(the service harness is up/);
      for (const [what, n] of Object.entries(now)) expect([what, n > 0]).toEqual([what, true]);
      // powder-bed images are sensitive: never in the cloud bucket
      expect((await objects(cloud, 'layergate-cloud')).filter((n) => n.endsWith('.png'))).toEqual([]);
      child.kill('SIGINT');
      expect(await exited).toBe(0);
    } finally {
      // SIGINT, so the demo stops its simulator too (a SIGKILL would leave it holding the demo's ports)
      if (child.exitCode === null) {
        child.kill('SIGINT');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      // leave the shared servers as found
      await clean();
      await db.end();
      await mongo.close();
      redis.disconnect();
    }
  }, 240_000);
});
