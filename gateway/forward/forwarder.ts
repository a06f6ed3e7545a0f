/**
 * The forwarding loop: one `Forwarder` per sink moves records from the buffer to an output plugin.
 *
 * Design constraints:
 * - At least once. The loop reads from the sink's cursor, awaits `output.send(batch)` and only then
 *   acks the batch's last seq. A failed, timed-out or abandoned send never advances the cursor; the
 *   same records are sent again (so a sink may see a record twice; payloads carry `seq`).
 * - Independence. Each forwarder has its own cursor, loop and timers. A failing or hanging sink only
 *   grows its own lag: ingest (`buffer.append`) and other forwarders never wait for it. A send that
 *   does not settle within `sendTimeoutMs` counts as a failure.
 * - No busy polling. With nothing to read the loop waits for the buffer's 'append' event, with a
 *   slow timer as a fallback in case an event is missed.
 * - Linger (like Kafka's linger.ms). A sink that prefers few large batches (a file per batch) sets
 *   `linger`: a read that is not a full batch is held until its oldest record (by receiveTimeNs) is
 *   `linger` old or enough records arrived to fill a batch. A full batch never waits. Only the send is
 *   delayed, never ingest: the records are already committed to the buffer. `stop()` cuts a linger
 *   short without sending (nothing unacked is acked); `drain()` (shutdown) sends at once instead.
 * - Backoff is capped exponential with full jitter (delay = random(0, min(max, initial * 2^n))). It is
 *   computed by `fullJitterDelay` rather than with the `exponential-backoff` package because that
 *   package owns the retry loop around one operation, with a fixed attempt count and sleeps that cannot
 *   be cancelled; here the loop is long-lived, retries forever, must expose its state and delay in
 *   `stats()`, and `stop()` must cut a backoff sleep short.
 * - Read-ahead. While a full batch's send is in flight (the sink's round trip, the event loop idle),
 *   the next few batches are read from the buffer (after the batch in flight's last seq), so buffer
 *   reads are off the critical path. It changes nothing about delivery: the cursor only moves after
 *   the sink acked the batch in flight, batches go out one at a time in seq order, and a failed send
 *   drops what was read ahead (the retry reads again from the cursor). Bounded: at most
 *   READ_AHEAD_BATCHES batches and READ_AHEAD_MAX_BYTES (or one batchBytes) are held.
 * - The forwarder does not start or stop the output plugin; the caller does that (with
 *   `outputContext`) so that one place owns plugin life cycles.
 * - Retryable vs permanent. Any failure is retried, except a `SinkPermanentError` (the sink refused
 *   records for good: authorisation, too large, policy, no sealer): the refused records are written
 *   to <dataDir>/quarantine/outputs/<sink>/ (length-delimited `layergate.v1.Record` messages plus a
 *   JSON sidecar with the reason), counted, logged at error, and the cursor advances past them. Only
 *   once that write succeeded: if it fails, the batch is retried like any failure, so nothing is
 *   dropped unrecorded. Without `dataDir` there is nowhere to keep them and they are retried.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import protobuf from 'protobufjs';
import type { Logger } from 'pino';
import { encodeRecord, mayLeavePremises } from '../plugin-api/record.js';
import type { BlobRef, StoredRecord } from '../plugin-api/record.js';
import type { OutputContext, OutputPlugin } from '../plugin-api/contract.js';
import type { RecordBuffer } from '../buffer/types.js';
import type { Sealer } from '../crypto/sealer.js';
import { LayerGateError, OffPremisesRefusedError, SinkPermanentError, SinkSendError, SinkTimeoutError } from '../plugin-api/errors.js';

export interface BackoffOptions {
  /** upper bound of the first retry delay */
  initialMs: number;
  /** cap of the delay, however many failures in a row */
  maxMs: number;
}

export interface ForwarderOptions {
  buffer: RecordBuffer;
  output: OutputPlugin;
  /** the sink name: the buffer cursor it owns and the route records name */
  name: string;
  log: Logger;
  /** most records per send (default 500) */
  batchSize?: number;
  /**
   * ms a partial batch may wait for more records, counted from its oldest record's receive time
   * (default 0: send whatever is there at once). Full batches are never delayed.
   */
  linger?: number;
  /** most body bytes per send, inline bodies and blob sizes (default 8 MiB; one record always fits) */
  batchBytes?: number;
  /** default { initialMs: 500, maxMs: 60_000 } */
  backoff?: BackoffOptions;
  /** a send that has not settled after this long is a failure (default 30 s) */
  sendTimeoutMs?: number;
  /** how long `stop()` waits for an in-flight send (default 10 s) */
  stopTimeoutMs?: number;
  /** fallback re-read interval while idle, in case an 'append' event is missed (default 5 s) */
  idlePollMs?: number;
  /** while failing, repeat the failure warning at most this often; other failures log at debug (default 60 s) */
  failureLogIntervalMs?: number;
  /** the gateway's data folder: permanently refused records are kept in <dataDir>/quarantine/outputs/<sink>/ */
  dataDir?: string;
  /**
   * cap of the sink's quarantine folder (default 64 MiB). When refused records do not fit, they stay in
   * the buffer and are retried with backoff (logged at error) instead of being dropped.
   */
  quarantineMaxBytes?: number;
  /**
   * Whether the sink is on the plant's premises (default 'off'; the gateway passes the effective one). An
   * off-premises forwarder refuses sensitive and confidential records before `send`, whatever routed
   * them here: counted, reported to `onOffPremisesRefused` (the audit log) and skipped (the cursor moves on).
   */
  premises?: 'on' | 'off';
  onOffPremisesRefused?: (refusal: OffPremisesRefusal) => void;
  /** seals confidential bodies of records written to the sink quarantine (encryption at rest) */
  sealer?: Sealer;
}

/** A run of records an off-premises sink was handed and refused (see `ForwarderOptions.premises`). */
export interface OffPremisesRefusal {
  sink: string;
  records: number;
  firstSeq: number;
  lastSeq: number;
  /** records per class */
  classes: Partial<Record<string, number>>;
  sources: string[];
}

export type ForwarderState = 'idle' | 'lingering' | 'sending' | 'backing-off' | 'stopped';

export interface ForwarderStats {
  sink: string;
  state: ForwarderState;
  /** the sink's cursor in the buffer: every record up to it was acked by the sink */
  cursor: number;
  sentRecords: number;
  sentBytes: number;
  batches: number;
  failures: number;
  consecutiveFailures: number;
  lastError: { message: string; atMs: number } | null;
  /** the delay of the current (or last) backoff sleep, 0 after a success */
  backoffMs: number;
  /** timed-out sends that have not settled yet (the plugin still holds them) */
  abandonedSends: number;
  /** sends of records that failed before (attempts after a failure) */
  retries: number;
  /** failures by kind: the error's `reason` when it has one (e.g. `connection`, `too-large`), else its code */
  errorsByKind: Record<string, number>;
  /** records the sink refused for good, kept in the sink's quarantine folder (never in sentRecords) */
  quarantinedRecords: number;
  /** sends that ended with a permanent refusal */
  permanentFailures: number;
  /** sensitive/confidential records refused because the sink is off premises (never sent) */
  offPremisesRefused: number;
  /** records routed here and not yet acked (from the buffer; 0 when the buffer is closed) */
  lagRecords: number;
  /** age of the oldest record not yet acked, by receive time, in s (0 when there is none) */
  lagSeconds: number;
}

/** Capped exponential backoff with full jitter: uniform in [0, min(maxMs, initialMs * 2^attempt)). */
export function fullJitterDelay(attempt: number, backoff: BackoffOptions, random: () => number = Math.random): number {
  const ceiling = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(attempt, 52));
  return Math.floor(random() * ceiling);
}

/** Body bytes of a record as the buffer accounts them: inline body or spooled blob size. */
export function recordBytes(r: StoredRecord): number {
  return r.body?.length ?? r.blob?.size ?? 0;
}

/** The context an output plugin is started with: blob access goes through the buffer's spool. */
export function outputContext(name: string, buffer: RecordBuffer, log: Logger): OutputContext {
  return {
    name,
    log: log.child({ sink: name }),
    blobs: {
      read: (ref: BlobRef) => buffer.readBlob(ref),
      path: (ref: BlobRef) => buffer.blobPath(ref),
    },
  };
}

/** Read-ahead (see the module header): batches read at once while a send is in flight, and their byte cap. */
const READ_AHEAD_BATCHES = 4;
const READ_AHEAD_MAX_BYTES = 16 * 1024 * 1024;

/** Beyond this many unsettled timed-out sends, the forwarder waits instead of piling up more. */
const MAX_ABANDONED_SENDS = 4;

export class Forwarder {
  readonly name: string;
  private readonly buffer: RecordBuffer;
  private readonly output: OutputPlugin;
  private readonly log: Logger;
  private readonly batchSize: number;
  private readonly batchBytes: number;
  private readonly linger: number;
  private readonly backoff: BackoffOptions;
  private readonly sendTimeoutMs: number;
  private readonly stopTimeoutMs: number;
  private readonly idlePollMs: number;
  private readonly failureLogIntervalMs: number;

  private state: ForwarderState = 'stopped';
  private loop: Promise<void> | undefined;
  private stopping = false;
  /** set by drain(): send partial batches at once (shutdown), ignoring linger */
  private draining = false;
  /**
   * Incremented by every start() and by a stop() that gave up waiting. A loop whose generation is no
   * longer current must not touch the buffer again: its late send result is ignored, never acked.
   */
  private generation = 0;
  /** wakes the current wait (idle or backoff) early */
  private wake: (() => void) | undefined;
  private lastCursor = 0;
  private lastFailureLogMs = 0;
  private counters = {
    sentRecords: 0, sentBytes: 0, batches: 0, failures: 0, consecutiveFailures: 0, backoffMs: 0, abandonedSends: 0,
    retries: 0, quarantinedRecords: 0, permanentFailures: 0, offPremisesRefused: 0,
  };
  private readonly premises: 'on' | 'off';
  private readonly onOffPremisesRefused: ((refusal: OffPremisesRefusal) => void) | undefined;
  private readonly sealer: Sealer | undefined;
  private readonly errorsByKind: Record<string, number> = {};
  private readonly quarantineDir: string | undefined;
  private quarantineSeq = 0;
  private readonly quarantineMaxBytes: number;
  /** bytes in the sink's quarantine folder (read once, then tracked) */
  private quarantineUsed: number | undefined;
  private lastError: { message: string; atMs: number } | null = null;

  constructor(opts: ForwarderOptions) {
    this.name = opts.name;
    this.buffer = opts.buffer;
    this.output = opts.output;
    this.log = opts.log.child({ sink: opts.name, forwarder: true });
    this.batchSize = positive(opts.batchSize ?? 500, 'batchSize');
    this.batchBytes = positive(opts.batchBytes ?? 8 * 1024 * 1024, 'batchBytes');
    this.linger = opts.linger ?? 0;
    if (!Number.isFinite(this.linger) || this.linger < 0) {
      throw new RangeError(`forwarder option linger: expected a non-negative number of ms, got ${opts.linger}`);
    }
    this.backoff = opts.backoff ?? { initialMs: 500, maxMs: 60_000 };
    positive(this.backoff.initialMs, 'backoff.initialMs');
    if (this.backoff.maxMs < this.backoff.initialMs) {
      throw new RangeError(`forwarder ${opts.name}: backoff.maxMs (${this.backoff.maxMs}) < backoff.initialMs`);
    }
    this.sendTimeoutMs = positive(opts.sendTimeoutMs ?? 30_000, 'sendTimeoutMs');
    this.stopTimeoutMs = positive(opts.stopTimeoutMs ?? 10_000, 'stopTimeoutMs');
    this.idlePollMs = positive(opts.idlePollMs ?? 5_000, 'idlePollMs');
    this.failureLogIntervalMs = opts.failureLogIntervalMs ?? 60_000;
    this.quarantineDir = opts.dataDir === undefined ? undefined : path.join(opts.dataDir, 'quarantine', 'outputs', opts.name);
    this.quarantineMaxBytes = opts.quarantineMaxBytes ?? 64 * 1024 * 1024;
    this.premises = opts.premises ?? 'off';
    this.onOffPremisesRefused = opts.onOffPremisesRefused;
    this.sealer = opts.sealer;
  }

  start(): void {
    if (this.loop) return;
    this.stopping = false;
    this.draining = false;
    this.state = 'idle';
    const generation = ++this.generation;
    this.loop = this.run(generation).catch((err: unknown) => {
      // run() handles every expected failure itself; this is a bug guard so the process never crashes
      this.log.error({ err }, 'forwarder loop ended unexpectedly');
      if (generation === this.generation) this.state = 'stopped';
    });
  }

  /**
   * Stop the loop. An in-flight send may finish (and is acked if it succeeded) for up to
   * `stopTimeoutMs`; after that stop() resolves anyway and the late result is ignored, so the cursor
   * never advances past a batch the sink did not ack before the stop.
   */
  async stop(): Promise<void> {
    const loop = this.loop;
    if (!loop) return;
    this.stopping = true;
    this.wake?.();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      loop.then(() => false),
      new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(true), this.stopTimeoutMs); }),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      this.generation++;
      this.log.warn({ stopTimeoutMs: this.stopTimeoutMs }, 'stop: in-flight send did not finish; its batch stays unacked');
    }
    this.loop = undefined;
    this.state = 'stopped';
  }

  /**
   * Stop lingering: from now on every read is sent at once. The gateway calls it when shutting down,
   * so records held back for a fuller batch are delivered within the grace period.
   */
  drain(): void {
    this.draining = true;
    this.wake?.();
  }

  stats(): ForwarderStats {
    return {
      sink: this.name,
      state: this.state,
      cursor: this.readCursor(),
      ...this.counters,
      errorsByKind: { ...this.errorsByKind },
      lastError: this.lastError,
      ...this.lag(),
    };
  }

  private lag(): { lagRecords: number; lagSeconds: number } {
    try {
      const lagRecords = this.buffer.stats().sinks.find((s) => s.sink === this.name)?.lagRecords ?? 0;
      const oldest = lagRecords > 0 ? this.buffer.read(this.name, 1, Number.MAX_SAFE_INTEGER)[0] : undefined;
      const lagSeconds = oldest ? Math.max(0, Date.now() - Number(oldest.receiveTimeNs / 1_000_000n)) / 1000 : 0;
      return { lagRecords, lagSeconds };
    } catch {
      return { lagRecords: 0, lagSeconds: 0 }; // the buffer is closed
    }
  }

  private readCursor(): number {
    try {
      this.lastCursor = this.buffer.cursor(this.name);
    } catch {
      // the buffer is closed (after shutdown): report the last cursor seen
    }
    return this.lastCursor;
  }

  private async run(generation: number): Promise<void> {
    const current = () => generation === this.generation;
    /** records after the batch just sent, read while a send was in flight, in seq order (see Read-ahead) */
    let ahead: StoredRecord[] = [];
    while (!this.stopping && current()) {
      if (this.counters.abandonedSends >= MAX_ABANDONED_SENDS) {
        ahead = [];
        // a hanging sink: do not pile up more unsettled sends (each holds a batch in memory)
        await this.backOff(new SinkTimeoutError(
          `sink ${this.name}: ${this.counters.abandonedSends} timed-out sends still unsettled; waiting before retrying`,
        ), false);
        continue;
      }
      let batch: StoredRecord[];
      try {
        batch = ahead.length > 0 ? this.takeBatch(ahead) : this.buffer.read(this.name, this.batchSize, this.batchBytes);
      } catch (err) {
        if (this.stopping) break;
        await this.backOff(err);
        continue;
      }
      if (batch.length === 0) {
        this.state = 'idle';
        await this.waitForAppend();
        continue;
      }
      const lingerMs = this.lingerLeft(batch);
      if (lingerMs > 0) {
        ahead = []; // re-read after the wait
        // a partial batch of young records: wait for more (an append wakes us to re-check) or the deadline
        this.state = 'lingering';
        await this.waitForAppend(lingerMs);
        continue;
      }
      // enforcement in depth: whatever routed them here, an off-premises sink gets no sensitive/confidential record
      const toSend = this.premises === 'off' ? this.refuseOffPremises(batch) : batch;
      this.state = 'sending';
      if (this.counters.consecutiveFailures > 0) this.counters.retries++;
      let refused: StoredRecord[] = [];
      try {
        if (toSend.length > 0) {
          const sending = this.sendWithTimeout(toSend);
          sending.catch(() => undefined); // awaited just below; only to not count as unhandled meanwhile
          if (ahead.length === 0 && batch.length >= this.batchSize) ahead = await this.readAhead(batch);
          await sending;
        }
      } catch (err) {
        ahead = [];
        if (!current()) return;
        if (!(err instanceof SinkPermanentError) || !(await this.quarantine(toSend, err))) {
          await this.backOff(err);
          continue;
        }
        if (!current()) return;
        const seqs = err.seqs ? new Set(err.seqs) : undefined;
        refused = seqs ? toSend.filter((r) => seqs.has(r.seq)) : toSend;
      }
      if (!current()) return; // stop() gave up on this send: the buffer may be closed already
      const lastSeq = batch[batch.length - 1]!.seq;
      try {
        this.buffer.ack(this.name, lastSeq);
      } catch (err) {
        // the sink has the batch; it will get it again after the retry (at least once)
        ahead = [];
        await this.backOff(err);
        continue;
      }
      this.lastCursor = lastSeq;
      this.onSuccess(refused.length === 0 ? toSend : toSend.filter((r) => !refused.includes(r)));
    }
    if (current()) this.state = 'stopped';
  }

  /**
   * Read the records that follow `inFlight` (up to READ_AHEAD_BATCHES batches), once the send of
   * `inFlight` had a turn to put its request on the wire. The cursor has not moved yet, so the read
   * starts at the batch in flight; those records are dropped. Empty when there is nothing more or the
   * read failed (the next regular read reports it).
   */
  private async readAhead(inFlight: StoredRecord[]): Promise<StoredRecord[]> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (this.stopping) return [];
    const aheadBytes = Math.max(this.batchBytes, Math.min(READ_AHEAD_BATCHES * this.batchBytes, READ_AHEAD_MAX_BYTES));
    try {
      return this.buffer.read(this.name, READ_AHEAD_BATCHES * this.batchSize, aheadBytes, inFlight[inFlight.length - 1]!.seq);
    } catch {
      return [];
    }
  }

  /** Take the next batch (batchSize records and batchBytes at most, the first always) off the read-ahead. */
  private takeBatch(ahead: StoredRecord[]): StoredRecord[] {
    let n = 0;
    let bytes = 0;
    while (n < ahead.length && n < this.batchSize) {
      const size = recordBytes(ahead[n]!);
      if (n > 0 && bytes + size > this.batchBytes) break;
      bytes += size;
      n++;
    }
    return ahead.splice(0, n);
  }

  /**
   * The records of a batch an off-premises sink may receive (public, internal). The others are
   * counted, logged at error and reported once per batch (the audit entry); they are never sent or
   * retried: the batch's ack moves the cursor past them. Only a misconfiguration or a routing bug
   * gets them here (routing already leaves such sinks out).
   */
  private refuseOffPremises(batch: StoredRecord[]): StoredRecord[] {
    let refused: StoredRecord[] | undefined;
    for (const r of batch) if (!mayLeavePremises(r.class)) (refused ??= []).push(r);
    if (refused === undefined) return batch;
    const classes: Partial<Record<string, number>> = {};
    for (const r of refused) classes[r.class] = (classes[r.class] ?? 0) + 1;
    const refusal: OffPremisesRefusal = {
      sink: this.name, records: refused.length, firstSeq: refused[0]!.seq, lastSeq: refused[refused.length - 1]!.seq,
      classes, sources: [...new Set(refused.map((r) => r.source))],
    };
    this.counters.offPremisesRefused += refused.length;
    this.log.error(
      { err: new OffPremisesRefusedError(`sink ${this.name} is off premises: refused ${refused.length} sensitive/confidential records (seq ${refusal.firstSeq}..${refusal.lastSeq})`), ...refusal, offPremisesRefused: this.counters.offPremisesRefused },
      'off-premises sink was handed sensitive or confidential records: refused, not sent',
    );
    try {
      this.onOffPremisesRefused?.(refusal);
    } catch (err) {
      this.log.error({ err }, 'could not report the refused records (audit)');
    }
    return batch.filter((r) => mayLeavePremises(r.class));
  }

  /**
   * How long a batch just read should still wait before it is sent: 0 for a full batch (by count, or
   * cut by `batchBytes`), when lingering is off or draining, or once the oldest record is `linger` old.
   * The wait is capped at `linger`, so a receive time in the future (clock step) cannot hold it longer.
   */
  private lingerLeft(batch: StoredRecord[]): number {
    if (this.linger <= 0 || this.draining || batch.length >= this.batchSize) return 0;
    const oldestMs = Number(batch[0]!.receiveTimeNs / 1_000_000n);
    const left = Math.min(this.linger, oldestMs + this.linger - Date.now());
    if (left <= 0) return 0;
    // fewer records than batchSize: either all there is, or the byte limit cut the batch (then it is full)
    let more: number;
    try {
      more = this.buffer.read(this.name, batch.length + 1, Number.MAX_SAFE_INTEGER).length;
    } catch {
      return 0; // send what was read; a buffer fault shows up on the next read, with backoff
    }
    return more > batch.length ? 0 : Math.ceil(left);
  }

  private sendWithTimeout(batch: StoredRecord[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        settled = true;
        this.counters.abandonedSends++;
        reject(new SinkTimeoutError(
          `sink ${this.name}: send of seq ${batch[0]!.seq}..${batch[batch.length - 1]!.seq} did not settle within ${this.sendTimeoutMs} ms`,
        ));
      }, this.sendTimeoutMs);
      let sending: Promise<void>;
      try {
        sending = Promise.resolve(this.output.send(batch));
      } catch (err) {
        sending = Promise.reject(err);
      }
      sending.then(
        () => {
          if (settled) { this.counters.abandonedSends--; return; }
          settled = true;
          clearTimeout(timer);
          resolve();
        },
        (err: unknown) => {
          if (settled) { this.counters.abandonedSends--; return; }
          settled = true;
          clearTimeout(timer);
          reject(err);
        },
      );
    });
  }

  private onSuccess(batch: StoredRecord[]): void {
    const c = this.counters;
    if (c.consecutiveFailures > 0) {
      this.log.info({ failures: c.consecutiveFailures, cursor: this.lastCursor }, 'sink recovered');
    }
    c.sentRecords += batch.length;
    c.sentBytes += batch.reduce((n, r) => n + recordBytes(r), 0);
    c.batches++;
    c.consecutiveFailures = 0;
    c.backoffMs = 0;
    this.lastFailureLogMs = 0;
  }

  /**
   * Keep the records a sink refused for good: `<n>.records` (length-delimited `layergate.v1.Record`
   * messages; spooled bodies as their blob reference) and `<n>.json` (sink, reason, error, seqs), then
   * count and log at error. Returns false when there is no quarantine folder or the write failed: the
   * batch is then retried, never skipped unrecorded.
   */
  private async quarantine(batch: StoredRecord[], err: SinkPermanentError): Promise<boolean> {
    const seqs = err.seqs ? new Set(err.seqs) : undefined;
    const refused = seqs ? batch.filter((r) => seqs.has(r.seq)) : batch;
    if (!this.quarantineDir) {
      this.log.error({ err }, 'sink refused records permanently but the forwarder has no data folder to quarantine them; retrying');
      return false;
    }
    const at = new Date();
    const base = `${at.toISOString().replace(/[-:]/g, '')}-${process.pid}-${++this.quarantineSeq}`;
    try {
      const writer = protobuf.Writer.create();
      // confidential bodies stay sealed at rest, in the quarantine as in the buffer
      for (const r of refused) writer.bytes(encodeRecord(this.sealer && r.class === 'confidential' && r.body ? { ...r, body: this.sealer.seal(r.body) } : r));
      const records = Buffer.from(writer.finish());
      const sidecar = {
        sink: this.name,
        at: at.toISOString(),
        error: { reason: err.reason, code: err.code, name: err.name, message: err.message },
        records: refused.length,
        seqs: refused.map((r) => r.seq),
        file: `${base}.records`,
        format: 'length-delimited layergate.v1.Record (proto/layergate/v1/record.proto)',
        ...(this.sealer && refused.some((r) => r.class === 'confidential') ? { sealed: `confidential bodies sealed (AES-256-GCM, key ring of the gateway; key ${this.sealer.keyId})` } : {}),
        sha256: createHash('sha256').update(records).digest('hex'),
      };
      const sidecarText = JSON.stringify(sidecar, null, 2);
      const need = records.length + Buffer.byteLength(sidecarText);
      await mkdir(this.quarantineDir, { recursive: true });
      this.quarantineUsed ??= await folderBytes(this.quarantineDir);
      if (this.quarantineUsed + need > this.quarantineMaxBytes) {
        this.log.error(
          { err, records: refused.length, bytes: need, used: this.quarantineUsed, quarantineMaxBytes: this.quarantineMaxBytes, dir: this.quarantineDir },
          'sink refused records permanently but its quarantine folder is full; keeping them in the buffer and retrying (fix the sink, or clear the folder)',
        );
        return false;
      }
      await writeFile(path.join(this.quarantineDir, `${base}.records`), records);
      await writeFile(path.join(this.quarantineDir, `${base}.json`), sidecarText);
      this.quarantineUsed += need;
    } catch (writeErr) {
      this.log.error({ err: writeErr, refused: err }, 'could not write refused records to the sink quarantine folder; retrying the batch');
      return false;
    }
    // counted here once kept; a refusal that could not be kept is counted by backOff with the retry
    this.countError(err);
    const c = this.counters;
    c.quarantinedRecords += refused.length;
    c.permanentFailures++;
    this.lastError = { message: err.message, atMs: Date.now() };
    this.log.error(
      { err, reason: err.reason, records: refused.length, firstSeq: refused[0]?.seq, lastSeq: refused[refused.length - 1]?.seq, dir: this.quarantineDir, quarantinedRecords: c.quarantinedRecords },
      'sink refused records permanently; quarantined them and moved on',
    );
    return true;
  }

  private countError(err: unknown): void {
    const reason = (err as { reason?: unknown } | null)?.reason;
    const kind = typeof reason === 'string' && reason ? reason
      : err instanceof LayerGateError ? err.code : (err as Error | null)?.name || 'error';
    this.errorsByKind[kind] = (this.errorsByKind[kind] ?? 0) + 1;
  }

  /** Count and log a failure, then sleep a jittered, capped, growing delay (cut short by stop()). */
  private async backOff(err: unknown, countAsFailure = true): Promise<void> {
    const c = this.counters;
    const error = err instanceof Error ? err : new SinkSendError(`sink ${this.name}: ${String(err)}`);
    const now = Date.now();
    if (countAsFailure) {
      this.countError(error);
      c.failures++;
      c.consecutiveFailures++;
      this.lastError = { message: error.message, atMs: now };
    }
    c.backoffMs = fullJitterDelay(Math.max(0, c.consecutiveFailures - 1), this.backoff);
    const fields = {
      err: error, consecutiveFailures: c.consecutiveFailures, backoffMs: c.backoffMs, cursor: this.lastCursor,
    };
    if (c.consecutiveFailures <= 1 || now - this.lastFailureLogMs >= this.failureLogIntervalMs) {
      this.lastFailureLogMs = now;
      this.log.warn(fields, c.consecutiveFailures <= 1 ? 'send failed; retrying with backoff' : 'sink still failing');
    } else {
      this.log.debug(fields, 'send failed again');
    }
    if (this.stopping) return;
    this.state = 'backing-off';
    await this.sleep(c.backoffMs);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => { clearTimeout(timer); this.wake = undefined; resolve(); };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }

  /** Wait for the next 'append', at most `timeoutMs` (default: the idle fallback interval). */
  private waitForAppend(timeoutMs = this.idlePollMs): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.buffer.off('append', done);
        this.wake = undefined;
        resolve();
      };
      // subscribed synchronously after the read, so no append can slip in between
      const timer = setTimeout(done, timeoutMs);
      this.buffer.on('append', done);
      this.wake = done;
    });
  }
}

/** Total size of the files in a folder (not recursive). */
async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.isFile()) total += (await stat(path.join(dir, e.name))).size;
  }
  return total;
}

function positive(n: number, what: string): number {
  if (!Number.isFinite(n) || n <= 0) throw new RangeError(`forwarder option ${what}: expected a positive number, got ${n}`);
  return n;
}
