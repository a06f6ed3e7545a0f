/**
 * The path every frame takes, from the drop folder or the upload route: hash, dedup, inspect,
 * re-encode, emit.
 *
 * Design constraints:
 * - The original bytes are the record's body, untouched (the buffer spools large bodies). The
 *   re-encode only replaces them with `keep: reencoded-only`, and only when it is smaller and decodes
 *   to the same pixels (inspect.ts).
 * - Frames are `sensitive` by default: a powder-bed image shows the parts' geometry.
 * - Dedup by content hash over the last `dedupWindow` frames (dedup.ts): a duplicate is neither
 *   decoded nor stored again, and is released like a stored frame.
 * - `ingest` resolves only after the commit; it resolves undefined when the emit failed (nothing
 *   stored: the caller keeps the file or answers 503) and throws `FrameRejected` for bad input.
 * - The frame's own record is the emit's first draft. When the emit's result says the pipeline
 *   quarantined it (a layer out of range from the file name, a record the buffer refuses), nothing
 *   of the frame counts as stored: `ingest` throws `FrameRecordQuarantined` with the pipeline's
 *   reason, so the drop folder moves the file to its quarantine and the upload route answers 400,
 *   instead of releasing a frame that is not in the buffer. Its derived records (thumbnail,
 *   re-encoded copy) carry the same build, layer and time and so fall with it. One of them
 *   quarantined alone leaves the frame stored; that is logged.
 */
import { createHash } from 'node:crypto';
import sharp from 'sharp';
import type { EmitResult, InputContext, RecordDraft } from '../../../gateway/plugin-api/index.js';
import type { DedupMemory } from './dedup.js';
import { FrameRecordQuarantined } from './frame.js';
import type { FrameFormat, FrameHints } from './frame.js';
import { FRAME_CONTENT_TYPES, inspectFrame, losslessReencode } from './inspect.js';
import type { FramesConfig } from './schema.js';

export interface IngestResult {
  sha256: string;
  duplicate: boolean;
  width: number;
  height: number;
  depth: number;
  format: FrameFormat;
}

/** The counters the ingest path keeps (part of the input's counters). */
export interface IngestCounters {
  frames: number;
  bytes: number;
  thumbnails: number;
  reencoded: number;
  duplicates: number;
  /** emits that failed (the file stays and is retried) */
  emitFailures: number;
}

export class FrameIngest {
  constructor(
    private readonly config: FramesConfig,
    private readonly dedup: DedupMemory,
    private readonly counters: IngestCounters,
  ) {}

  /**
   * Validate, dedup and emit one frame. Resolves after the commit with what was stored; resolves
   * undefined when the emit failed (nothing stored, the caller must not release); throws
   * `FrameRejected` for bad input and `FrameRecordQuarantined` when the pipeline quarantined the
   * frame's record (the caller quarantines the frame either way).
   */
  async ingest(ctx: InputContext, bytes: Buffer, hints: FrameHints): Promise<IngestResult | undefined> {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    // same bytes as a frame already validated and stored: no second decode, no second record
    const seen = this.dedup.get(sha256);
    if (seen) {
      this.counters.duplicates++;
      ctx.log.info({ file: hints.fileName, sha256 }, 'frames: duplicate of a recent frame; released without storing it again');
      return { sha256, ...seen, duplicate: true };
    }
    const thumbSize = this.config.thumbnail.enabled ? this.config.thumbnail.size : null;
    const info = await inspectFrame(bytes, hints, { thumbnailSize: thumbSize });
    const base = { sha256, width: info.width, height: info.height, depth: info.depth, format: info.format };
    // claimed before the emit, so that a copy arriving meanwhile is not stored twice
    this.dedup.add(sha256, { width: info.width, height: info.height, depth: info.depth, format: info.format });

    const attributes: Record<string, string> = {
      width: String(info.width),
      height: String(info.height),
      depth: String(info.depth),
      format: info.format,
      sha256,
      file_name: hints.fileName,
      size: String(bytes.length),
      ...(hints.phase ? { phase: hints.phase } : {}),
    };
    const common: Omit<RecordDraft, 'signal' | 'contentType' | 'body'> = {
      kind: 'frame',
      class: 'sensitive',
      ...(hints.sourceTimeMs !== undefined ? { sourceTimeNs: BigInt(Math.round(hints.sourceTimeMs)) * 1_000_000n } : {}),
      ...(hints.build !== undefined ? { build: hints.build } : {}),
      ...(hints.layer !== undefined ? { layer: hints.layer } : {}),
    };
    let body = bytes;
    let contentType = FRAME_CONTENT_TYPES[info.format];
    const drafts: RecordDraft[] = [];
    if (this.config.reencode !== 'off') {
      const re = await losslessReencode(bytes, info.format, info.depth, this.config.reencode, hints.raw).catch((err: unknown) => {
        ctx.log.warn({ err, file: hints.fileName }, 'frames: lossless re-encode failed; keeping the original only');
        return undefined;
      });
      if (re) {
        this.counters.reencoded++;
        const reAttrs = {
          ...attributes,
          format: re.format,
          size: String(re.bytes.length),
          original_format: info.format,
          original_sha256: sha256,
          original_size: String(bytes.length),
        };
        if (this.config.keep === 'reencoded-only') {
          body = re.bytes;
          contentType = FRAME_CONTENT_TYPES[re.format];
          Object.assign(attributes, reAttrs, { sha256: createHash('sha256').update(re.bytes).digest('hex') });
        } else {
          drafts.push({
            ...common,
            signal: `${this.config.signal}.reencoded`,
            contentType: FRAME_CONTENT_TYPES[re.format],
            body: re.bytes,
            attributes: { ...reAttrs, sha256: createHash('sha256').update(re.bytes).digest('hex'), reencoded_of: sha256 },
          });
        }
      }
    }
    drafts.unshift({ ...common, signal: this.config.signal, contentType, body, attributes });
    if (info.thumbnail) {
      const tm = await sharp(info.thumbnail).metadata();
      drafts.push({
        ...common,
        signal: `${this.config.signal}.thumbnail`,
        contentType: 'image/png',
        body: info.thumbnail,
        attributes: {
          thumbnail_of: sha256,
          width: String(tm.width),
          height: String(tm.height),
          depth: '8',
          format: 'png',
          file_name: hints.fileName,
          ...(hints.phase ? { phase: hints.phase } : {}),
        },
      });
    }
    let result: EmitResult;
    try {
      result = await ctx.emit(drafts);
    } catch (err) {
      this.dedup.delete(sha256);
      this.counters.emitFailures++;
      ctx.log.warn({ err, file: hints.fileName }, 'frames: the buffer did not take the frame; it is kept for a retry');
      return undefined;
    }
    if (result.quarantined.length > 0) {
      const own = result.quarantined[0]!.index === 0 ? result.quarantined[0]! : undefined;
      if (own !== undefined) {
        // not stored: the same bytes under a corrected name or sidecar must be taken again
        this.dedup.delete(sha256);
        ctx.log.warn(
          { file: hints.fileName, reason: own.reason, error: own.error },
          "frames: the pipeline quarantined the frame's record; the frame is rejected",
        );
        throw new FrameRecordQuarantined(own.reason, `${hints.fileName}: its record was quarantined (${own.reason}): ${own.error}`);
      }
      ctx.log.warn(
        { file: hints.fileName, quarantined: result.quarantined.map((q) => ({ signal: drafts[q.index]!.signal, reason: q.reason, error: q.error })) },
        'frames: the frame is stored, but a record derived from it was quarantined',
      );
    }
    this.counters.frames++;
    this.counters.bytes += body.length;
    if (info.thumbnail) this.counters.thumbnails++;
    this.dedup.persist(sha256, { width: info.width, height: info.height, depth: info.depth, format: info.format });
    return { ...base, duplicate: false };
  }
}
