/**
 * A spooled frame damaged on disk (same size, 10 bytes changed) is never uploaded: the output hashes
 * the file before streaming it (gateway/plugin-api/blob-integrity.ts) and refuses the record for good
 * ('blob-missing') instead of storing damaged bytes under `layergate-sha256` metadata that no longer
 * matches them. The intact frame of the same batch is still stored.
 */
import { createHash, randomUUID } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';
import { Client } from 'minio';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { SinkPermanentError } from '../../../gateway/plugin-api/errors.js';
import { MINIO_LOCAL } from '../../../test/services/endpoints.js';
import { sinkRig } from '../../../test/support/sink-harness.js';
import type { SinkRig } from '../../../test/support/sink-harness.js';
import { type MinioOutput, definition } from './index.js';

const client = new Client({
  endPoint: MINIO_LOCAL.endPoint,
  port: MINIO_LOCAL.port,
  useSSL: false,
  accessKey: MINIO_LOCAL.accessKey,
  secretKey: MINIO_LOCAL.secretKey,
});
const rigs: SinkRig[] = [];
const buckets: string[] = [];

afterEach(async () => {
  for (const r of rigs.splice(0)) await r.close();
});
afterAll(async () => {
  for (const b of buckets) {
    if (!(await client.bucketExists(b))) continue;
    const names: string[] = [];
    for await (const o of client.listObjectsV2(b, '', true)) names.push((o as { name: string }).name);
    await client.removeObjects(b, names);
    await client.removeBucket(b);
  }
});

function output(bucket: string): MinioOutput {
  buckets.push(bucket);
  return definition.create(
    definition.configSchema.parse({
      endPoint: '127.0.0.1',
      port: MINIO_LOCAL.port,
      tls: false,
      accessKey: MINIO_LOCAL.accessKey,
      secretKey: MINIO_LOCAL.secretKey,
      bucket,
    }),
    { dataDir: '/nonexistent', machine: 'pbf-sim' },
  ) as MinioOutput;
}

function image(seed: number): Buffer {
  const b = Buffer.alloc(512 * 1024);
  for (let i = 0; i < b.length; i += 4) b.writeUInt32LE(((i + seed) * 2654435761) >>> 0, i);
  return b;
}

describe('minio: spooled blob integrity', () => {
  it('a frame corrupted in the spool is refused for good, never uploaded; the intact one is stored with its true hash', async () => {
    const bucket = `lgt-${randomUUID().slice(0, 12)}`;
    const out = output(bucket);
    const r = await sinkRig([{ name: 'minio', plugin: out, forwarder: { linger: 0 } }]);
    rigs.push(r);
    const frame = (layer: number) => ({
      signal: 'camera.powder_bed',
      kind: 'frame' as const,
      class: 'internal' as const,
      contentType: 'image/tiff',
      build: 'JOB-9',
      layer,
      body: image(layer),
    });
    await r.emit([frame(1), frame(2)]);
    await r.drained('minio', 120_000);
    const [good, bad] = r.routed('minio');
    expect(good!.blob && bad!.blob).toBeTruthy();
    await client.removeObject(bucket, out.objectKey(good!));
    await client.removeObject(bucket, out.objectKey(bad!));
    // same size, 10 bytes changed: only the hash can tell
    const fd = openSync(r.buffer.blobPath(bad!.blob!), 'r+');
    writeSync(fd, Buffer.alloc(10, 0xee), 0, 10, 4096);
    closeSync(fd);

    const err = await out.send([good!, bad!]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SinkPermanentError);
    expect(err).toMatchObject({ reason: 'blob-missing', seqs: [bad!.seq] });
    expect((err as Error).message).toContain('damaged');
    await expect(client.statObject(bucket, out.objectKey(bad!))).rejects.toThrow(/Not Found|NoSuchKey|not exist/i);
    const stat = await client.statObject(bucket, out.objectKey(good!));
    expect(stat.metaData['layergate-sha256']).toBe(createHash('sha256').update(image(1)).digest('hex'));
  }, 180_000);
});
