/**
 * The `minio` output: the plant's object store. Frames and files become objects of their own; time
 * series (scalars, sample blocks, events) are compacted into columnar batch objects (Parquet or Arrow
 * IPC, the same tables as the file lake: plugins/outputs/shared/columns.ts, plus the signal as a
 * column), one per table, build, date and time window of a batch, whatever the number of signals.
 *
 *   <prefix>objects/machine=<m>/build=<b>/layer=<l>/signal=<s>/<seq>.<ext>                 frames, files
 *   <prefix>series/<table>/machine=<m>/build=<b>/date=<d>/<window>-<firstSeq>-<lastSeq>[-<channels>].parquet
 *
 * (`<table>`: scalars, samples, events, raw; `<d>`: the window's start date, UTC, `YYYY-MM-DD`;
 * `<window>`: the window's start, UTC, `YYYYMMDDTHHMMSSZ`; seqs zero-padded to 16 digits; `<channels>`:
 * 8 hex digits of the SHA-256 of a samples object's channel names; values encoded like the file
 * lake's partition folders.) A confidential object is sealed and its key gets `.sealed`. Rows of a
 * series object are sorted by signal, then seq (../shared/series.ts).
 *
 * Design constraints:
 * - Ack = MinIO's answer to the PUT (MinIO writes an object durably before answering). `send` resolves
 *   when every object of the batch was stored.
 * - Idempotent keys. A key is a function of the records it holds (seq, window), never of the time of the
 *   upload, so a batch sent again overwrites the same objects instead of adding copies. A redelivery
 *   that splits differently (another batch size) can write a second object with some of the same rows:
 *   readers drop duplicates by `seq` (README.md).
 * - Few, large objects. At 5,000 signals a batch used to become 5,000 objects of a few KB (one per
 *   signal), the small-files pattern object stores and query engines punish. Signals are a column now,
 *   and the output asks the forwarder for large batches (`capabilities`: 100,000 records or 32 MiB),
 *   so that an object holds seconds to minutes of a machine's data.
 * - Marked. Every object carries metadata `x-amz-meta-layergate-class` (the strictest class inside),
 *   `layergate-seq` (seq, or min-max), content type, sha256, build, layer (range), source time
 *   (range), signal (frames and files) or number of signals (series), and the tag
 *   `layergate-class`, so bucket policies and lifecycle rules can act on the class. Objects below the
 *   part size are stored with their tag in the same PUT (one round trip, never untagged); larger and
 *   streamed ones get it by a second request.
 * - Confidential records are stored sealed with the gateway's `Sealer` (AES-256-GCM, key id inside)
 *   and marked `layergate-sealed: <key id>`; they never share an object with other classes. With no
 *   sealer configured a confidential record is refused for good (quarantined by the forwarder), the
 *   rest of the batch is stored.
 * - Configuration, not the records: bad credentials, access denied, a missing bucket (not created), an
 *   invalid bucket name refuse every record alike, so they are a failing sink (`SinkConfigError`: kept in
 *   the buffer, retried, logged at error with what to fix), never quarantined. Permanent (quarantined):
 *   what one object is refused for (entity too large, invalid key, method not allowed).
 *   Everything else (connection, timeouts, 5xx, SlowDown) is retried by the forwarder.
 */
import { createReadStream } from 'node:fs';
import { createHash } from 'node:crypto';
import https from 'node:https';
import { Client } from 'minio';
import type { Logger } from 'pino';
import { tableToIPC } from 'apache-arrow';
import type { Sealer } from '../../../gateway/plugin-api/index.js';
import { verifySpooledFile } from '../../../gateway/plugin-api/blob-integrity.js';
import { BlobMissingError } from '../../../gateway/plugin-api/index.js';
import type { OutputContext, OutputDefinition, OutputPlugin } from '../../../gateway/plugin-api/index.js';
import { CONTENT_TYPES, classRank, tlsConnectionOptions } from '../../../gateway/plugin-api/index.js';
import type { SensitivityClass, StoredRecord } from '../../../gateway/plugin-api/index.js';
import { frameExtension, partitionSegment, utcDate } from '../shared/layout.js';
import { isTextual } from '../shared/columns.js';
import type { ColumnItem } from '../shared/columns.js';
import { CLASS_KEY, SEQ_KEY, causes, classified, isClassified, permanent, sinkConfig } from '../shared/sink.js';
import type { FailureKind } from '../shared/sink.js';
import type { MinioConfig } from './schema.js';
import { seriesItem, seriesParquet, seriesTable } from '../shared/series.js';
import type { SeriesTable } from '../shared/series.js';
import { definition as lazyDefinition } from './definition.js';

export { minioConfigSchema } from './schema.js';
export type { MinioConfig } from './schema.js';

export const SEALED_KEY = 'layergate-sealed';
const CONTENT_TYPE_PARQUET = 'application/vnd.apache.parquet';
const CONTENT_TYPE_ARROW = 'application/vnd.apache.arrow.file';

const CREDENTIALS = 'check outputs.<minio>.accessKey and secretKey (and the endpoint they belong to)';
const PERMISSIONS = "grant the access key's policy s3:PutObject (and s3:PutObjectTagging, s3:ListBucket) on the bucket";
/** S3 error codes that concern the sink's settings, not the records: reason and what to fix. */
const CONFIG_CODES: Record<string, { reason: string; action: string }> = {
  // MinIO answers a HEAD (bucketExists) with a wrong secret as AccessDenied too (no body, no finer code)
  AccessDenied: { reason: 'not-authorized', action: `${CREDENTIALS}; ${PERMISSIONS}` },
  InvalidAccessKeyId: { reason: 'not-authorized', action: CREDENTIALS },
  SignatureDoesNotMatch: { reason: 'not-authorized', action: CREDENTIALS },
  AllAccessDisabled: { reason: 'not-authorized', action: PERMISSIONS },
  AccountProblem: { reason: 'not-authorized', action: CREDENTIALS },
  InvalidBucketName: { reason: 'invalid-bucket', action: 'fix outputs.<minio>.bucket (S3 bucket naming rules)' },
  NoSuchBucket: { reason: 'bucket-missing', action: 'create the bucket, or set outputs.<minio>.createBucket: true' },
};

const PERMANENT_CODES: Record<string, string> = {
  EntityTooLarge: 'too-large',
  MethodNotAllowed: 'policy',
  InvalidObjectName: 'invalid-key',
  KeyTooLongError: 'invalid-key',
  XMinioInvalidObjectName: 'invalid-key',
};

export function classifyS3Error(err: unknown): FailureKind {
  for (const e of causes(err)) {
    const code = typeof e.code === 'string' ? e.code : '';
    const config = CONFIG_CODES[code];
    if (config) return { permanent: false, reason: config.reason, config: config.action };
    if (PERMANENT_CODES[code]) return { permanent: true, reason: PERMANENT_CODES[code] };
  }
  for (const e of causes(err)) {
    const code = typeof e.code === 'string' ? e.code : '';
    if (/^(ECONNREFUSED|ECONNRESET|EPIPE|EHOSTUNREACH|ENOTFOUND|EAI_AGAIN|UND_ERR_SOCKET)$/.test(code)) return { permanent: false, reason: 'connection' };
    if (/TIMEDOUT|RequestTimeout|TimeoutError/.test(code) || e.name === 'TimeoutError') return { permanent: false, reason: 'timeout' };
    if (/SlowDown|ServiceUnavailable|XMinioServerNotInitialized|InternalError/.test(code)) return { permanent: false, reason: 'unavailable' };
  }
  return { permanent: false, reason: 's3' };
}

interface SeriesGroup {
  table: SeriesTable;
  dir: string;
  window: number;
  sealed: boolean;
  channels?: string[];
  items: ColumnItem[];
}

interface PlannedObject {
  key: string;
  records: StoredRecord[];
  /** bytes to upload, or a file to stream (spooled blobs, not sealed) */
  bytes?: Buffer;
  file?: { path: string; size: number };
  meta: Record<string, string>;
}

export interface MinioOutputStats {
  objects: number;
  bytes: number;
  sealedObjects: number;
  /** records refused for good (no sealer for a confidential record, access denied, too large) */
  refused: number;
  /** records stored in the raw table because their body did not fit their content type */
  malformed: number;
}

const SEQ_DIGITS = 16;
const seqName = (seq: number) => String(seq).padStart(SEQ_DIGITS, '0');
const UPLOAD_CONCURRENCY = 4;

/** the UTC date of a window's start, `YYYY-MM-DD`: the `date=` partition of series objects */
function dateName(ms: number): string {
  return utcDate(BigInt(ms) * 1_000_000n);
}

/** 8 hex digits naming a samples channel set, so objects with the same columns can be picked by name */
function channelsHash(channels: string[]): string {
  return createHash('sha256').update(channels.join(',')).digest('hex').slice(0, 8);
}

function windowName(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');
}

function strictest(records: StoredRecord[]): SensitivityClass {
  return records.reduce<SensitivityClass>((c, r) => (classRank(r.class) > classRank(c) ? r.class : c), 'public');
}

export class MinioOutput implements OutputPlugin {
  readonly type = 'minio';
  private readonly config: MinioConfig;
  private readonly machine: string;
  private readonly sealer: Sealer | undefined;
  private readonly client: Client;
  private ctx: OutputContext | undefined;
  private log: Logger | undefined;
  private bucketReady = false;
  private readonly counters: MinioOutputStats = { objects: 0, bytes: 0, sealedObjects: 0, refused: 0, malformed: 0 };

  constructor(config: MinioConfig, env: { machine: string; sealer?: Sealer }) {
    this.config = config;
    this.machine = env.machine;
    this.sealer = env.sealer;
    this.client = new Client({
      endPoint: config.endPoint,
      ...(config.port !== undefined ? { port: config.port } : {}),
      ...minioTransport(config),
      accessKey: config.accessKey,
      secretKey: config.secretKey,
      region: config.region,
      partSize: Math.max(5 * 1024 * 1024, config.partSize),
    });
  }

  /** objects below this size go up in one PUT (above it, putObject uploads in parts) */
  private get partSize(): number {
    return Math.max(5 * 1024 * 1024, this.config.partSize);
  }

  /**
   * One PUT of a buffered object with its metadata and its tags (`X-Amz-Tagging`), so the object is
   * never stored untagged and costs one round trip instead of two. Through the client's signed request
   * (`makeRequestAsyncOmit`) because `putObject` turns every header it does not know into user metadata.
   * Same request as putObject's single-part upload: payload SHA-256 signed over plain HTTP, Content-MD5 over TLS.
   */
  private async putTagged(key: string, bytes: Buffer, meta: Record<string, string>, tags: Record<string, string>): Promise<void> {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(meta)) headers[k.toLowerCase() === 'content-type' ? k : `X-Amz-Meta-${k}`] = v;
    headers['X-Amz-Tagging'] = new URLSearchParams(tags).toString();
    if (this.config.tls !== false) headers['Content-MD5'] = createHash('md5').update(bytes).digest('base64');
    await this.client.makeRequestAsyncOmit({ method: 'PUT', bucketName: this.config.bucket, objectName: key, headers }, bytes);
  }

  get bucket(): string {
    return this.config.bucket;
  }

  async start(ctx: OutputContext): Promise<void> {
    this.ctx = ctx;
    this.log = ctx.log;
    try {
      await this.ensureBucket();
      ctx.log.info({ endPoint: this.config.endPoint, bucket: this.config.bucket, sealer: this.sealer?.keyId ?? null }, 'minio output ready');
    } catch (err) {
      ctx.log.warn({ err, bucket: this.config.bucket }, 'minio bucket not ready at start; the forwarder retries');
    }
  }

  async stop(): Promise<void> {
    this.ctx = undefined;
  }

  stats(): MinioOutputStats {
    return { ...this.counters };
  }

  private async ensureBucket(): Promise<void> {
    if (this.bucketReady) return;
    const { bucket, region, createBucket } = this.config;
    if (!(await this.client.bucketExists(bucket))) {
      if (!createBucket) {
        throw sinkConfig(
          'bucket-missing',
          `minio bucket ${bucket} does not exist and outputs.<minio>.createBucket is false; create it (the forwarder retries)`,
          CONFIG_CODES.NoSuchBucket!.action,
        );
      }
      try {
        await this.client.makeBucket(bucket, region);
        this.log?.info({ bucket, region }, 'created minio bucket');
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code !== 'BucketAlreadyOwnedByYou' && code !== 'BucketAlreadyExists') throw err;
      }
    }
    this.bucketReady = true;
  }

  private seriesDir(table: SeriesTable, build: string | undefined, window: number): string {
    return `${this.config.prefix}series/${table}/machine=${partitionSegment(this.machine)}/build=${partitionSegment(build)}/date=${dateName(window)}`;
  }

  objectKey(r: StoredRecord): string {
    const layer = r.layer === undefined ? partitionSegment(undefined) : String(r.layer);
    const ext = r.kind === 'frame' ? frameExtension(r.contentType) : r.contentType === CONTENT_TYPES.event || isTextual(r.contentType) ? 'json' : 'bin';
    return `${this.config.prefix}objects/machine=${partitionSegment(this.machine)}/build=${partitionSegment(r.build)}/layer=${layer}/signal=${partitionSegment(r.signal)}/${seqName(r.seq)}.${ext}${r.class === 'confidential' ? '.sealed' : ''}`;
  }

  async send(batch: StoredRecord[]): Promise<void> {
    const ctx = this.ctx;
    if (!ctx) throw new Error('minio output: send before start');
    try {
      await this.ensureBucket();
    } catch (err) {
      throw this.failure(err, `bucket ${this.config.bucket}`);
    }
    const refused: { seqs: number[]; reason: string; message: string }[] = [];
    // Uploads start as soon as an object is planned, a few at a time, so that encoding the next batch
    // object (CPU) overlaps with MinIO storing the previous ones; a permanent refusal concerns only that
    // object's records.
    let failure: Error | undefined;
    const inflight = new Set<Promise<void>>();
    const schedule = async (o: PlannedObject): Promise<void> => {
      while (inflight.size >= UPLOAD_CONCURRENCY) await Promise.race(inflight);
      const p: Promise<void> = this.upload(o)
        .catch((err: unknown) => {
          const kind = classifyS3Error(err);
          if (kind.permanent) refused.push({ seqs: o.records.map((r) => r.seq), reason: kind.reason, message: `${o.key}: ${(err as Error).message}` });
          else failure ??= this.failure(err, o.key);
        })
        .finally(() => inflight.delete(p));
      inflight.add(p);
    };
    const groups = new Map<string, SeriesGroup>();
    const windowMs = Math.max(1, this.config.series.window);

    for (const r of batch) {
      if (r.class === 'confidential' && !this.sealer) {
        refused.push({ seqs: [r.seq], reason: 'no-sealer', message: `seq ${r.seq} (${r.signal}) is confidential and no encryption key is configured` });
        continue;
      }
      if (r.kind === 'frame' || r.kind === 'document' || r.blob) {
        try {
          // the file is streamed to MinIO with its hash as metadata: damaged bytes must not go up under it
          if (r.blob) await verifySpooledFile(ctx.blobs.path(r.blob), r.blob);
          await schedule(await this.planObject(ctx, r));
        } catch (err) {
          // a spooled body that is gone or damaged will not come back: retrying would block this sink for good
          const code = (err as { code?: unknown }).code;
          if (code !== 'ENOENT' && code !== BlobMissingError.code) throw this.failure(err, `seq ${r.seq}`);
          refused.push({
            seqs: [r.seq],
            reason: 'blob-missing',
            message: `seq ${r.seq} (${r.signal}): spooled body ${r.blob?.sha256} is missing or damaged: ${(err as Error).message}`,
          });
        }
        continue;
      }
      const { table, item } = seriesItem(r, r.body ?? Buffer.alloc(0));
      if (item.error) this.counters.malformed++;
      const window = Math.floor(Number(r.receiveTimeNs / 1_000_000n) / windowMs) * windowMs;
      const sealed = r.class === 'confidential';
      const channels = item.samples?.channels;
      const key = `${table}\u0000${r.build ?? ''}\u0000${window}\u0000${sealed}\u0000${channels ? channels.join('\u0000') : ''}`;
      let g = groups.get(key);
      if (!g) {
        g = { table, dir: this.seriesDir(table, r.build, window), window, sealed, items: [], ...(channels ? { channels } : {}) };
        groups.set(key, g);
      }
      g.items.push(item);
    }
    for (const g of groups.values()) {
      if (failure) break;
      await schedule(this.planSeries(g));
      // let the sockets of the uploads in flight move before the next encode takes the thread
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    await Promise.all(inflight);
    if (failure) throw failure;
    if (refused.length > 0) {
      const seqs = refused.flatMap((x) => x.seqs);
      this.counters.refused += seqs.length;
      throw permanent(
        refused[0]!.reason,
        `minio: ${seqs.length} record(s) refused: ${refused
          .slice(0, 3)
          .map((x) => x.message)
          .join('; ')}`,
        undefined,
        seqs,
      );
    }
  }

  private failure(err: unknown, where: string): Error {
    if (isClassified(err)) return err; // our own, already with its reason (e.g. bucket-missing)
    const kind = classifyS3Error(err);
    const message = `minio ${this.config.endPoint}/${this.config.bucket} ${where}: ${(err as Error)?.message ?? String(err)}`;
    return classified(kind, message, err);
  }

  /**
   * The metadata of an object of one record (frames, files) or of a series object (any number of
   * records): per-record values become ranges `<min>-<max>` (seq, layer, source time; one value when
   * min = max), the signal a count (`layergate-signals`; S3 user metadata is limited to 2 KB, too
   * small for the names of thousands of signals).
   */
  private commonMeta(records: StoredRecord[], contentType: string, plainSha256: string, series = false): Record<string, string> {
    const first = records[0]!;
    const range = (lo: bigint | number, hi: bigint | number) => (lo === hi ? String(lo) : `${lo}-${hi}`);
    const meta: Record<string, string> = {
      'Content-Type': contentType,
      [CLASS_KEY]: strictest(records),
      'layergate-records': String(records.length),
      'layergate-machine': this.machine,
      'layergate-sha256': plainSha256,
    };
    if (!series) {
      meta[SEQ_KEY] = String(first.seq);
      meta['layergate-signal'] = first.signal;
      if (first.build !== undefined) meta['layergate-build'] = first.build;
      if (first.layer !== undefined) meta['layergate-layer'] = String(first.layer);
      if (first.sourceTimeNs !== undefined) meta['layergate-source-time-ns'] = String(first.sourceTimeNs);
      meta['layergate-receive-time-ns'] = String(first.receiveTimeNs);
      return meta;
    }
    let seqLo = first.seq;
    let seqHi = first.seq;
    let layerLo = Number.POSITIVE_INFINITY;
    let layerHi = Number.NEGATIVE_INFINITY;
    let timeLo: bigint | undefined;
    let timeHi: bigint | undefined;
    let receiveLo = first.receiveTimeNs;
    const signals = new Set<string>();
    for (const r of records) {
      if (r.seq < seqLo) seqLo = r.seq;
      if (r.seq > seqHi) seqHi = r.seq;
      if (r.layer !== undefined) {
        if (r.layer < layerLo) layerLo = r.layer;
        if (r.layer > layerHi) layerHi = r.layer;
      }
      const t = r.sourceTimeNs;
      if (t !== undefined) {
        if (timeLo === undefined || t < timeLo) timeLo = t;
        if (timeHi === undefined || t > timeHi) timeHi = t;
      }
      if (r.receiveTimeNs < receiveLo) receiveLo = r.receiveTimeNs;
      signals.add(r.signal);
    }
    meta[SEQ_KEY] = range(seqLo, seqHi);
    meta['layergate-signals'] = String(signals.size);
    // send groups series records by build (as their key's build= does): the first record's is every record's
    if (first.build !== undefined) meta['layergate-build'] = first.build;
    if (layerLo <= layerHi) meta['layergate-layer'] = range(layerLo, layerHi);
    if (timeLo !== undefined && timeHi !== undefined) meta['layergate-source-time-ns'] = range(timeLo, timeHi);
    meta['layergate-receive-time-ns'] = String(receiveLo);
    return meta;
  }

  private seal(o: PlannedObject, plain: Buffer): void {
    const sealer = this.sealer!;
    o.bytes = sealer.seal(plain);
    o.meta[SEALED_KEY] = sealer.keyId;
    o.meta['layergate-content-type'] = o.meta['Content-Type']!;
    o.meta['Content-Type'] = 'application/octet-stream';
  }

  private async planObject(ctx: OutputContext, r: StoredRecord): Promise<PlannedObject> {
    const key = this.objectKey(r);
    const sealed = r.class === 'confidential';
    if (r.blob && !sealed) {
      const meta = this.commonMeta([r], r.contentType, r.blob.sha256);
      return { key, records: [r], file: { path: ctx.blobs.path(r.blob), size: r.blob.size }, meta };
    }
    const body = r.body ?? (r.blob ? await ctx.blobs.read(r.blob) : Buffer.alloc(0));
    const o: PlannedObject = { key, records: [r], bytes: body, meta: this.commonMeta([r], r.contentType, createHash('sha256').update(body).digest('hex')) };
    if (sealed) this.seal(o, body);
    return o;
  }

  private planSeries(g: SeriesGroup): PlannedObject {
    // the batch's records are in seq order: first and last name the object before the rows are sorted by signal
    const records = g.items.map((i) => i.record);
    const firstSeq = records[0]!.seq;
    const lastSeq = records[records.length - 1]!.seq;
    const table = seriesTable(g.table, g.items, g.channels);
    const parquet = this.config.series.format === 'parquet';
    const bytes = Buffer.from(parquet ? seriesParquet(table) : tableToIPC(table, 'file'));
    const channels = g.channels ? `-${channelsHash(g.channels)}` : '';
    const name = `${windowName(g.window)}-${seqName(firstSeq)}-${seqName(lastSeq)}${channels}.${parquet ? 'parquet' : 'arrow'}`;
    const o: PlannedObject = {
      key: `${g.dir}/${name}${g.sealed ? '.sealed' : ''}`,
      records,
      bytes,
      meta: {
        ...this.commonMeta(records, parquet ? CONTENT_TYPE_PARQUET : CONTENT_TYPE_ARROW, createHash('sha256').update(bytes).digest('hex'), true),
        'layergate-table': g.table,
        'layergate-rows': String(table.numRows),
        'layergate-window-start': new Date(g.window).toISOString(),
      },
    };
    if (g.sealed) this.seal(o, bytes);
    return o;
  }

  private async upload(o: PlannedObject): Promise<void> {
    const tags = { [CLASS_KEY]: o.meta[CLASS_KEY]! };
    if (o.bytes && o.bytes.length < this.partSize) {
      await this.putTagged(o.key, o.bytes, o.meta, tags);
      this.counters.bytes += o.bytes.length;
    } else {
      if (o.file) {
        await this.client.putObject(this.config.bucket, o.key, createReadStream(o.file.path), o.file.size, o.meta);
        this.counters.bytes += o.file.size;
      } else {
        await this.client.putObject(this.config.bucket, o.key, o.bytes!, o.bytes!.length, o.meta);
        this.counters.bytes += o.bytes!.length;
      }
      // streamed and multipart uploads: the tag by its own request (putObject would send an
      // `X-Amz-Tagging` header as user metadata, `X-Amz-Meta-X-Amz-Tagging`)
      await this.client.setObjectTagging(this.config.bucket, o.key, tags);
    }
    this.counters.objects++;
    if (o.meta[SEALED_KEY]) this.counters.sealedObjects++;
  }
}

/** The client's transport for the `tls` setting: HTTPS unless `tls: false`, with an agent for TLS options. */
function minioTransport(config: MinioConfig): { useSSL: boolean; transportAgent?: https.Agent } {
  if (config.tls === false) return { useSSL: false };
  const options = tlsConnectionOptions(config.tls, 'outputs.<minio>.tls');
  return options && Object.keys(options).length > 0 ? { useSSL: true, transportAgent: new https.Agent({ ...options, keepAlive: true }) } : { useSSL: true };
}

/** The full definition: the lazy one of ./definition.ts, and how to create an instance. */
export const definition: OutputDefinition<MinioConfig> = {
  ...lazyDefinition,
  create: (config, env) => new MinioOutput(config, env),
};
