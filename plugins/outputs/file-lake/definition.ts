/**
 * The file-lake plugin as the registry knows it before a config names it: type, config schema,
 * capabilities, renamed keys, the `lake` commands and how to load the implementation (./index.ts).
 * Loaded lazily, so a gateway that does not run this plugin never holds its code in memory.
 */
import type { LazyOutputDefinition, OutputDefinition } from '../../../gateway/plugin-api/index.js';
import { addLakeCommands } from './commands.js';
import { DEFAULT_LAKE_BATCH_BYTES, DEFAULT_LAKE_BATCH_RECORDS, DEFAULT_LAKE_LINGER_MS, fileLakeConfigSchema } from './schema.js';
import type { FileLakeConfig } from './schema.js';

export const definition: LazyOutputDefinition<FileLakeConfig> = {
  type: 'file-lake',
  configSchema: fileLakeConfigSchema,
  // the lake is a folder on the gateway's own disk; it prefers coarse batches (a file per batch, table and partition).
  // Its send is bounded local work (encode in the batch worker, write, fsync) that only takes longer when the CPU is
  // busy: a timeout would send the batch again beside the running one and repeat the work of a lake already behind.
  capabilities: () => ({
    premises: 'on',
    linger: DEFAULT_LAKE_LINGER_MS,
    batchRecords: DEFAULT_LAKE_BATCH_RECORDS,
    batchBytes: DEFAULT_LAKE_BATCH_BYTES,
    sendTimeoutMs: null,
  }),
  renamedKeys: { accepts: 'classes' },
  commands: addLakeCommands,
  load: async (): Promise<OutputDefinition<FileLakeConfig>> => (await import('./index.js')).definition,
};
