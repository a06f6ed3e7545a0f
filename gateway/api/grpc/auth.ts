/**
 * Who may call which RPC: the control plane's API tokens (../identity/store.ts), sent as the metadata
 * `authorization: Bearer <token>`, with the same roles as the HTTPS API (viewer < operator < admin).
 * Browser sessions have no place here (no cookies over gRPC).
 *
 * Every RPC is wrapped by `unary` / `serverStream` / `clientStream` below with the role it needs; the
 * server refuses to register a handler that was not (./server.ts), so no RPC can be left open. A
 * stream checks its token again while it runs (`stillValid`): a revoked token ends it.
 */
import type { Metadata, ServerReadableStream, ServerUnaryCall, ServerWritableStream, ServiceError } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { ApiForbiddenError, ApiUnauthenticatedError } from '../../plugin-api/errors.js';
import type { Role } from '../identity/roles.js';
import { allows, type IdentityStore, type Principal } from '../identity/store.js';
import { toServiceError } from './status-codes.js';

export interface CallContext {
  principal: Principal;
  /** whether the call's token is still valid (revoked, expired: false) */
  stillValid(): boolean;
}

/** marks a handler as wrapped with its role: ./server.ts registers nothing else */
export const ROLE_OF = Symbol('grpc-role');

export type Guarded<H> = H & { [ROLE_OF]: Role };

function bearer(md: Metadata): string | undefined {
  const v = md.get('authorization')[0];
  if (typeof v !== 'string') return undefined;
  const m = /^Bearer\s+(\S+)$/i.exec(v);
  return m?.[1];
}

/** The caller of a call with `md`, or a coded error (UNAUTHENTICATED, PERMISSION_DENIED). */
export function authorize(md: Metadata, identity: IdentityStore, role: Role): CallContext {
  const token = bearer(md);
  const principal = token === undefined ? undefined : identity.token(token);
  if (principal === undefined) {
    throw new ApiUnauthenticatedError(
      token === undefined ? 'send an API token in the metadata (authorization: Bearer <token>)' : 'the API token is not valid (unknown, expired or revoked)',
    );
  }
  if (!allows(principal.role, role)) {
    throw new ApiForbiddenError(`this needs the role ${role} or higher; the token "${principal.name}" has ${principal.role}`);
  }
  return { principal, stillValid: () => identity.token(token!) !== undefined };
}

export interface GuardOptions {
  identity: IdentityStore;
  log: Logger;
}

function fail(err: unknown, log: Logger, method: string): Partial<ServiceError> {
  const { error, known } = toServiceError(err);
  if (!known) log.error({ err, method }, 'grpc: call failed');
  return error;
}

export function unary<Req, Res>(
  opts: GuardOptions,
  method: string,
  role: Role,
  handle: (req: Req, ctx: CallContext, call: ServerUnaryCall<Req, Res>) => Promise<Res> | Res,
): Guarded<(call: ServerUnaryCall<Req, Res>, cb: (err: Partial<ServiceError> | null, res?: Res) => void) => void> {
  const h = (call: ServerUnaryCall<Req, Res>, cb: (err: Partial<ServiceError> | null, res?: Res) => void): void => {
    let ctx: CallContext;
    try {
      ctx = authorize(call.metadata, opts.identity, role);
    } catch (err) {
      cb(fail(err, opts.log, method));
      return;
    }
    Promise.resolve()
      .then(() => handle(call.request, ctx, call))
      .then(
        (res) => cb(null, res),
        (err) => cb(fail(err, opts.log, method)),
      );
  };
  return Object.assign(h, { [ROLE_OF]: role });
}

export function serverStream<Req, Res>(
  opts: GuardOptions,
  method: string,
  role: Role,
  handle: (call: ServerWritableStream<Req, Res>, ctx: CallContext) => Promise<void>,
): Guarded<(call: ServerWritableStream<Req, Res>) => void> {
  const h = (call: ServerWritableStream<Req, Res>): void => {
    const end = (err: unknown): void => {
      if (call.cancelled || call.destroyed) return;
      // grpc-js: an 'error' on a server stream becomes its status, sent after what was written before it
      call.emit('error', Object.assign(new Error(), fail(err, opts.log, method)));
    };
    let ctx: CallContext;
    try {
      ctx = authorize(call.metadata, opts.identity, role);
    } catch (err) {
      end(err);
      return;
    }
    handle(call, ctx).then(() => {
      if (!call.cancelled && !call.destroyed) call.end();
    }, end);
  };
  return Object.assign(h, { [ROLE_OF]: role });
}

export function clientStream<Req, Res>(
  opts: GuardOptions,
  method: string,
  role: Role,
  handle: (call: ServerReadableStream<Req, Res>, ctx: CallContext) => Promise<Res>,
): Guarded<(call: ServerReadableStream<Req, Res>, cb: (err: Partial<ServiceError> | null, res?: Res) => void) => void> {
  const h = (call: ServerReadableStream<Req, Res>, cb: (err: Partial<ServiceError> | null, res?: Res) => void): void => {
    let ctx: CallContext;
    try {
      ctx = authorize(call.metadata, opts.identity, role);
    } catch (err) {
      cb(fail(err, opts.log, method));
      // stop reading what the client sends: nothing of it is wanted
      call.destroy();
      return;
    }
    handle(call, ctx).then(
      (res) => cb(null, res),
      (err) => cb(fail(err, opts.log, method)),
    );
  };
  return Object.assign(h, { [ROLE_OF]: role });
}
