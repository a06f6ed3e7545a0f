/**
 * The audit log for the UI (viewer): `GET /api/v1/audit?limit=&before=` answers the newest entries,
 * newest first, a page at a time (`before`: entries with a seq below it; the answer's `nextBefore`
 * asks for the page after), and the hash chain's check (gateway/audit/audit-log.ts `verifyAuditLog`):
 * `{ ok, entries, head, broken? }`, so the UI can show whether the chain holds and, if not, the first
 * broken line and seq.
 *
 * Constraints: read-only; the whole file is read and checked per request (audit events are rare, so
 * the file stays small). Entries that do not parse are not listed (the check names the first one).
 */
import { existsSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { verifyAuditLog } from '../../audit/audit-log.js';
import { type ApiDeps, typed } from '../deps.js';

const entry = z.object({
  seq: z.number(),
  at: z.string(),
  type: z.string(),
  data: z.record(z.string(), z.unknown()),
  prev: z.string(),
  hash: z.string(),
});

const chain = z.object({
  ok: z.boolean(),
  /** entries before the first broken one (all of them when ok) */
  entries: z.number(),
  /** hash of the last intact entry */
  head: z.string().nullable(),
  broken: z.object({ line: z.number(), seq: z.number().nullable(), problem: z.string() }).optional(),
});

export function auditRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const r = typed(app);
  r.get(
    '/api/v1/audit',
    {
      config: { access: 'viewer' },
      schema: {
        querystring: z.strictObject({
          limit: z.coerce.number().int().min(1).max(1000).default(100),
          before: z.coerce.number().int().min(1).optional(),
        }),
        response: { 200: z.object({ entries: z.array(entry), nextBefore: z.number().nullable(), chain }) },
      },
    },
    async (req) => {
      const { limit, before } = req.query;
      const file = deps.audit.file;
      const all = deps.audit.entries().filter((e) => typeof e.seq === 'number' && (before === undefined || e.seq < before));
      all.sort((a, b) => b.seq - a.seq);
      const page = all.slice(0, limit);
      const check = existsSync(file) ? verifyAuditLog(file) : { ok: true, entries: 0, head: null };
      return {
        entries: page,
        nextBefore: all.length > limit ? page.at(-1)!.seq : null,
        chain: { ok: check.ok, entries: check.entries, head: check.head, ...('broken' in check && check.broken ? { broken: check.broken } : {}) },
      };
    },
  );
}
