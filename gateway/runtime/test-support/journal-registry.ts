/**
 * A registry module for delivery-thread tests (`GatewayOptions.registryModule`): the gateway's own
 * plugins plus `journal`, an output that appends every record it is sent to a JSON-lines file, so a
 * test can see exactly what was delivered, including duplicates.
 *
 * `crashMarker`: on its first send, if that file does not exist yet, the output creates it and throws
 * from a timer, an uncaught error that ends the thread it runs in. It stands for a plugin bug; no real
 * sink can make a client library throw outside every promise, so this fault is simulated here.
 */
import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import type { OutputDefinition, OutputPlugin } from '../../plugin-api/contract.js';
import type { StoredRecord } from '../../plugin-api/record.js';
import { createRegistry, registry as builtIn } from '../registry.js';

export const JOURNAL_REGISTRY_MODULE = import.meta.url;

export interface JournalLine {
  seq: number;
  signal: string;
  body: string;
}

const journal: OutputDefinition<{ path: string; crashMarker?: string }> = {
  type: 'journal',
  configSchema: z.strictObject({ path: z.string(), crashMarker: z.string().optional() }),
  capabilities: () => ({ premises: 'on' }),
  create: (config): OutputPlugin => ({
    type: 'journal',
    start: async (ctx) => {
      ctx.log.info({ path: config.path }, 'journal output started');
    },
    send: async (batch: StoredRecord[]) => {
      if (config.crashMarker !== undefined && !existsSync(config.crashMarker)) {
        writeFileSync(config.crashMarker, 'crashed\n');
        setTimeout(() => {
          throw new Error('journal output: a bug outside any promise');
        }, 0);
        await new Promise(() => undefined); // the batch is never acked
      }
      const lines = batch.map((r) => JSON.stringify({ seq: r.seq, signal: r.signal, body: r.body?.toString() ?? '' } satisfies JournalLine));
      appendFileSync(config.path, `${lines.join('\n')}\n`);
    },
    stop: async () => undefined,
  }),
};

export const registry = createRegistry({ inputs: [...builtIn.inputs.values()], outputs: [...builtIn.outputs.values(), journal] });
