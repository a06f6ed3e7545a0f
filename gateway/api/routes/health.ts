/**
 * Probes without authentication, for systemd, a load balancer or Kubernetes-style checks. They
 * answer only whether the process serves and whether it is ready; nothing else about the gateway.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { type ApiDeps, typed } from '../deps.js';

export function healthRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const r = typed(app);
  r.get('/healthz', { config: { access: 'public' }, schema: { response: { 200: z.object({ status: z.literal('ok') }) } } }, async () => ({
    status: 'ok' as const,
  }));
  r.get(
    '/readyz',
    {
      config: { access: 'public' },
      schema: { response: { 200: z.object({ ready: z.literal(true) }), 503: z.object({ ready: z.literal(false) }) } },
    },
    async (_req, reply) => (deps.ready() ? { ready: true as const } : reply.code(503).send({ ready: false as const })),
  );
}
