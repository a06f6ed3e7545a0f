/**
 * Config schema of the `redis` output (real-time dashboards). Declared once here and validated at load
 * as part of the whole gateway config.
 */
import { z } from 'zod';
import { duration, secret } from '../../../gateway/plugin-api/index.js';

export const redisTlsSchema = z.strictObject({
  ca: z.string().min(1).optional().meta({ description: 'PEM file of the CA that signed the Redis server certificate (default: the system CAs)' }),
  cert: z.string().min(1).optional().meta({ description: 'PEM file of the client certificate (mutual TLS)' }),
  key: z.string().min(1).optional().meta({ description: 'PEM file of the client certificate\'s private key' }),
  rejectUnauthorized: z.boolean().default(true).meta({ description: 'verify the server certificate (turn off only on a test bench)' }),
  servername: z.string().min(1).optional().meta({ description: 'TLS server name (SNI) when it differs from the host' }),
});

export const redisConfigSchema = z.strictObject({
  url: z.string().regex(/^rediss?:\/\//, 'expected redis://host:port or rediss://host:port (TLS)').meta({
    description: 'Redis server: `redis://host:port[/db]`, or `rediss://` for TLS (credentials belong in `username`/`password`, not the URL)',
  }),
  username: z.string().min(1).optional().meta({ description: 'ACL user (Redis 6+); default: the `default` user' }),
  password: secret('password of the ACL user (or `requirepass`)').optional(),
  tls: z.union([z.literal(true), redisTlsSchema]).optional().meta({ description: 'TLS options (also implied by `rediss://`)' }),
  keyPrefix: z.string().min(1).regex(/^[^\s]+$/).default('layergate').meta({
    description: 'keys are `<keyPrefix>:<machine>:stream:<signal>` (stream), `...:latest:<signal>` (hash), `...:signals` (set)',
  }),
  maxLen: z.number().int().positive().default(100_000).meta({
    description: 'XADD MAXLEN ~ bound per stream (approximate trim: Redis trims whole macro nodes, so a stream may hold somewhat more)',
  }),
  latest: z.boolean().default(true).meta({ description: 'keep the latest entry of every signal in a hash, for dashboards' }),
  notify: z.boolean().default(false).meta({ description: 'PUBLISH `{"signal","seq"}` on `<keyPrefix>:<machine>:notify` after each batch, per signal' }),
  connectTimeout: duration().prefault('5s').meta({ description: 'TCP/TLS connect timeout' }),
  commandTimeout: duration().prefault('10s').meta({ description: 'a batch not answered within this long fails and is retried' }),
});

export type RedisConfig = z.infer<typeof redisConfigSchema>;
