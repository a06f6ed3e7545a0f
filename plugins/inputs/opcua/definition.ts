/**
 * The opcua plugin as the registry knows it before a config names it: type, config schema, renamed keys, the `pki` commands, the API's `pki-*` actions and how
 * to load the implementation (./index.ts). Loaded lazily, so a gateway that does not run this plugin
 * never holds its code and client libraries in memory.
 */
import type { InputDefinition, LazyInputDefinition } from '../../../gateway/plugin-api/index.js';
import { opcuaActions } from './actions.js';
import { addPkiCommands } from './commands.js';
import { opcuaConfigSchema } from './schema.js';
import type { OpcuaConfig } from './schema.js';

export const definition: LazyInputDefinition<OpcuaConfig> = {
  type: 'opcua',
  configSchema: opcuaConfigSchema,
  renamedKeys: { 'reconnect.initialDelay': 'reconnect.initial', 'reconnect.maxDelay': 'reconnect.max' },
  commands: addPkiCommands,
  actions: opcuaActions,
  load: async (): Promise<InputDefinition<OpcuaConfig>> => (await import('./index.js')).definition,
};
