/**
 * gRPC clients of a running gateway's API for tests (../../test-support/gateway-api-rig.ts): the
 * package's own client (client/), trusting exactly the API's generated certificate, with a token
 * made in the identity store as an admin would make it.
 */
import type { Metadata, ServiceError } from '@grpc/grpc-js';
import { connectGateway, type LayerGateClient } from '../../../../client/index.js';
import type { SensitivityClass } from '../../../plugin-api/record.js';
import type { Role } from '../../identity/roles.js';
import type { GatewayApiRig } from '../../test-support/gateway-api-rig.js';

export function tokenOf(rig: GatewayApiRig, role: Role, maxClass: SensitivityClass = 'confidential'): string {
  return rig.api.identity.createToken({ label: `grpc-${role}-${maxClass}`, role, maxClass, expiresMs: null, createdBy: 'test' }).token;
}

/** a client with a token of `role` (and `maxClass`), or with `token` as given ('' = none) */
export function grpcClient(rig: GatewayApiRig, who: { role: Role; maxClass?: SensitivityClass } | { token: string }): LayerGateClient {
  const token = 'token' in who ? who.token : tokenOf(rig, who.role, who.maxClass);
  if (!rig.api.grpc) throw new Error('the rig has no gRPC API');
  return connectGateway({ target: rig.api.grpc.target, token, ca: rig.api.tls?.cert, insecure: rig.api.tls === undefined });
}

/** a unary call of the raw client as a promise */
export function call<Req, Res>(
  fn: (req: Req, md: Metadata, cb: (err: ServiceError | null, res?: Res) => void) => unknown,
  req: Req,
  md: Metadata,
): Promise<Res> {
  return new Promise((resolve, reject) => fn(req, md, (err, res) => (err ? reject(err) : resolve(res as Res))));
}
