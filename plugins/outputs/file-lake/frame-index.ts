/**
 * Frames in the file lake: each frame's bytes as an image file of its own (unchanged, named by seq,
 * under `<lake>/images/`), and the `frames` table whose rows index them.
 *
 * Design constraints:
 * - Images first, then the index that names them: an index row never points at a missing file.
 * - A spooled frame is copied from the spool file, never loaded into memory.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import { Table, Utf8, makeVector, vectorFromArray } from 'apache-arrow';
import type { OutputContext, StoredRecord } from '../../../gateway/plugin-api/index.js';
import { attributesJson, commonColumns } from '../shared/columns.js';
import { frameExtension, seqName } from '../shared/layout.js';
import type { DurableFiles } from './durable.js';
import { fsyncPath } from './durable.js';

/** One row of the frames table: the record and where its image file is. */
export interface FrameRow {
  record: StoredRecord;
  file: string;
  sha256: string;
  size: number;
}

export function frameIndexTable(rows: FrameRow[]): Table {
  const items = rows.map((r) => ({ record: r.record, body: Buffer.alloc(0) }));
  return new Table({
    ...commonColumns(items, { signal: true }),
    content_type: vectorFromArray(
      rows.map((r) => r.record.contentType),
      new Utf8(),
    ),
    file: vectorFromArray(
      rows.map((r) => r.file),
      new Utf8(),
    ),
    sha256: vectorFromArray(
      rows.map((r) => r.sha256),
      new Utf8(),
    ),
    size_bytes: makeVector(BigInt64Array.from(rows, (r) => BigInt(r.size))),
    attributes: vectorFromArray(
      rows.map((r) => attributesJson(r.record)),
      new Utf8(),
    ),
  });
}

/** Write one frame's image file into `dir`; its row (the file name relative to `dir`). */
export async function writeFrame(files: DurableFiles, ctx: OutputContext, dir: string, record: StoredRecord): Promise<FrameRow> {
  const ext = frameExtension(record.contentType);
  const base = seqName(record.seq);
  if (record.blob) {
    // large frames: copy the spooled file instead of loading it
    const tmp = files.tmpName();
    await fs.copyFile(ctx.blobs.path(record.blob), tmp);
    await fsyncPath(tmp);
    const { name } = await files.publish(tmp, dir, base, ext, record.blob.sha256, record.blob.size);
    return { record, file: name, sha256: record.blob.sha256, size: record.blob.size };
  }
  const body = record.body ?? Buffer.alloc(0);
  const sha256 = createHash('sha256').update(body).digest('hex');
  const tmp = await files.writeTmp(body);
  const { name } = await files.publish(tmp, dir, base, ext, sha256, body.length);
  return { record, file: name, sha256, size: body.length };
}
