/**
 * The `frames` input: powder-bed camera images from a drop folder (drop-folder.ts) and/or an HTTP
 * upload route (upload-server.ts), both through one ingest path (ingest.ts: dedup, inspection,
 * re-encode, emit). This module wires them together and owns the counters.
 *
 * Design constraints:
 * - A frame is released (file moved or deleted, upload answered 2xx) only after the buffer commit.
 * - A rejected frame is counted per reason and quarantined (the gateway's input quarantine, at most
 *   `quarantineRawMaxBytes` of its bytes); it never stops the other frames. A frame whose record
 *   the pipeline quarantined (the emit's result) is rejected the same way, under the pipeline's
 *   reason, but not quarantined a second time in the gateway's quarantine.
 */
import path from 'node:path';
import type { InputContext, InputDefinition, InputPlugin, PluginEnvironment } from '../../../gateway/plugin-api/index.js';
import { DedupMemory } from './dedup.js';
import type { DropFolder, UploadServer } from '../../../gateway/plugin-api/index.js';
import { framesDropFolder } from './drop-folder.js';
import { FrameRecordQuarantined } from './frame.js';
import type { FrameHints, FrameRejected, RejectReason } from './frame.js';
import { FrameIngest } from './ingest.js';
import type { IngestResult } from './ingest.js';
import type { FramesConfig } from './schema.js';
import { framesUploadServer } from './upload-server.js';
import { definition as lazyDefinition } from './definition.js';

export const TYPE = 'frames';

export interface FramesCounters {
  frames: number;
  bytes: number;
  thumbnails: number;
  reencoded: number;
  duplicates: number;
  uploads: number;
  /** uploads answered 503 because `upload.maxConcurrent` were being handled */
  uploadsRefused: number;
  /** files released after the commit (moved or deleted) */
  released: number;
  /** emits that failed (the file stays and is retried) */
  emitFailures: number;
  rejected: Record<RejectReason, number>;
}

export class FramesInput implements InputPlugin {
  readonly type = TYPE;
  readonly counters: FramesCounters = {
    frames: 0,
    bytes: 0,
    thumbnails: 0,
    reencoded: 0,
    duplicates: 0,
    uploads: 0,
    uploadsRefused: 0,
    released: 0,
    emitFailures: 0,
    rejected: { 'too-large': 0, 'unknown-format': 0, corrupt: 0, 'bad-sidecar': 0, 'out-of-range': 0, unclassifiable: 0, unstorable: 0 },
  };
  private ctx: InputContext | undefined;
  private readonly dedup: DedupMemory;
  private readonly frames: FrameIngest;
  private readonly dropFolder: DropFolder<FrameRejected>;
  private readonly uploads: UploadServer<FrameRejected> | undefined;
  readonly processedDir: string;
  readonly quarantineDir: string;

  constructor(
    private readonly config: FramesConfig,
    private readonly env?: PluginEnvironment,
  ) {
    const pattern = new RegExp(config.fileNamePattern);
    this.processedDir = path.resolve(config.processedDir ?? path.join(config.dropDir, 'processed'));
    this.quarantineDir = path.resolve(config.quarantineDir ?? path.join(config.dropDir, 'quarantine'));
    this.dedup = new DedupMemory(config.dedupWindow);
    this.frames = new FrameIngest(config, this.dedup, this.counters);
    const ingest = (bytes: Buffer, hints: FrameHints) => this.ingest(bytes, hints);
    const reject = (err: FrameRejected, bytes: Buffer | undefined, where: string) => this.reject(err, bytes, where);
    this.dropFolder = framesDropFolder(config, pattern, this.processedDir, this.quarantineDir, ingest, reject, this.counters);
    this.uploads = config.upload ? framesUploadServer(config, config.upload, pattern, ingest, reject, this.counters) : undefined;
  }

  /** Uploads being handled right now (at most `upload.maxConcurrent`). */
  get uploadsInProgress(): number {
    return this.uploads?.inProgress ?? 0;
  }

  /** The upload route's base URL once started (undefined without `upload`). */
  get uploadUrl(): string | undefined {
    return this.uploads?.url;
  }

  async start(ctx: InputContext): Promise<void> {
    this.ctx = ctx;
    await this.dropFolder.start(ctx);
    if (this.env) await this.dedup.load(this.env.dataDir, ctx.name, ctx.log);
    if (this.uploads) await this.uploads.start(ctx);
    this.dropFolder.startScanning();
    ctx.log.info({ dropDir: path.resolve(this.config.dropDir), upload: this.uploadUrl }, 'frames input started');
  }

  async stop(): Promise<void> {
    await Promise.all([this.dropFolder.stop(), this.uploads?.stop()]);
    await this.dropFolder.settled();
    await this.dedup.flush();
  }

  /**
   * Validate, dedup and emit one frame (the path of the drop folder and the upload route). Resolves
   * after the commit with what was stored; undefined when the emit failed; throws `FrameRejected`.
   */
  ingest(bytes: Buffer, hints: FrameHints): Promise<IngestResult | undefined> {
    return this.frames.ingest(this.ctx!, bytes, hints);
  }

  private reject(err: FrameRejected, bytes: Buffer | undefined, where: string): void {
    this.counters.rejected[err.reason]++;
    // the pipeline already quarantined that frame's record with its bytes and reason: once is enough
    if (err instanceof FrameRecordQuarantined) return;
    this.ctx?.quarantine(where, err, bytes?.subarray(0, this.config.quarantineRawMaxBytes));
  }
}

/** The full definition: the lazy one of ./definition.ts, and how to create an instance. */
export const definition: InputDefinition<FramesConfig> = {
  ...lazyDefinition,
  create: (config, env) => new FramesInput(config, env),
};
