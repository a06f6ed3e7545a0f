/** Config schema of the `gateway-health` input. Declared once here, validated at load with the whole config. */
import { z } from 'zod';
import { duration } from '../../../gateway/plugin-api/index.js';

export const gatewayHealthConfigSchema = z.strictObject({
  interval: duration()
    .refine((ms) => ms >= 10, { message: 'expected at least 10ms' })
    .prefault('10s')
    .meta({ description: 'how often to sample and emit the gateway figures' }),
  /** the `signal` names start with this (e.g. `gateway.process.rss`) */
  signalPrefix: z.string().min(1).default('gateway').meta({ description: 'prefix of every signal name' }),
});

export type GatewayHealthConfig = z.infer<typeof gatewayHealthConfigSchema>;
