/**
 * Live status: `GET /api/v1/status` (JSON) and `GET /api/v1/status/stream` (server-sent events:
 * one `status` event at once, then one per `api.statusInterval`, a comment line as keep-alive in
 * between is not needed at that rate). Both read the sampler's figures (../status.ts), so many
 * clients cost one sampling. A stream ends when its credential stops being valid.
 */
import type { FastifyInstance } from 'fastify';
import { principalOf } from '../auth.js';
import { type ApiDeps, typed } from '../deps.js';
import { statusSchema } from '../status.js';

export function statusRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const r = typed(app);
  r.get('/api/v1/status', { config: { access: 'viewer' }, schema: { response: { 200: statusSchema } } }, async () => deps.status.status());

  r.get('/api/v1/status/stream', { config: { access: 'viewer' }, schema: { hide: true } }, (req, reply) => {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    let id = 0;
    const access = { identity: deps.identity, sessionIdleMs: deps.config.sessionIdle, metricsAllow: [] };
    const send = (): void => {
      // the credential is checked again at every event: a revoked token, a removed user or an ended
      // session ends the stream too, not only the next request
      if (principalOf(req, access) === undefined) {
        clearInterval(timer);
        res.end();
        return;
      }
      res.write(`id: ${++id}\nevent: status\ndata: ${JSON.stringify(deps.status.status())}\n\n`);
    };
    const timer = setInterval(send, deps.config.statusInterval);
    send();
    const end = (): void => clearInterval(timer);
    req.raw.on('close', end);
    res.on('error', end);
  });
}
