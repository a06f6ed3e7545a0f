/**
 * The service as the gateway serves it: the shared definition (wire/gateway-service.ts) with one
 * server-side change. StreamRecords and QueryRecords answers are the hot path: a message the server
 * built as bytes already (`PreEncoded`, its records written by wire/record-encoder.ts, the encoder
 * the Kafka output uses, so a record on a stream is the same bytes as in a Kafka message) is sent as
 * those bytes; anything else goes through protobufjs as usual.
 */
import type * as grpc from '@grpc/grpc-js';
import type * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType } from '../../../wire/generated/grpc/gateway.js';
import { GATEWAY_SERVICE, loadGatewayService } from '../../../wire/gateway-service.js';

export { GATEWAY_SERVICE };

/** A message already encoded: sent as is. */
export interface PreEncoded {
  readonly encoded: Buffer;
}

/** the methods whose answers may be `PreEncoded` */
const PRE_ENCODED_METHODS = ['StreamRecords', 'QueryRecords'] as const;

let loaded: { definition: protoLoader.PackageDefinition; proto: ProtoGrpcType } | undefined;

/** The package definition (for reflection) and the typed service, loaded once. */
export function gatewayProto(): { definition: protoLoader.PackageDefinition; proto: ProtoGrpcType } {
  if (loaded) return loaded;
  const service = loadGatewayService();
  for (const name of PRE_ENCODED_METHODS) {
    const method = (service.definition[GATEWAY_SERVICE] as grpc.ServiceDefinition)[name]!;
    const serialize = method.responseSerialize;
    (method as { responseSerialize: (m: unknown) => Buffer }).responseSerialize = (m) => {
      const pre = (m as Partial<PreEncoded>).encoded;
      return pre instanceof Buffer ? pre : serialize(m);
    };
  }
  loaded = service;
  return loaded;
}
