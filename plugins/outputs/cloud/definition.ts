/**
 * The cloud plugin as the registry knows it before a config names it: type, config schema, capabilities, renamed keys, the `sync` commands, the API's `sync-*` actions and how
 * to load the implementation (./index.ts). Loaded lazily, so a gateway that does not run this plugin
 * never holds its code and client libraries in memory.
 */
import type { OutputDefinition, LazyOutputDefinition } from '../../../gateway/plugin-api/index.js';
import { cloudActions } from './sync/actions.js';
import { addSyncCommands } from './sync/commands.js';
import { cloudConfigSchema } from './schema.js';
import type { CloudConfig } from './schema.js';

export const definition: LazyOutputDefinition<CloudConfig> = {
  type: 'cloud',
  configSchema: cloudConfigSchema,
  /** off the premises: sensitive and confidential records are never routed here, and refused if they come */
  capabilities: (config) => ({ premises: 'off' as const, accepts: config.classes ?? ['public', 'internal'] }),
  renamedKeys: { accepts: 'classes' },
  commands: addSyncCommands,
  actions: cloudActions,
  load: async (): Promise<OutputDefinition<CloudConfig>> => (await import('./index.js')).definition,
};
