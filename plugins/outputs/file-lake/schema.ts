/**
 * Config schema of the `file-lake` output (the embedded default sink). Declared once here and
 * validated at load as part of the whole gateway config.
 */
import { z } from 'zod';
import { byteSize, duration } from '../../../gateway/plugin-api/index.js';

export const DEFAULT_ROLL_RECORDS = 1_000_000;
export const DEFAULT_ROLL_BYTES = 64 * 1024 * 1024;
/** the forwarder linger the lake asks for (the output's `linger` key overrides it) */
export const DEFAULT_LAKE_LINGER_MS = 60_000;
/**
 * The batch the lake asks for (the output's `batchRecords` / `batchBytes` keys override it): a file
 * per table and partition per batch, so large batches make few files (the compactor merges them
 * further), but a batch in flight is held twice: as the forwarder's records on the gateway's thread
 * (50,000 scalar records of 5,000 signals: about 17 MiB of heap, plus about 7 MiB while `send` packs
 * them) and in the batch worker while its tables are built (about 30 MiB of heap at the peak, garbage
 * included; batch-worker.ts). Both stay well under 64 MiB; at 100,000 records the records alone took
 * 33 MiB and the worker's heap rose by about 55 MiB.
 * 50,000 records are 1 s of 5,000 signals at 10 Hz.
 */
export const DEFAULT_LAKE_BATCH_RECORDS = 50_000;
/** bodies are copied once into the packed batch (packed-batch.ts), so they too are held twice */
export const DEFAULT_LAKE_BATCH_BYTES = 16 * 1024 * 1024;

export const fileLakeConfigSchema = z
  .object({
    path: z.string().min(1).optional().meta({ description: 'root folder of the lake (default <dataDir>/lake)' }),
    format: z.enum(['arrow', 'parquet']).default('arrow').meta({
      description:
        'file format of the table files: `arrow` = Apache Arrow IPC file (Feather v2), uncompressed; `parquet` = Apache Parquet, zstd, float32 columns BYTE_STREAM_SPLIT-encoded (smaller on disk)',
    }),
    rollEvery: z
      .object({
        records: z.number().int().positive().default(DEFAULT_ROLL_RECORDS).meta({
          description: 'most rows of one table file (one per scalar/event, one per sample for sample blocks)',
        }),
        bytes: byteSize()
          .pipe(z.number().positive({ message: 'expected a byte size > 0' }))
          .prefault(DEFAULT_ROLL_BYTES)
          .meta({ description: 'most record body bytes of one table file' }),
      })
      .strict()
      .default({ records: DEFAULT_ROLL_RECORDS, bytes: DEFAULT_ROLL_BYTES })
      .meta({
        description:
          'upper bound of one table file: a batch is split at record boundaries, and compaction merges small files only while the merged file stays within both bounds (a merge holds about that much in memory)',
      }),
    compactWindow: duration().prefault('1h').meta({
      description:
        'compaction window, by receive time: the background compactor merges the small files of a partition (table, machine, build, date) from the same window into files of up to `rollEvery`; `0` turns compaction off (one file per batch, table and partition)',
    }),
    compactEvery: duration().prefault('1m').meta({
      description: 'how long after a batch wrote files the background compactor looks at their partitions (one pass at a time, never delaying a batch)',
    }),
    // which classes and kinds come here: the `classes`/`kinds` keys every output has (the lake takes all)
  })
  .strict();

export type FileLakeConfig = z.infer<typeof fileLakeConfigSchema>;
