/**
 * One merge of the compactor as a self-contained job: read the input files (in the current layout,
 * part-files.ts: an older samples file's missing columns as nulls), merge their rows
 * (merge.ts), encode the result and write it to a temp file, fsynced. Publishing it and removing the
 * inputs stays with the compactor (compaction.ts). The job takes and returns plain data, so it runs
 * the same in a worker thread (merge-worker.ts) as inline.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import { mergeSorted } from './merge.js';
import { encodeTable, partInfo, readPartFile } from './part-files.js';
import type { LakeFormat, PartInfo } from './part-files.js';

export interface MergeJob {
  /** input files, in seq order */
  inputs: string[];
  /** the temp file to write (must not exist) */
  tmp: string;
  format: LakeFormat;
}

export interface MergeResult {
  sha256: string;
  size: number;
  info: PartInfo;
}

export async function runMergeJob(job: MergeJob): Promise<MergeResult> {
  const tables = [];
  for (const input of job.inputs) tables.push(await readPartFile(input));
  const merged = mergeSorted(tables);
  tables.length = 0; // the inputs' memory can go before the encoded copy is made
  const bytes = encodeTable(merged, job.format);
  const fh = await fs.open(job.tmp, 'wx');
  try {
    await fh.writeFile(bytes);
    await fh.sync();
  } finally {
    await fh.close();
  }
  return { sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length, info: partInfo(merged)! };
}
