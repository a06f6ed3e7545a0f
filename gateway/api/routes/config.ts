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
 */
import type { FastifyInstance } from 'fastify';
import YAML from 'yaml';
import { z } from 'zod';
import { configJsonSchema } from '../../config/json-schema.js';
import { ConfigProblems, loadConfig } from '../../config/load.js';
import { redactConfig } from '../../config/report.js';
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

  r.get('/api/v1/config/schema', { config: { access: 'viewer' }, schema: { hide: true } }, async () => configJsonSchema());
}
