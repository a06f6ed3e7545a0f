/**
 * The plugins' actions (gateway/plugin-api/actions.ts) as the control plane runs them: every action
 * declared by a registered plugin, found through the registry, run for a configured instance with
 * the config the gateway runs with, narrowed to that plugin as its commands see it.
 *
 * The routes (./routes/plugin-actions.ts) serve them one route per declared action; the live status
 * (./status.ts) reads the actions that declare a status section at every status interval.
 */
import type { ActionContext, PluginAction, StatusSections } from '../plugin-api/actions.js';
import { ApiNotFoundError } from '../plugin-api/errors.js';
import type { LoadedConfig } from '../config/load.js';
import { INPUT_ENVELOPE_KEYS, outputEnvelopeKeys } from '../config/schema.js';
import { pluginConfigView } from '../config/plugin-config-view.js';
import { type PluginRegistry, registry as builtIn } from '../runtime/registry.js';

/** An action as the control plane serves it. */
export interface DeclaredAction {
  kind: 'input' | 'output';
  /** the plugin type (config `type`): the URL's segment after /plugins/ */
  type: string;
  name: string;
  // biome-ignore lint/suspicious/noExplicitAny: an action of any plugin, of its own config, input and output types
  action: PluginAction<any, any, any>;
  /** the plugin's config keys the gateway keeps for itself (not in the instance's settings) */
  envelope: readonly string[];
}

/** Every action of every registered plugin, inputs' first, in registry and declaration order. */
export function declaredActions(reg: PluginRegistry = builtIn): DeclaredAction[] {
  const out: DeclaredAction[] = [];
  for (const def of reg.inputs.values())
    for (const [name, action] of Object.entries(def.actions ?? {})) out.push({ kind: 'input', type: def.type, name, action, envelope: INPUT_ENVELOPE_KEYS });
  for (const def of reg.outputs.values()) {
    const envelope = outputEnvelopeKeys(def.configSchema);
    for (const [name, action] of Object.entries(def.actions ?? {})) out.push({ kind: 'output', type: def.type, name, action, envelope });
  }
  return out;
}

/** The context of an action for one instance; ApiNotFoundError when the config has no such instance of that type. */
export function actionContext(loaded: LoadedConfig, d: DeclaredAction, instance: string): ActionContext<unknown> {
  const config = pluginConfigView(loaded, d.kind, d.type, d.envelope);
  const found = config.instances.find((i) => i.name === instance);
  if (!found) {
    const names = config.instances.map((i) => i.name);
    throw new ApiNotFoundError(`no ${d.kind} "${instance}" of type ${d.type} in the running config (${d.type} ${d.kind}s: ${names.join(', ') || 'none'})`);
  }
  return { config, instance: found };
}

/** The status sections of one instance (`outputs[].sync`); null: the action failed (no store yet, ...). */
export type InstanceSections = { [S in keyof StatusSections]?: StatusSections[S] | null };

/**
 * Read the status sections of every configured output whose plugin declares a status action: runs
 * those actions (one after the other, so a status costs one store read at a time), by output name.
 */
export async function outputStatusSections(loaded: LoadedConfig, reg: PluginRegistry = builtIn): Promise<Map<string, InstanceSections>> {
  const out = new Map<string, InstanceSections>();
  for (const d of declaredActions(reg)) {
    const status = d.action.status;
    if (d.kind !== 'output' || !status) continue;
    const config = pluginConfigView(loaded, d.kind, d.type, d.envelope);
    for (const instance of config.instances) {
      const sections = out.get(instance.name) ?? {};
      out.set(instance.name, sections);
      try {
        const ctx = { config, instance };
        const answer = d.action.output.parse(await d.action.run(d.action.input.parse({}), ctx));
        sections[status.section] = status.summary(answer, ctx);
      } catch {
        sections[status.section] = null;
      }
    }
  }
  return out;
}
