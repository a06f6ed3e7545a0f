/**
 * The configuration as one plugin sees it: its instances of one type with their own settings (the
 * envelope keys the gateway keeps removed), the data folder and the machine. What a plugin's CLI
 * commands get (`CommandContext.load`, gateway/cli/main.ts) and its API actions get
 * (gateway/api/plugin-actions.ts), built here once.
 */
import type { PluginConfigView } from '../plugin-api/commands.js';
import type { LoadedConfig } from './load.js';
import { pluginSettings } from './schema.js';

/** The running config as a plugin of this kind and type sees it (what `CommandContext.load` gives its commands). */
export function pluginConfigView<C = unknown>(loaded: LoadedConfig, kind: 'input' | 'output', type: string, envelope: readonly string[]): PluginConfigView<C> {
  const entries: Record<string, { type: string }> = kind === 'input' ? loaded.config.inputs : loaded.config.outputs;
  return {
    origin: loaded.origin,
    dataDir: loaded.config.gateway.dataDir,
    machine: loaded.config.gateway.machine,
    instances: Object.entries(entries)
      .filter(([, entry]) => entry.type === type)
      .map(([name, entry]) => ({ name, settings: pluginSettings(entry as Record<string, unknown>, envelope) as C })),
  };
}
