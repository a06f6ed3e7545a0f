/**
 * `GET /api/v1/explain?input=&signal=&kind=&build=&jobClass=&class=&material=&accessPattern=` (viewer):
 * which rule gives a record its class and where it is routed (with that access pattern, if given),
 * answered by the running gateway's own policy (the one in force, `Gateway.policy`), as `layergate
 * explain --json` prints it (gateway/classify/explain-report.ts), plus `jobMark`: the class the
 * running pipeline holds for that build's job (a marking through the machine context,
 * gateway/ingest/pipeline.ts; without `build`, the marking held while the machine context names no
 * build), or null.
 *
 * That marking is a floor of the answer, as it is of every record of the job the gateway receives: the
 * answer's job floor is the stricter of `jobClass` (a marking asked about) and the one held, so a
 * record of a job marked confidential is explained as confidential, which the config file alone
 * cannot tell (`layergate explain` asks this route when a gateway runs, gateway/cli/running-gateway.ts).
 *
 * - `input` must be an input of the running configuration (404 otherwise, naming them).
 * - Not limited by a token's `maxClass`: the answer is the policy's (a class and routes for a record
 *   that may never have been received), no record, value or signal of the buffer; the local CLI
 *   token (gateway/api/local-credential.ts, maxClass internal) asks it for every class.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { jobClassOf } from '../../classify/index.js';
import { explainAnswer } from '../../classify/explain-report.js';
import { ApiNotFoundError } from '../../plugin-api/errors.js';
import { ACCESS_PATTERNS, RECORD_KINDS, SENSITIVITY_CLASSES, classRank } from '../../plugin-api/record.js';
import { type ApiDeps, typed } from '../deps.js';

const cls = z.enum(SENSITIVITY_CLASSES);

/** the question: `layergate explain`'s options */
export const explainQuery = z.strictObject({
  input: z.string().min(1).max(128),
  signal: z.string().max(1024),
  kind: z.enum(RECORD_KINDS).default('scalar'),
  build: z.string().max(256).optional(),
  jobClass: z.string().max(64).optional(),
  class: cls.optional(),
  material: z.string().max(256).optional(),
  /** the record's access pattern; absent: a record without one */
  accessPattern: z.enum(ACCESS_PATTERNS).optional(),
});

/** `layergate explain --json`, and the job marking the running pipeline holds */
export const explainResponse = z.object({
  input: z.string(),
  signal: z.string(),
  kind: z.enum(RECORD_KINDS),
  build: z.string().nullable(),
  /** echoed when asked about */
  accessPattern: z.enum(ACCESS_PATTERNS).optional(),
  classification: z.object({
    class: cls,
    rule: z.string(),
    matched: z.array(z.object({ rule: z.string(), class: cls, description: z.string().optional() })),
    base: z.object({ class: cls, from: z.string() }),
    floors: z.array(z.object({ from: z.string(), class: cls })),
  }),
  routing: z.object({
    routes: z.array(z.string()),
    outputs: z.array(z.object({ output: z.string(), receives: z.boolean(), why: z.string() })),
  }),
  premises: z.record(z.string(), z.enum(['on', 'off'])),
  /** the class the running pipeline holds for the build's job; null: none */
  jobMark: cls.nullable(),
});

export function explainRoutes(app: FastifyInstance, deps: ApiDeps): void {
  typed(app).get(
    '/api/v1/explain',
    { config: { access: 'viewer' }, schema: { querystring: explainQuery, response: { 200: explainResponse } } },
    async (req) => {
      const data = deps.data;
      if (!data) throw new ApiNotFoundError('this API is not attached to a running gateway');
      const q = req.query;
      if (!data.inputs.includes(q.input)) {
        throw new ApiNotFoundError(`no input named "${q.input}" in the running gateway's configuration (inputs: ${data.inputs.join(', ') || 'none'})`);
      }
      const held = data.jobMark(q.build ? q.build : undefined);
      const asked = jobClassOf(q.jobClass).class;
      const jobClass = held !== undefined && (asked === undefined || classRank(held) > classRank(asked)) ? held : q.jobClass;
      return { ...explainAnswer(data.policy(), { ...q, jobClass }), jobMark: held ?? null };
    },
  );
}
