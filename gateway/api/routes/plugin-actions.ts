/**
 * The plugins' actions (gateway/plugin-api/actions.ts), one route per action a registered plugin
 * declares, whether or not the running config has an instance of it (the route table, and so the
 * access checks and the OpenAPI document, do not depend on the config):
 *
 *   GET  /api/v1/plugins/<type>/:instance/actions/<action>   an action that changes nothing; input: the query string
 *   POST /api/v1/plugins/<type>/:instance/actions/<action>   an action that changes something; input: the JSON body (may be left out when it takes none)
 *
 * e.g. `POST /api/v1/plugins/cloud/cloud/actions/sync-pause`, `GET /api/v1/plugins/opcua/machine/actions/pki-list`.
 * Each route's access is the action's `role`. `:instance` must be a configured instance of that type
 * in the config the gateway runs with (else 404). A change is audited (`plugin-action`: plugin type,
 * instance, action, input, user, and the error code when it failed), before the answer is sent.
 *
 * Answers: 200 with the action's output; 400 for an input the action refuses; 404 for an unknown
 * instance or what the action did not find; 409 with the plugin's own error code when the plugin
 * refused for a reason of its own (its catalog entry says what to do).
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ApiInvalidRequestError, ApiNotFoundError, LayerGateError } from '../../plugin-api/errors.js';
import { type ApiDeps, typed } from '../deps.js';
import { actionContext, type DeclaredAction, declaredActions } from '../plugin-actions.js';

export function actionUrl(type: string, name: string): string {
  return `/api/v1/plugins/${type}/:instance/actions/${name}`;
}

export function pluginActionRoutes(app: FastifyInstance, deps: ApiDeps, actions: readonly DeclaredAction[] = declaredActions()): void {
  const r = typed(app);
  const params = z.strictObject({ instance: z.string().min(1).max(256) });
  const refused = z.object({ error: z.string(), message: z.string() });
  for (const d of actions) {
    const { action } = d;
    const handler = async (instance: string, raw: unknown, user: string): Promise<{ code: number; body: unknown }> => {
      if (!deps.loaded) throw new ApiNotFoundError('this API serves no plugin actions (it runs without a gateway config)');
      const ctx = actionContext(deps.loaded(), d, instance);
      const input = action.input.safeParse(raw ?? {});
      if (!input.success) return { code: 400, body: { error: ApiInvalidRequestError.code, message: z.prettifyError(input.error) } };
      const audit = (extra: Record<string, unknown>) => {
        if (action.changes) deps.audit.append('plugin-action', { type: d.type, instance, action: d.name, input: input.data, user, ...extra });
      };
      let output: unknown;
      try {
        output = await action.run(input.data, ctx);
      } catch (err) {
        audit({ error: err instanceof LayerGateError ? err.code : 'internal' });
        if (err instanceof LayerGateError && err.code === ApiInvalidRequestError.code) return { code: 400, body: { error: err.code, message: err.message } };
        if (err instanceof LayerGateError && !err.code.startsWith('LG_API_')) return { code: 409, body: { error: err.code, message: err.message } };
        throw err;
      }
      audit({});
      return { code: 200, body: output };
    };
    const config = { access: action.role };
    const description = `${action.description} (plugin ${d.type}, ${d.kind}; role ${action.role})`;
    if (action.changes) {
      r.post(
        actionUrl(d.type, d.name),
        {
          config,
          schema: {
            description,
            tags: ['plugin actions'],
            params,
            body: action.input.nullish(),
            response: { 200: action.output, 400: refused, 404: refused, 409: refused },
          },
        },
        async (req, reply) => {
          const a = await handler(req.params.instance, req.body, req.principal!.name);
          return reply.code(a.code as 200).send(a.body as never);
        },
      );
    } else {
      r.get(
        actionUrl(d.type, d.name),
        {
          config,
          schema: {
            description,
            tags: ['plugin actions'],
            params,
            querystring: action.input,
            response: { 200: action.output, 400: refused, 404: refused, 409: refused },
          },
        },
        async (req, reply) => {
          const a = await handler(req.params.instance, req.query, req.principal!.name);
          return reply.code(a.code as 200).send(a.body as never);
        },
      );
    }
  }
}
