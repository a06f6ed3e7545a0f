/**
 * Reading the configuration's JSON Schema (GET /api/v1/config/schema, gateway/config/json-schema.ts)
 * for the generated forms: what kind of field a node is, its help text, which plugin entry an
 * instance uses, which branch of an anyOf a value is in.
 *
 * Only the subset that schema uses is understood (draft 2020-12 as zod 4 writes it, no $ref): type
 * (one or a list), properties, required, additionalProperties (closed objects and maps), oneOf
 * (plugin entries told apart by `type.const`), anyOf, enum, const, default, description, items,
 * numeric bounds, and our `x-secret`, `x-unit`, `x-unit-help`. Anything else is left to the YAML view.
 */

export interface SchemaNode {
  type?: string | string[];
  description?: string;
  default?: unknown;
  enum?: unknown[];
  const?: unknown;
  properties?: Record<string, SchemaNode>;
  required?: string[];
  additionalProperties?: boolean | SchemaNode;
  items?: SchemaNode;
  oneOf?: SchemaNode[];
  anyOf?: SchemaNode[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minItems?: number;
  pattern?: string;
  writeOnly?: boolean;
  'x-secret'?: boolean;
  'x-unit'?: string;
  'x-unit-help'?: string;
}

export type Path = (string | number)[];

export const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const typesOf = (n: SchemaNode): string[] => (n.type === undefined ? [] : Array.isArray(n.type) ? n.type : [n.type]);

/** what a node is shown as */
export type FieldKind =
  | 'object'
  | 'map'
  | 'instances'
  | 'string'
  | 'secret'
  | 'unit'
  | 'number'
  | 'boolean'
  | 'enum'
  | 'const'
  | 'enum-list'
  | 'text-list'
  | 'object-list'
  | 'choice'
  | 'unknown';

export function kindOf(n: SchemaNode): FieldKind {
  const t = typesOf(n);
  if (n.const !== undefined) return 'const';
  if (n.enum) return 'enum';
  if (n.anyOf?.every((b) => b.const !== undefined)) return 'enum';
  if (n.anyOf) return 'choice';
  if (n['x-unit'] || (t.includes('number') && t.includes('string'))) return 'unit';
  if (t.includes('object')) {
    if (isRecord(n.additionalProperties) && n.additionalProperties.oneOf) return 'instances';
    if (isRecord(n.additionalProperties)) return 'map';
    return 'object';
  }
  if (t.includes('array') && n.items) {
    const k = kindOf(n.items);
    if (k === 'enum') return 'enum-list';
    if (k === 'object') return 'object-list';
    if (k === 'string' || k === 'number' || k === 'unit') return 'text-list';
    return 'unknown';
  }
  if (t.includes('boolean')) return 'boolean';
  if (t.includes('integer') || t.includes('number')) return 'number';
  if (t.includes('string')) return n['x-secret'] || n.writeOnly ? 'secret' : 'string';
  return 'unknown';
}

/** the values an enum node allows (enum, or an anyOf of consts) */
export function enumValues(n: SchemaNode): unknown[] {
  if (n.enum) return n.enum;
  if (n.items && !n.enum && !n.anyOf) return enumValues(n.items);
  return (n.anyOf ?? []).map((b) => b.const);
}

/** the plugin entries of an instance map (inputs, outputs), each named by its `type` const */
export function pluginEntries(n: SchemaNode): { type: string; node: SchemaNode }[] {
  const ap = n.additionalProperties;
  if (typeof ap !== 'object' || !ap.oneOf) return [];
  return ap.oneOf.flatMap((e) => {
    const t = e.properties?.type?.const;
    return typeof t === 'string' ? [{ type: t, node: e }] : [];
  });
}

/** the branch of an anyOf that a value is in (by JSON type), else the first */
export function branchOf(n: SchemaNode, value: unknown): number {
  const branches = n.anyOf ?? [];
  const jsonType = value === undefined ? undefined : Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value;
  if (jsonType === undefined) return 0;
  const i = branches.findIndex((b) => {
    const t = typesOf(b);
    if (b.const !== undefined) return b.const === value;
    if (jsonType === 'object') return t.includes('object');
    if (jsonType === 'number') return t.includes('number') || t.includes('integer');
    return t.includes(jsonType);
  });
  return Math.max(0, i);
}

/** a branch's name in the picker */
export function branchLabel(b: SchemaNode): string {
  if (b.const !== undefined) return String(b.const);
  const k = kindOf(b);
  if (k === 'enum-list' || k === 'text-list' || k === 'object-list') return 'list';
  if (k === 'object') return 'settings';
  if (k === 'boolean') return 'on/off';
  if (k === 'unit') return b['x-unit'] ?? 'value';
  return typesOf(b).join(' or ') || 'value';
}

/** the help line of a field: description, how to write a unit, the default */
export function helpOf(n: SchemaNode): string {
  const parts: string[] = [];
  if (n.description) parts.push(n.description);
  if (n['x-unit-help']) parts.push(`Write ${n['x-unit-help']}.`);
  const d = n.default;
  if (d !== undefined && !isRecord(d) && !(Array.isArray(d) && d.length === 0)) parts.push(`Default: ${Array.isArray(d) ? d.join(', ') : String(d)}.`);
  return parts.join(' ');
}

/** a number typed into a unit field stays a number (milliseconds, bytes); anything else is kept as text */
export function unitValue(text: string): string | number | undefined {
  const t = text.trim();
  if (t === '') return undefined;
  return /^-?\d+(\.\d+)?$/.test(t) ? Number(t) : t;
}

/** `a.b[0].c` -> ['a', 'b', 0, 'c'] and back */
export function pathOf(s: string): Path {
  const out: Path = [];
  for (const m of s.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) out.push(m[2] !== undefined ? Number(m[2]) : (m[1] ?? ''));
  return out;
}

export function pathText(p: Path): string {
  return p.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? k : `.${k}`)).join('');
}

/** the element id of a field: the problem list links to it */
export function fieldId(p: Path): string {
  return `cfg-${pathText(p).replace(/[^A-Za-z0-9_-]/g, '_')}`;
}
