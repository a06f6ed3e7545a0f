/**
 * The postgres plugin as the registry knows it before a config names it: type, config schema,
 * capabilities and how to load the implementation (./index.ts). Loaded lazily, so a gateway that does
 * not run this plugin never holds its code and the `pg` driver in memory.
 */
import type { LazyOutputDefinition, OutputDefinition } from '../../../gateway/plugin-api/index.js';
import { DEFAULT_POSTGRES_BATCH_BYTES, DEFAULT_POSTGRES_BATCH_RECORDS, postgresConfigSchema } from './schema.js';
import type { PostgresConfig } from './schema.js';

export const definition: LazyOutputDefinition<PostgresConfig> = {
  type: 'postgres',
  configSchema: postgresConfigSchema,
  // the plant's own warehouse. Large batches: a COPY per table and batch costs a few round trips whatever its size
  capabilities: () => ({ premises: 'on', batchRecords: DEFAULT_POSTGRES_BATCH_RECORDS, batchBytes: DEFAULT_POSTGRES_BATCH_BYTES }),
  load: async (): Promise<OutputDefinition<PostgresConfig>> => (await import('./index.js')).definition,
};
