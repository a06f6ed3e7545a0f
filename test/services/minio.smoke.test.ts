/**
 * MinIO smoke test: both harness instances (the plant's `local` and the `cloud` stand-in for S3) store and
 * return objects through the `minio` client the gateway uses, each only with its own credentials, and
 * they are separate stores.
 */
import { randomUUID } from 'node:crypto';
import { Client } from 'minio';
import { describe, expect, inject, it } from 'vitest';
import { MINIO_CLOUD, MINIO_LOCAL } from './endpoints.js';

const endpoints = inject('services');

type Endpoint = typeof MINIO_LOCAL | typeof MINIO_CLOUD;

function client(endpoint: Endpoint, credentials?: { accessKey: string; secretKey: string }): Client {
  return new Client({
    endPoint: endpoint.endPoint,
    port: endpoint.port,
    useSSL: endpoint.useSSL,
    accessKey: credentials?.accessKey ?? endpoint.accessKey,
    secretKey: credentials?.secretKey ?? endpoint.secretKey,
  });
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks);
}

describe.each([
  ['local', endpoints.minioLocal, MINIO_LOCAL],
  ['cloud', endpoints.minioCloud, MINIO_CLOUD],
] as const)('minio %s (real server from the test harness)', (_label, provided, imported) => {
  it('is provided to tests at the fixed endpoint', () => {
    expect(provided).toEqual(imported);
  });

  it('writes an object and reads back the same bytes and metadata', async () => {
    const s3 = client(provided);
    const bucket = `smoke-${randomUUID()}`;
    await s3.makeBucket(bucket);
    // 1 MiB of non-trivial bytes, like a powder-bed frame
    const body = Buffer.alloc(1024 * 1024, 0);
    for (let i = 0; i < body.length; i++) body[i] = (i * 31 + 7) & 0xff;
    await s3.putObject(bucket, 'job-1/layer-0001.png', body, body.length, { 'Content-Type': 'image/png', 'X-Amz-Meta-Class': 'internal' });
    const stat = await s3.statObject(bucket, 'job-1/layer-0001.png');
    expect(stat.size).toBe(body.length);
    expect(stat.metaData.class).toBe('internal');
    expect((await readAll(await s3.getObject(bucket, 'job-1/layer-0001.png'))).equals(body)).toBe(true);
    await s3.removeObject(bucket, 'job-1/layer-0001.png');
    await s3.removeBucket(bucket);
  });

  it('refuses a wrong secret key', async () => {
    const s3 = client(provided, { accessKey: provided.accessKey, secretKey: `${provided.secretKey}-wrong` });
    await expect(s3.listBuckets()).rejects.toMatchObject({ code: 'SignatureDoesNotMatch' });
  });
});

describe('minio local and cloud are separate servers', () => {
  it("each refuses the other one's credentials", async () => {
    await expect(client(endpoints.minioCloud, MINIO_LOCAL).listBuckets()).rejects.toMatchObject({ code: 'InvalidAccessKeyId' });
    await expect(client(endpoints.minioLocal, MINIO_CLOUD).listBuckets()).rejects.toMatchObject({ code: 'InvalidAccessKeyId' });
  });

  it('a bucket made on local does not exist on cloud', async () => {
    const bucket = `smoke-${randomUUID()}`;
    const local = client(endpoints.minioLocal);
    await local.makeBucket(bucket);
    expect(await local.bucketExists(bucket)).toBe(true);
    expect(await client(endpoints.minioCloud).bucketExists(bucket)).toBe(false);
    await local.removeBucket(bucket);
  });
});
