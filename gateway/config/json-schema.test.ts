/**
 * `layergate config schema`: the printed JSON Schema is checked by an independent validator (Ajv,
 * draft 2020-12): the shipped configs pass it, unknown keys and bad values fail it, and it carries
 * every plugin's keys with their descriptions, defaults, enums and secret marks.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { buildProgram } from '../cli/main.js';
import { registry } from '../runtime/registry.js';
import { configKeys } from './introspect.js';
import { configJsonSchema } from './json-schema.js';
import { buildConfigSchema } from './schema.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const shipped = ['config/layergate.example.yaml', 'config/demo.yaml'];
const readConfig = (file: string): unknown => YAML.parse(readFileSync(path.join(repo, file), 'utf8'));

// ajv-formats is CommonJS: its default export arrives wrapped under ESM
const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule) as unknown as (ajv: Ajv2020) => Ajv2020;

function validator() {
  const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
  addFormats(ajv);
  // our annotations: ignored by validation, read by the UI
  for (const keyword of ['x-secret', 'x-unit', 'x-unit-help']) ajv.addKeyword({ keyword, schemaType: ['boolean', 'string'] });
  return ajv.compile(configJsonSchema());
}

// biome-ignore lint/suspicious/noExplicitAny: a JSON Schema document walked by key, any shape at any depth
type Json = Record<string, any>;
/** the entry schema of one plugin type under `inputs`/`outputs` */
function entrySchema(schema: Json, map: 'inputs' | 'outputs', type: string): Json {
  return (schema.properties[map].additionalProperties.oneOf as Json[]).find((o) => o.properties.type.const === type)!;
}
/** the schema of a key path (`bandwidth.schedule[].cap`) below an object schema */
function at(schema: Json, keyPath: string): Json | undefined {
  let cur: Json | undefined = schema;
  for (const part of keyPath.split('.')) {
    const list = part.endsWith('[]');
    cur = cur?.properties?.[list ? part.slice(0, -2) : part];
    if (list) cur = cur?.items ?? (cur?.anyOf as Json[] | undefined)?.find((o) => o.type === 'array')?.items;
  }
  return cur;
}

describe('layergate config schema', () => {
  it('the shipped configs are valid against it', () => {
    const validate = validator();
    for (const file of shipped) {
      const ok = validate(readConfig(file));
      expect({ file, errors: validate.errors ?? null }).toEqual({ file, errors: null });
      expect(ok).toBe(true);
    }
  });

  it('rejects an unknown key, at the root, in a section and in a plugin entry, and a bad enum value', () => {
    const validate = validator();
    const base = readConfig('config/demo.yaml') as Json;
    const bad = (mutate: (c: Json) => void): boolean => {
      const c = structuredClone(base);
      mutate(c);
      return validate(c);
    };
    expect(bad(() => {})).toBe(true);
    expect(
      bad((c) => {
        c.outptus = {};
      }),
    ).toBe(false);
    expect(
      bad((c) => {
        c.buffer.maxbytes = '1GiB';
      }),
    ).toBe(false);
    expect(
      bad((c) => {
        c.inputs.health.intervall = '5s';
      }),
    ).toBe(false);
    expect(
      bad((c) => {
        c.outputs.lake.type = 'kafak';
      }),
    ).toBe(false);
    expect(
      bad((c) => {
        c.buffer.synchronous = 'OFF';
      }),
    ).toBe(false);
    expect(
      bad((c) => {
        c.outputs['my lake'] = { type: 'file-lake' };
      }),
    ).toBe(false);
  });

  it('has every key of every plugin, with its description; defaults and enums as the loader applies them', () => {
    const schema: Json = configJsonSchema(registry, { machine: 'm', dataDir: './var' });
    const missing: string[] = [];
    for (const { path: key, field, entry } of configKeys(buildConfigSchema(registry))) {
      const root = entry ? entrySchema(schema, entry.map as 'inputs' | 'outputs', entry.type) : schema;
      const node = at(root, key);
      if (!node || node.description !== field.description) missing.push(entry ? `${entry.map}.${entry.type}.${key}` : key);
    }
    expect(missing).toEqual([]);
    expect(at(schema, 'buffer.maxBytes')).toMatchObject({ default: '1GiB', 'x-unit': 'byte size' });
    expect(at(schema, 'buffer.synchronous')).toMatchObject({ default: 'FULL', enum: ['FULL', 'NORMAL'] });
    expect(at(entrySchema(schema, 'outputs', 'cloud'), 'partSize')).toMatchObject({ default: '8MiB' });
    expect(at(entrySchema(schema, 'inputs', 'mqtt'), 'subscriptions[].decoder')?.enum).toContain('sparkplug');
    expect((schema as Json).properties.outputs.default).toEqual({ lake: { type: 'file-lake' } });
  });

  it('marks secret fields: schema-marked and credential-named', () => {
    const schema: Json = configJsonSchema();
    const secret = { writeOnly: true, 'x-secret': true };
    expect(at(entrySchema(schema, 'outputs', 'cloud'), 'secretKey')).toMatchObject(secret);
    expect(at(entrySchema(schema, 'outputs', 'kafka'), 'sasl.password')).toMatchObject(secret);
    expect(at(entrySchema(schema, 'inputs', 'opcua'), 'password')).toMatchObject(secret);
    expect(at(entrySchema(schema, 'outputs', 'cloud'), 'bucket')).not.toHaveProperty('x-secret');
  });

  it('is what the command prints', async () => {
    let out = '';
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string) => {
      out += chunk;
      return true;
    }) as typeof process.stdout.write;
    try {
      await buildProgram().parseAsync(['config', 'schema'], { from: 'user' });
    } finally {
      process.stdout.write = write;
    }
    expect(JSON.parse(out)).toEqual(configJsonSchema());
  });
});
