/**
 * Config schema of the `file-lake` output (the embedded default sink). Declared once here and
 * validated at load as part of the whole gateway config.
 */
import { z } from 'zod';
import { RECORD_KINDS, SENSITIVITY_CLASSES } from '../../../gateway/record.js';

export const DEFAULT_ROLL_RECORDS = 1_000_000;
export const DEFAULT_ROLL_BYTES = 64 * 1024 * 1024;

export const fileLakeConfigSchema = z
  .object({
    /** root folder of the lake; default `<dataDir>/lake` */
    path: z.string().min(1).optional(),
    /**
     * file format of the table files: `arrow` = Apache Arrow IPC file (Feather v2), uncompressed;
     * `parquet` = Apache Parquet, zstd, float32 columns BYTE_STREAM_SPLIT-encoded (smaller on disk)
     */
    format: z.enum(['arrow', 'parquet']).default('arrow'),
    /**
     * Upper bound of one table file. Every acknowledged batch is written as its own immutable files
     * (a file is never appended to once readers can see it), so the forwarder's batch size sets the
     * usual file size; a larger batch is split at record boundaries when a file would exceed either
     * bound (rows: one per scalar/event, one per sample for sample blocks; bytes: record bodies).
     */
    rollEvery: z
      .object({
        records: z.number().int().positive().default(DEFAULT_ROLL_RECORDS),
        bytes: z.number().int().positive().default(DEFAULT_ROLL_BYTES),
      })
      .strict()
      .default({ records: DEFAULT_ROLL_RECORDS, bytes: DEFAULT_ROLL_BYTES }),
    /** the classes this sink accepts; the lake stays on the premises, so by default all of them */
    accepts: z.array(z.enum(SENSITIVITY_CLASSES)).nonempty().optional(),
    /** the record kinds this sink wants (default: all) */
    kinds: z.array(z.enum(RECORD_KINDS)).nonempty().optional(),
  })
  .strict();

export type FileLakeConfig = z.infer<typeof fileLakeConfigSchema>;
