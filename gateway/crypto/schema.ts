/**
 * Config section `encryption:`: where the key ring that seals confidential bodies at rest comes from.
 */
import { z } from 'zod';

export const DEFAULT_KEY_ENV = 'LAYERGATE_KEYS';

export const encryptionSchema = z
  .strictObject({
    keyFile: z.string().min(1).optional().meta({
      description:
        'key ring file (one `id:base64-key` per line, the first is the active key); mode 0600 or 0400; relative paths resolve from the working directory',
    }),
    keyEnv: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/)
      .default(DEFAULT_KEY_ENV)
      .meta({
        description: 'environment variable holding the key ring instead (same format, entries separated by newlines or commas); used when keyFile is not set',
      }),
    generateKey: z.boolean().default(true).meta({
      description:
        'with neither keyFile nor the variable: create <dataDir>/keys/layergate.keys (0600) on first start (the key then lies beside the data; set keyFile or the variable in production); false: refuse to start without a key',
    }),
  })
  .prefault({})
  .meta({ description: 'encryption at rest of confidential record bodies: where the key ring comes from' });

export type EncryptionConfig = z.output<typeof encryptionSchema>;
