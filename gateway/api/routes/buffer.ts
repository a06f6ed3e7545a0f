/**
 * The running gateway's buffer, for a viewer:
 *
 * - `GET /api/v1/buffer`: its figures as `layergate buffer stats --json` prints them (size, fill,
 *   oldest/newest, per-sink lag, evictions; ns times as decimal strings) and the input quarantine
 *   per input and reason (gateway/quarantine/summary.ts).
 * - `GET /api/v1/losses?limit=N`: the loss ledger, newest first, as `layergate buffer losses --json`
 *   prints it (N: 1..100000, default 100).
 *
 * - `GET /api/v1/buffer/sinks` (viewer): every sink the buffer knows, a removed output's among them
 *   (`listed: false`, still `held` with its lag until dropped).
 * - `DELETE /api/v1/buffer/sinks/:name` (admin): drop a removed output's sink: what it had not
 *   received goes into the loss ledger (`sink-dropped`) and its records no longer wait for it.
 *   A sink that is still an output answers 409.
 *
 * One JSON shape for the CLI and the API (gateway/buffer/report.ts): the CLI asks these routes while
 * the gateway runs (the buffer admits one process) and prints the answer as it prints a buffer it
 * opened itself (gateway/cli/running-gateway.ts). Both read what the running buffer keeps in memory
 * and its ledger table: no scan of the records.
 */
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { lossJson, statsJson } from '../../buffer/report.js';
import { SENSITIVITY_CLASSES } from '../../plugin-api/record.js';
import { ApiNotFoundError } from '../../plugin-api/errors.js';
import { quarantineSummary } from '../../quarantine/summary.js';
import { type ApiDeps, typed } from '../deps.js';

/** the most ledger entries one answer carries */
export const LOSSES_LIMIT_MAX = 100_000;

const nsText = z.string().regex(/^\d+$/).nullable();

/** `layergate buffer stats --json`: the keys in the order the CLI prints them */
export const bufferAnswer = z.object({
  path: z.string(),
  records: z.number(),
  bytes: z.number(),
  maxBytes: z.number(),
  recordBytesLimit: z.number(),
  fill: z.number(),
  oldestSeq: z.number().nullable(),
  newestSeq: z.number().nullable(),
  oldestReceiveTimeNs: nsText,
  newestReceiveTimeNs: nsText,
  spoolBlobs: z.number(),
  spoolBytes: z.number(),
  sinks: z.array(z.object({ sink: z.string(), cursor: z.number(), lagRecords: z.number(), lagBytes: z.number() })),
  evictions: z.array(z.object({ source: z.string(), class: z.enum(SENSITIVITY_CLASSES), records: z.number(), bytes: z.number() })),
  missingBlobs: z.number(),
  oldestReceiveTime: z.string().nullable(),
  newestReceiveTime: z.string().nullable(),
  quarantine: z.array(z.object({ input: z.string(), reason: z.string(), items: z.number(), bytes: z.number() })),
});

/** `layergate buffer losses --json` */
export const lossesAnswer = z.array(
  z.object({
    id: z.number(),
    atNs: z.string().regex(/^\d+$/),
    source: z.string(),
    signal: z.string(),
    class: z.enum(SENSITIVITY_CLASSES),
    firstSeq: z.number(),
    lastSeq: z.number(),
    records: z.number(),
    bytes: z.number(),
    reason: z.string(),
    sinks: z.array(z.string()),
    at: z.string().nullable(),
  }),
);

export function bufferRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const r = typed(app);
  // the data folder holds the API's folder (server.ts apiDir) and the input quarantine
  const dataDir = path.dirname(deps.apiDir);
  const buffer = () => {
    if (!deps.buffer) throw new ApiNotFoundError('this API serves no buffer');
    return deps.buffer();
  };

  r.get('/api/v1/buffer', { config: { access: 'viewer' }, schema: { response: { 200: bufferAnswer } } }, async () => {
    return { ...statsJson(buffer().stats()), quarantine: quarantineSummary(dataDir) };
  });

  r.get(
    '/api/v1/losses',
    {
      config: { access: 'viewer' },
      schema: {
        querystring: z.strictObject({ limit: z.coerce.number().int().min(1).max(LOSSES_LIMIT_MAX).default(100) }),
        response: { 200: lossesAnswer },
      },
    },
    async (req) => buffer().losses(req.query.limit).map(lossJson),
  );

  const control = () => {
    if (!deps.control) throw new ApiNotFoundError('this API cannot change a gateway');
    return deps.control;
  };
  r.get(
    '/api/v1/buffer/sinks',
    {
      config: { access: 'viewer' },
      schema: {
        response: {
          200: z.array(
            z.object({ name: z.string(), listed: z.boolean(), held: z.boolean(), cursor: z.number(), lagRecords: z.number(), lagBytes: z.number() }),
          ),
        },
      },
    },
    async () => control().sinks(),
  );
  r.delete(
    '/api/v1/buffer/sinks/:name',
    {
      config: { access: 'admin' },
      schema: {
        params: z.strictObject({ name: z.string().max(64) }),
        response: { 200: z.object({ sink: z.string(), records: z.number(), bytes: z.number() }) },
      },
    },
    async (req) => ({ sink: req.params.name, ...control().dropSink(req.params.name, req.principal!.name) }),
  );
}
