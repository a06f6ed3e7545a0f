/**
 * Config section `api:`: the control-plane HTTPS API the web UI, the CLI and the plant's monitoring use.
 *
 * Secure by default: on, TLS with a certificate generated on first start, every route behind a
 * login or an API token except /healthz and /readyz. Plain HTTP is possible only when asked for,
 * and only on a loopback address unless `allowPlainHttpOnNetwork` says otherwise.
 */
import { z } from 'zod';
import { byteSize, duration } from '../config/units.js';

export const apiSchema = z
  .strictObject({
    enabled: z.boolean().default(true).meta({ description: 'serve the control-plane API (and the web UI on it)' }),
    host: z.string().min(1).default('0.0.0.0').meta({
      description: 'address to listen on: 0.0.0.0 for every interface (the UI from a laptop), 127.0.0.1 for this PC only',
    }),
    port: z.int().min(0).max(65535).default(8443).meta({ description: 'TCP port (0: any free port; `layergate api info` shows the one taken)' }),
    tls: z
      .strictObject({
        enabled: z.boolean().default(true).meta({ description: 'HTTPS (false: plain HTTP, allowed on a loopback host only unless allowPlainHttpOnNetwork)' }),
        certFile: z.string().min(1).optional().meta({
          description: 'PEM certificate (chain) to serve; default: a self-signed certificate generated on first start in <dataDir>/api/tls/',
        }),
        keyFile: z.string().min(1).optional().meta({ description: 'PEM private key of certFile (mode 0600)' }),
      })
      .prefault({})
      .meta({ description: 'TLS of the API' }),
    allowPlainHttpOnNetwork: z.boolean().default(false).meta({
      description: 'allow tls.enabled: false on a non-loopback host (passwords and session cookies then cross the network in clear)',
    }),
    sessionTtl: duration().prefault('8h').meta({ description: 'a browser session ends this long after login' }),
    sessionIdle: duration().prefault('30m').meta({ description: 'a browser session ends after this long without a request' }),
    login: z
      .strictObject({
        maxFailures: z.int().min(1).default(5).meta({ description: 'failed logins of one user within `window` before it is locked out' }),
        window: duration().prefault('15m').meta({ description: 'the window failed logins are counted in' }),
        lockout: duration().prefault('15m').meta({ description: 'how long a locked-out user cannot log in' }),
        perAddressPerMinute: z.int().min(1).default(20).meta({ description: 'login attempts one client address may make per minute (any user)' }),
      })
      .prefault({})
      .meta({ description: 'login rate limiting and lockout' }),
    metricsAllow: z.array(z.string().min(1)).default([]).meta({
      description: 'client addresses (IPs) that may scrape /metrics without a token, e.g. the Prometheus server',
    }),
    statusInterval: duration().prefault('1s').meta({ description: 'how often the status stream (server-sent events) sends a new status' }),
    grpc: z
      .strictObject({
        enabled: z
          .boolean()
          .default(true)
          .meta({ description: 'serve the gRPC API (proto/layergate/v1/gateway.proto) beside the HTTPS API, with its certificate and tokens' }),
        host: z.string().min(1).optional().meta({ description: 'address to listen on (default: api.host)' }),
        port: z.int().min(0).max(65535).default(8444).meta({ description: 'TCP port (0: any free port; `layergate api info` shows the one taken)' }),
        maxStreamLag: z.int().min(1).default(200_000).meta({
          description:
            'a StreamRecords consumer more than this many records behind the newest is cancelled (RESOURCE_EXHAUSTED): the gateway never holds records for a slow reader, the buffer does',
        }),
        maxStoreBytes: byteSize()
          .prefault('1GiB')
          .meta({ description: 'the largest payload Store, StoreStream and UploadFrame take (RESOURCE_EXHAUSTED above)' }),
        input: z
          .string()
          .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/)
          .default('grpc')
          .meta({
            description: 'the input name (record `source`) of what is stored through the API: classification rules match it as `input`',
          }),
      })
      .prefault({})
      .meta({ description: 'the gRPC API: status, live record streams, queries, and Store for plant software' }),
  })
  .prefault({})
  .meta({ description: 'the control-plane HTTPS API: status, configuration, users and tokens, metrics and health' });

export type ApiConfig = z.output<typeof apiSchema>;
