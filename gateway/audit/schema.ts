/**
 * Config section `audit:`: where the hash-chained audit log lives.
 */
import { z } from 'zod';

export const auditSchema = z
  .strictObject({
    path: z.string().min(1).optional().meta({
      description: 'the audit log (JSON lines, append-only, hash-chained); default <dataDir>/audit/audit.jsonl',
    }),
  })
  .prefault({})
  .meta({
    description:
      'the hash-chained audit log of security-relevant events (config loaded, classification overrides, refused routes, key generation and rotation)',
  });

export type AuditConfig = z.output<typeof auditSchema>;
