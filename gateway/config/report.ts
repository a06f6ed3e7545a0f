/**
 * Turning validation results into words, without leaking secrets: one line per problem naming the
 * path, what was expected and what was found; and a redacted dump of a config for `check-config`
 * and the startup log.
 *
 * A value is secret when the schema marks the field (`secret()` / `.meta({ secret: true })`) or when
 * a key on its path looks like a credential (`isSecretKeyName`). Secret values are replaced by
 * `<redacted>`, and as a second line of defence every secret value found in the raw config is
 * scrubbed from every message (a plugin's custom error text might quote it).
 */
import { z } from 'zod';
import type { core } from 'zod';
import { REDACTED, isSecretKeyName } from './units.js';

export type ConfigPath = readonly PropertyKey[];

/** `outputs.kafka.brokers[0]` */
export function formatPath(path: ConfigPath): string {
  let out = '';
  for (const k of path) {
    if (typeof k === 'number') out += `[${k}]`;
    else out += out ? `.${String(k)}` : String(k);
  }
  return out || '(root)';
}

function defOf(s: z.ZodType): core.$ZodTypeDef & Record<string, unknown> {
  return (s as unknown as { _zod: { def: core.$ZodTypeDef & Record<string, unknown> } })._zod.def;
}

/** The schema itself and every wrapper/inner schema that describes the same value. */
function sameValueChain(s: z.ZodType, data: unknown): z.ZodType[] {
  const out: z.ZodType[] = [];
  const stack: z.ZodType[] = [s];
  while (stack.length > 0) {
    const cur = stack.pop()!;
    if (out.includes(cur)) continue;
    out.push(cur);
    const d = defOf(cur);
    switch (d.type) {
      case 'optional':
      case 'nullable':
      case 'default':
      case 'prefault':
      case 'readonly':
      case 'catch':
      case 'nonoptional':
        stack.push(d.innerType as z.ZodType);
        break;
      case 'pipe':
        stack.push(d.in as z.ZodType, d.out as z.ZodType);
        break;
      case 'lazy':
        stack.push((d.getter as () => z.ZodType)());
        break;
      case 'union': {
        const options = d.options as z.ZodType[];
        const disc = d.discriminator as string | undefined;
        if (disc && data && typeof data === 'object') {
          const want = (data as Record<string, unknown>)[disc];
          const match = options.filter((o) => {
            const shape = (defOf(o).shape ?? {}) as Record<string, z.ZodType>;
            const lit = shape[disc] ? defOf(shape[disc]).values : undefined;
            return Array.isArray(lit) && lit.includes(want);
          });
          stack.push(...(match.length > 0 ? match : []));
        } else stack.push(...options);
        break;
      }
      case 'intersection':
        stack.push(d.left as z.ZodType, d.right as z.ZodType);
        break;
      default:
        break;
    }
  }
  return out;
}

/** Schemas describing the value at `path` (several when a union cannot be narrowed). */
export function schemasAt(root: z.ZodType, data: unknown, path: ConfigPath): z.ZodType[] {
  let level: z.ZodType[] = sameValueChain(root, data);
  let value = data;
  for (const key of path) {
    const child = value && typeof value === 'object' ? (value as Record<PropertyKey, unknown>)[key] : undefined;
    const next: z.ZodType[] = [];
    for (const s of level) {
      const d = defOf(s);
      let c: z.ZodType | undefined;
      if (d.type === 'object') c = (d.shape as Record<string, z.ZodType>)[String(key)];
      else if (d.type === 'record') c = d.valueType as z.ZodType;
      else if (d.type === 'array') c = d.element as z.ZodType;
      if (c) for (const x of sameValueChain(c, child)) if (!next.includes(x)) next.push(x);
    }
    level = next;
    value = child;
  }
  return level;
}

function markedSecret(s: z.ZodType): boolean {
  return z.globalRegistry.get(s)?.secret === true;
}

/** Is the value at `path` a secret? */
export function isSecretPath(root: z.ZodType, data: unknown, path: ConfigPath): boolean {
  if (path.some((k) => isSecretKeyName(k))) return true;
  return schemasAt(root, data, path).some(markedSecret);
}

/**
 * Is the value at `path` a secret field itself (its own key looks like a credential, or the schema
 * marks it)? Unlike `isSecretPath`, not everything below an entry whose name merely looks like one
 * (an input named `token-reader`): for the plain-text warning, which must name real secrets only.
 */
export function isSecretField(root: z.ZodType, data: unknown, path: ConfigPath): boolean {
  if (path.length > 0 && isSecretKeyName(path[path.length - 1]!)) return true;
  return schemasAt(root, data, path).some(markedSecret);
}

/** Every secret string in `data` (for scrubbing messages). */
export function collectSecretValues(root: z.ZodType, data: unknown): string[] {
  const found = new Set<string>();
  const walk = (v: unknown, path: PropertyKey[]): void => {
    if (v && typeof v === 'object') {
      for (const [k, child] of Object.entries(v)) walk(child, [...path, Array.isArray(v) ? Number(k) : k]);
    } else if ((typeof v === 'string' || typeof v === 'number') && String(v).length > 0 && isSecretPath(root, data, path)) {
      found.add(String(v));
    }
  };
  walk(data, []);
  return [...found];
}

/**
 * A copy of `data` with every secret value replaced by `<redacted>`, and every other string
 * scrubbed (`scrub`): a secret value reused in a field that is not secret, a value that came from a
 * secret variable (`secrets`, the loader's `LoadedConfig.secrets`) and URL passwords are hidden too.
 */
export function redactConfig<T>(root: z.ZodType, data: T, secrets: readonly string[] = []): T {
  // a value of under 4 characters is not looked for elsewhere: it would blank out ordinary words and numbers
  const known = [...collectSecretValues(root, data), ...secrets].filter((s) => s.length >= 4);
  const walk = (v: unknown, path: PropertyKey[]): unknown => {
    if (Array.isArray(v)) return v.map((x, i) => walk(x, [...path, i]));
    if (v && typeof v === 'object') {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [scrub(k, known), walk(x, [...path, k])]));
    }
    if (v !== undefined && v !== null && isSecretPath(root, data, path)) return REDACTED;
    if (typeof v === 'string') return scrub(v, known);
    return v;
  };
  return walk(data, []) as T;
}

/**
 * `scheme://user:password@`: the password of a URL's user info. The user part may be empty
 * (`redis://:pw@host`); neither part may hold a quote, space, `<`/`>` (so `<redacted>` is never
 * matched again) or a `/` (a path's `@` is not user info).
 */
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s:/@"'<>\\]*):([^\s/@"'<>\\]+)@/gi;

/** The passwords written in the URLs inside `text` (for the redaction set and the plain-text warning). */
export function urlPasswords(text: string): string[] {
  return [...text.matchAll(URL_CREDENTIALS)].map((m) => m[3]!);
}

/**
 * The one redaction of free text, used by log lines, config dumps, `check-config` and error
 * messages: every known secret value (also in its JSON-escaped form, as a log line holds it) and
 * the password of every `scheme://user:password@` URL become `<redacted>`.
 */
export function scrub(text: string, secrets: readonly string[] = []): string {
  let out = text;
  const forms = new Set<string>();
  for (const s of secrets) {
    if (s.length === 0) continue;
    forms.add(s);
    forms.add(JSON.stringify(s).slice(1, -1));
  }
  // longest first so a secret containing another is replaced whole
  for (const s of [...forms].sort((a, b) => b.length - a.length)) out = out.split(s).join(REDACTED);
  return out.replace(URL_CREDENTIALS, (_m, scheme: string, user: string) => `${scheme}${user}:${REDACTED}@`);
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  if (typeof v === 'string') return JSON.stringify(v.length > 80 ? `${v.slice(0, 77)}...` : v);
  if (typeof v === 'bigint') return `${v}`;
  return `${typeof v} ${String(v)}`;
}

function valueAt(data: unknown, path: ConfigPath): unknown {
  let v = data;
  for (const k of path) v = v && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[k] : undefined;
  return v;
}

function allowedKeys(root: z.ZodType, data: unknown, path: ConfigPath): string[] {
  const keys = new Set<string>();
  for (const s of schemasAt(root, data, path)) {
    const d = defOf(s);
    if (d.type === 'object') for (const k of Object.keys(d.shape as object)) keys.add(k);
  }
  return [...keys];
}

/** `"FULL"`, `0`: a value as the config would write it */
const literal = (v: unknown): string => JSON.stringify(v) ?? String(v);

/** `"auto"` for one allowed value, `one of 0, 1, 2` for several */
function allowedValues(values: readonly unknown[]): string {
  const distinct = [...new Set(values)];
  return distinct.length === 1 ? literal(distinct[0]) : `one of ${distinct.map(literal).join(', ')}`;
}

/**
 * How well the value fits one option of a union, from that option's issues: 2 = its shape fits and
 * only something inside it is wrong, 1 = the right type but a wrong value, 0 = the wrong type.
 */
function optionFit(issues: readonly core.$ZodIssue[], value: unknown): number {
  if (issues.every((i) => i.path.length > 0)) return 2;
  const wrongType = issues.some(
    (i) => i.path.length === 0 && (i.code === 'invalid_type' || (i.code === 'invalid_value' && !i.values.some((v) => typeof v === typeof value))),
  );
  return wrongType ? 0 : 1;
}

/** What one union option expected, in words (`one of 0, 1, 2` is built from the literal options together). */
function optionExpectation(issue: core.$ZodIssue): string {
  if (issue.code === 'invalid_type') return issue.expected;
  // our helpers say "expected X, got Y": keep X
  return issue.message
    .replace(/^Invalid input: /, '')
    .replace(/^expected /, '')
    .replace(/, got .*$/s, '');
}

/**
 * A union that is not told apart by a `type` key, as the issues to report: the issues of the one
 * option the value fits best (a list given where one item or a list is allowed: what is wrong in the
 * list), or else one merged issue naming every allowed value (`qos: expected one of 0, 1, 2`).
 */
function unionIssues(issue: core.$ZodIssueInvalidUnion, value: unknown): core.$ZodIssue[] {
  const options = issue.errors.filter((o) => o.length > 0);
  if (options.length === 0) return [{ code: 'custom', path: issue.path, message: issue.message, input: value } as core.$ZodIssue];
  const fits = options.map((o) => optionFit(o, value));
  const best = Math.max(...fits);
  const closest = options.filter((_, i) => fits[i] === best);
  if (closest.length === 1 || best === 2) return closest[0]!.map((i) => ({ ...i, path: [...issue.path, ...i.path] }));
  const values: unknown[] = [];
  const other: string[] = [];
  for (const option of closest) {
    for (const i of option) {
      if (i.code === 'invalid_value') values.push(...i.values);
      else other.push(optionExpectation(i));
    }
  }
  const expected = [...(values.length > 0 ? [allowedValues(values)] : []), ...new Set(other)].join(' or ');
  return [{ code: 'custom', path: issue.path, message: `expected ${expected}`, input: value } as core.$ZodIssue];
}

/** One line per problem: `path: expected X, got Y`. Secret values never appear. */
export function formatIssues(root: z.ZodType, data: unknown, issues: readonly core.$ZodIssue[]): string[] {
  const secrets = collectSecretValues(root, data);
  const lines: string[] = [];
  const pending = [...issues];
  for (let issue = pending.shift(); issue !== undefined; issue = pending.shift()) {
    const path = issue.path as PropertyKey[];
    const value = valueAt(data, path);
    const secretHere = isSecretPath(root, data, path);
    const got = secretHere && value !== undefined ? REDACTED : describe(value);
    const at = formatPath(path);
    switch (issue.code) {
      case 'unrecognized_keys': {
        const allowed = allowedKeys(root, data, path);
        for (const key of issue.keys) {
          lines.push(`${formatPath([...path, key])}: unknown key${allowed.length ? ` (allowed here: ${allowed.join(', ')})` : ''}`);
        }
        continue;
      }
      case 'invalid_type':
        lines.push(value === undefined ? `${at}: missing required key, expected ${issue.expected}` : `${at}: expected ${issue.expected}, got ${got}`);
        continue;
      case 'invalid_value':
        lines.push(`${at}: expected ${allowedValues(issue.values)}, got ${got}`);
        continue;
      case 'invalid_union': {
        const u = issue as unknown as { note?: string; discriminator?: string; options?: unknown[] };
        if (u.note === 'No matching discriminator') {
          const section = path[0] === 'inputs' ? 'input' : path[0] === 'outputs' ? 'output' : 'value';
          const opts = u.options ?? [];
          lines.push(
            value === undefined
              ? `${at}: missing required key, expected one of the ${section} types ${opts.map(literal).join(', ')}`
              : `${at}: unknown ${section} type, expected ${allowedValues(opts)}, got ${got}`,
          );
        } else pending.unshift(...unionIssues(issue, value));
        continue;
      }
      case 'invalid_format':
        lines.push(`${at}: expected ${issue.format === 'regex' ? issue.message.replace(/^Invalid string: /, '') : issue.format}, got ${got}`);
        continue;
      case 'invalid_key':
        lines.push(`${at}: invalid name: ${issue.issues.map((i) => i.message).join('; ')}`);
        continue;
      case 'custom':
        // our helpers put "got ..." in the message already; a plugin's text may quote the value
        {
          const msg = secretHere ? scrub(issue.message, [...secrets, String(value)]) : issue.message;
          lines.push(`${at}: ${/\bgot\b/.test(msg) ? msg : `${msg}, got ${got}`}`);
        }
        continue;
      default:
        lines.push(`${at}: ${issue.message.replace(/^Invalid input: /, '')}, got ${got}`);
    }
  }
  return lines.map((l) => scrub(l, secrets));
}
