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
 *
 * Secrets: every value that came from a secret reference (a variable whose name looks like a
 * credential, `${MQTT_PASSWORD}`) and every password inside a URL (`mqtt://user:${PW}@host`) is
 * collected into `LoadedConfig.secrets`, the redaction set that log lines and dumps are scrubbed of
 * wherever the value appears (report.ts `scrub`), a field that is not secret included. A secret
 * field or a URL password written in plain text in the file is a warning: the file is then a
 * credential to guard; `${VAR}` keeps it out.
 *
 * Limits, so that a hostile or broken file is one config error (exit 2), never a crash or a huge
 * allocation: the file at most 1 MiB, at most 100 aliases (an alias bomb expands exponentially),
 * nesting at most 64 deep, and every string at most 4 KiB (64 KiB for a PEM block or a secret
 * field), after substitution, so a 10 MB value from a variable is refused as well.
 */
import { apiInputName, recordSources } from './sources.js';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import YAML, { LineCounter, isPair, isScalar, isSeq, type YAMLParseError } from 'yaml';
import type { Scalar } from 'yaml';
import { findDeadParts } from '../classify/dead-parts.js';
import { policyFromDefinitions } from '../classify/index.js';
import type { Policy } from '../classify/index.js';
import { ConfigError, RoutingPolicyError } from '../plugin-api/errors.js';
import { registry as defaultRegistry } from '../runtime/registry.js';
import type { PluginRegistry } from '../runtime/registry.js';
import { formatIssues, formatPath, isSecretField, isSecretPath, scrub, urlPasswords } from './report.js';
import { renamedKeyUses } from './renamed-keys.js';
import { buildConfigSchema, defaultsFromEnv } from './schema.js';
import { isSecretKeyName } from './units.js';
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
  /**
   * parts of the config that are partly dead, and secrets written in plain text (the config is
   * valid): `check-config` prints them, the gateway logs them
   */
  warnings: string[];
  /** values that came from secret variables or URL passwords: the redaction set for logs and dumps, beside the secret fields */
  secrets: string[];
  /** the YAML text as read (its `${VAR}` references unresolved); undefined for the built-in defaults */
  text?: string | undefined;
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
  constructor(origin: string, rawProblems: string[], rawWarnings: string[] = []) {
    // whatever a problem quotes (a plugin's message, a policy error), a URL's password is not shown
    const problems = rawProblems.map((p) => scrub(p));
    const warnings = rawWarnings.map((w) => scrub(w));
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

export const MAX_FILE_BYTES = 1024 * 1024;
export const MAX_ALIASES = 100;
export const MAX_DEPTH = 64;
/** the longest string value: machine, signal and topic names, hosts, paths (PATH_MAX is 4096) */
export const MAX_STRING = 4096;
/** the longest PEM block or secret value (a certificate chain, a key ring) */
export const MAX_LONG_STRING = 64 * 1024;

/** A variable whose value is a credential by its name: `MQTT_PASSWORD`, `S3_SECRET_KEY`, `PW`, `REDIS_AUTH`. */
function isSecretVariable(name: string): boolean {
  return isSecretKeyName(name) || /(^|_)(PW|PWD|PASS|KEY|AUTH)($|_)/i.test(name);
}

/** what parsing found beside the data: the text each substituted string was written as, and the secret values */
interface Parsed {
  data: unknown;
  /** `formatPath` -> the text as written, for every string that held a reference */
  written: Map<string, string>;
  secrets: Set<string>;
}

function tooBig(origin: string, bytes: number): ConfigProblems {
  return new ConfigProblems(origin, [`${origin}: file too large (${bytes} bytes, at most ${MAX_FILE_BYTES})`]);
}

function parseYaml(text: string, origin: string, env: NodeJS.ProcessEnv, unset: 'error' | 'keep' = 'error'): Parsed {
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_FILE_BYTES) throw tooBig(origin, bytes);
  try {
    return parseYamlText(text, origin, env, unset);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    // the library's own limits (aliases) and a nesting deeper than the parser's stack: one line, no stack trace
    const msg = (err as Error).message ?? String(err);
    const reason = /alias/i.test(msg)
      ? `too many aliases (at most ${MAX_ALIASES}; an alias that expands exponentially is refused)`
      : err instanceof RangeError
        ? `nested too deeply (at most ${MAX_DEPTH} levels)`
        : (msg.split('\n')[0] ?? 'unreadable');
    throw new ConfigProblems(origin, [`${origin}: YAML not accepted: ${reason}`]);
  }
}

/** The deepest nesting of maps and lists in `v` (iterative: a deep value must not overflow the stack here). */
function depthOf(v: unknown): number {
  let max = 0;
  const stack: [unknown, number][] = [[v, 0]];
  while (stack.length > 0) {
    const [cur, d] = stack.pop()!;
    if (cur === null || typeof cur !== 'object') continue;
    max = Math.max(max, d + 1);
    if (max > MAX_DEPTH) return max;
    for (const x of Object.values(cur)) stack.push([x, d + 1]);
  }
  return max;
}

function parseYamlText(text: string, origin: string, env: NodeJS.ProcessEnv, unset: 'error' | 'keep'): Parsed {
  const lineCounter = new LineCounter();
  const doc = YAML.parseDocument(text, { prettyErrors: false, uniqueKeys: true, lineCounter });
  if (doc.errors.length > 0) {
    // our own wording: the library's message quotes the offending line, which may hold a secret
    const problems = doc.errors.map((e: YAMLParseError) => {
      const pos = e.linePos?.[0] ?? lineCounter.linePos(e.pos[0]);
      const first = (e.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
      // the parser turns its own stack overflow on a very deep nesting into a document error
      if (/Maximum call stack/i.test(first)) return `${origin}: YAML not accepted: nested too deeply (at most ${MAX_DEPTH} levels)`;
      return `${origin}:${pos ? `${pos.line}:${pos.col}` : '?'}: YAML syntax error: ${first}`;
    });
    throw new ConfigProblems(origin, [...new Set(problems)]);
  }
  const missing: string[] = [];
  const written = new Map<string, string>();
  const secrets = new Set<string>();
  YAML.visit(doc, {
    Scalar(key, node: Scalar, ancestors) {
      if (key === 'key' || typeof node.value !== 'string' || !node.value.includes('$')) return;
      const where = formatPath(dataPathOf(ancestors, node));
      const raw = node.value;
      written.set(where, raw);
      for (const m of raw.matchAll(REF)) {
        const v = m[1] !== undefined ? env[m[1]] : undefined;
        if (v && isSecretVariable(m[1]!)) secrets.add(v);
      }
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
  const data: unknown = doc.toJS({ maxAliasCount: MAX_ALIASES }) ?? {};
  if (depthOf(data) > MAX_DEPTH) throw new ConfigProblems(origin, [`${origin}: YAML not accepted: nested too deeply (at most ${MAX_DEPTH} levels)`]);
  return { data, written, secrets };
}

/** Strings longer than allowed, one problem each (the length, never the value). */
function overlongStrings(schema: ConfigSchema, raw: unknown): string[] {
  const problems: string[] = [];
  const walk = (v: unknown, p: PropertyKey[]): void => {
    if (Array.isArray(v)) for (const [i, x] of v.entries()) walk(x, [...p, i]);
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, [...p, k]);
    else if (typeof v === 'string' && v.length > MAX_STRING) {
      const max = v.startsWith('-----BEGIN ') || isSecretPath(schema, raw, p) ? MAX_LONG_STRING : MAX_STRING;
      if (v.length > max) problems.push(`${formatPath(p)}: too long (${v.length} characters, at most ${max})`);
    }
  };
  walk(raw, []);
  return problems;
}

/**
 * Secrets written in plain text in the file (a warning each, naming the path only): a secret field
 * whose text holds no `${VAR}`, a URL whose password is not a `${VAR}`. Also the URL passwords, for
 * the redaction set.
 */
function plainSecrets(schema: ConfigSchema, raw: unknown, written: Map<string, string>, secrets: Set<string>): string[] {
  const warnings: string[] = [];
  const walk = (v: unknown, p: PropertyKey[]): void => {
    if (Array.isArray(v)) for (const [i, x] of v.entries()) walk(x, [...p, i]);
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, [...p, k]);
    else if (typeof v === 'string' && v.length > 0) {
      const where = formatPath(p);
      const asWritten = written.get(where) ?? v;
      for (const pw of urlPasswords(v)) secrets.add(pw);
      if (isSecretField(schema, raw, p)) {
        if (!asWritten.includes('${')) warnings.push(`${where}: a secret written in plain text in the file; set it from the environment with \${VAR}`);
      } else if (urlPasswords(asWritten).some((pw) => !pw.includes('${'))) {
        warnings.push(`${where}: a URL with a password written in plain text in the file; write the password as \${VAR}`);
      }
    }
  };
  walk(raw, []);
  return warnings;
}

/** Read, substitute, validate. Throws `ConfigProblems` (a `ConfigError`) listing every problem. */
export function loadConfig(opts: LoadOptions = {}): LoadedConfig {
  const env = opts.env ?? process.env;
  const registry = opts.registry ?? defaultRegistry;
  const schema = buildConfigSchema(registry, defaultsFromEnv(env));
  let origin = '(defaults)';
  let parsed: Parsed = { data: {}, written: new Map(), secrets: new Set() };
  let source: string | undefined;
  if (opts.text !== undefined) {
    origin = opts.file ?? '(text)';
    source = opts.text;
    parsed = parseYaml(opts.text, origin, env, opts.unsetVariables);
  } else if (opts.file !== undefined) {
    origin = opts.file;
    let text: string;
    try {
      // refused before it is read: a huge file must not be loaded into memory first
      const size = statSync(opts.file).size;
      if (size > MAX_FILE_BYTES) throw tooBig(origin, size);
      text = readFileSync(opts.file, 'utf8');
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      throw new ConfigProblems(origin, [code === 'ENOENT' ? `${origin}: file not found` : `${origin}: cannot read (${code ?? (err as Error).message})`]);
    }
    parsed = parseYaml(text, origin, env, opts.unsetVariables);
    source = text;
  }
  const raw = parsed.data;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigProblems(origin, [
      `(root): expected a map of sections (gateway, buffer, log, inputs, outputs), got ${Array.isArray(raw) ? 'a list' : typeof raw}`,
    ]);
  }
  const overlong = overlongStrings(schema, raw);
  if (overlong.length > 0) throw new ConfigProblems(origin, overlong);
  const plain = plainSecrets(schema, raw, parsed.written, parsed.secrets);
  // an old key is named with its new name, in place of the schema's "unknown key" for it
  const renamed = renamedKeyUses(raw, registry);
  const result = schema.safeParse(raw);
  if (!result.success || renamed.length > 0) {
    // a value from a secret variable may be quoted as "got ..." in a field that is not secret
    const issues = result.success ? [] : formatIssues(schema, raw, result.error.issues).map((l) => scrub(l, [...parsed.secrets]));
    const other = issues.filter((line) => !renamed.some((r) => line.startsWith(`${r.path}: `)));
    throw new ConfigProblems(origin, [...renamed.map((r) => r.problem), ...other]);
  }
  const config: Config = result.data;
  config.gateway.dataDir = path.resolve(opts.cwd ?? process.cwd(), config.gateway.dataDir);
  // records stored through the gRPC API have their own source: an input of that name would be two sources in one
  const apiInput = apiInputName(config);
  if (apiInput !== undefined && apiInput in config.inputs) {
    throw new ConfigProblems(origin, [
      `api.grpc.input: "${apiInput}" is also the name of an input (inputs.${apiInput}); records stored through the gRPC API need a source of their own (set api.grpc.input to another name)`,
    ]);
  }
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
    inputNames: recordSources(config),
    outputs: policy.outputs,
    routes: policy.routes,
  });
  const warnings = [...plain, ...dead.warnings];
  if (dead.errors.length > 0) throw new ConfigProblems(origin, dead.errors, warnings);
  // under 4 characters a value is not looked for elsewhere: it would blank out ordinary words and numbers
  const secrets = [...parsed.secrets].filter((v) => v.length >= 4);
  return { config, schema, origin, warnings, secrets, text: source };
}
