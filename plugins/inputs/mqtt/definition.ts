/**
 * The mqtt plugin as the registry knows it before a config names it: type, config schema, renamed keys and how
 * to load the implementation (./index.ts). Loaded lazily, so a gateway that does not run this plugin
 * never holds its code and client libraries in memory.
 */
import type { InputDefinition, LazyInputDefinition } from '../../../gateway/plugin-api/index.js';
import { mqttConfigSchema } from './schema.js';
import type { MqttInputConfig } from './schema.js';

export const definition: LazyInputDefinition<MqttInputConfig> = {
  type: 'mqtt',
  configSchema: mqttConfigSchema,
  renamedKeys: {
    ca: 'tls.ca',
    cert: 'tls.cert',
    key: 'tls.key',
    rejectUnauthorized: 'tls.rejectUnauthorized',
    reconnectMin: 'reconnect.initial',
    reconnectMax: 'reconnect.max',
  },
  load: async (): Promise<InputDefinition<MqttInputConfig>> => (await import('./index.js')).definition,
};
