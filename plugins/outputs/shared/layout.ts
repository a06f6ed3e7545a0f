/**
 * Object and folder layout shared by the outputs that write partitioned trees (file lake, MinIO,
 * cloud): Hive partition segments, UTC dates, frame file extensions and seq-ordered names.
 *
 * Design constraints:
 * - A partition value becomes a safe path segment that pyarrow's default `segment_encoding="uri"`
 *   decodes back to the value; distinct values stay distinct, however long.
 * - Names sort in seq order (zero-padded to the 16 digits of 2^53).
 */
import { createHash } from 'node:crypto';

/** The value pyarrow (and Hive) read back as null in a partition path. */
export const NULL_PARTITION = '__HIVE_DEFAULT_PARTITION__';
const MAX_SEGMENT_CHARS = 120;

/**
 * A value as a safe path segment: letters, digits, `.`, `_` and `-` stay; every other byte of its UTF-8
 * form becomes `%XX` (pyarrow's default `segment_encoding="uri"` decodes it back). An empty value is
 * the Hive null partition; `.` and `..` are encoded; a value longer than 120 characters after encoding
 * is cut and gets `~` plus 16 hex digits of its SHA-256, so distinct values stay distinct.
 */
export function partitionSegment(value: string | undefined): string {
  if (value === undefined || value === '') return NULL_PARTITION;
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const ch = String.fromCharCode(byte);
    out += /[A-Za-z0-9._-]/.test(ch) ? ch : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  if (out === '.' || out === '..') out = out.replace(/\./g, '%2E');
  if (out === NULL_PARTITION) out = out.replace(/_/g, '%5F');
  if (out.length > MAX_SEGMENT_CHARS) {
    const hash = createHash('sha256').update(value).digest('hex').slice(0, 16);
    out = `${out.slice(0, MAX_SEGMENT_CHARS - 17).replace(/%[0-9A-F]?$/, '')}~${hash}`;
  }
  return out;
}

/** File extension for a frame's content type (its bytes are written unchanged). */
export function frameExtension(contentType: string): string {
  const base = contentType.split(';')[0]!.trim().toLowerCase();
  const known: Record<string, string> = {
    'image/png': 'png',
    'image/jpeg': 'jpg',
    'image/jpg': 'jpg',
    'image/tiff': 'tif',
    'image/bmp': 'bmp',
    'image/webp': 'webp',
    'image/gif': 'gif',
    'image/x-portable-graymap': 'pgm',
    'image/x-portable-anymap': 'pnm',
    'image/avif': 'avif',
    'image/jxl': 'jxl',
  };
  return known[base] ?? 'bin';
}

const SEQ_DIGITS = 16; // 2^53 has 16 digits: names sort in seq order

/** A seq as a fixed-width name part. */
export function seqName(seq: number): string {
  return String(seq).padStart(SEQ_DIGITS, '0');
}

const NS_PER_DAY = 86_400_000_000_000n;

/** The UTC calendar date (`YYYY-MM-DD`) of a time in ns since the Unix epoch, for `date=` partitions. */
export function utcDate(timeNs: bigint): string {
  const day = timeNs >= 0n ? timeNs / NS_PER_DAY : (timeNs - NS_PER_DAY + 1n) / NS_PER_DAY;
  return new Date(Number(day) * 86_400_000).toISOString().slice(0, 10);
}
