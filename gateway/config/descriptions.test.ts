/**
 * Every key of the configuration says what it is: the schema (core sections, the instance
 * envelopes and every registered input and output plugin) is walked whole, and a key without a
 * description fails the test by name. The reference, `layergate config schema` and the web UI's
 * forms all show these descriptions.
 */
import { describe, expect, it } from 'vitest';
import { registry } from '../runtime/registry.js';
import { configKeys } from './introspect.js';
import { buildConfigSchema } from './schema.js';

describe('config schema descriptions', () => {
  it('the walk reaches every plugin', () => {
    const keys = configKeys(buildConfigSchema(registry));
    const plugins = new Set(keys.flatMap((k) => (k.entry ? [`${k.entry.map}/${k.entry.type}`] : [])));
    expect([...plugins].sort()).toEqual(
      [...[...registry.inputs.keys()].map((t) => `inputs/${t}`), ...[...registry.outputs.keys()].map((t) => `outputs/${t}`)].sort(),
    );
  });

  it('every key has a description', () => {
    const undescribed = configKeys(buildConfigSchema(registry))
      .filter((k) => k.field.description.trim() === '')
      .map((k) => (k.entry ? `${k.entry.map}.<name>.${k.path} (type ${k.entry.type})` : k.path));
    expect(undescribed).toEqual([]);
  });
});
