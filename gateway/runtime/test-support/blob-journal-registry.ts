/**
 * A registry module for delivery-thread tests of spooled bodies (`GatewayOptions.registryModule`):
 * the gateway's own plugins plus `blob-journal`, an output that reads every record's body as a sink
 * does (inline, or through `ctx.blobs.read` from the spool) and appends one JSON line per record to a
 * file: its seq, the size and the SHA-256 of the bytes it got. A body the buffer refuses as gone or
 * damaged (BlobMissingError) is skipped, as the gateway's object-store outputs skip it, and the
 * record is not written: a test sees exactly what reached the sink.
 */
import { createHash } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { z } from 'zod';
import type { OutputContext, OutputDefinition, OutputPlugin } from '../../plugin-api/contract.js';
import { BlobMissingError } from '../../plugin-api/errors.js';
import type { StoredRecord } from '../../plugin-api/record.js';
import { createRegistry, registry as builtIn } from '../registry.js';

export const BLOB_JOURNAL_REGISTRY_MODULE = import.meta.url;

export interface BlobJournalLine {
  seq: number;
  size: number;
  sha256: string;
}

const blobJournal: OutputDefinition<{ path: string }> = {
  type: 'blob-journal',
  configSchema: z.strictObject({ path: z.string() }),
  capabilities: () => ({ premises: 'on' }),
  create: (config): OutputPlugin => {
    let ctx: OutputContext | undefined;
    return {
      type: 'blob-journal',
      start: async (c) => {
        ctx = c;
      },
      send: async (batch: StoredRecord[]) => {
        const lines: string[] = [];
        for (const r of batch) {
          let body = r.body;
          if (body === undefined && r.blob) {
            try {
              body = await ctx!.blobs.read(r.blob);
            } catch (err) {
              if ((err as { code?: unknown }).code !== BlobMissingError.code) throw err;
              ctx!.log.warn({ seq: r.seq, err }, 'blob-journal: body gone from the spool, record skipped');
              continue;
            }
          }
          const bytes = body ?? Buffer.alloc(0);
          lines.push(JSON.stringify({ seq: r.seq, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') } satisfies BlobJournalLine));
        }
        if (lines.length > 0) appendFileSync(config.path, `${lines.join('\n')}\n`);
      },
      stop: async () => undefined,
    };
  },
};

export const registry = createRegistry({ inputs: [...builtIn.inputs.values()], outputs: [...builtIn.outputs.values(), blobJournal] });
