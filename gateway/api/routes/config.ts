/**
 * The configuration as the running gateway has it, and checking a candidate, for the UI's editor:
 *
 * - `GET /api/v1/config` (admin): the effective configuration (defaults applied, units resolved)
 *   with every secret redacted, as an object and as YAML, and where it came from.
 * - `POST /api/v1/config/validate` (admin): a candidate YAML text checked by the loader `check-config`
 *   uses, so the problems are the same lines, each naming its path; `${VAR}` references resolve from
 *   the gateway's environment. Nothing is applied or stored.
 * - `GET /api/v1/config/schema` (viewer): the whole configuration as JSON Schema (every plugin's
 *   keys), what the UI generates its forms from.
 * - `GET /api/v1/config/versions`, `.../versions/:n`, `GET /api/v1/config/diff?from=&to=` (admin): the
 *   configuration's history (gateway/config/history.ts) with each version's text and a unified diff
 *   between any two, secrets hidden (`redactText`).
 * - `POST /api/v1/config/apply` and `POST /api/v1/config/rollback` (admin): a YAML text, or a version
 *   of the history, applied to the running gateway as a hot reload (gateway/runtime/reload.ts), with
 *   the caller as author and a comment; the answer names what changed and the version now in force.
 *   A text that does not load answers 422 with the same problem lines as validate; one that cannot
 *   be applied (a key only a restart changes, a plugin that cannot start) 422 with why; the running
 *   configuration is then the one before.
 */
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import YAML from 'yaml';
import { z } from 'zod';
import { configJsonSchema } from '../../config/json-schema.js';
import { ConfigProblems, loadConfig } from '../../config/load.js';
import { redactConfig, scrub } from '../../config/report.js';
import { ConfigHistory, historyPath } from '../../config/history.js';
import { isSecretKeyName } from '../../config/units.js';
import { ApiNotFoundError } from '../../plugin-api/errors.js';
import { type ApiDeps, typed } from '../deps.js';

export function configRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const r = typed(app);
  const running = () => {
    const loaded = deps.loaded?.();
    if (!loaded) throw new ApiNotFoundError('this API serves no gateway configuration');
    return loaded;
  };

  r.get(
    '/api/v1/config',
    {
      config: { access: 'admin' },
      schema: { response: { 200: z.object({ origin: z.string(), config: z.record(z.string(), z.unknown()), yaml: z.string() }) } },
    },
    async () => {
      const loaded = running();
      const config = redactConfig(loaded.schema, loaded.config, loaded.secrets) as Record<string, unknown>;
      return { origin: loaded.origin, config, yaml: YAML.stringify(config) };
    },
  );

  r.post(
    '/api/v1/config/validate',
    {
      config: { access: 'admin' },
      schema: {
        // bounded by the API's body limit (1 MiB) and the loader's own YAML limits
        body: z.strictObject({ yaml: z.string() }),
        response: {
          200: z.object({ ok: z.boolean(), problems: z.array(z.string()), warnings: z.array(z.string()), summary: z.string().nullable() }),
        },
      },
    },
    async (req) => {
      try {
        const candidate = loadConfig({ text: req.body.yaml });
        return {
          ok: true,
          problems: [],
          warnings: candidate.warnings,
          summary: YAML.stringify(redactConfig(candidate.schema, candidate.config, candidate.secrets)),
        };
      } catch (err) {
        if (err instanceof ConfigProblems) return { ok: false, problems: err.problems, warnings: err.warnings, summary: null };
        throw err;
      }
    },
  );

  const control = () => {
    if (!deps.control) throw new ApiNotFoundError('this API cannot change a gateway');
    return deps.control;
  };
  const changes = z.object({ added: z.array(z.string()), removed: z.array(z.string()), changed: z.array(z.string()), unchanged: z.array(z.string()) });
  const applied = z.object({
    version: z.number().nullable(),
    inputs: changes,
    outputs: changes,
    policyChanged: z.boolean(),
    file: z.object({ path: z.string(), written: z.boolean(), reason: z.string().optional() }).nullable(),
  });
  const appliedAnswer = (a: Awaited<ReturnType<NonNullable<ApiDeps['control']>['apply']>>) => ({ ...a, version: a.version ?? null });
  const problems = z.object({ error: z.string(), message: z.string(), problems: z.array(z.string()).optional() });
  const comment = z.string().max(500).default('');

  r.post(
    '/api/v1/config/apply',
    {
      config: { access: 'admin' },
      schema: { body: z.strictObject({ yaml: z.string(), comment }), response: { 200: applied, 422: problems } },
    },
    async (req, reply) => {
      try {
        return appliedAnswer(await control().apply(req.body.yaml, { author: req.principal!.name, comment: req.body.comment }));
      } catch (err) {
        if (err instanceof ConfigProblems) return reply.code(422).send({ error: err.code, message: err.message, problems: err.problems });
        throw err;
      }
    },
  );

  r.post(
    '/api/v1/config/rollback',
    {
      config: { access: 'admin' },
      schema: { body: z.strictObject({ version: z.number().int().min(1), comment }), response: { 200: applied, 422: problems } },
    },
    async (req, reply) => {
      const meta = { author: req.principal!.name, comment: req.body.comment || `rollback to version ${req.body.version}` };
      try {
        return appliedAnswer(await control().rollback(req.body.version, meta));
      } catch (err) {
        if (err instanceof ConfigProblems) return reply.code(422).send({ error: err.code, message: err.message, problems: err.problems });
        throw err;
      }
    },
  );

  r.get('/api/v1/config/schema', { config: { access: 'viewer' }, schema: { hide: true } }, async () => configJsonSchema());

  const versionInfo = z.object({ n: z.number(), at: z.string(), author: z.string(), comment: z.string(), origin: z.string(), sha256: z.string() });
  const withHistory = <T>(fn: (h: ConfigHistory) => T): T => {
    const h = new ConfigHistory(historyPath(path.dirname(deps.apiDir)));
    try {
      return fn(h);
    } finally {
      h.close();
    }
  };

  r.get('/api/v1/config/versions', { config: { access: 'admin' }, schema: { response: { 200: z.array(versionInfo) } } }, async () =>
    withHistory((h) => h.list()),
  );

  r.get(
    '/api/v1/config/versions/:n',
    {
      config: { access: 'admin' },
      schema: { params: z.strictObject({ n: z.coerce.number().int().min(1) }), response: { 200: z.object({ version: versionInfo, text: z.string() }) } },
    },
    async (req) =>
      withHistory((h) => {
        const version = h.list().find((v) => v.n === req.params.n);
        const text = h.text(req.params.n);
        if (!version || text === undefined) throw new ApiNotFoundError(`no configuration version ${req.params.n}`);
        return { version, text: redactText(text) };
      }),
  );

  r.get(
    '/api/v1/config/diff',
    {
      config: { access: 'admin' },
      schema: {
        querystring: z.strictObject({ from: z.coerce.number().int().min(1), to: z.coerce.number().int().min(1) }),
        response: { 200: z.object({ from: z.number(), to: z.number(), diff: z.string() }) },
      },
    },
    async (req) =>
      withHistory((h) => {
        const diff = h.diff(req.query.from, req.query.to, redactText);
        if (diff === undefined) throw new ApiNotFoundError(`no configuration version ${req.query.from} or ${req.query.to}`);
        return { from: req.query.from, to: req.query.to, diff };
      }),
  );
}

/**
 * A version's text with what looks secret hidden, its layout kept (so diffs stay readable): values
 * of keys named like credentials (`isSecretKeyName`) and passwords in URLs. `${VAR}` references
 * are kept: they name a variable, not its value.
 */
export function redactText(text: string): string {
  const values: string[] = [];
  const walk = (v: unknown, key: string | undefined): void => {
    if (typeof v === 'string') {
      if (key !== undefined && isSecretKeyName(key) && !/^\$\{[^}]+\}$/.test(v.trim())) values.push(v);
    } else if (Array.isArray(v)) for (const x of v) walk(x, key);
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, k);
  };
  try {
    walk(YAML.parse(text, { maxAliasCount: 100 }), undefined);
  } catch {
    // not YAML (it was refused then, but its text is kept): URL passwords are still hidden below
  }
  return scrub(text, values);
}
