/**
 * Reading the config schema as data: what one key is (its type, default, description, whether it
 * is secret or optional) and every key path of a schema, nested maps, list items and each plugin's
 * settings included. The reference generator (./docs.ts) and the schema tests read the schema
 * through this module, so what they show and check is exactly what the loader validates.
 *
 * Design constraints:
 * - Reads zod 4's `_zod.def` and the global metadata registry only; no second description of the
 *   schema anywhere.
 * - A key's description is the one set on the key (on any wrapper of it: default, optional, a
 *   validating `.pipe`). A unit field (./units.ts) carries its format as `unit`/`unitHelp`, not as
 *   a description, so a key without its own description is found as such.
 * - Defaults are found behind every wrapper, a validating `.pipe` included (`byteSize()
 *   .prefault('8MiB').pipe(z.number().min(...))` defaults to 8MiB).
 */
import { z } from 'zod';
import type { core } from 'zod';

type Def = core.$ZodTypeDef & Record<string, unknown>;

export function defOf(s: z.ZodType): Def {
  return (s as unknown as { _zod: { def: Def } })._zod.def;
}

/** Metadata a schema of ours may carry (zod's `.meta()`). */
export interface ConfigMeta {
  description?: string;
  /** a credential: never shown in dumps, errors or logs (./units.ts `secret()`) */
  secret?: boolean;
  /** the value format of a unit field (./units.ts): "byte size", "duration", "bit rate" */
  unit?: string;
  /** how a value of that format is written */
  unitHelp?: string;
}

export function metaOf(s: z.ZodType): ConfigMeta {
  return (z.globalRegistry.get(s) ?? {}) as ConfigMeta;
}

export interface FieldInfo {
  /** the schema of the value once wrappers (default, optional, validating pipes) are removed */
  inner: z.ZodType;
  /** the key's own description ('' when it has none) */
  description: string;
  hasDefault: boolean;
  /** the default as written in the schema (input form: "8MiB", not 8388608) */
  default?: unknown;
  optional: boolean;
  secret: boolean;
}

const WRAPPERS = new Set(['default', 'prefault', 'optional', 'nullable', 'readonly', 'catch', 'nonoptional']);

/** A pipe that only validates further (`a.pipe(z.number().min(...))`), as opposed to one that converts (a transform). */
function isValidatingPipe(d: Def): boolean {
  return d.type === 'pipe' && defOf(d.out as z.ZodType).type !== 'transform';
}

/** Unwrap one key's schema, collecting its description, default, optionality and secrecy. */
export function fieldInfo(s: z.ZodType): FieldInfo {
  const info: FieldInfo = { inner: s, description: '', hasDefault: false, optional: false, secret: false };
  for (let cur = s; ; ) {
    const meta = metaOf(cur);
    if (meta.description && !info.description) info.description = meta.description;
    if (meta.secret) info.secret = true;
    const d = defOf(cur);
    if (d.type === 'default' || d.type === 'prefault') {
      if (!info.hasDefault) {
        const v = d.defaultValue;
        info.default = typeof v === 'function' ? (v as () => unknown)() : v;
        info.hasDefault = true;
      }
    } else if (d.type === 'optional' || d.type === 'nullable') {
      info.optional = true;
    }
    if (WRAPPERS.has(d.type)) cur = d.innerType as z.ZodType;
    else if (isValidatingPipe(d)) cur = d.in as z.ZodType;
    else {
      info.inner = cur;
      return info;
    }
  }
}

/** The object (shape) a value schema holds, if it is a map of fixed keys. */
export function objectShape(s: z.ZodType): Record<string, z.ZodType> | undefined {
  const d = defOf(s);
  return d.type === 'object' ? (d.shape as Record<string, z.ZodType>) : undefined;
}

/** The schema of a list's items, if the value is a list (also "one or a list", the classification rules' `kind`). */
export function listItem(s: z.ZodType): z.ZodType | undefined {
  const d = defOf(s);
  if (d.type === 'array') return d.element as z.ZodType;
  if (d.type === 'pipe') return listItem(d.in as z.ZodType);
  if (d.type === 'union') {
    for (const o of d.options as z.ZodType[]) {
      const item = listItem(o);
      if (item) return item;
    }
  }
  return undefined;
}

export interface KeyVisit {
  /** `buffer.maxBytes`, `classification.rules[].name`, `bandwidth.schedule[].cap` */
  path: string;
  field: FieldInfo;
}

/**
 * Every key below an object schema, depth first in declaration order: the keys of nested maps, and
 * of the objects inside lists (`rules[].name`). Maps of names (records) are not entered: their
 * entries are the plugins' settings, walked per plugin.
 */
export function walkKeys(obj: z.ZodType, visit: (k: KeyVisit) => void, prefix = '', skip: readonly string[] = []): void {
  const shape = objectShape(fieldInfo(obj).inner);
  if (!shape) return;
  for (const [key, schema] of Object.entries(shape)) {
    if (skip.includes(key)) continue;
    const field = fieldInfo(schema);
    const path = `${prefix}${key}`;
    visit({ path, field });
    if (objectShape(field.inner)) walkKeys(field.inner, visit, `${path}.`);
    else {
      const item = listItem(field.inner);
      if (item && objectShape(fieldInfo(item).inner)) walkKeys(item, visit, `${path}[].`);
    }
  }
}

/** A readable name of a value's type: `byte size`, `list of string`, `` `FULL` \| `NORMAL` ``. */
export function typeName(s: z.ZodType): string {
  const d = defOf(s);
  const unit = metaOf(s).unit;
  if (unit) return unit;
  switch (d.type) {
    case 'pipe':
      return typeName(d.in as z.ZodType);
    case 'enum':
      return Object.values(d.entries as Record<string, string>)
        .map((v) => `\`${v}\``)
        .join(' \\| ');
    case 'literal':
      return (d.values as unknown[]).map((v) => `\`${String(v)}\``).join(' \\| ');
    case 'array':
      return `list of ${typeName(fieldInfo(d.element as z.ZodType).inner)}`;
    case 'object':
      return 'map';
    case 'record':
      return `map of name -> ${typeName(d.valueType as z.ZodType)}`;
    case 'union':
      return (d.options as z.ZodType[]).map((o) => typeName(fieldInfo(o).inner)).join(' or ');
    default:
      if (WRAPPERS.has(d.type)) return typeName(d.innerType as z.ZodType);
      return d.type;
  }
}

/** One key of the whole configuration; plugin settings name their instance map and plugin type. */
export interface ConfigKey extends KeyVisit {
  /** set for keys of an instance entry: `inputs`/`outputs` and the entry's `type` */
  entry?: { map: string; type: string };
}

/** The entry schemas a map of instances takes (one per plugin type), with their `type` literal. */
export function instanceEntries(map: z.ZodType): { type: string; schema: z.ZodType }[] {
  const d = defOf(fieldInfo(map).inner);
  if (d.type !== 'record') return [];
  const value = defOf(d.valueType as z.ZodType);
  const options = value.type === 'union' ? (value.options as z.ZodType[]) : [d.valueType as z.ZodType];
  return options.flatMap((schema) => {
    const typeKey = objectShape(schema)?.type;
    const values = typeKey ? (defOf(fieldInfo(typeKey).inner).values as unknown[] | undefined) : undefined;
    return values?.length ? [{ type: String(values[0]), schema }] : [];
  });
}

/** Every key of a whole config schema: the core sections' keys and, per plugin, the keys of its instance entries. */
export function configKeys(config: z.ZodType): ConfigKey[] {
  const keys: ConfigKey[] = [];
  walkKeys(config, (k) => keys.push(k));
  for (const [map, schema] of Object.entries(objectShape(fieldInfo(config).inner) ?? {})) {
    for (const { type, schema: entry } of instanceEntries(schema)) {
      walkKeys(entry, (k) => keys.push({ ...k, entry: { map, type } }));
    }
  }
  return keys;
}
