/**
 * The whole configuration as JSON Schema (draft 2020-12), for `layergate config schema` and the web
 * UI, which generates its forms and editors from it. Produced by zod 4's `z.toJSONSchema` from the
 * same schema the loader validates with, every registered plugin included.
 *
 * Design constraints:
 * - It describes the file as written (zod's `input` side): a byte size may be `"8GiB"` or a number,
 *   a key with a default is not required. `${VAR}` references are resolved by the loader before
 *   validation, so a value that is a reference only fits where a string does.
 * - Every object is closed (`additionalProperties: false`), as the loader rejects unknown keys.
 * - Our zod metadata becomes annotations a JSON Schema validator ignores: a secret field gets
 *   `writeOnly: true` and `x-secret: true` (a form must not show the stored value), a unit field
 *   `x-unit` ("byte size", "duration", "bit rate") and `x-unit-help` (how to write a value). A key
 *   whose name looks like a credential is marked secret as well, as in redaction (./report.ts).
 * - Machine-dependent defaults (`gateway.machine`, `gateway.dataDir`) are this host's.
 */
import { z } from 'zod';
import { registry as defaultRegistry } from '../runtime/registry.js';
import type { PluginRegistry } from '../runtime/registry.js';
import { buildConfigSchema, defaultsFromEnv } from './schema.js';
import type { SchemaDefaults } from './schema.js';
import { isSecretKeyName } from './units.js';

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function markSecret(node: Json): void {
  node.writeOnly = true;
  node['x-secret'] = true;
}

/** Turn our metadata keys into `x-` annotations, in place, everywhere in the tree. */
function annotate(node: unknown): void {
  if (Array.isArray(node)) {
    for (const item of node) annotate(item);
    return;
  }
  if (!isObject(node)) return;
  if (node.secret === true) {
    delete node.secret;
    markSecret(node);
  }
  if (typeof node.unit === 'string') {
    node['x-unit'] = node.unit;
    delete node.unit;
  }
  if (typeof node.unitHelp === 'string') {
    node['x-unit-help'] = node.unitHelp;
    delete node.unitHelp;
  }
  if (isObject(node.properties)) {
    for (const [key, prop] of Object.entries(node.properties)) {
      if (isSecretKeyName(key) && isObject(prop) && prop.type === 'string') markSecret(prop);
    }
  }
  for (const value of Object.values(node)) annotate(value);
}

/** The configuration's JSON Schema. */
export function configJsonSchema(registry: PluginRegistry = defaultRegistry, defaults: SchemaDefaults = defaultsFromEnv()): Json {
  const schema = z.toJSONSchema(buildConfigSchema(registry, defaults), {
    io: 'input',
    // refinements (globs that must compile, rule-name uniqueness) have no JSON Schema form: the loader checks them
    unrepresentable: 'any',
  }) as Json;
  annotate(schema);
  return {
    $schema: schema.$schema,
    title: 'LayerGate configuration',
    description: 'The YAML configuration file of the LayerGate edge gateway (layergate run -c FILE).',
    ...Object.fromEntries(Object.entries(schema).filter(([k]) => k !== '$schema')),
  };
}
