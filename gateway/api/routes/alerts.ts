/**
 * Acknowledging an alert (operator): the alert stays in the status while its cause lasts, marked
 * with who saw it and when, so a second operator does not chase it again. An alert that clears and
 * comes back later is unacknowledged again. Audited.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ApiNotFoundError } from '../../plugin-api/errors.js';
import { type ApiDeps, typed } from '../deps.js';

export function alertRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const r = typed(app);
  r.post(
    '/api/v1/alerts/:id/ack',
    {
      config: { access: 'operator' },
      schema: {
        params: z.strictObject({ id: z.string().min(1).max(256) }),
        response: { 200: z.object({ id: z.string(), acknowledged: z.object({ by: z.string(), at: z.string() }) }) },
      },
    },
    async (req) => {
      const { id } = req.params;
      if (!deps.status.status().alerts.some((a) => a.id === id)) throw new ApiNotFoundError(`no active alert "${id}"`);
      const acknowledged = deps.identity.acknowledgeAlert(id, req.principal!.name);
      deps.audit.append('alert-acknowledged', { id, by: req.principal!.name });
      return { id, acknowledged };
    },
  );
}
