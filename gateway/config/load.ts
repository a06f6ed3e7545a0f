/**
 * Loading the config: read the YAML file (or nothing), substitute environment variables, validate
 * against the schema, resolve paths. Any problem becomes one `ConfigError` whose message has one
 * line per problem; nothing is opened or created before the whole config is known to be valid.
 * A valid config may still hold parts that never take effect (gateway/classify/dead-parts.ts): an
 * output nothing reaches is one more problem; a partly dead part is a warning in `warnings`.
 *
 * Environment variables: `${VAR}` and `${VAR:-default}` in any string value (never in keys), `$${`
 * for a literal `${`. A missing variable without a default is an error naming the path and the
 * variable. A plain (unquoted) scalar that is exactly one reference takes the YAML type of the
 * substituted text (`port: ${PORT}` becomes a number); quote it to keep a string. Inside a flow
 * map (`{ a: b }`) a reference must be quoted: YAML reads `{` there as syntax.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import YAML, { LineCounter, isPair, isScalar, isSeq, type YAMLParseError } from 'yaml';
import type { Scalar } from 'yaml';
import { findDeadParts } from '../classify/dead-parts.js';
import { policyFromDefinitions } from '../classify/index.js';
import type { Policy } from '../classify/index.js';
import { ConfigError, RoutingPolicyError } from '../plugin-api/errors.js';
import { registry as defaultRegistry } from '../runtime/registry.js';
import type { PluginRegistry } from '../runtime/registry.js';
import { formatIssues, formatPath } from './report.js';
import { renamedKeyUses } from './renamed-keys.js';
import { buildConfigSchema, defaultsFromEnv } from './schema.js';
import type { Config, ConfigSchema } from './schema.js';

export interface LoadOptions {
  /** the YAML file; undefined = no file, defaults only */
  file?: string | undefined;
  /** YAML text instead of a file (tests, stdin) */
  text?: string;
  env?: NodeJS.ProcessEnv;
  registry?: PluginRegistry;
  /** base for a relative `gateway.dataDir` (default: the working directory) */
  cwd?: string;
  /**
   * 'keep': a `${VAR}` that is not set and has no default stays as written (`${VAR}`) instead of
   * being an error; for commands that read only settings that need no variable (`layergate pki`).
   */
  unsetVariables?: 'error' | 'keep';
}

export interface LoadedConfig {
  config: Config;
  /** the schema it was validated against (for redaction and docs) */
  schema: ConfigSchema;
  /** where it came from: a file path or '(defaults)' */
  origin: string;
  /** parts of the config that are partly dead (the config is valid): `check-config` prints them, the gateway logs them */
  warnings: string[];
}

/** `file: 2 warnings` and one indented line per warning (nothing when there are none). */
export function formatWarnings(origin: string, warnings: readonly string[]): string {
  if (warnings.length === 0) return '';
  return `${origin}: ${warnings.length} warning${warnings.length === 1 ? '' : 's'}\n${warnings.map((w) => `  ${w}`).join('\n')}`;
}

/**
 * A `ConfigError` with the individual problems, one per line; the warnings found beside them (parts
 * of the config that are partly dead, see gateway/classify/dead-parts.ts) follow, so one run shows all.
 */
export class ConfigProblems extends ConfigError {
  readonly problems: string[];
  readonly warnings: string[];
  constructor(origin: string, problems: string[], warnings: string[] = []) {
    const warned = formatWarnings(origin, warnings);
    super(`${origin}: invalid configuration\n${problems.map((p) => `  ${p}`).join('\n')}${warned ? `\n${warned}` : ''}`);
    this.problems = problems;
    this.warnings = warnings;
  }
}

const REF = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** Substitute `${VAR}` / `${VAR:-default}` in one string; reports missing variables. */
export function interpolate(text: string, env: NodeJS.ProcessEnv, onMissing: (name: string) => string | undefined): string {
  return text.replace(REF, (whole, name: string | undefined, def: string | undefined) => {
    if (whole === '$${') return '${';
    const v = env[name!];
    if (v !== undefined && v !== '') return v;
    if (def !== undefined) return def;
    if (v === '') return '';
    return onMissing(name!) ?? '';
  });
}

function dataPathOf(ancestors: readonly unknown[], node: unknown): PropertyKey[] {
  const out: PropertyKey[] = [];
  const chain = [...ancestors, node];
  for (let i = 0; i < chain.length - 1; i++) {
    const a = chain[i];
    const next = chain[i + 1];
    if (isPair(a)) out.push(isScalar(a.key) ? String(a.key.value) : String(a.key));
    else if (isSeq(a)) out.push(a.items.indexOf(next as never));
  }
  return out;
}

function parseYaml(text: string, origin: string, env: NodeJS.ProcessEnv, unset: 'error' | 'keep' = 'error'): unknown {
  const lineCounter = new LineCounter();
  const doc = YAML.parseDocument(text, { prettyErrors: false, uniqueKeys: true, lineCounter });
  if (doc.errors.length > 0) {
    // our own wording: the library's message quotes the offending line, which may hold a secret
    const problems = doc.errors.map((e: YAMLParseError) => {
      const pos = e.linePos?.[0] ?? lineCounter.linePos(e.pos[0]);
      const first = (e.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
      return `${origin}:${pos ? `${pos.line}:${pos.col}` : '?'}: YAML syntax error: ${first}`;
    });
    throw new ConfigProblems(origin, problems);
  }
  const missing: string[] = [];
  YAML.visit(doc, {
    Scalar(key, node: Scalar, ancestors) {
      if (key === 'key' || typeof node.value !== 'string' || !node.value.includes('$')) return;
      const where = formatPath(dataPathOf(ancestors, node));
      const raw = node.value;
      const single = /^\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}$/.test(raw);
      const value = interpolate(raw, env, (name) => {
        if (unset === 'keep') return `\${${name}}`;
        missing.push(`${where}: environment variable ${name} is not set (and no default: use \${${name}:-default})`);
        return undefined;
      });
      if (single && node.type === 'PLAIN' && value !== '') {
        const typed: unknown = YAML.parse(value);
        node.value = typeof typed === 'number' || typeof typed === 'boolean' ? typed : value;
      } else node.value = value;
    },
  });
  if (missing.length > 0) throw new ConfigProblems(origin, missing);
  return doc.toJS() ?? {};
}

/** Read, substitute, validate. Throws `ConfigProblems` (a `ConfigError`) listing every problem. */
export function loadConfig(opts: LoadOptions = {}): LoadedConfig {
  const env = opts.env ?? process.env;
  const registry = opts.registry ?? defaultRegistry;
  const schema = buildConfigSchema(registry, defaultsFromEnv(env));
  let origin = '(defaults)';
  let raw: unknown = {};
  if (opts.text !== undefined) {
    origin = opts.file ?? '(text)';
    raw = parseYaml(opts.text, origin, env, opts.unsetVariables);
  } else if (opts.file !== undefined) {
    origin = opts.file;
    let text: string;
    try {
      text = readFileSync(opts.file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new ConfigProblems(origin, [code === 'ENOENT' ? `${origin}: file not found` : `${origin}: cannot read (${code ?? (err as Error).message})`]);
    }
    raw = parseYaml(text, origin, env, opts.unsetVariables);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigProblems(origin, [
      `(root): expected a map of sections (gateway, buffer, log, inputs, outputs), got ${Array.isArray(raw) ? 'a list' : typeof raw}`,
    ]);
  }
  // an old key is named with its new name, in place of the schema's "unknown key" for it
  const renamed = renamedKeyUses(raw, registry);
  const result = schema.safeParse(raw);
  if (!result.success || renamed.length > 0) {
    const issues = result.success ? [] : formatIssues(schema, raw, result.error.issues);
    const other = issues.filter((line) => !renamed.some((r) => line.startsWith(`${r.path}: `)));
    throw new ConfigProblems(origin, [...renamed.map((r) => r.problem), ...other]);
  }
  const config: Config = result.data;
  config.gateway.dataDir = path.resolve(opts.cwd ?? process.cwd(), config.gateway.dataDir);
  // the classification and routing policy must hold together (outputs named, nothing sensitive off premises)
  let policy: Policy;
  try {
    policy = policyFromDefinitions(config, registry);
  } catch (err) {
    if (!(err instanceof RoutingPolicyError)) throw err;
    throw new ConfigProblems(origin, err.message.split('\n'));
  }
  // and every part of it must be able to take effect: an output nothing reaches is refused, a rule that never applies is a warning
  const dead = findDeadParts({
    classification: config.classification,
    routing: config.routing,
    inputNames: Object.keys(config.inputs),
    outputs: policy.outputs,
    routes: policy.routes,
  });
  if (dead.errors.length > 0) throw new ConfigProblems(origin, dead.errors, dead.warnings);
  return { config, schema, origin, warnings: dead.warnings };
}
