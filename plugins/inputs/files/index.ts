/**
 * The `files` input: build files (job files, vendor archives), CAD models and CT scans from a drop
 * folder and/or an HTTP upload route (the plugin API's shared ones: gateway/plugin-api/drop-folder.ts
 * and upload-server.ts, the same stability and release rules as the frames input), each inspected
 * (./inspect.ts) and emitted as two document records: the file itself and its metadata.
 *
 * Design constraints:
 * - A file is released (moved or deleted, upload answered 201) only after the buffer commit of both
 *   its records; when the emit fails it stays (drop folder) or is answered 503 (upload).
 * - The file's bytes are the body, untouched; the buffer spools large bodies content-addressed by
 *   SHA-256, so equal files share one spooled body (sealed confidential bodies excepted: each seal is
 *   unique). The input keeps no dedup memory of its own.
 * - Class: proposed per type (`types.<type>.class`: build files and CAD models confidential, CT scans
 *   sensitive by default); classification may only raise it. Confidential bodies are then sealed at
 *   rest by the buffer and never routed off premises. Both records carry `access_pattern` per type.
 * - A malformed file (./inspect.ts, ./zip.ts) is rejected with its reason: moved to quarantine/,
 *   counted, and reported to the gateway quarantine. The raw bytes go with that report only for a
 *   file whose type is not confidential: a confidential file's bytes are never copied out of the
 *   drop folder's quarantine/ (where they arrived) into the gateway's data folder.
 * - Nothing in a file is executed or trusted: readers are bounded, and only the facts listed in the
 *   README go into the metadata (never DICOM patient fields, STEP authors, sidecar keys not listed).
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { ACCESS_PATTERN_ATTRIBUTE, DropFolder, UploadServer } from '../../../gateway/plugin-api/index.js';
import type {
  DropFile,
  EmitResult,
  InputContext,
  InputDefinition,
  InputPlugin,
  PluginEnvironment,
  RecordDraft,
  UploadAnswer,
} from '../../../gateway/plugin-api/index.js';
import { definition as lazyDefinition } from './definition.js';
import { FileRecordQuarantined, FileRejected, checkBuild, checkType, isSidecarName, parseSidecar, sidecarName, typeByExtension } from './file.js';
import type { FileHints, RejectReason } from './file.js';
import { formatOf, inspect } from './inspect.js';
import type { FileType, FilesConfig } from './schema.js';

export const TYPE = 'files';

/** The metadata document's schema id (`schema` key): bumped when a key changes meaning. */
export const META_SCHEMA = 'layergate.files.meta/1';

/** Where a file's build came from. */
export type BuildSource = 'sidecar' | 'header' | 'file-name' | 'machine-context' | 'none';

/** The JSON body of a `<signal>.meta` record (see README.md). */
export interface FileMetadata {
  schema: typeof META_SCHEMA;
  type: FileType;
  format: string;
  contentType: string;
  fileName: string;
  size: number;
  sha256: string;
  build: string | null;
  buildSource: BuildSource;
  receivedVia: 'drop-folder' | 'upload';
  sourceTimeMs: number;
  class: string;
  accessPattern: string;
  content: Record<string, unknown>;
}

export interface FilesCounters {
  files: number;
  bytes: number;
  byType: Record<FileType, number>;
  uploads: number;
  uploadsRefused: number;
  released: number;
  emitFailures: number;
  rejected: Record<RejectReason, number>;
}

export interface IngestResult {
  sha256: string;
  size: number;
  type: FileType;
  format: string;
  build: string | null;
}

const SETTINGS_KEY: Record<FileType, 'buildFile' | 'cadModel' | 'ctScan'> = { 'build-file': 'buildFile', 'cad-model': 'cadModel', 'ct-scan': 'ctScan' };

export class FilesInput implements InputPlugin {
  readonly type = TYPE;
  readonly counters: FilesCounters = {
    files: 0,
    bytes: 0,
    byType: { 'build-file': 0, 'cad-model': 0, 'ct-scan': 0 },
    uploads: 0,
    uploadsRefused: 0,
    released: 0,
    emitFailures: 0,
    rejected: {
      'too-large': 0,
      'unknown-format': 0,
      corrupt: 0,
      truncated: 0,
      'zip-bomb': 0,
      'size-mismatch': 0,
      'bad-sidecar': 0,
      'out-of-range': 0,
      unclassifiable: 0,
      unstorable: 0,
    },
  };
  private ctx: InputContext | undefined;
  private readonly pattern: RegExp;
  private readonly dropFolder: DropFolder<FileRejected>;
  private readonly uploads: UploadServer<FileRejected> | undefined;
  readonly processedDir: string;
  readonly quarantineDir: string;

  constructor(private readonly config: FilesConfig) {
    this.pattern = new RegExp(config.fileNamePattern);
    this.processedDir = path.resolve(config.processedDir ?? path.join(config.dropDir, 'processed'));
    this.quarantineDir = path.resolve(config.quarantineDir ?? path.join(config.dropDir, 'quarantine'));
    const isRejection = (err: unknown): err is FileRejected => err instanceof FileRejected;
    const reject = (err: FileRejected, bytes: Buffer | undefined, where: string) => this.reject(err, bytes, where);
    this.dropFolder = new DropFolder<FileRejected>(
      config,
      this.processedDir,
      this.quarantineDir,
      {
        label: 'files',
        sidecarName,
        isCompanion: (name) => isSidecarName(name, config.extensions),
        // a vendor volume cannot be read without the sidecar that gives its layout: wait for it
        ready: (name, names) => formatOf(name) !== 'volume' || names.has(sidecarName(name)),
        isRejection,
        tooLarge: (name, size) => new FileRejected('too-large', `${name}: ${size} bytes is more than maxFileBytes (${config.maxFileBytes})`),
        badSidecar: (name, problem) => new FileRejected('bad-sidecar', `${name}: ${problem}`),
        handle: (file) => this.fromDropFolder(file),
        reject,
      },
      this.counters,
    );
    this.uploads = config.upload
      ? new UploadServer<FileRejected>(
          config.upload,
          {
            label: 'files',
            route: '/files',
            maxFileBytes: config.maxFileBytes,
            isRejection,
            tooLarge: (name, what) => new FileRejected('too-large', `${name}: ${what} is more than maxFileBytes (${config.maxFileBytes})`),
            handle: (bytes, name, header) => this.fromUpload(bytes, name, header),
            reject,
          },
          this.counters,
        )
      : undefined;
  }

  /** The upload route's URL once started (undefined without `upload`). */
  get uploadUrl(): string | undefined {
    return this.uploads?.url;
  }

  async start(ctx: InputContext): Promise<void> {
    this.ctx = ctx;
    await this.dropFolder.start(ctx);
    if (this.uploads) await this.uploads.start(ctx);
    this.dropFolder.startScanning();
    ctx.log.info({ dropDir: path.resolve(this.config.dropDir), upload: this.uploadUrl }, 'files input started');
  }

  async stop(): Promise<void> {
    await Promise.all([this.dropFolder.stop(), this.uploads?.stop()]);
    await this.dropFolder.settled();
  }

  private async fromDropFolder(file: DropFile): Promise<boolean> {
    const hints = file.sidecar ? parseSidecar(file.sidecar.toString('utf8'), sidecarName(file.name)) : {};
    const r = await this.ingest(file.bytes, file.name, { sourceTimeMs: file.mtimeMs, ...hints }, file.sidecar ? 'sidecar' : undefined, 'drop-folder');
    return r !== undefined;
  }

  /** Upload hints: `x-layergate-sidecar` (a sidecar's JSON), over it `x-layergate-build`, `x-layergate-file-type`, `x-layergate-source-time-ms`. */
  private async fromUpload(bytes: Buffer, name: string, h: (k: string) => string | undefined): Promise<UploadAnswer> {
    const sidecar = h('x-layergate-sidecar');
    const hints: FileHints = sidecar === undefined ? {} : parseSidecar(sidecar, `${name}: header x-layergate-sidecar`);
    const build = h('x-layergate-build');
    if (build !== undefined) {
      hints.build = checkBuild(build) ?? badHeader(name, 'x-layergate-build', 'a build id of 1..256 characters');
    }
    const type = h('x-layergate-file-type');
    if (type !== undefined) hints.type = checkType(type) ?? badHeader(name, 'x-layergate-file-type', 'build-file, cad-model or ct-scan');
    const time = h('x-layergate-source-time-ms');
    if (time !== undefined) {
      const t = /^\d{1,16}$/.test(time) ? Number(time) : Number.NaN;
      hints.sourceTimeMs = Number.isFinite(t) && t <= 9_223_372_036_854 ? t : badHeader(name, 'x-layergate-source-time-ms', 'ms since the epoch');
    }
    hints.sourceTimeMs ??= Date.now();
    const via = hints.build !== undefined ? 'header' : undefined;
    const r = await this.ingest(bytes, name, hints, via, 'upload');
    if (!r) return { status: 503, body: { error: 'the buffer did not take the file; retry later' } };
    return { status: 201, body: r };
  }

  /**
   * Inspect and emit one file (both routes). Resolves after the commit; undefined when the emit
   * failed (nothing stored); throws `FileRejected` for a file that must be set aside.
   */
  async ingest(
    bytes: Buffer,
    fileName: string,
    hints: FileHints,
    hintSource: 'sidecar' | 'header' | undefined,
    via: 'drop-folder' | 'upload',
  ): Promise<IngestResult | undefined> {
    const ctx = this.ctx!;
    const byExt = typeByExtension(fileName, this.config.extensions);
    if (hints.type === undefined && byExt === undefined) {
      throw new FileRejected(
        'unknown-format',
        `${fileName}: no file type for extension ${JSON.stringify(path.extname(fileName).slice(0, 20))} (config extensions)`,
      );
    }
    const info = await inspect(fileName, bytes, hints, this.config.archive);
    const type: FileType = hints.type ?? info.detectedType ?? byExt!;
    const settings = this.config.types[SETTINGS_KEY[type]];
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const nameBuild = this.pattern.exec(fileName)?.groups?.build;
    const machineBuild = ctx.machineContext().build;
    let build: string | undefined;
    let buildSource: BuildSource;
    if (hints.build !== undefined) {
      build = hints.build;
      buildSource = hintSource ?? 'sidecar';
    } else if (nameBuild !== undefined && checkBuild(nameBuild) !== undefined) {
      build = nameBuild;
      buildSource = 'file-name';
    } else if (machineBuild !== undefined) {
      // left to the pipeline, which stamps every record with the machine context's build
      buildSource = 'machine-context';
    } else buildSource = 'none';
    const sourceTimeMs = Math.floor(hints.sourceTimeMs ?? Date.now());
    const meta: FileMetadata = {
      schema: META_SCHEMA,
      type,
      format: info.format,
      contentType: info.contentType,
      fileName,
      size: bytes.length,
      sha256,
      build: build ?? machineBuild ?? null,
      buildSource,
      receivedVia: via,
      sourceTimeMs,
      class: settings.class,
      accessPattern: settings.accessPattern,
      content: info.content,
    };
    const attributes: Record<string, string> = {
      file_type: type,
      file_name: fileName,
      format: info.format,
      sha256,
      size: String(bytes.length),
      [ACCESS_PATTERN_ATTRIBUTE]: settings.accessPattern,
    };
    const common = {
      kind: 'document' as const,
      sourceTimeNs: BigInt(sourceTimeMs) * 1_000_000n,
      class: settings.class,
      ...(build !== undefined ? { build } : {}),
    };
    const drafts: RecordDraft[] = [
      { ...common, signal: this.config.signal, contentType: info.contentType, body: bytes, attributes },
      {
        ...common,
        signal: `${this.config.signal}.meta`,
        contentType: 'application/json',
        body: Buffer.from(JSON.stringify(meta)),
        attributes: { ...attributes, meta_of: sha256, format: 'json' },
      },
    ];
    let result: EmitResult;
    try {
      result = await ctx.emit(drafts);
    } catch (err) {
      this.counters.emitFailures++;
      ctx.log.warn({ err, file: fileName }, 'files: the buffer did not take the file; it is kept for a retry');
      return undefined;
    }
    const own = result.quarantined.find((q) => q.index === 0);
    if (own) throw new FileRecordQuarantined(own.reason, `${fileName}: its record was quarantined (${own.reason}): ${own.error}`);
    if (result.quarantined.length > 0) {
      ctx.log.warn({ file: fileName, reason: result.quarantined[0]!.reason }, 'files: the file is stored, but its metadata record was quarantined');
    }
    this.counters.files++;
    this.counters.bytes += bytes.length;
    this.counters.byType[type]++;
    return { sha256, size: bytes.length, type, format: info.format, build: meta.build };
  }

  private reject(err: FileRejected, bytes: Buffer | undefined, where: string): void {
    this.counters.rejected[err.reason]++;
    // the pipeline already quarantined that file's record with its reason: once is enough
    if (err instanceof FileRecordQuarantined) return;
    const type = typeByExtension(where, this.config.extensions);
    // a confidential (or unknown) type's bytes stay in quarantine/ of the drop folder only
    const keepRaw = type !== undefined && this.config.types[SETTINGS_KEY[type]].class !== 'confidential';
    this.ctx?.quarantine(where, err, keepRaw ? bytes?.subarray(0, this.config.quarantineRawMaxBytes) : undefined);
  }
}

function badHeader(name: string, header: string, expected: string): never {
  throw new FileRejected('bad-sidecar', `${name}: header ${header}: expected ${expected}`);
}

/** The full definition: the lazy one of ./definition.ts, and how to create an instance. */
export const definition: InputDefinition<FilesConfig> = {
  ...lazyDefinition,
  create: (config: FilesConfig, _env: PluginEnvironment) => new FilesInput(config),
};
