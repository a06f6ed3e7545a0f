/**
 * The `cloud` output: syncs what may leave the premises to cloud object storage (S3 API), when the
 * uplink has room, through a local store that survives outages of hours (plugins/outputs/cloud/sync/).
 *
 * Object layout in the bucket (`<p>` = prefix, `<m>` machine, `<b>` build, segments encoded like the
 * file lake's partition folders):
 *
 *   <p>/machine=<m>/build=<b>/realtime/part-<firstSeq>-<lastSeq>.jsonl.gz                    realtime mode
 *   <p>/machine=<m>/build=<b>/timeseries/<table>/date=<d>/part-<first>-<last>[-<ch>].parquet   batch mode
 *   <p>/blobs/sha256/<aa>/<sha256>.<ext>                                                     continuous mode
 *   <p>/machine=<m>/build=<b>/manifest.json                                                  per build
 *
 * (`<d>`: the UTC date of the window's start, `YYYY-MM-DD`; `<ch>`: 8 hex digits naming a samples
 * object's channel set.)
 *
 * Design constraints:
 * - Off premises (`premises: 'off'`). Whatever the config or the router does, `send` checks every
 *   record's class again with `mayLeavePremises`: a sensitive or confidential record is refused
 *   (counted in the store and reported to the forwarder as a permanent refusal naming its seqs, so
 *   it is quarantined and never retried), never written to the sync store, never uploaded.
 * - `send` resolves once the batch is durably in the sync store (files fsynced, rows committed):
 *   the store, not the buffer, carries the data through an outage. When the store is full of data
 *   not yet in the cloud, `send` fails (retryable) and the records wait in the buffer.
 * - Modes per record kind: realtime records become one gzipped JSON-lines object per batch and build;
 *   batch records (time series) are staged and compacted into one Parquet file (zstd) per window,
 *   table and build, every signal inside (rows sorted by signal then seq, `signal` a column, the
 *   file lake's columns otherwise: plugins/outputs/shared/columns), read from the store in bounded
 *   chunks (`compaction.maxRecords` / `maxBytes`: a larger window makes several files; ./compaction.ts);
 *   continuous records (frames, documents) are content-addressed objects, so bytes already queued or
 *   in the cloud are never uploaded twice (the record just joins the existing object's members).
 * - Every object carries its class (the strictest of its records) as `x-amz-meta-layergate-class`
 *   and object tag `layergate-class`, and its records' seq range as `x-amz-meta-layergate-seq`.
 * - Staging costs no scan of what is staged: at 50,000 records/s a window stages millions of rows,
 *   so the room check reads kept totals and a send's flush asks only for the oldest window (indexed).
 * - A build's manifest follows once all of its objects are synced and either the machine reported the
 *   build finished or aborted (the `machine.state` event of the OPC-UA input; its staged time series
 *   are compacted at once) or no record of it arrived for `manifestAfter`.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { gzipSync } from 'node:zlib';
import type { Logger } from 'pino';
import type { OutputContext, OutputDefinition, OutputPlugin, PluginEnvironment } from '../../../gateway/plugin-api/index.js';
import { SENSITIVITY_CLASSES, encodeRecord, mayLeavePremises } from '../../../gateway/plugin-api/index.js';
import type { SensitivityClass, StoredRecord } from '../../../gateway/plugin-api/index.js';
import { BlobMissingError, SyncOffPremisesError } from '../../../gateway/plugin-api/index.js';
import { S3Target, cloudS3Settings } from './sync/s3.js';
import type { S3Settings } from './sync/s3.js';
import { SyncStore } from './sync/store.js';
import type { Member, NewObject, StagedRecord, SyncMode } from './sync/store.js';
import { Uploader } from './sync/uploader.js';
import type { UploaderStats } from './sync/uploader.js';
import { frameExtension, seqName } from '../shared/layout.js';
import { permanent, recordJson, SEQ_KEY } from '../shared/sink.js';
import { Compactor } from './compaction.js';
import type { CompactionStats } from './compaction.js';
import { groupBy, memberOf, placeRecordsObject } from './objects.js';
import { buildPrefix, manifestKey, syncDir } from './layout.js';
import type { CloudConfig } from './schema.js';
import { definition as lazyDefinition } from './definition.js';

export { cloudConfigSchema } from './schema.js';
export type { CloudConfig } from './schema.js';

export { syncDir } from './layout.js';

export interface CloudOutputStats {
  /** records refused because their class may not leave the premises, per class */
  refused: Partial<Record<SensitivityClass, number>>;
  queuedObjects: number;
  stagedRecords: number;
  /** chunks and objects compacted so far, and the largest chunk held at once */
  compaction: CompactionStats | null;
  uploader: UploaderStats | null;
}

const DEFAULT_COLD_AFTER_MS = 7 * 86_400_000;
/** how often staged time series are checked for closed windows */
const FLUSH_INTERVAL_MIN_MS = 200;

async function digestFile(file: string): Promise<{ sha256: string; md5: string; size: number }> {
  const sha = createHash('sha256');
  const md5 = createHash('md5');
  let size = 0;
  for await (const c of createReadStream(file)) {
    sha.update(c as Buffer);
    md5.update(c as Buffer);
    size += (c as Buffer).length;
  }
  return { sha256: sha.digest('hex'), md5: md5.digest('hex'), size };
}

export class CloudOutput implements OutputPlugin {
  readonly type = 'cloud';
  private readonly config: CloudConfig;
  private readonly env: PluginEnvironment;
  private store: SyncStore | undefined;
  private target: S3Target | undefined;
  private uploader: Uploader | undefined;
  private ctx: OutputContext | undefined;
  private log: Logger | undefined;
  private flushTimer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  /** a flush chained after the running one and not started yet (callers join it) */
  private flushQueued: { force: boolean; done: Promise<void> } | undefined;
  private compactor: Compactor | undefined;
  private readonly refusedCounts: Partial<Record<SensitivityClass, number>> = {};
  private readonly s3: S3Settings;

  constructor(config: CloudConfig, env: PluginEnvironment) {
    this.config = config;
    this.env = env;
    // refused here, at config time, not at the first upload
    this.s3 = cloudS3Settings(config);
  }

  /** The manifest key of a build. */
  manifestKey(build: string): string {
    return manifestKey(this.config.prefix, this.env.machine, build);
  }

  private buildPrefix(build: string): string {
    return buildPrefix(this.config.prefix, this.env.machine, build);
  }

  get syncStore(): SyncStore | undefined {
    return this.store;
  }

  get syncUploader(): Uploader | undefined {
    return this.uploader;
  }

  async start(ctx: OutputContext): Promise<void> {
    this.ctx = ctx;
    this.log = ctx.log;
    const c = this.config;
    const store = new SyncStore({ dir: syncDir(this.env.dataDir, ctx.name), maxBytes: c.local.maxBytes, hotMs: c.local.hot });
    const leftovers = store.removeLeftovers();
    this.store = store;
    this.target = new S3Target(this.s3);
    try {
      await this.target.ensureBucket();
    } catch (err) {
      // an outage at start is normal on a factory uplink: the uploader keeps trying
      ctx.log.warn({ err, bucket: c.bucket }, 'cloud not reachable at start; records are queued locally and uploaded when it is');
    }
    this.uploader = new Uploader({
      store,
      target: this.target,
      log: ctx.log.child({ component: 'uploader' }),
      order: c.order,
      partSize: c.partSize,
      capBitsPerSecond: c.bandwidth.cap,
      schedule: c.bandwidth.schedule.map((w) => ({ ...(w.days ? { days: w.days } : {}), from: w.from, to: w.to, bitsPerSecond: w.cap })),
      adaptive: c.bandwidth.adaptive,
      coldStorageClass: c.coldStorageClass,
      coldAfterMs: c.coldStorageClass ? (c.coldAfter ?? DEFAULT_COLD_AFTER_MS) : undefined,
      backoff: { initialMs: c.retry.initial, maxMs: Math.max(c.retry.initial, c.retry.max) },
      manifestAfterMs: c.manifestAfter,
      manifestKey: (b) => this.manifestKey(b),
      machine: this.env.machine,
    });
    this.uploader.start();
    this.compactor = new Compactor({
      store,
      prefix: c.prefix,
      machine: this.env.machine,
      windowMs: Math.max(1, c.batchWindow),
      priority: c.priorities.batch,
      maxRecords: c.compaction.maxRecords,
      maxBytes: c.compaction.maxBytes,
    });
    const every = Math.max(FLUSH_INTERVAL_MIN_MS, Math.min(10_000, c.batchWindow / 4));
    this.flushTimer = setInterval(() => {
      void this.flushStaged();
    }, every);
    this.flushTimer.unref();
    ctx.log.info({ bucket: c.bucket, prefix: c.prefix, store: store.dir, leftoversRemoved: leftovers }, 'cloud sync ready');
  }

  async stop(): Promise<void> {
    clearInterval(this.flushTimer);
    // a window of millions of records is many chunks: stop after the one in hand, the rest stays staged
    this.compactor?.halt();
    await this.flushing.catch(() => undefined);
    await this.uploader?.stop();
    this.target?.close();
    this.store?.close();
    this.uploader = undefined;
    this.compactor = undefined;
    this.store = undefined;
    this.ctx = undefined;
  }

  stats(): CloudOutputStats {
    return {
      refused: { ...this.refusedCounts },
      queuedObjects: this.store?.progress().queued.objects ?? 0,
      stagedRecords: this.store?.stagedCount() ?? 0,
      compaction: this.compactor ? { ...this.compactor.stats } : null,
      uploader: this.uploader?.stats() ?? null,
    };
  }

  private modeOf(r: StoredRecord): SyncMode {
    return this.config.modes[r.kind];
  }

  async send(batch: StoredRecord[]): Promise<void> {
    const store = this.store;
    const ctx = this.ctx;
    if (!store || !ctx) throw new Error('cloud output: send before start');
    // 1. the off-premises rule, again, whatever routing did
    const refused = batch.filter((r) => !mayLeavePremises(r.class));
    const allowed = refused.length ? batch.filter((r) => mayLeavePremises(r.class)) : batch;
    const refusedByClass = new Map<SensitivityClass, number>();
    for (const r of refused) refusedByClass.set(r.class, (refusedByClass.get(r.class) ?? 0) + 1);

    const objects: NewObject[] = [];
    const dedup: { key: string; member: Member }[] = [];
    const staged: StagedRecord[] = [];
    const placed: string[] = [];
    const ended = allowed.filter(isBuildEnd).map((r) => r.build!);
    try {
      const byMode = groupBy(allowed, (r) => this.modeOf(r));
      // 2. realtime: one gzipped JSON-lines object per build
      for (const [build, records] of groupBy(byMode.get('realtime') ?? [], (r) => r.build ?? '')) {
        const lines: string[] = [];
        for (const r of records) {
          const json = recordJson(r);
          if (r.blob) {
            json.body = (await this.readBlob(ctx, r))?.toString('base64');
            delete json.blob;
          }
          lines.push(JSON.stringify(json));
        }
        const bytes = gzipSync(Buffer.from(`${lines.join('\n')}\n`));
        const first = records[0]!.seq;
        const last = records[records.length - 1]!.seq;
        objects.push(
          placeRecordsObject(
            store,
            bytes,
            {
              key: `${this.buildPrefix(build)}/realtime/part-${seqName(first)}-${seqName(last)}.jsonl.gz`,
              contentType: 'application/x-ndjson',
              contentEncoding: 'gzip',
              mode: 'realtime',
              priority: this.config.priorities.realtime,
              records,
            },
            placed,
          ),
        );
      }
      // 3. batch: staged until their window closes
      for (const r of byMode.get('batch') ?? []) {
        let inline = r;
        if (r.blob) {
          inline = { ...r, body: (await this.readBlob(ctx, r)) ?? Buffer.alloc(0) };
          delete inline.blob;
        }
        // the encoder's bytes as they are (a view, not a copy): 50,000 records/s at W1
        const encoded = encodeRecord(inline);
        staged.push({ seq: r.seq, window: this.windowOf(r), build: r.build ?? '', bytes: Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength) });
      }
      // 4. continuous: content-addressed objects
      for (const r of byMode.get('continuous') ?? []) {
        const ext = r.kind === 'frame' ? `.${frameExtension(r.contentType)}` : '';
        let sha256: string;
        let source: { file: string; size: number; md5: string } | undefined;
        if (r.blob) {
          sha256 = r.blob.sha256;
        } else {
          sha256 = createHash('sha256')
            .update(r.body ?? Buffer.alloc(0))
            .digest('hex');
        }
        const key = `${this.config.prefix}/blobs/sha256/${sha256.slice(0, 2)}/${sha256}${ext}`;
        const member = memberOf([r]);
        if (store.objectByKey(key) || objects.some((o) => o.key === key)) {
          dedup.push({ key, member });
          continue;
        }
        if (r.blob) {
          let blobPath: string;
          try {
            blobPath = ctx.blobs.path(r.blob);
            const d = await digestFile(blobPath);
            if (d.sha256 !== r.blob.sha256) throw new BlobMissingError(`blob ${r.blob.sha256} of seq ${r.seq} does not match its hash`);
            store.ensureRoom(d.size);
            source = { file: store.placeFile(blobPath, r.blob.sha256), size: d.size, md5: d.md5 };
          } catch (err) {
            if (!isMissing(err)) throw err;
            ctx.log.error({ err, seq: r.seq }, 'frame blob missing from the spool; it cannot be synced');
            continue;
          }
          placed.push(source.file);
        } else {
          const bytes = r.body ?? Buffer.alloc(0);
          store.ensureRoom(bytes.length);
          const p = store.placeBytes(bytes);
          placed.push(p.file);
          source = { file: p.file, size: p.size, md5: p.md5 };
        }
        objects.push({
          key,
          file: source.file,
          size: source.size,
          sha256,
          md5: source.md5,
          contentType: r.contentType,
          class: r.class,
          mode: 'continuous',
          priority: this.config.priorities.continuous,
          recordTimeNs: r.receiveTimeNs,
          members: [member],
          metadata: {
            [SEQ_KEY]: String(r.seq),
            'layergate-signal': encodeURIComponent(r.signal),
            ...(r.build ? { 'layergate-build': encodeURIComponent(r.build) } : {}),
            ...(r.layer !== undefined ? { 'layergate-layer': String(r.layer) } : {}),
          },
        });
      }
      store.ensureRoom(staged.reduce((n, s) => n + s.bytes.length, 0));
      store.enqueue({ objects, dedup, staged, refused: refusedByClass, ended });
    } catch (err) {
      // nothing committed: the placed files are leftovers (removed now, or at the next start)
      for (const f of placed) store.discard(f);
      throw err;
    }
    for (const [cls, n] of refusedByClass) this.refusedCounts[cls] = (this.refusedCounts[cls] ?? 0) + n;
    this.uploader?.wake();
    // a build that ended gets its last time series compacted now, so its manifest can follow
    if (ended.length) void this.flushStaged(true);
    else if (staged.length) void this.flushStaged();
    if (refused.length > 0) {
      const seqs = refused.map((r) => r.seq);
      const classes = [...refusedByClass.keys()].join(', ');
      ctx.log.error({ seqs: seqs.slice(0, 20), refused: refused.length, classes }, 'refused records that may not leave the premises');
      throw permanent(
        'off-premises',
        `cloud output ${ctx.name}: refused ${refused.length} ${classes} record(s) (seq ${seqs[0]}${seqs.length > 1 ? `..${seqs[seqs.length - 1]}` : ''}): only public and internal records may leave the premises`,
        new SyncOffPremisesError(`class ${classes} may not leave the premises`),
        seqs,
      );
    }
  }

  private windowOf(r: StoredRecord): number {
    return Math.floor(Number(r.receiveTimeNs / 1_000_000n) / Math.max(1, this.config.batchWindow));
  }

  private async readBlob(ctx: OutputContext, r: StoredRecord): Promise<Buffer | undefined> {
    try {
      return await ctx.blobs.read(r.blob!);
    } catch (err) {
      if (!isMissing(err)) throw err;
      ctx.log.error({ err, seq: r.seq }, 'record blob missing from the spool; synced without its body');
      return undefined;
    }
  }

  /**
   * Compact staged time series whose window has closed (all of them with `force`) into Parquet objects
   * (./compaction.ts). Calls while one is waiting to run join it: a send's flush is cheap to ask for.
   */
  flushStaged(force = false): Promise<void> {
    if (this.flushQueued && (this.flushQueued.force || !force)) return this.flushQueued.done;
    const queued: { force: boolean; done: Promise<void> } = { force, done: Promise.resolve() };
    queued.done = this.flushing
      .then(() => {
        if (this.flushQueued === queued) this.flushQueued = undefined;
        return this.doFlush(force);
      })
      .catch((err: unknown) => {
        this.log?.warn({ err }, 'compacting staged time series failed; retrying later');
      });
    this.flushQueued = queued;
    this.flushing = queued.done;
    return queued.done;
  }

  private async doFlush(force: boolean): Promise<void> {
    if (!this.compactor) return;
    const current = Math.floor(Date.now() / Math.max(1, this.config.batchWindow));
    const made = await this.compactor.compactBefore(force ? Number.MAX_SAFE_INTEGER : current);
    if (made > 0) this.uploader?.wake();
  }
}

/** The machine's state event (plugins/inputs/opcua) saying a build finished or was aborted. */
function isBuildEnd(r: StoredRecord): boolean {
  if (r.kind !== 'event' || !r.build || r.signal !== 'machine.state' || !r.body) return false;
  try {
    const e = JSON.parse(r.body.toString('utf8')) as { type?: unknown; state?: unknown };
    return e.type === 'machine_state' && (e.state === 'finished' || e.state === 'aborted');
  } catch {
    return false;
  }
}

function isMissing(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ENOENT' || code === BlobMissingError.code;
}

/** The full definition: the lazy one of ./definition.ts, and how to create an instance. */
export const definition: OutputDefinition<CloudConfig> = {
  ...lazyDefinition,
  create: (config, env) => new CloudOutput(config, env),
};

/** every class that may never reach this output (for docs and checks) */
export const NEVER_SYNCED: readonly SensitivityClass[] = SENSITIVITY_CLASSES.filter((c) => !mayLeavePremises(c));
