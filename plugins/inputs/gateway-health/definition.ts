/**
 * The gateway-health plugin as the registry knows it before a config names it: type, config schema and how
 * to load the implementation (./index.ts). Loaded lazily, so a gateway that does not run this plugin
 * never holds its code and client libraries in memory.
 */
import type { InputDefinition, LazyInputDefinition } from '../../../gateway/plugin-api/index.js';
import { gatewayHealthConfigSchema } from './schema.js';
import type { GatewayHealthConfig } from './schema.js';

export const definition: LazyInputDefinition<GatewayHealthConfig> = {
  type: 'gateway-health',
  configSchema: gatewayHealthConfigSchema,
  load: async (): Promise<InputDefinition<GatewayHealthConfig>> => (await import('./index.js')).definition,
};
