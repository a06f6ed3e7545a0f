/**
 * Config schema of the `redis` output (real-time dashboards). Declared once here and validated at load
 * as part of the whole gateway config.
 */
import { z } from 'zod';
import { duration, secret, tlsSetting } from '../../../gateway/plugin-api/index.js';

export const redisConfigSchema = z.strictObject({
  url: z
    .string()
    .regex(/^rediss?:\/\//, 'expected redis://host:port or rediss://host:port (TLS)')
    .meta({
      description: 'Redis server: `redis://host:port[/db]`, or `rediss://` for TLS (credentials belong in `username`/`password`, not the URL)',
    }),
  username: z.string().min(1).optional().meta({ description: 'ACL user (Redis 6+); default: the `default` user' }),
  password: secret('password of the ACL user (or `requirepass`)').optional(),
  tls: tlsSetting('TLS to the server (default: from the URL, `rediss://` = TLS with the system CAs)'),
  keyPrefix: z
    .string()
    .min(1)
    .regex(/^[^\s]+$/)
    .default('layergate')
    .meta({
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
