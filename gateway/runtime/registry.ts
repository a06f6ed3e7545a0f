/**
 * The plugin registry: maps a config `type` to its input or output definition. Adding a plugin is
 * one import and one list entry here; its config schema then becomes part of the validated config
 * (gateway/config/schema.ts), `layergate run` can create it, its output capabilities drive routing
 * and its own subcommands (`commands`) join the `layergate` CLI. This is the one module of the core
 * that imports plugins.
 *
 * Plugins are registered by their lazy definitions (each plugin's definition.ts: schema, capabilities,
 * commands): a plugin's implementation and client libraries are imported only when a config names it
 * (`loadDefinition`), so a gateway's memory holds what it runs. Full definitions are accepted too.
 *
 * Constraint: a plugin's `configSchema` is a `z.object` (strict); the config schema extends it with
 * the envelope keys every instance has (`type`, plus `class` for inputs, `classes`/`kinds` for outputs).
 * Plugins build fields with the helpers of the plugin API (gateway/plugin-api/index.ts): `secret()` for
 * credentials (never shown in dumps, errors or logs), `byteSize()`, `duration()`, and the shared
 * fragments `tlsSetting()`, `retryDelays()`, `classList()`; a `.meta({ description })` on a field
 * shows up in the generated configuration reference (`npm run docs:config`).
 */
import type { InputDefinition, LazyInputDefinition, LazyOutputDefinition, OutputDefinition } from '../plugin-api/contract.js';
import { definition as gatewayHealth } from '../../plugins/inputs/gateway-health/definition.js';
import { definition as opcuaInput } from '../../plugins/inputs/opcua/definition.js';
import { definition as mqttInput } from '../../plugins/inputs/mqtt/definition.js';
import { definition as frames } from '../../plugins/inputs/frames/definition.js';
import { definition as files } from '../../plugins/inputs/files/definition.js';
import { definition as fileLake } from '../../plugins/outputs/file-lake/definition.js';
import { definition as kafkaOutput } from '../../plugins/outputs/kafka/definition.js';
import { definition as mongodbOutput } from '../../plugins/outputs/mongodb/definition.js';
import { definition as redisOutput } from '../../plugins/outputs/redis/definition.js';
import { definition as minioOutput } from '../../plugins/outputs/minio/definition.js';
import { definition as cloudOutput } from '../../plugins/outputs/cloud/definition.js';
import { definition as postgresOutput } from '../../plugins/outputs/postgres/definition.js';

// Each definition is typed by its own config; the registry holds them side by side, and the config
// schema (which validated each entry against that very definition's schema) is what makes a lookup safe.
// biome-ignore lint/suspicious/noExplicitAny: a heterogeneous list of definitions, each of its own config type
type AnyInputDefinition = InputDefinition<any> | LazyInputDefinition<any>;
// biome-ignore lint/suspicious/noExplicitAny: as above
type AnyOutputDefinition = OutputDefinition<any> | LazyOutputDefinition<any>;

/** The full definition (with `create`) of a registered plugin: loads a lazy one's code. */
export async function loadDefinition<C>(def: InputDefinition<C> | LazyInputDefinition<C>): Promise<InputDefinition<C>>;
export async function loadDefinition<C>(def: OutputDefinition<C> | LazyOutputDefinition<C>): Promise<OutputDefinition<C>>;
export async function loadDefinition<C>(
  def: InputDefinition<C> | LazyInputDefinition<C> | OutputDefinition<C> | LazyOutputDefinition<C>,
): Promise<InputDefinition<C> | OutputDefinition<C>> {
  return 'create' in def ? def : def.load();
}

export interface PluginRegistry {
  readonly inputs: ReadonlyMap<string, AnyInputDefinition>;
  readonly outputs: ReadonlyMap<string, AnyOutputDefinition>;
}

export function createRegistry(defs: { inputs: readonly AnyInputDefinition[]; outputs: readonly AnyOutputDefinition[] }): PluginRegistry {
  const byType = <D extends { type: string }>(kind: string, list: readonly D[]): Map<string, D> => {
    const m = new Map<string, D>();
    for (const d of list) {
      if (m.has(d.type)) throw new Error(`two ${kind} plugins are registered as type "${d.type}"`);
      m.set(d.type, d);
    }
    return m;
  };
  return { inputs: byType('input', defs.inputs), outputs: byType('output', defs.outputs) };
}

/** This module, for a thread that creates plugins from it (the delivery thread imports it by this URL). */
export const REGISTRY_MODULE = import.meta.url;

/** The plugins this build of LayerGate knows. */
export const registry: PluginRegistry = createRegistry({
  inputs: [gatewayHealth, frames, files, mqttInput, opcuaInput],
  outputs: [fileLake, kafkaOutput, redisOutput, minioOutput, cloudOutput, postgresOutput, mongodbOutput],
});
