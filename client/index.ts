/**
 * A typed client of the LayerGate gRPC API (proto/layergate/v1/gateway.proto), for plant software
 * written in TypeScript or JavaScript:
 *
 *   import { connectGateway } from 'layergate/client';
 *   const gw = connectGateway({ target: 'ipc-7:8444', token: process.env.LAYERGATE_TOKEN!, ca: readFileSync('layergate-api.pem') });
 *   const { result } = await gw.store({ header: { dataType: 'DATA_TYPE_FILE', contentType: 'model/3mf', signal: 'mes/job-file',
 *     accessPattern: 'ACCESS_PATTERN_ARCHIVE' }, data: bytes });
 *
 * The messages and the service are the types generated from the .proto at build time (wire/generated/grpc/);
 * 64-bit integers are decimal strings, enums their names (wire/gateway-service.ts). `raw` is the
 * @grpc/grpc-js client itself, for streams and anything the helpers here do not cover.
 *
 * Security: TLS by default with the gateway's API certificate as the trust root (`layergate api info`
 * prints its fingerprint; copy <dataDir>/api/tls/cert.pem); the token travels as call credentials
 * (`authorization: Bearer ...`), which grpc-js sends only over TLS. `insecure: true` is for a gateway
 * whose API is plain HTTP on loopback.
 */
import * as grpc from '@grpc/grpc-js';
import type { GatewayClient } from '../wire/generated/grpc/layergate/v1/Gateway.js';
import type { GetStatusResponse__Output } from '../wire/generated/grpc/layergate/v1/GetStatusResponse.js';
import type { StoreRequest } from '../wire/generated/grpc/layergate/v1/StoreRequest.js';
import type { StoreResponse__Output } from '../wire/generated/grpc/layergate/v1/StoreResponse.js';
import type { StoreStreamResponse__Output } from '../wire/generated/grpc/layergate/v1/StoreStreamResponse.js';
import type { StoreHeader } from '../wire/generated/grpc/layergate/v1/StoreHeader.js';
import { loadGatewayService } from '../wire/gateway-service.js';

export type { GatewayClient } from '../wire/generated/grpc/layergate/v1/Gateway.js';
export type * from '../wire/generated/grpc/gateway.js';

export interface ConnectOptions {
  /** host:port of the gateway's gRPC API (`layergate api info`) */
  target: string;
  /** an API token of the control plane (role viewer for reads, operator for Store) */
  token: string;
  /** PEM of the certificate to trust: the gateway's API certificate, or the CA that signed it */
  ca?: Buffer | string | undefined;
  /** the name the certificate was made for, when `target` names the host otherwise (e.g. an IP) */
  serverName?: string | undefined;
  /** plain HTTP/2, only for a gateway whose API runs without TLS on loopback */
  insecure?: boolean | undefined;
  /** more channel options (grpc-js) */
  channelOptions?: grpc.ChannelOptions | undefined;
}

export interface LayerGateClient {
  /** the grpc-js client: every RPC of layergate.v1.Gateway */
  raw: GatewayClient;
  getStatus(): Promise<GetStatusResponse__Output>;
  /** Store (one message) up to 3 MiB, StoreStream in 1 MiB chunks above, with the size and SHA-256 checked by the gateway */
  store(req: { header: StoreHeader; data: Buffer }): Promise<StoreResponse__Output | StoreStreamResponse__Output>;
  close(): void;
}

const CHUNK = 1024 * 1024;
const SINGLE_MAX = 3 * 1024 * 1024;

export function connectGateway(opts: ConnectOptions): LayerGateClient {
  const { proto } = loadGatewayService();
  const token = grpc.credentials.createFromMetadataGenerator((_params, cb) => {
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${opts.token}`);
    cb(null, md);
  });
  let creds: grpc.ChannelCredentials;
  if (opts.insecure) {
    // call credentials are refused on an insecure channel by grpc-js: the token goes as plain metadata
    creds = grpc.credentials.createInsecure();
  } else {
    const ca = opts.ca === undefined ? null : Buffer.from(opts.ca);
    creds = grpc.credentials.combineChannelCredentials(grpc.credentials.createSsl(ca), token);
  }
  const raw = new proto.layergate.v1.Gateway(opts.target, creds, {
    'grpc.max_receive_message_length': 8 * 1024 * 1024,
    'grpc.max_send_message_length': 8 * 1024 * 1024,
    ...(opts.serverName ? { 'grpc.ssl_target_name_override': opts.serverName, 'grpc.default_authority': opts.serverName } : {}),
    ...opts.channelOptions,
  });
  const meta = (): grpc.Metadata => {
    const md = new grpc.Metadata();
    if (opts.insecure) md.set('authorization', `Bearer ${opts.token}`);
    return md;
  };
  return {
    raw,
    getStatus: () =>
      new Promise((resolve, reject) => raw.GetStatus({}, meta(), (err, res) => (err || !res ? reject(err ?? new Error('no answer')) : resolve(res)))),
    store: ({ header, data }) =>
      new Promise((resolve, reject) => {
        if (data.length <= SINGLE_MAX) {
          const req: StoreRequest = { header, data };
          raw.Store(req, meta(), (err, res) => (err || !res ? reject(err ?? new Error('no answer')) : resolve(res)));
          return;
        }
        const call = raw.StoreStream(meta(), (err, res) => (err || !res ? reject(err ?? new Error('no answer')) : resolve(res)));
        void (async () => {
          const { createHash } = await import('node:crypto');
          call.write({ header: { ...header, size: String(data.length), sha256: createHash('sha256').update(data).digest('hex') } });
          for (let off = 0; off < data.length; off += CHUNK) {
            if (!call.write({ data: data.subarray(off, off + CHUNK) })) await new Promise((r) => call.once('drain', r));
          }
          call.end();
        })().catch(reject);
      }),
    close: () => raw.close(),
  };
}
