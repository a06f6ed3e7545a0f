/**
 * Users and API tokens (admin only). A token's secret is in the answer that creates it and
 * nowhere else; it is stored hashed. Every change goes to the audit log with who made it.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { SENSITIVITY_CLASSES } from '../../plugin-api/record.js';
import { parseDuration } from '../../config/units.js';
import { type ApiDeps, typed } from '../deps.js';
import { passwordProblem } from '../identity/passwords.js';
import { ROLES } from '../identity/roles.js';
import { USER_NAME } from '../identity/store.js';

const userInfo = z.object({ name: z.string(), role: z.enum(ROLES), createdAt: z.string(), updatedAt: z.string() });
const tokenInfo = z.object({
  id: z.string(),
  label: z.string(),
  role: z.enum(ROLES),
  maxClass: z.enum(SENSITIVITY_CLASSES),
  createdBy: z.string(),
  createdAt: z.string(),
  expiresAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
  lastUsedAt: z.string().nullable(),
});
const nameParam = z.strictObject({ name: z.string().regex(USER_NAME) });

export function userRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const r = typed(app);
  const admin = { access: 'admin' as const };

  r.get('/api/v1/users', { config: admin, schema: { response: { 200: z.array(userInfo) } } }, async () => deps.identity.users());

  r.post(
    '/api/v1/users',
    {
      config: admin,
      schema: {
        body: z.strictObject({ name: z.string().regex(USER_NAME), role: z.enum(ROLES), password: z.string().min(1).max(1024) }),
        response: { 201: userInfo },
      },
    },
    async (req, reply) => {
      const problem = passwordProblem(req.body.password);
      if (problem) throw new RangeError(problem);
      const user = await deps.identity.addUser(req.body.name, req.body.role, req.body.password);
      deps.audit.append('user-added', { user: user.name, role: user.role, by: req.principal!.name });
      return reply.code(201).send(user);
    },
  );

  r.patch(
    '/api/v1/users/:name',
    {
      config: admin,
      schema: {
        params: nameParam,
        body: z.strictObject({ role: z.enum(ROLES).optional(), password: z.string().min(1).max(1024).optional() }),
        response: { 200: userInfo },
      },
    },
    async (req) => {
      const { name } = req.params;
      if (req.body.password !== undefined) {
        const problem = passwordProblem(req.body.password);
        if (problem) throw new RangeError(problem);
        await deps.identity.setPassword(name, req.body.password);
        deps.audit.append('user-password-set', { user: name, by: req.principal!.name });
      }
      if (req.body.role !== undefined) {
        deps.identity.setRole(name, req.body.role);
        deps.audit.append('user-role-set', { user: name, role: req.body.role, by: req.principal!.name });
      }
      return deps.identity.user(name)!;
    },
  );

  r.delete('/api/v1/users/:name', { config: admin, schema: { params: nameParam, response: { 204: z.null() } } }, async (req, reply) => {
    deps.identity.removeUser(req.params.name);
    deps.audit.append('user-removed', { user: req.params.name, by: req.principal!.name });
    return reply.code(204).send(null);
  });

  r.get('/api/v1/tokens', { config: admin, schema: { response: { 200: z.array(tokenInfo) } } }, async () => deps.identity.tokens());

  r.post(
    '/api/v1/tokens',
    {
      config: admin,
      schema: {
        body: z.strictObject({
          label: z.string().min(1).max(128),
          role: z.enum(ROLES),
          maxClass: z.enum(SENSITIVITY_CLASSES).default('internal'),
          expiresIn: z
            .string()
            .max(32)
            .optional()
            .refine((v) => v === undefined || parseDuration(v) !== undefined, 'a duration like 30d or 12h'),
        }),
        response: { 201: z.object({ token: z.string(), info: tokenInfo }) },
      },
    },
    async (req, reply) => {
      const { label, role, maxClass, expiresIn } = req.body;
      const expiresMs = expiresIn === undefined ? null : Date.now() + parseDuration(expiresIn)!;
      const made = deps.identity.createToken({ label, role, maxClass, expiresMs, createdBy: req.principal!.name });
      deps.audit.append('token-created', { id: made.info.id, label, role, maxClass, expiresAt: made.info.expiresAt, by: req.principal!.name });
      return reply.code(201).send(made);
    },
  );

  r.delete(
    '/api/v1/tokens/:id',
    { config: admin, schema: { params: z.strictObject({ id: z.string().regex(/^[0-9a-f]{12}$/) }), response: { 200: tokenInfo } } },
    async (req) => {
      const info = deps.identity.revokeToken(req.params.id);
      deps.audit.append('token-revoked', { id: info.id, label: info.label, by: req.principal!.name });
      return info;
    },
  );
}
