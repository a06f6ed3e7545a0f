/**
 * Config schema of the `postgres` output (the plant's local warehouse: process data in SQL tables).
 * Declared once here and validated at load as part of the whole gateway config.
 */
import { z } from 'zod';
import { byteSize, duration, secret, tlsSetting } from '../../../gateway/plugin-api/index.js';

/** records per batch the output asks for: one COPY per table and batch, so the batch size is the COPY size */
export const DEFAULT_POSTGRES_BATCH_RECORDS = 20_000;
/** ... or this many body bytes (sample blocks are reduced to statistics, their bodies never sent) */
export const DEFAULT_POSTGRES_BATCH_BYTES = 32 * 1024 * 1024;

export const postgresConfigSchema = z.strictObject({
  host: z.string().min(1).meta({ description: 'PostgreSQL server host name or IP' }),
  port: z.number().int().min(1).max(65535).default(5432).meta({ description: 'server port' }),
  database: z.string().min(1).meta({ description: 'database (must exist; the output creates its schema and tables in it)' }),
  user: z
    .string()
    .min(1)
    .meta({ description: 'role to log in as: needs CREATE on the database (the schema) or on the schema, and owns the tables it creates' }),
  password: secret('password of the role (e.g. ${PGPASSWORD}); absent: none (trust or certificate authentication)').optional(),
  tls: tlsSetting('TLS to the server (absent or false: plain; a warehouse off the gateway machine should use TLS with `ca` and `rejectUnauthorized: true`)'),
  schema: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,47}$/, 'expected a lowercase SQL identifier (letters, digits, underscores, at most 48)')
    .default('layergate')
    .meta({ description: 'schema that holds the tables (created when missing), e.g. one per plant or line' }),
  partitions: z
    .strictObject({
      ahead: z
        .number()
        .int()
        .min(0)
        .max(366)
        .default(7)
        .meta({ description: 'daily partitions created ahead of today (UTC); older or later days get theirs on demand' }),
      retention: duration().optional().meta({ description: 'drop daily partitions whose whole day is older than this (e.g. `90d`); absent: keep everything' }),
      maintenanceInterval: duration().prefault('1h').meta({ description: 'how often partitions are created ahead and old ones dropped while running' }),
    })
    .prefault({})
    .meta({ description: 'time partitioning of the scalars, events, samples and files tables (one partition per UTC day)' }),
  maxRowBytes: byteSize()
    .prefault('16MiB')
    .meta({ description: 'a record whose row would exceed this is refused for good (quarantined): large bodies belong in the object store' }),
  connectTimeout: duration().prefault('5s').meta({ description: 'TCP/TLS connect and login timeout' }),
  statementTimeout: duration().prefault('60s').meta({ description: 'a batch not committed within this long fails and is retried' }),
});

export type PostgresConfig = z.infer<typeof postgresConfigSchema>;
