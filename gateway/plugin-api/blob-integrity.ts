/**
 * Integrity of a spooled blob an output streams by its path. The spool names each file by the
 * SHA-256 of its bytes, so a file changed on disk (a bad sector, a stray tool) no longer matches its
 * name; an output that uploads the file as-is would store damaged bytes under metadata that claims
 * the original hash.
 *
 * Chosen: verify before handing the file to the sink, streaming the file through the hash in 1 MiB
 * chunks. A large frame is never held in memory; the upload that follows reads it again, mostly
 * from the page cache. Hashing while uploading would read once, but the failure would then surface
 * inside the sink client (as a stream error mid-request, in a part of a multipart upload) and would
 * have to be told apart from a network error there; checking first keeps the refusal a plain
 * BlobMissingError before any byte is sent.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { BlobMissingError } from './errors.js';
import type { BlobRef } from './record.js';

/** Resolves when `file` holds exactly the blob `ref`; throws BlobMissingError when it is missing or damaged. */
export async function verifySpooledFile(file: string, ref: BlobRef): Promise<void> {
  const hash = createHash('sha256');
  let size = 0;
  try {
    for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
      size += chunk.length;
      hash.update(chunk);
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new BlobMissingError(`blob ${ref.sha256} (${ref.size} bytes) is not in the spool`, { cause: e });
    }
    throw e;
  }
  const sha256 = hash.digest('hex');
  if (size !== ref.size || sha256 !== ref.sha256) {
    throw new BlobMissingError(`blob ${ref.sha256}: the spooled file is damaged (${size} bytes hashing to ${sha256}, expected ${ref.size} bytes)`);
  }
}
