/**
 * Prometheus `/metrics`: the gateway's counters and gauges with bounded labels (per input, output,
 * class, reason; never per signal). For a viewer token, or a client address in `api.metricsAllow`.
 */
import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../deps.js';

export function metricsRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.get('/metrics', { config: { access: 'metrics' }, schema: { hide: true } }, async (_req, reply) => {
    const { contentType, text } = await deps.metrics();
    return reply.type(contentType).send(text);
  });
}
