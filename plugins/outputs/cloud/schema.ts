/**
 * Config schema of the `cloud` output: opportunistic, bandwidth-aware sync to cloud object storage
 * (the S3 API: AWS S3 or any S3-compatible store). Declared once here and validated at load as part
 * of the whole gateway config.
 */
import { z } from 'zod';
import { bitRate, byteSize, classList, duration, retryDelays, secret } from '../../../gateway/plugin-api/index.js';
import { RECORD_KINDS } from '../../../gateway/plugin-api/index.js';

const HHMM = /^([01]?\d|2[0-4]):[0-5]\d$/;

export const SYNC_MODES = ['realtime', 'batch', 'continuous'] as const;
const mode = z.enum(SYNC_MODES);

export const DEFAULT_MODES = { event: 'realtime', scalar: 'batch', samples: 'batch', frame: 'continuous', document: 'continuous' } as const;
export const DEFAULT_PRIORITIES = { realtime: 0, batch: 1, continuous: 2 } as const;

export const cloudConfigSchema = z
  .object({
    endpoint: z.string().url().meta({
      description: 'S3 endpoint URL, e.g. https://s3.eu-central-1.amazonaws.com or http://minio.example:9000',
    }),
    region: z.string().min(1).default('us-east-1').meta({ description: 'S3 region (signing)' }),
    bucket: z.string().min(3).meta({ description: 'bucket to sync into (created when missing)' }),
    prefix: z
      .string()
      .regex(/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/, { message: 'expected path segments of letters, digits, ".", "_", "-"' })
      .default('layergate')
      .meta({ description: 'key prefix of every object in the bucket' }),
    accessKey: z.string().min(1).optional().meta({ description: 'access key id (default: $AWS_ACCESS_KEY_ID)' }),
    secretKey: secret('secret access key (default: $AWS_SECRET_ACCESS_KEY)').optional(),
    sessionToken: secret('session token (default: $AWS_SESSION_TOKEN)').optional(),
    bandwidth: z
      .object({
        cap: bitRate().prefault('unlimited').meta({ description: 'upload cap when no schedule window applies' }),
        schedule: z
          .array(
            z
              .object({
                days: z.array(z.number().int().min(0).max(6)).nonempty().optional().meta({ description: 'weekdays, 0 = Sunday (default: every day)' }),
                from: z.string().regex(HHMM, { message: 'expected a local time "HH:MM"' }).meta({ description: 'start of the window, local time HH:MM' }),
                to: z
                  .string()
                  .regex(HHMM, { message: 'expected a local time "HH:MM"' })
                  .meta({ description: 'end of the window, local time HH:MM (a window may wrap past midnight)' }),
                cap: bitRate().meta({ description: 'upload cap inside the window' }),
              })
              .strict(),
          )
          .default([])
          .meta({ description: 'caps by local time of day, first match wins, e.g. [{from: "06:00", to: "22:00", cap: 20Mbit}] with cap: unlimited at night' }),
        adaptive: z.boolean().default(true).meta({
          description: 'back off below the cap when the link is congested (rising latency or falling throughput), so other traffic keeps its share',
        }),
      })
      .strict()
      .prefault({})
      .meta({ description: 'how much of the link the uploads may use' }),
    order: z.enum(['oldest-first', 'newest-first']).default('oldest-first').meta({
      description: 'within a priority, upload the oldest data first, or the newest (for live dashboards in the cloud)',
    }),
    modes: z
      .object(
        Object.fromEntries(RECORD_KINDS.map((k) => [k, mode.default(DEFAULT_MODES[k]).meta({ description: `sync mode of ${k} records` })])) as Record<
          (typeof RECORD_KINDS)[number],
          z.ZodDefault<typeof mode>
        >,
      )
      .strict()
      .prefault({})
      .meta({
        description:
          'per record kind: realtime (an object per batch as soon as committed), batch (compacted into a Parquet file per window), continuous (one object per frame/document, content-addressed)',
      }),
    priorities: z
      .object({
        realtime: z.number().int().min(0).default(DEFAULT_PRIORITIES.realtime).meta({ description: 'priority of realtime objects' }),
        batch: z.number().int().min(0).default(DEFAULT_PRIORITIES.batch).meta({ description: 'priority of batch (Parquet) objects' }),
        continuous: z.number().int().min(0).default(DEFAULT_PRIORITIES.continuous).meta({ description: 'priority of continuous (frame and document) objects' }),
      })
      .strict()
      .prefault({})
      .meta({ description: 'upload priority per mode, lower first (default events and KPIs, then time-series files, then frames)' }),
    batchWindow: duration().prefault('5m').meta({
      description:
        'batch mode: time-series records are compacted into one Parquet (zstd) file per window of receive time, table and build (all signals, `signal` a column)',
    }),
    compaction: z
      .object({
        maxRecords: z.number().int().min(1).default(200_000).meta({
          description: 'batch mode: most staged records compacted at once into one Parquet file; a window holding more becomes several files',
        }),
        maxBytes: byteSize().prefault('64MiB').meta({
          description: 'batch mode: most staged bytes compacted at once (bounds the memory compaction takes, whatever a window holds)',
        }),
      })
      .strict()
      .prefault({})
      .meta({ description: 'how staged time series are read for compaction: in chunks of consecutive records, each its own file(s)' }),
    partSize: byteSize()
      .prefault('8MiB')
      .pipe(z.number().min(5 * 1024 * 1024, { message: 'expected at least 5MiB (the S3 minimum part size)' }))
      .meta({ description: 'multipart part size; objects up to this size go in one PUT' }),
    local: z
      .object({
        maxBytes: byteSize().prefault('10GiB').meta({
          description: 'bound of the local sync store; synced copies are evicted first, data not yet in the cloud never (it then waits in the buffer)',
        }),
        hot: duration().prefault('30d').meta({ description: 'synced data stays local this long (by record time), unless room is needed' }),
      })
      .strict()
      .prefault({})
      .meta({ description: 'the local sync store: objects waiting for upload, and copies kept after it' }),
    coldStorageClass: z
      .string()
      .min(1)
      .optional()
      .meta({ description: 'S3 storage class for objects older than coldAfter at upload, e.g. STANDARD_IA, GLACIER_IR' }),
    coldAfter: duration().optional().meta({ description: 'record age from which coldStorageClass applies (default 7d when coldStorageClass is set)' }),
    manifestAfter: duration().prefault('10m').meta({
      description: "a build's manifest is written when no record arrived for it this long and all of its objects are synced",
    }),
    retry: retryDelays({ initial: '1s', max: '60s' }, 'back-off after a failed upload (full jitter, doubling up to max)'),
    stallTimeout: duration().prefault('30s').meta({ description: 'a request with no network progress for this long fails (link down) and is retried' }),
    classes: classList(['public', 'internal'], 'classes this sink takes (default public and internal; sensitive and confidential never leave the premises)'),
  })
  .strict();

export type CloudConfig = z.infer<typeof cloudConfigSchema>;
