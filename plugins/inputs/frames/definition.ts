/**
 * The frames plugin as the registry knows it before a config names it: type, config schema and how
 * to load the implementation (./index.ts). Loaded lazily, so a gateway that does not run this plugin
 * never holds its code and client libraries in memory.
 */
import type { InputDefinition, LazyInputDefinition } from '../../../gateway/plugin-api/index.js';
import { framesConfigSchema } from './schema.js';
import type { FramesConfig } from './schema.js';

export const definition: LazyInputDefinition<FramesConfig> = {
  type: 'frames',
  configSchema: framesConfigSchema,
  load: async (): Promise<InputDefinition<FramesConfig>> => (await import('./index.js')).definition,
};
