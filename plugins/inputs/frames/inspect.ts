/**
 * Image inspection and lossless re-encoding of frames (sharp/libvips).
 *
 * Design constraints:
 * - Every image is decoded in full (not only its header) so that truncated or corrupt files are
 *   caught here (`FrameRejected`: `unknown-format`, `corrupt`).
 * - The re-encode is lossless and kept only when it is smaller and decodes to the same pixels (first
 *   channel, compared at 16 bit); JPEG is never re-encoded (lossy already), 16-bit frames go to PNG
 *   only (WebP holds 8 bits).
 * - Pure (no I/O besides the codec): shared by the drop folder, the upload route and the benchmark.
 */
import sharp from 'sharp';
import type { Metadata, Sharp, SharpOptions } from 'sharp';
import { FrameRejected } from './frame.js';
import type { FrameFormat, FrameHints } from './frame.js';

/** The content type of a frame's bytes per format (and of a WebP re-encode). */
export const FRAME_CONTENT_TYPES: Record<FrameFormat | 'webp', string> = {
  png: 'image/png',
  tiff: 'image/tiff',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  raw: 'application/octet-stream',
};

function depthBits(depth: string | undefined): number {
  switch (depth) {
    case 'uchar':
    case 'char':
      return 8;
    case 'ushort':
    case 'short':
      return 16;
    case 'uint':
    case 'int':
    case 'float':
      return 32;
    case 'double':
      return 64;
    default:
      return 8;
  }
}

/**
 * Decode a frame fully and make its thumbnail: throws `FrameRejected` for unknown formats and for
 * truncated or corrupt images. Pure (no I/O): shared by the drop folder, the upload route and the benchmark.
 */
export async function inspectFrame(
  bytes: Buffer,
  hints: FrameHints,
  opts: { thumbnailSize: number | null },
): Promise<{ format: FrameFormat; width: number; height: number; depth: number; thumbnail?: Buffer }> {
  const where = hints.fileName;
  if (hints.raw) {
    const { width, height, depth } = hints.raw;
    const expected = width * height * (depth / 8);
    if (bytes.length !== expected) {
      throw new FrameRejected('corrupt', `${where}: raw frame has ${bytes.length} bytes, the sidecar's ${width}x${height}x${depth}-bit needs ${expected}`);
    }
    let thumbnail: Buffer | undefined;
    try {
      thumbnail =
        opts.thumbnailSize === null
          ? undefined
          : await sharp(bytes, rawInput(hints.raw))
              .resize(opts.thumbnailSize, opts.thumbnailSize, { fit: 'inside', withoutEnlargement: true })
              .toColourspace('b-w')
              .png()
              .toBuffer();
    } catch (err) {
      throw new FrameRejected('corrupt', `${where}: raw frame does not decode as ${width}x${height}x${depth}-bit (${(err as Error).message.split('\n')[0]})`, {
        cause: err,
      });
    }
    return { format: 'raw', width, height, depth, ...(thumbnail ? { thumbnail } : {}) };
  }
  let meta: Metadata;
  try {
    meta = await sharp(bytes).metadata();
  } catch (err) {
    throw new FrameRejected('unknown-format', `${where}: not a PNG, TIFF or JPEG image (${(err as Error).message})`, { cause: err });
  }
  const format = (meta.format as string) === 'jpg' ? 'jpeg' : (meta.format as string);
  if (format !== 'png' && format !== 'tiff' && format !== 'jpeg') {
    throw new FrameRejected('unknown-format', `${where}: format ${String(meta.format)} is not accepted (PNG, TIFF, JPEG, or raw with a sidecar)`);
  }
  if (!meta.width || !meta.height) throw new FrameRejected('corrupt', `${where}: the image header gives no size`);
  // a full decode: the header of a half-written file is intact, its pixel data is not
  let thumbnail: Buffer | undefined;
  try {
    if (opts.thumbnailSize === null) {
      await sharp(bytes, { failOn: 'warning' }).raw().toBuffer();
    } else {
      thumbnail = await sharp(bytes, { failOn: 'warning' })
        .resize(opts.thumbnailSize, opts.thumbnailSize, { fit: 'inside', withoutEnlargement: true, fastShrinkOnLoad: false })
        .toColourspace('b-w')
        .png()
        .toBuffer();
    }
  } catch (err) {
    throw new FrameRejected('corrupt', `${where}: truncated or corrupt ${format} image (${(err as Error).message.split('\n')[0]})`, { cause: err });
  }
  return { format, width: meta.width, height: meta.height, depth: depthBits(meta.depth), ...(thumbnail ? { thumbnail } : {}) };
}

/** sharp's typings leave out `raw.depth` for input, but libvips honours it (16-bit raw input). */
function rawInput(raw: NonNullable<FrameHints['raw']>): SharpOptions {
  return { raw: { width: raw.width, height: raw.height, channels: 1, ...(raw.depth === 16 ? { depth: 'ushort' as const } : {}) } };
}

/** The first channel's samples, widened to 16 bit (for the pixel-identity check of a re-encode). */
function firstChannel(img: Sharp): Promise<Buffer> {
  return img.extractChannel(0).raw({ depth: 'ushort' }).toBuffer();
}

/** A losslessly re-encoded copy, or undefined when it is not smaller or not pixel-identical. */
export async function losslessReencode(
  bytes: Buffer,
  format: FrameFormat,
  depth: number,
  target: 'png' | 'webp',
  raw?: FrameHints['raw'],
): Promise<{ bytes: Buffer; format: 'png' | 'webp' } | undefined> {
  // JPEG is lossy already: a lossless copy of its decoded pixels is larger, and not the original
  if (format === 'jpeg') return undefined;
  // WebP holds 8 bits per channel: a 16-bit frame can only go to PNG
  const to = target === 'webp' && depth > 8 ? 'png' : target;
  const src = () => (raw ? sharp(bytes, rawInput(raw)) : sharp(bytes));
  const img = depth > 8 ? src().toColourspace('grey16') : src();
  const out =
    to === 'png' ? await img.png({ compressionLevel: 9, adaptiveFiltering: true }).toBuffer() : await img.webp({ lossless: true, effort: 4 }).toBuffer();
  if (out.length >= bytes.length) return undefined;
  const [a, b] = await Promise.all([firstChannel(src()), firstChannel(sharp(out))]);
  return a.equals(b) ? { bytes: out, format: to } : undefined;
}
