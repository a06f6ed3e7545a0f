/**
 * Config schema of the `minio` output (the plant's object store: frames, files and columnar batches).
 * Declared once here and validated at load as part of the whole gateway config.
 */
import { z } from 'zod';
import { byteSize, duration, secret, tlsSetting } from '../../../gateway/plugin-api/index.js';

/** the forwarder linger the output asks for (fewer, larger batch objects); the output's `linger` key overrides it */
export const DEFAULT_MINIO_LINGER_MS = 10_000;
/**
 * the batch size the output asks for: a series object per table, build and window of a batch, so the
 * batch size is the object size. 100,000 W1 scalars (5,000 signals, 2 s of the plant's rate) make one
 * Parquet object of about 1 MB; smaller batches cost throughput, larger ones memory (the forwarder
 * holds a batch and its read-ahead as record objects), see README.md
 */
export const DEFAULT_MINIO_BATCH_RECORDS = 100_000;
/** ... or this many body bytes (sample blocks: about a thousand 32 KB blocks, an object of about 20 MB) */
export const DEFAULT_MINIO_BATCH_BYTES = 32 * 1024 * 1024;

export const minioConfigSchema = z.strictObject({
  endPoint: z.string().min(1).meta({ description: 'MinIO / S3 host name or IP (no scheme, no port)' }),
  port: z.number().int().min(1).max(65535).optional().meta({ description: 'port (default 443 with TLS, else 80)' }),
  tls: tlsSetting('HTTPS to the object store (default true: the server certificate is checked against the system CAs plus NODE_EXTRA_CA_CERTS)', true),
  accessKey: z.string().min(1).meta({ description: 'access key (a MinIO user or service account with write access to the bucket)' }),
  secretKey: secret('secret key (e.g. ${MINIO_SECRET_KEY})'),
  region: z.string().min(1).default('us-east-1').meta({ description: 'bucket region' }),
  bucket: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'expected an S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)')
    .default('layergate')
    .meta({
      description: 'bucket for everything this output writes',
    }),
  createBucket: z
    .boolean()
    .default(true)
    .meta({ description: 'create the bucket when it is missing; `false`: it must exist (missing = retried, with an error naming it)' }),
  prefix: z
    .string()
    .regex(/^([^/\s]+\/)*$/, 'expected empty or a path ending in "/" (e.g. "plant-a/")')
    .default('')
    .meta({
      description: 'key prefix of every object, e.g. `plant-a/`',
    }),
  series: z
    .strictObject({
      format: z.enum(['parquet', 'arrow']).default('parquet').meta({
        description: 'columnar batch format: `parquet` (zstd, float32 BYTE_STREAM_SPLIT) or `arrow` (Arrow IPC file, uncompressed)',
      }),
      window: duration().prefault('1m').meta({
        description:
          'time window (by receive time) of one batch object per table and build: records of one batch in one window go into one object (all signals, `signal` a column)',
      }),
    })
    .prefault({})
    .meta({ description: 'how scalar and samples records are batched into columnar objects' }),
  partSize: byteSize().prefault('16MiB').meta({ description: 'multipart upload part size; larger objects are uploaded in parts of this size' }),
});

export type MinioConfig = z.infer<typeof minioConfigSchema>;
