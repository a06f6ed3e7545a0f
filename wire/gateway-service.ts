/**
 * The `layergate.v1.Gateway` gRPC service definition (proto/layergate/v1/gateway.proto), loaded from
 * proto/ at run time by @grpc/proto-loader with the options its TypeScript types were generated with
 * (`npm run gen:proto`: proto-loader-gen-types into wire/generated/grpc/, git-ignored), so the types
 * and the runtime agree by construction. Shared by the gateway's server and the client the package
 * exports (client/).
 *
 * Constraint: `LOADER_OPTIONS` and the generator's flags in package.json are one setting: 64-bit
 * integers as decimal strings (a time in ns does not fit a double), enums as their names, defaults
 * filled, the oneof's case named.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ProtoNotFoundError } from './errors.js';
import type { ProtoGrpcType } from './generated/grpc/gateway.js';
import { PROTO_DIR } from './proto.js';

export const GATEWAY_PROTO = 'layergate/v1/gateway.proto';
export const GATEWAY_SERVICE = 'layergate.v1.Gateway';

export const LOADER_OPTIONS: protoLoader.Options = { longs: String, enums: String, defaults: true, oneofs: true };

/** A new package definition of the service (a server may adjust its own copy) and its typed view. */
export function loadGatewayService(): { definition: protoLoader.PackageDefinition; proto: ProtoGrpcType } {
  if (PROTO_DIR === undefined) throw new ProtoNotFoundError('proto/ was not found beside wire/ (../proto or ../../proto)');
  const definition = protoLoader.loadSync(GATEWAY_PROTO, { ...LOADER_OPTIONS, includeDirs: [PROTO_DIR] });
  return { definition, proto: grpc.loadPackageDefinition(definition) as unknown as ProtoGrpcType };
}
