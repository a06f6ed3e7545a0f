/**
 * The kafka plugin as the registry knows it before a config names it: type, config schema, capabilities
 * and how to load the implementation (./index.ts). Loaded lazily, so a gateway that does not run this
 * plugin never holds its code and client libraries in memory.
 */
import type { LazyOutputDefinition, OutputDefinition } from '../../../gateway/plugin-api/index.js';
import { GROUPED_BATCH_RECORDS, kafkaConfigSchema } from './schema.js';
import type { KafkaConfig } from './schema.js';

export const definition: LazyOutputDefinition<KafkaConfig> = {
  type: 'kafka',
  configSchema: kafkaConfigSchema,
  // grouped messages cost per request, not per record: larger forwarder batches make fewer, fuller requests
  capabilities: (config) => ({ premises: 'on', ...(config.grouping === 'record' ? {} : { batchRecords: GROUPED_BATCH_RECORDS }) }),
  load: async (): Promise<OutputDefinition<KafkaConfig>> => (await import('./index.js')).definition,
};
