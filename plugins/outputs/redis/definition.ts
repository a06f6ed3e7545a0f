/**
 * The redis plugin as the registry knows it before a config names it: type, config schema, capabilities and how
 * to load the implementation (./index.ts). Loaded lazily, so a gateway that does not run this plugin
 * never holds its code and client libraries in memory.
 */
import type { OutputDefinition, LazyOutputDefinition } from '../../../gateway/plugin-api/index.js';
import { redisConfigSchema } from './schema.js';
import type { RedisConfig } from './schema.js';

export const definition: LazyOutputDefinition<RedisConfig> = {
  type: 'redis',
  configSchema: redisConfigSchema,
  capabilities: () => ({ premises: 'on' }),
  load: async (): Promise<OutputDefinition<RedisConfig>> => (await import('./index.js')).definition,
};
