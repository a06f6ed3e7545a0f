/**
 * The configuration reference, generated from the zod schema so it cannot drift from what the
 * gateway accepts: every key with its type, default and description, core sections first, then
 * each registered plugin's keys. `npm run docs:config` writes it into README.md between the
 * `config-reference` markers; a test fails when the README is stale.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type { core } from 'zod';
import { registry as defaultRegistry } from '../runtime/registry.js';
import type { PluginRegistry } from '../runtime/registry.js';
import { buildConfigSchema } from './schema.js';

interface Row {
  key: string;
  type: string;
  default: string;
  description: string;
}

function def(s: z.ZodType): core.$ZodTypeDef & Record<string, unknown> {
  return (s as unknown as { _zod: { def: core.$ZodTypeDef & Record<string, unknown> } })._zod.def;
}

/** Unwrap defaults/optionals, collecting what a reader needs to know on the way. */
function describeField(s: z.ZodType): { type: string; default: string; description: string; inner: z.ZodType; optional: boolean } {
  let cur = s;
  let dflt: unknown;
  let hasDefault = false;
  let optional = false;
  let description = '';
  let secret = false;
  for (;;) {
    const meta = z.globalRegistry.get(cur);
    if (meta?.description && !description) description = meta.description;
    if (meta?.secret) secret = true;
    const d = def(cur);
    if (d.type === 'default' || d.type === 'prefault') {
      if (!hasDefault) {
        const v = d.defaultValue;
        dflt = typeof v === 'function' ? (v as () => unknown)() : v;
        hasDefault = true;
      }
      cur = d.innerType as z.ZodType;
    } else if (d.type === 'optional' || d.type === 'nullable' || d.type === 'readonly') {
      optional = true;
      cur = d.innerType as z.ZodType;
    } else break;
  }
  let type = typeName(cur);
  if (secret) type = `${type} (secret)`;
  const shownDefault = hasDefault ? formatDefault(dflt) : optional ? '-' : '**required**';
  return { type, default: shownDefault, description, inner: cur, optional };
}

function formatDefault(v: unknown): string {
  if (v && typeof v === 'object' && Object.keys(v).length === 0) return '(see keys below)';
  if (typeof v === 'string') return `\`${v}\``;
  return `\`${JSON.stringify(v)}\``;
}

function typeName(s: z.ZodType): string {
  const d = def(s);
  const desc = z.globalRegistry.get(s)?.description ?? '';
  switch (d.type) {
    case 'pipe': {
      if (desc.startsWith('byte size')) return 'byte size';
      if (desc.startsWith('duration')) return 'duration';
      return typeName(d.in as z.ZodType);
    }
    case 'enum':
      return Object.values(d.entries as Record<string, string>).map((v) => `\`${v}\``).join(' \\| ');
    case 'literal':
      return (d.values as unknown[]).map((v) => `\`${String(v)}\``).join(' \\| ');
    case 'array':
      return `list of ${typeName(d.element as z.ZodType)}`;
    case 'object':
      return 'map';
    case 'record':
      return `map of name -> ${typeName(d.valueType as z.ZodType)}`;
    case 'union':
      return (d.options as z.ZodType[]).map(typeName).join(' or ');
    case 'default': case 'prefault': case 'optional': case 'nullable':
      return typeName(d.innerType as z.ZodType);
    default:
      return d.type;
  }
}

function objectRows(prefix: string, obj: z.ZodType, rows: Row[], skip: readonly string[] = []): void {
  const shape = def(obj).shape as Record<string, z.ZodType>;
  for (const [key, field] of Object.entries(shape)) {
    if (skip.includes(key)) continue;
    const f = describeField(field);
    const name = `${prefix}${key}`;
    if (def(f.inner).type === 'object') {
      rows.push({ key: `\`${name}\``, type: 'map', default: f.default, description: f.description });
      objectRows(`${name}.`, f.inner, rows);
    } else rows.push({ key: `\`${name}\``, type: f.type, default: f.default, description: f.description });
  }
}

function table(rows: Row[]): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  return [
    '| key | type | default | description |',
    '| --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r.key} | ${r.type} | ${r.default} | ${esc(r.description)} |`),
  ].join('\n');
}

/** The reference as Markdown. Defaults that depend on the machine are shown by their rule. */
export function configReference(registry: PluginRegistry = defaultRegistry): string {
  const schema = buildConfigSchema(registry, { machine: '(host name)', dataDir: '$LAYERGATE_DATA_DIR or ./var' });
  const shape = def(schema).shape as Record<string, z.ZodType>;
  const out: string[] = [];
  for (const section of ['gateway', 'buffer', 'log', 'classification', 'routing', 'encryption', 'audit']) {
    const rows: Row[] = [];
    objectRows(`${section}.`, describeField(shape[section]!).inner, rows);
    out.push(`#### \`${section}\`\n\n${table(rows)}`);
  }
  const envelope = (kind: 'inputs' | 'outputs'): string =>
    kind === 'inputs'
      ? '| `type` | input type | **required** | which plugin |\n| `class` | `public` \\| `internal` \\| `sensitive` \\| `confidential` | `classification.default` | class of the records no classification rule matches |'
      : '| `type` | output type | **required** | which plugin |\n| `classes` | list of classes | all the plugin accepts | only route these classes here |\n| `kinds` | list of `samples` \\| `scalar` \\| `event` \\| `frame` \\| `document` | all the plugin wants | only route these record kinds here |\n' +
        '| `premises` | `on` \\| `off` | what the plugin declares; undeclared = `off` | whether the sink is on the plant\'s premises; `off` may lower an on-premises plugin, never the reverse; off-premises sinks never get sensitive or confidential records |\n' +
        '| `linger` | duration | the plugin\'s preference, else `0` | forwarder linger: a partial batch is sent once its oldest record is this old, or when a full batch is there (fewer, larger batches for sinks that write a file or object per batch) |\n' +
        '| `batchRecords` | number | `500` | most records per send |\n' +
        '| `batchBytes` | byte size | `8MiB` | most record body bytes per send (one record always fits) |';
  for (const kind of ['inputs', 'outputs'] as const) {
    const defs = kind === 'inputs' ? registry.inputs : registry.outputs;
    out.push(
      `#### \`${kind}.<name>\`\n\n` +
        `A map of instance name (letters, digits, \`_\`, \`-\`) to settings. Every instance has:\n\n` +
        `| key | type | default | description |\n| --- | --- | --- | --- |\n${envelope(kind)}\n\n` +
        `Default when the section is absent: ${kind === 'inputs' ? '`{ health: { type: gateway-health } }`' : '`{ lake: { type: file-lake } }`'}.`,
    );
    for (const [type, d] of defs) {
      const rows: Row[] = [];
      objectRows('', d.configSchema, rows, kind === 'outputs' ? [] : []);
      out.push(`##### ${kind === 'inputs' ? 'input' : 'output'} \`type: ${type}\`\n\n${rows.length ? table(rows) : '(no settings)'}`);
    }
  }
  return out.join('\n\n');
}

export const START_MARK = '<!-- config-reference:start (generated by `npm run docs:config`; do not edit by hand) -->';
export const END_MARK = '<!-- config-reference:end -->';

/** README text with the reference section replaced. */
export function withReference(readme: string, reference: string): string {
  const a = readme.indexOf(START_MARK);
  const b = readme.indexOf(END_MARK);
  if (a < 0 || b < a) throw new Error(`README.md: markers ${START_MARK} ... ${END_MARK} not found`);
  return `${readme.slice(0, a + START_MARK.length)}\n\n${reference}\n\n${readme.slice(b)}`;
}

const isMain = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const readmePath = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../README.md');
  const before = readFileSync(readmePath, 'utf8');
  const after = withReference(before, configReference());
  if (after !== before) writeFileSync(readmePath, after);
  process.stdout.write(`${after === before ? 'up to date' : 'updated'}: ${readmePath}\n`);
}
