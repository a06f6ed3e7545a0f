/**
 * The `cloud` output: syncs what may leave the premises to cloud object storage (S3 API), when the
 * uplink has room, through a local store that survives outages of hours (plugins/outputs/cloud/sync/).
 *
 * Object layout in the bucket (`<p>` = prefix, `<m>` machine, `<b>` build, segments encoded like the
 * file lake's partition folders):
 *
 *   <p>/machine=<m>/build=<b>/realtime/part-<firstSeq>-<lastSeq>.jsonl.gz          realtime mode
 *   <p>/machine=<m>/build=<b>/timeseries/<table>/signal=<s>/part-<first>-<last>.parquet   batch mode
 *   <p>/blobs/sha256/<aa>/<sha256>.<ext>                                           continuous mode
 *   <p>/machine=<m>/build=<b>/manifest.json                                        per build
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
 *   table, build and signal, with the same columns as the file lake (plugins/outputs/shared/columns);
 *   continuous records (frames, documents) are content-addressed objects, so bytes already queued or
 *   in the cloud are never uploaded twice (the record just joins the existing object's members).
 * - Every object carries its class as `x-amz-meta-layergate-class` and object tag `layergate-class`,
 *   and its records' seq range as `x-amz-meta-layergate-seq`.
 * - A build's manifest follows once all of its objects are synced and either the machine reported the
 *   build finished or aborted (the `machine.state` event of the OPC-UA input; its staged time series
 *   are compacted at once) or no record of it arrived for `manifestAfter`.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { gzipSync } from 'node:zlib';
import type { Table } from 'apache-arrow';
import type { Logger } from 'pino';
import type { OutputContext, OutputDefinition, OutputPlugin, PluginEnvironment } from '../../../gateway/plugin-api/index.js';
import { SENSITIVITY_CLASSES, classRank, decodeRecord, encodeRecord, mayLeavePremises } from '../../../gateway/plugin-api/index.js';
import type { SensitivityClass, StoredRecord } from '../../../gateway/plugin-api/index.js';
import { CONTENT_TYPES } from '../../../gateway/plugin-api/index.js';
import { BlobMissingError, SyncOffPremisesError } from '../../../gateway/plugin-api/index.js';
import { S3Target, cloudS3Settings } from './sync/s3.js';
import type { S3Settings } from './sync/s3.js';
import { SyncStore } from './sync/store.js';
import type { Member, NewObject, StagedRecord, SyncMode } from './sync/store.js';
import { Uploader } from './sync/uploader.js';
import type { UploaderStats } from './sync/uploader.js';
import { frameExtension, partitionSegment } from '../shared/layout.js';
import { eventsTable, isTextual, parseSamples, parseScalar, rawTable, samplesTable, scalarTable, toParquet } from '../shared/columns.js';
import type { ColumnItem } from '../shared/columns.js';
import { permanent, recordJson, SEQ_KEY } from '../shared/sink.js';
import { cloudConfigSchema } from './schema.js';
import { buildPrefix, manifestKey, syncDir } from './layout.js';
import { addSyncCommands } from './sync/commands.js';
import type { CloudConfig } from './schema.js';

export { cloudConfigSchema } from './schema.js';
export type { CloudConfig } from './schema.js';

export { syncDir } from './layout.js';

export interface CloudOutputStats {
  /** records refused because their class may not leave the premises, per class */
  refused: Partial<Record<SensitivityClass, number>>;
  queuedObjects: number;
  stagedRecords: number;
  uploader: UploaderStats | null;
}

const DEFAULT_COLD_AFTER_MS = 7 * 86_400_000;
/** how often staged time series are checked for closed windows */
const FLUSH_INTERVAL_MIN_MS = 200;

function strictest(classes: Iterable<SensitivityClass>): SensitivityClass {
  let out: SensitivityClass = 'public';
  for (const c of classes) if (classRank(c) > classRank(out)) out = c;
  return out;
}

function memberOf(records: StoredRecord[]): Member {
  const layers = records.flatMap((r) => (r.layer === undefined ? [] : [r.layer]));
  return {
    build: records[0]!.build ?? '',
    firstSeq: records[0]!.seq,
    lastSeq: records[records.length - 1]!.seq,
    layerMin: layers.length ? Math.min(...layers) : null,
    layerMax: layers.length ? Math.max(...layers) : null,
    records: records.length,
    class: strictest(records.map((r) => r.class)),
  };
}

function groupBy<T>(items: T[], key: (t: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const i of items) {
    const k = key(i);
    const list = m.get(k);
    if (list) list.push(i);
    else m.set(k, [i]);
  }
  return m;
}

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

const SEQ_DIGITS = 16;
const seqName = (n: number) => String(n).padStart(SEQ_DIGITS, '0');

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
    const every = Math.max(FLUSH_INTERVAL_MIN_MS, Math.min(10_000, c.batchWindow / 4));
    this.flushTimer = setInterval(() => {
      void this.flushStaged();
    }, every);
    this.flushTimer.unref();
    ctx.log.info({ bucket: c.bucket, prefix: c.prefix, store: store.dir, leftoversRemoved: leftovers }, 'cloud sync ready');
  }

  async stop(): Promise<void> {
    clearInterval(this.flushTimer);
    await this.flushing.catch(() => undefined);
    await this.uploader?.stop();
    this.target?.close();
    this.store?.close();
    this.uploader = undefined;
    this.store = undefined;
    this.ctx = undefined;
  }

  stats(): CloudOutputStats {
    return {
      refused: { ...this.refusedCounts },
      queuedObjects: this.store?.progress().queued.objects ?? 0,
      stagedRecords: this.store?.stagedCount() ?? 0,
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
          this.newObject(
            store,
            bytes,
            {
              key: `${this.buildPrefix(build)}/realtime/part-${seqName(first)}-${seqName(last)}.jsonl.gz`,
              contentType: 'application/x-ndjson',
              contentEncoding: 'gzip',
              mode: 'realtime',
              records,
            },
            placed,
          ),
        );
      }
      // 3. batch: staged until their window closes
      for (const r of byMode.get('batch') ?? []) {
        const body = r.body ?? (await this.readBlob(ctx, r)) ?? Buffer.alloc(0);
        const inline: StoredRecord = { ...r, body };
        delete inline.blob;
        staged.push({ seq: r.seq, window: this.windowOf(r), build: r.build ?? '', bytes: Buffer.from(encodeRecord(inline)) });
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

  private newObject(
    store: SyncStore,
    bytes: Uint8Array,
    o: { key: string; contentType: string; contentEncoding?: string; mode: SyncMode; records: StoredRecord[] },
    placed: string[],
  ): NewObject {
    store.ensureRoom(bytes.length);
    const p = store.placeBytes(bytes);
    placed.push(p.file);
    const byBuild = groupBy(o.records, (r) => r.build ?? '');
    const first = o.records[0]!.seq;
    const last = o.records[o.records.length - 1]!.seq;
    return {
      key: o.key,
      file: p.file,
      size: p.size,
      sha256: p.sha256,
      md5: p.md5,
      contentType: o.contentType,
      ...(o.contentEncoding ? { contentEncoding: o.contentEncoding } : {}),
      class: strictest(o.records.map((r) => r.class)),
      mode: o.mode,
      priority: this.config.priorities[o.mode],
      // biome-ignore lint/complexity/useMathMinMax: bigint nanoseconds (Math.min takes numbers)
      recordTimeNs: o.records.reduce((m, r) => (r.receiveTimeNs < m ? r.receiveTimeNs : m), o.records[0]!.receiveTimeNs),
      members: [...byBuild.values()].map(memberOf),
      metadata: { [SEQ_KEY]: `${first}-${last}` },
    };
  }

  /**
   * Compact staged time series whose window has closed into Parquet objects (one per table, build,
   * signal and channel set), committed together with the removal of the staged rows.
   */
  flushStaged(force = false): Promise<void> {
    this.flushing = this.flushing
      .then(() => this.doFlush(force))
      .catch((err: unknown) => {
        this.log?.warn({ err }, 'compacting staged time series failed; retrying later');
      });
    return this.flushing;
  }

  private async doFlush(force: boolean): Promise<void> {
    const store = this.store;
    if (!store) return;
    const current = Math.floor(Date.now() / Math.max(1, this.config.batchWindow));
    const rows = store.stagedBefore(force ? Number.MAX_SAFE_INTEGER : current);
    if (rows.length === 0) return;
    const records = rows.map((s) => ({ record: decodeRecord(s.bytes), window: s.window }));
    const groups = new Map<string, { table: string; build: string; signal: string; channels?: string[]; items: ColumnItem[] }>();
    for (const { record, window } of records) {
      record.routes = [];
      const body = record.body ?? Buffer.alloc(0);
      let table: string;
      let samples: ColumnItem['samples'];
      let error: string | undefined;
      try {
        if (record.contentType === CONTENT_TYPES.scalar) {
          parseScalar(body);
          table = 'scalars';
        } else if (record.contentType === CONTENT_TYPES.samplesF32) {
          samples = parseSamples(record, body);
          table = 'samples';
        } else table = isTextual(record.contentType) ? 'events' : 'raw';
      } catch (err) {
        table = 'raw';
        samples = undefined;
        error = (err as Error).message;
      }
      const channelsKey = samples ? `\u0000${samples.channels.join('\u0000')}` : '';
      const key = `${window}\u0000${table}\u0000${record.build ?? ''}\u0000${record.signal}${channelsKey}`;
      let g = groups.get(key);
      if (!g) {
        g = { table, build: record.build ?? '', signal: record.signal, items: [], ...(samples ? { channels: samples.channels } : {}) };
        groups.set(key, g);
      }
      g.items.push({ record, body, ...(samples ? { samples } : {}), ...(error ? { error } : {}) });
    }
    const objects: NewObject[] = [];
    const placed: string[] = [];
    try {
      for (const g of groups.values()) {
        const table: Table =
          g.table === 'scalars'
            ? scalarTable(g.items)
            : g.table === 'samples'
              ? samplesTable(g.items, g.channels!)
              : g.table === 'events'
                ? eventsTable(g.items)
                : rawTable(g.items);
        const bytes = toParquet(table);
        const recs = g.items.map((i) => i.record);
        const first = recs[0]!.seq;
        const last = recs[recs.length - 1]!.seq;
        const suffix = g.channels ? `-${createHash('sha256').update(g.channels.join(',')).digest('hex').slice(0, 8)}` : '';
        objects.push(
          this.newObject(
            store,
            bytes,
            {
              key: `${this.buildPrefix(g.build)}/timeseries/${g.table}/signal=${partitionSegment(g.signal)}/part-${seqName(first)}-${seqName(last)}${suffix}.parquet`,
              contentType: 'application/vnd.apache.parquet',
              mode: 'batch',
              records: recs,
            },
            placed,
          ),
        );
      }
      store.enqueue({ objects, unstage: rows.map((r) => r.seq) });
    } catch (err) {
      for (const f of placed) store.discard(f);
      throw err;
    }
    this.uploader?.wake();
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

const cloudDefinition = {
  type: 'cloud',
  configSchema: cloudConfigSchema,
  /** off the premises: sensitive and confidential records are never routed here, and refused if they come */
  capabilities: (config: CloudConfig) => ({ premises: 'off' as const, accepts: config.classes ?? ['public', 'internal'] }),
  renamedKeys: { accepts: 'classes' },
  commands: addSyncCommands,
  create: (config: CloudConfig, env: PluginEnvironment) => new CloudOutput(config, env),
};

export const definition: OutputDefinition<CloudConfig> = cloudDefinition;

/** every class that may never reach this output (for docs and checks) */
export const NEVER_SYNCED: readonly SensitivityClass[] = SENSITIVITY_CLASSES.filter((c) => !mayLeavePremises(c));
