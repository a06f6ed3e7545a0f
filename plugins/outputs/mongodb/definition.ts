/**
 * The mongodb plugin as the registry knows it before a config names it: type, config schema, capabilities and
 * how to load the implementation (./index.ts). Loaded lazily, so a gateway that does not run this plugin
 * never holds its code and the MongoDB driver in memory.
 *
 * Constraint: `premises` comes from the URL (./premises.ts): an Atlas URL is off the premises, so the
 * routing never sends it a sensitive or confidential record and `check-config` refuses a rule that would.
 */
import type { LazyOutputDefinition, OutputDefinition } from '../../../gateway/plugin-api/index.js';
import { premisesOfUrl } from './premises.js';
import { mongodbConfigSchema } from './schema.js';
import type { MongodbConfig } from './schema.js';

export const definition: LazyOutputDefinition<MongodbConfig> = {
  type: 'mongodb',
  configSchema: mongodbConfigSchema,
  capabilities: (config) => ({
    premises: premisesOfUrl(config.url, config.hostOnPremises),
    // confidential never: MongoDB keeps documents readable at rest, and confidential bodies stay sealed
    // (the local object store seals them); the envelope's `classes` may narrow this further
    accepts: ['public', 'internal', 'sensitive'],
    kinds: config.kinds,
  }),
  load: async (): Promise<OutputDefinition<MongodbConfig>> => (await import('./index.js')).definition,
};
