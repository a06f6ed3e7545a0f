/**
 * The minio plugin as the registry knows it before a config names it: type, config schema, capabilities, renamed keys and how
 * to load the implementation (./index.ts). Loaded lazily, so a gateway that does not run this plugin
 * never holds its code and client libraries in memory.
 */
import type { OutputDefinition, LazyOutputDefinition } from '../../../gateway/plugin-api/index.js';
import { DEFAULT_MINIO_BATCH_BYTES, DEFAULT_MINIO_BATCH_RECORDS, DEFAULT_MINIO_LINGER_MS } from './schema.js';
import { minioConfigSchema } from './schema.js';
import type { MinioConfig } from './schema.js';

export const definition: LazyOutputDefinition<MinioConfig> = {
  type: 'minio',
  configSchema: minioConfigSchema,
  // fewer, larger batch objects: one per table, build and window of a batch
  capabilities: () => ({ premises: 'on', linger: DEFAULT_MINIO_LINGER_MS, batchRecords: DEFAULT_MINIO_BATCH_RECORDS, batchBytes: DEFAULT_MINIO_BATCH_BYTES }),
  renamedKeys: { useSSL: 'tls (useSSL: false is now tls: false)' },
  load: async (): Promise<OutputDefinition<MinioConfig>> => (await import('./index.js')).definition,
};
