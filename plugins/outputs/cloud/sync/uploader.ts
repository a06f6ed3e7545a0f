/**
 * The uploader: one loop per cloud output that takes the next object from the sync store and brings
 * it to the cloud, paced by the bandwidth bucket.
 *
 * Design constraints:
 * - One object at a time, in queue order (priority, then record time oldest or newest first). The
 *   uplink is the bottleneck, not the request rate; one paced stream keeps the cap exact and leaves
 *   the rest of the link to the plant.
 * - Resumable: an object larger than `partSize` goes as a multipart upload. Its upload id is stored
 *   before the first part, each part the moment the store confirms it (with its MD5 = ETag). After an
 *   outage or a restart the upload continues with the first unconfirmed part; parts the store holds
 *   but this process never saw confirmed (killed between the store's answer and the commit) are
 *   adopted from ListParts when their ETag matches the local bytes, so they are not sent again either.
 *   An upload id the store no longer knows (expired, aborted) starts a new upload.
 * - Integrity: each part and each single PUT carries Content-MD5, and the answered ETag must equal the
 *   MD5 computed locally. An object counts as synced only after a HEAD shows its size, its SHA-256
 *   metadata and the expected ETag (MD5, or for multipart the MD5 of the part MD5s with `-N`).
 * - Idempotent: an object that may already be in the cloud (a content-addressed frame, a retry, an
 *   upload interrupted around its completion) is first looked up with HEAD; a match is marked synced
 *   without sending a byte (content-hash dedup across restarts and gateways).
 * - Failures (link down, stall, 5xx) back off with capped full-jitter delays; the stall timeout of
 *   the S3 layer makes a dead link fail fast instead of hanging. A failure that is the output's
 *   settings (wrong keys, no permission, no bucket) backs off the same way but is logged at error with
 *   what to fix, at most once a minute: retrying alone never heals it. Pause (from the CLI, through the
 *   store's `paused` setting, polled every `pollMs`) cuts the part in flight short; it is sent again
 *   on resume, since it was not confirmed.
 * - The per-build manifest is written once a build is quiet and all of its objects are synced.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Logger } from 'pino';
import { Sleeper, fullJitterDelay } from '../../../../gateway/plugin-api/index.js';
import type { BackoffOptions } from '../../../../gateway/plugin-api/index.js';
import { SyncIntegrityError, SyncLocalCopyMissingError, SyncUploadError } from '../../../../gateway/plugin-api/index.js';
import { CongestionController, ThrottledFileStream, TokenBucket, scheduledCap } from './bandwidth.js';
import type { ScheduleWindow } from './bandwidth.js';
import type { ObjectAttributes, S3Target } from './s3.js';
import { s3ConfigFailure, s3ErrorCode } from '../../shared/s3-client.js';
import type { ObjectRow, PartRow, QueueOrder, SyncStore } from './store.js';

export const MIN_PART_SIZE = 5 * 1024 * 1024;
/** how often the measured rate is stored for `sync status` */
const RATE_PUBLISH_MS = 3000;

export interface UploaderOptions {
  store: SyncStore;
  target: S3Target;
  log: Logger;
  order: QueueOrder;
  /** multipart part size in bytes (>= 5 MiB, the S3 minimum); smaller objects go in one PUT */
  partSize: number;
  /** cap in bits/s when no schedule window applies (Infinity: no cap) */
  capBitsPerSecond: number;
  schedule: readonly ScheduleWindow[];
  /** back off below the cap when the link shows congestion */
  adaptive: boolean;
  /** storage class for objects whose records are older than `coldAfterMs` at upload */
  coldStorageClass?: string | undefined;
  coldAfterMs?: number | undefined;
  backoff: BackoffOptions;
  /** a build's manifest is written once no record arrived for it this long and all its objects are synced */
  manifestAfterMs: number;
  manifestKey: (build: string) => string;
  machine: string;
  /** how often the pause setting, the schedule and the hot tier are re-read (default 1000 ms) */
  pollMs?: number;
}

export type UploaderState = 'idle' | 'uploading' | 'backing-off' | 'paused' | 'stopped';

export interface UploaderStats {
  state: UploaderState;
  /** body bytes handed to the network (including parts sent again after a failure) */
  sentBytes: number;
  objectsSynced: number;
  /** objects found already in the cloud (dedup) and marked synced without an upload */
  objectsDeduplicated: number;
  partsSent: number;
  partsAdopted: number;
  failures: number;
  consecutiveFailures: number;
  congestions: number;
  /** the bucket's rate now, bits/s (Infinity: uncapped) */
  rateBitsPerSecond: number;
  manifests: number;
  lastError: string | null;
}

class PausedError extends Error {}

/** a configuration failure (wrong keys, no permission) is logged at error at most this often */
const CONFIG_LOG_INTERVAL_MS = 60_000;

/** S3's multipart ETag: MD5 of the concatenated binary part MD5s, then `-<parts>`. */
export function multipartEtag(partMd5s: readonly string[]): string {
  const h = createHash('md5');
  for (const m of partMd5s) h.update(Buffer.from(m, 'hex'));
  return `${h.digest('hex')}-${partMd5s.length}`;
}

async function digestRange(file: string, start: number, length: number): Promise<{ md5: string; sha256: string }> {
  const md5 = createHash('md5');
  const sha = createHash('sha256');
  if (length > 0) {
    for await (const chunk of createReadStream(file, { start, end: start + length - 1 })) {
      md5.update(chunk as Buffer);
      sha.update(chunk as Buffer);
    }
  }
  return { md5: md5.digest('hex'), sha256: sha.digest('hex') };
}

export class Uploader {
  private readonly o: UploaderOptions;
  private readonly store: SyncStore;
  private readonly log: Logger;
  private lastConfigLogMs = 0;
  private readonly bucket: TokenBucket;
  private readonly controller = new CongestionController();
  private readonly pollMs: number;
  private loop: Promise<void> | undefined;
  private stopping = false;
  /** the loop's waits (poll, backoff, pacing); `wake()` cuts one short on resume or stop */
  private readonly sleeper = new Sleeper();
  private current: ThrottledFileStream | undefined;
  private pauseTimer: NodeJS.Timeout | undefined;
  private lastHotExpiry = 0;
  private lastRatePublish = 0;
  private probing = false;
  /** when the probe in flight was sent (performance.now) */
  private probeStartedAt = 0;
  /** the probe in flight was already counted as congestion */
  private probeJudged = false;
  /** the part on the wire at the last tick: bytes sent and the bucket's rate then */
  private inFlightMark: { stream: ThrottledFileStream; sent: number; at: number; allowedBytesPerSecond: number } | undefined;
  /** the bucket was seen or made (checked again after a NoSuchBucket) */
  private bucketReady = false;
  /** (time ms, cumulative bytes) samples for the measured rate */
  private rateWindow: { t: number; bytes: number }[] = [];
  private stats_: UploaderStats = {
    state: 'stopped',
    sentBytes: 0,
    objectsSynced: 0,
    objectsDeduplicated: 0,
    partsSent: 0,
    partsAdopted: 0,
    failures: 0,
    consecutiveFailures: 0,
    congestions: 0,
    rateBitsPerSecond: Infinity,
    manifests: 0,
    lastError: null,
  };

  constructor(opts: UploaderOptions) {
    if (opts.partSize < MIN_PART_SIZE) throw new RangeError(`sync partSize ${opts.partSize} is below the S3 minimum of ${MIN_PART_SIZE} bytes`);
    this.o = opts;
    this.store = opts.store;
    this.log = opts.log;
    this.pollMs = opts.pollMs ?? 1000;
    this.bucket = new TokenBucket(Infinity);
    this.updateRate();
  }

  start(): void {
    if (this.loop !== undefined) return;
    this.stopping = false;
    this.stats_.state = 'idle';
    // a part in flight is cut short soon after `pause` (it is sent again on resume)
    this.pauseTimer = setInterval(() => {
      this.updateRate();
      this.publishRate();
      if (this.current && this.store.paused) this.current.destroy(new PausedError('paused'));
      else if (this.current && this.o.adaptive) {
        this.judgeInFlightThroughput();
        if (this.probing) this.judgeSlowProbe();
        else void this.probe();
      }
    }, this.pollMs);
    this.pauseTimer.unref();
    this.loop = this.run().catch((err: unknown) => {
      this.log.error({ err }, 'uploader loop ended unexpectedly');
      this.stats_.state = 'stopped';
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.pauseTimer);
    this.current?.destroy(new PausedError('stopping'));
    // a request already sent and waiting for its answer: abort it (the part stays unconfirmed)
    this.o.target.abortAll();
    this.sleeper.wake();
    await this.loop;
    this.loop = undefined;
    this.stats_.state = 'stopped';
  }

  /** New work was queued: stop waiting. */
  wake(): void {
    this.sleeper.wake();
  }

  pause(): void {
    this.store.setPaused(true);
    if (this.current) this.current.destroy(new PausedError('paused'));
  }

  resume(): void {
    this.store.setPaused(false);
    this.store.clearRetryDelays();
    this.wake();
  }

  stats(): UploaderStats {
    return { ...this.stats_, congestions: this.controller.congestions, rateBitsPerSecond: this.bucket.bytesPerSecond * 8 };
  }

  /** The cap now (schedule) times the congestion factor, applied to the bucket. */
  private updateRate(): void {
    const capBytes = scheduledCap(this.o.schedule, this.o.capBitsPerSecond) / 8;
    this.bucket.setRate(this.o.adaptive ? this.controller.effectiveRate(capBytes) : capBytes);
  }

  /** One latency probe (HEAD of the bucket, on a connection of its own) for the congestion controller. */
  private async probe(): Promise<void> {
    if (this.probing) return;
    this.probing = true;
    this.probeJudged = false;
    const t0 = performance.now();
    this.probeStartedAt = t0;
    try {
      await this.o.target.bucketExists();
      // a probe already judged slow while in flight is not counted twice
      if (!this.probeJudged && this.controller.observeProbe(performance.now() - t0)) {
        this.log.debug({ factor: this.controller.factor, rttMs: Math.round(performance.now() - t0) }, 'link queue filling up; uploading slower');
      }
      this.updateRate();
    } catch {
      // a failing probe says nothing the upload itself will not say (a slow one was judged in flight)
    } finally {
      this.probing = false;
    }
  }

  /**
   * Bytes the socket took over the last tick against the rate the bucket allowed, judged only over
   * a tick the same part was sending for all along (not its start, nor its wait for the answer).
   */
  private judgeInFlightThroughput(): void {
    const stream = this.current;
    const now = performance.now();
    const sent = this.stats_.sentBytes;
    const mark = this.inFlightMark;
    if (stream && mark && mark.stream === stream && stream.remaining > 0) {
      const seconds = (now - mark.at) / 1000;
      if (seconds > 0.5 && this.controller.observeInFlight((sent - mark.sent) / seconds, mark.allowedBytesPerSecond)) {
        this.log.debug(
          { factor: this.controller.factor, bytesPerSecond: Math.round((sent - mark.sent) / seconds) },
          'link drains slower than allowed; uploading slower',
        );
        this.updateRate();
      }
    }
    this.inFlightMark =
      stream && stream.firstByteAt > 0 && stream.remaining > 0 ? { stream, sent, at: now, allowedBytesPerSecond: this.bucket.bytesPerSecond } : undefined;
  }

  /** A probe still unanswered past the congestion threshold counts as congestion now, once. */
  private judgeSlowProbe(): void {
    const elapsed = performance.now() - this.probeStartedAt;
    if (this.probeJudged || elapsed <= this.controller.probeThresholdMs()) return;
    this.probeJudged = true;
    this.controller.observeProbe(elapsed);
    this.log.debug({ factor: this.controller.factor, rttMs: Math.round(elapsed) }, 'link queue filling up (probe still unanswered); uploading slower');
    this.updateRate();
  }

  private countSent(n: number): void {
    this.stats_.sentBytes += n;
  }

  /**
   * Persist the throughput of the last ~10 s for `sync status` (ETA), at most every RATE_PUBLISH_MS:
   * each write is a synchronous commit on the event loop, which would steal time from the pacing.
   */
  private publishRate(): void {
    const now = Date.now();
    if (this.stats_.state !== 'uploading' && this.stats_.state !== 'backing-off') {
      // idle or paused time says nothing about the link: measure from the next upload on
      this.rateWindow = [];
      return;
    }
    this.rateWindow.push({ t: now, bytes: this.stats_.sentBytes });
    while (this.rateWindow.length > 2 && now - this.rateWindow[0]!.t > 10_000) this.rateWindow.shift();
    const first = this.rateWindow[0]!;
    if (now - first.t < 1000 || now - this.lastRatePublish < RATE_PUBLISH_MS) return;
    this.lastRatePublish = now;
    const bytesPerSecond = ((this.stats_.sentBytes - first.bytes) / (now - first.t)) * 1000;
    try {
      this.store.setSetting('rate', JSON.stringify({ bytesPerSecond, atMs: now }));
    } catch (err) {
      this.log.debug({ err }, 'could not store the measured rate');
    }
  }

  private sleep(ms: number): Promise<void> {
    return this.sleeper.sleep(ms);
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      try {
        await this.step();
      } catch (err) {
        // the store itself failed (disk full, locked too long): back off and try again, never die
        if (this.stopping) break;
        this.log.error({ err }, 'sync store failed; retrying');
        await this.failed(err).catch(() => undefined);
      }
    }
    this.stats_.state = 'stopped';
  }

  /** One turn of the loop: pause, tier upkeep, then the next object (or the due manifests, or a wait). */
  private async step(): Promise<void> {
    if (this.store.paused) {
      this.stats_.state = 'paused';
      await this.sleep(this.pollMs);
      return;
    }
    if (Date.now() - this.lastHotExpiry > 60_000) {
      this.lastHotExpiry = Date.now();
      try {
        const freed = this.store.expireHot();
        if (freed > 0) this.log.info({ freedBytes: freed }, 'synced local copies past the hot period removed');
      } catch (err) {
        this.log.warn({ err }, 'hot tier expiry failed');
      }
    }
    const obj = this.store.next(this.o.order);
    if (!obj) {
      const wroteManifest = await this.writeManifests();
      if (wroteManifest) return;
      this.stats_.state = 'idle';
      const retryIn = this.store.nextRetryInMs();
      await this.sleep(Math.max(10, Math.min(retryIn ?? this.pollMs, this.pollMs)));
      return;
    }
    this.stats_.state = 'uploading';
    try {
      await this.upload(obj);
      this.stats_.consecutiveFailures = 0;
    } catch (err) {
      if (err instanceof PausedError || this.stopping) return;
      if (s3ErrorCode(err) === 'NoSuchBucket') this.bucketReady = false;
      await this.failed(err, obj);
    }
  }

  private async failed(err: unknown, obj?: ObjectRow): Promise<void> {
    const s = this.stats_;
    s.failures++;
    s.consecutiveFailures++;
    const message = err instanceof Error ? err.message : String(err);
    s.lastError = message;
    this.controller.failed();
    this.updateRate();
    const delay = fullJitterDelay(s.consecutiveFailures - 1, this.o.backoff);
    if (obj) {
      try {
        this.store.markFailed(obj.id, message, Date.now() + delay);
      } catch (storeErr) {
        this.log.error({ err: storeErr }, 'could not record the failure in the sync store');
      }
    }
    const fields = { err, key: obj?.key, consecutiveFailures: s.consecutiveFailures, backoffMs: delay };
    const config = s3ConfigFailure(err, 'cloud');
    if (config) {
      // the output's settings, not a flaky uplink: someone must act. Logged at error with what to fix,
      // at most once a minute (data stays queued locally and is uploaded once fixed)
      const now = Date.now();
      if (s.consecutiveFailures === 1 || now - this.lastConfigLogMs >= CONFIG_LOG_INTERVAL_MS) {
        this.lastConfigLogMs = now;
        this.log.error(
          { ...fields, reason: config.reason, action: config.action },
          `cloud refuses uploads because of the output's configuration (${config.reason}); data stays queued locally and is retried. Fix: ${config.action}`,
        );
      } else this.log.debug(fields, 'upload failed again');
    } else if (s.consecutiveFailures === 1 || s.consecutiveFailures % 20 === 0) this.log.warn(fields, 'upload failed; backing off');
    else this.log.debug(fields, 'upload failed again');
    this.stats_.state = 'backing-off';
    await this.sleep(delay);
  }

  /** What the object carries besides its bytes: content type and encoding, class metadata and tag, storage class. */
  private attributes(obj: ObjectRow): ObjectAttributes {
    return {
      contentType: obj.contentType,
      contentEncoding: obj.contentEncoding ?? undefined,
      metadata: { 'layergate-class': obj.class, sha256: obj.sha256, 'layergate-machine': this.o.machine, ...obj.metadata },
      tagging: `layergate-class=${encodeURIComponent(obj.class)}`,
      storageClass: this.storageClass(obj) ?? undefined,
    };
  }

  private storageClass(obj: ObjectRow): string | null {
    if (!this.o.coldStorageClass || this.o.coldAfterMs === undefined) return null;
    const ageMs = Date.now() - Number(obj.recordTimeNs / 1_000_000n);
    return ageMs >= this.o.coldAfterMs ? this.o.coldStorageClass : null;
  }

  /** Whether the cloud's copy is this object (size, SHA-256 metadata, and the ETag when one is expected). */
  private async matches(obj: ObjectRow, expectedEtag?: string): Promise<{ ok: boolean; etag: string; why?: string }> {
    const head = await this.o.target.head(obj.key);
    if (!head) return { ok: false, etag: '', why: 'not found' };
    if (head.size !== obj.size) return { ok: false, etag: head.etag, why: `size ${head.size}, expected ${obj.size}` };
    if (head.metadata.sha256 !== obj.sha256) return { ok: false, etag: head.etag, why: `sha256 ${head.metadata.sha256 ?? '(none)'}, expected ${obj.sha256}` };
    if (expectedEtag !== undefined && head.etag !== expectedEtag) return { ok: false, etag: head.etag, why: `ETag ${head.etag}, expected ${expectedEtag}` };
    return { ok: true, etag: head.etag };
  }

  private async upload(obj: ObjectRow): Promise<void> {
    if (!obj.local) throw new SyncLocalCopyMissingError(`sync object ${obj.key}: its local copy is gone; it cannot be uploaded`);
    if (!this.bucketReady) {
      await this.o.target.ensureBucket();
      this.bucketReady = true;
    }
    const file = this.store.filePath(obj.file);
    // it may be there already: content-addressed bytes, or an earlier attempt that got further than we know
    if (obj.mode === 'continuous' || obj.attempts > 0 || obj.uploadId) {
      const m = await this.matches(obj);
      if (m.ok) {
        if (obj.uploadId) await this.o.target.abortMultipart(obj.key, obj.uploadId).catch(() => undefined);
        this.store.markSynced(obj.id, m.etag, this.storageClass(obj));
        this.stats_.objectsDeduplicated++;
        this.log.debug({ key: obj.key }, 'already in the cloud; not uploaded again');
        return;
      }
    }
    let expected: string;
    if (obj.size <= this.o.partSize) {
      expected = obj.md5;
      const etag = await this.sendRange(obj, file, 0, obj.size, obj.md5, { attributes: this.attributes(obj) });
      if (etag !== obj.md5) throw new SyncIntegrityError(`sync object ${obj.key}: the store answered ETag ${etag}, expected MD5 ${obj.md5}`);
    } else {
      expected = await this.multipart(obj, file);
    }
    const m = await this.matches(obj, expected);
    if (!m.ok) {
      this.store.setUpload(obj.id, null, null);
      throw new SyncIntegrityError(`sync object ${obj.key}: after upload the cloud copy does not match (${m.why}); uploading it again`);
    }
    this.store.markSynced(obj.id, m.etag, this.storageClass(obj));
    this.stats_.objectsSynced++;
    this.log.debug({ key: obj.key, size: obj.size }, 'object synced');
  }

  /** Send one body (object or part), paced; returns the ETag. Feeds the congestion controller. */
  private async sendRange(
    obj: ObjectRow,
    file: string,
    start: number,
    length: number,
    md5Hex: string,
    target: { attributes: ObjectAttributes } | { part: { uploadId: string; partNumber: number } },
    sha256Hex?: string,
  ): Promise<string> {
    const sha = sha256Hex ?? (start === 0 && length === obj.size ? obj.sha256 : (await digestRange(file, start, length)).sha256);
    const stream = new ThrottledFileStream(file, start, length, this.bucket, (n) => this.countSent(n));
    this.current = stream;
    const allowed = this.bucket.bytesPerSecond;
    try {
      const { etag, responseAt } = await this.o.target.put(
        obj.key,
        stream,
        { length, md5Base64: Buffer.from(md5Hex, 'hex').toString('base64'), sha256Hex: sha },
        target,
      );
      if (stream.firstByteAt > 0) {
        const congested = this.controller.observe({
          bytes: length,
          durationMs: responseAt - stream.firstByteAt,
          latencyMs: Math.max(0, responseAt - stream.lastByteAt),
          allowedBytesPerSecond: allowed,
        });
        if (congested) this.log.debug({ factor: this.controller.factor }, 'link congested; uploading slower');
        this.updateRate();
      }
      return etag;
    } catch (err) {
      if (stream.destroyed && stream.errored instanceof PausedError) throw stream.errored;
      if (err instanceof PausedError) throw err;
      const part = 'part' in target ? ` part ${target.part.partNumber}` : '';
      throw new SyncUploadError(`sync object ${obj.key}${part}: ${(err as Error).message}`, { cause: err });
    } finally {
      this.current = undefined;
      stream.destroy();
    }
  }

  /** Multipart upload, resumed from the persisted part list; returns the expected ETag of the whole object. */
  private async multipart(obj: ObjectRow, file: string): Promise<string> {
    const target = this.o.target;
    let uploadId = obj.uploadId;
    // the part size of an upload in progress is kept, whatever the config says now
    const partSize = uploadId && obj.partSize ? obj.partSize : this.o.partSize;
    const count = Math.ceil(obj.size / partSize);
    const confirmed = new Map<number, PartRow>(uploadId ? this.store.parts(obj.id).map((p) => [p.part, p]) : []);
    if (uploadId) {
      // reconcile with the store: parts it holds that we never saw confirmed (killed in between)
      try {
        for (const p of await target.listParts(obj.key, uploadId)) {
          if (confirmed.has(p.part) || p.part > count) continue;
          const start = (p.part - 1) * partSize;
          const length = Math.min(partSize, obj.size - start);
          if (p.size !== length) continue;
          const { md5 } = await digestRange(file, start, length);
          if (md5 === p.etag) {
            const row = { part: p.part, size: length, md5, etag: p.etag };
            this.store.confirmPart(obj.id, uploadId, row, 'adopted');
            confirmed.set(p.part, row);
            this.stats_.partsAdopted++;
          }
        }
      } catch (err) {
        if (s3ErrorCode(err) !== 'NoSuchUpload') throw err;
        this.log.info({ key: obj.key, uploadId }, 'the store no longer knows the upload; starting it again');
        this.store.setUpload(obj.id, null, null);
        uploadId = null;
        confirmed.clear();
      }
    }
    if (!uploadId) {
      uploadId = await target.createMultipart(obj.key, this.attributes(obj));
      this.store.setUpload(obj.id, uploadId, partSize);
      this.log.debug({ key: obj.key, uploadId, parts: count }, 'multipart upload started');
    } else if (confirmed.size > 0) {
      this.log.info({ key: obj.key, uploadId, confirmedParts: confirmed.size, parts: count }, 'resuming multipart upload after the last confirmed part');
    }
    const todo = Array.from({ length: count }, (_, i) => i + 1).filter((n) => !confirmed.has(n));
    const range = (n: number) => {
      const start = (n - 1) * partSize;
      return { start, length: Math.min(partSize, obj.size - start) };
    };
    // the next part's digests are computed while the current one is on the wire: no idle gap between parts
    let nextDigest = todo.length ? digestRange(file, range(todo[0]!).start, range(todo[0]!).length) : undefined;
    for (let i = 0; i < todo.length; i++) {
      const n = todo[i]!;
      if (this.stopping) throw new PausedError('stopping');
      const { start, length } = range(n);
      const { md5, sha256 } = await nextDigest!;
      const following = todo[i + 1];
      nextDigest = following === undefined ? undefined : digestRange(file, range(following).start, range(following).length);
      nextDigest?.catch(() => undefined);
      this.store.logPart(obj.id, uploadId, n, 'send');
      this.stats_.partsSent++;
      const etag = await this.sendRange(obj, file, start, length, md5, { part: { uploadId, partNumber: n } }, sha256);
      if (etag !== md5) throw new SyncIntegrityError(`sync object ${obj.key} part ${n}: the store answered ETag ${etag}, expected MD5 ${md5}`);
      const row = { part: n, size: length, md5, etag };
      this.store.confirmPart(obj.id, uploadId, row);
      confirmed.set(n, row);
    }
    const parts = [...confirmed.values()].sort((a, b) => a.part - b.part);
    try {
      await target.completeMultipart(
        obj.key,
        uploadId,
        parts.map((p) => ({ part: p.part, etag: p.etag })),
      );
    } catch (err) {
      throw new SyncUploadError(`sync object ${obj.key}: completing the multipart upload failed: ${(err as Error).message}`, { cause: err });
    }
    return multipartEtag(parts.map((p) => p.md5));
  }

  /** Write the manifest of every build that is ready; returns whether one was written. */
  private async writeManifests(): Promise<boolean> {
    let wrote = false;
    for (const build of this.store.buildsReadyForManifest(this.o.manifestAfterMs)) {
      if (this.stopping || this.store.paused) break;
      const lastRecordMs = this.store.buildLastRecordMs(build);
      const entries = this.store.manifestEntries(build);
      const manifest = {
        format: 'layergate.build-manifest/1',
        machine: this.o.machine,
        build,
        writtenAt: new Date().toISOString(),
        objects: entries.length,
        records: entries.reduce((n, e) => n + e.records, 0),
        bytes: entries.reduce((n, e) => n + e.size, 0),
        layerRange: entries.some((e) => e.layerMin !== null)
          ? [
              Math.min(...entries.flatMap((e) => (e.layerMin === null ? [] : [e.layerMin]))),
              Math.max(...entries.flatMap((e) => (e.layerMax === null ? [] : [e.layerMax]))),
            ]
          : null,
        entries: entries.map((e) => ({
          key: e.key,
          size: e.size,
          sha256: e.sha256,
          class: e.class,
          mode: e.mode,
          seqRange: [e.firstSeq, e.lastSeq],
          layerRange: e.layerMin === null ? null : [e.layerMin, e.layerMax],
          records: e.records,
        })),
      };
      const body = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
      const md5 = createHash('md5').update(body).digest('hex');
      const sha256 = createHash('sha256').update(body).digest('hex');
      const key = this.o.manifestKey(build);
      try {
        const wait = this.bucket.take(body.length);
        if (wait > 0) await this.sleep(wait);
        const { etag } = await this.o.target.put(
          key,
          body,
          { length: body.length, md5Base64: Buffer.from(md5, 'hex').toString('base64'), sha256Hex: sha256 },
          {
            attributes: { contentType: 'application/json', metadata: { sha256, 'layergate-class': 'internal' }, tagging: 'layergate-class=internal' },
          },
        );
        if (etag !== md5) throw new SyncIntegrityError(`manifest ${key}: the store answered ETag ${etag}, expected MD5 ${md5}`);
        this.countSent(body.length);
        this.store.markManifest(build, lastRecordMs);
        this.stats_.manifests++;
        this.stats_.consecutiveFailures = 0;
        wrote = true;
        this.log.info({ build, key, objects: entries.length }, 'build fully synced; manifest written');
      } catch (err) {
        await this.failed(err);
        break;
      }
    }
    return wrote;
  }
}
