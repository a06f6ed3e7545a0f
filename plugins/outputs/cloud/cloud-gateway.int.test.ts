/**
 * The cloud output inside a whole gateway (`Gateway.start` from a YAML config, as `layergate run`):
 * internal records of an input reach the cloud MinIO as Parquet files per window; the records of an
 * input configured as sensitive are never routed there, and nothing of them is in the bucket.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'minio';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { MINIO_CLOUD } from '../../../test/services/endpoints.js';
import { loadConfig } from '../../../gateway/config/load.js';
import { Gateway } from '../../../gateway/runtime/gateway.js';
import { readTableFile } from '../shared/table-files.js';

const cloud = new Client({ ...MINIO_CLOUD });
let dir: string | undefined;
let bucket: string | undefined;
let gw: Gateway | undefined;

afterEach(async () => {
  await gw?.stop();
  gw = undefined;
  if (dir) await fs.rm(dir, { recursive: true, force: true });
  if (bucket && (await cloud.bucketExists(bucket).catch(() => false))) {
    const keys: string[] = [];
    for await (const o of cloud.listObjectsV2(bucket, '', true)) keys.push((o as { name: string }).name);
    if (keys.length) await cloud.removeObjects(bucket, keys);
    await cloud.removeBucket(bucket);
  }
});

async function keys(prefix = ''): Promise<string[]> {
  const out: string[] = [];
  if (!(await cloud.bucketExists(bucket!))) return out;
  for await (const o of cloud.listObjectsV2(bucket!, prefix, true)) out.push((o as { name: string }).name);
  return out;
}

describe('cloud output in a running gateway', () => {
  it('syncs internal time series as Parquet per window; a sensitive input never reaches the bucket', async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'lg-sync-gw-'));
    bucket = `lg-sync-gw-${randomBytes(4).toString('hex')}`;
    const loaded = loadConfig({
      text: `
gateway: { machine: pbf-07, dataDir: ${JSON.stringify(path.join(dir, 'data'))} }
log: { level: silent }
inputs:
  health: { type: gateway-health, interval: 200ms }
  secret: { type: gateway-health, interval: 200ms, signalPrefix: secret, class: sensitive }
outputs:
  cloud:
    type: cloud
    endpoint: http://${MINIO_CLOUD.endPoint}:${MINIO_CLOUD.port}
    bucket: ${bucket}
    accessKey: ${MINIO_CLOUD.accessKey}
    secretKey: ${MINIO_CLOUD.secretKey}
    batchWindow: 1s
    linger: 0
`,
      env: {},
    });
    gw = await Gateway.start(loaded, { log: pino({ level: 'silent' }) });
    const deadline = Date.now() + 30_000;
    let parquet: string[] = [];
    while (Date.now() < deadline) {
      parquet = (await keys()).filter((k) => k.endsWith('.parquet'));
      if (parquet.length >= 3) break;
      await new Promise((r) => setTimeout(r, 300));
    }
    // one object per window (1 s), table and build, every signal of the input inside
    expect(parquet.length).toBeGreaterThanOrEqual(3);
    const all = await keys();
    expect(all.every((k) => k.startsWith('layergate/machine=pbf-07/'))).toBe(true);
    for (const k of parquet) expect(k).toMatch(/\/timeseries\/scalars\/date=\d{4}-\d{2}-\d{2}\/part-\d{16}-\d{16}\.parquet$/);
    const signals = new Set<string>();
    for (const [i, key] of parquet.entries()) {
      const file = path.join(dir, `${i}.parquet`);
      const chunks: Buffer[] = [];
      for await (const c of await cloud.getObject(bucket, key)) chunks.push(c as Buffer);
      await fs.writeFile(file, Buffer.concat(chunks));
      const table = await readTableFile(file);
      expect(table.numRows).toBeGreaterThan(0);
      expect(new Set(table.getChild('class')!.toArray() as string[])).toEqual(new Set(['internal']));
      for (const s of table.getChild('signal')!.toArray() as string[]) signals.add(s);
      const stat = await cloud.statObject(bucket, key);
      expect(stat.metaData['layergate-class']).toBe('internal');
    }
    expect(signals.size).toBeGreaterThanOrEqual(3);
    expect([...signals].some((s) => s.startsWith('secret'))).toBe(false);
  }, 60_000);
});
