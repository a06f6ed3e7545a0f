/**
 * The forwarding loop: one `Forwarder` per sink moves records from the buffer to an output plugin.
 *
 * Design constraints:
 * - At least once. The loop reads from the sink's cursor, awaits `output.send(batch)` and only then
 *   acks the batch's last seq. A failed, timed-out or abandoned send never advances the cursor; the
 *   same records are sent again (so a sink may see a record twice; payloads carry `seq`).
 * - Independence. Each forwarder has its own cursor, loop and timers. A failing or hanging sink only
 *   grows its own lag: ingest (`buffer.append`) and other forwarders never wait for it. A send that
 *   does not settle within `sendTimeoutMs` counts as a failure (send.ts) and the same records are sent
 *   again while it still runs, up to `MAX_ABANDONED_SENDS` at once.
 * - No timeout for a sink whose send is bounded local work (`sendTimeoutMs: null`, declared by the
 *   output: `OutputCapabilities.sendTimeoutMs`): the loop waits for its send however long it takes,
 *   since sending the same records again beside it would only repeat work that is already behind.
 *   A send that does not end shows as a sink that stays `sending` while its lag grows; `stop()` gives
 *   up on it after `stopTimeoutMs`, as on any send.
 * - No busy polling. With nothing to read the loop waits for the buffer's 'append' event, with a
 *   slow timer as a fallback in case an event is missed.
 * - Batches: by count and bytes, read ahead while a send is in flight, held back by `linger`
 *   (batch-reader.ts). `stop()` cuts a linger short without sending (nothing unacked is acked);
 *   `drain()` (shutdown) sends at once instead.
 * - Backoff is capped exponential with full jitter (`fullJitterDelay`, gateway/plugin-api/retry.ts);
 *   the loop retries forever, exposes its state and delay in `stats()`, and `stop()` cuts a backoff
 *   sleep short.
 * - The forwarder does not start or stop the output plugin; the caller does that (with
 *   `outputContext`, output-context.ts) so that one place owns plugin life cycles.
 * - Off premises: an off-premises sink is never handed a sensitive or confidential record
 *   (off-premises.ts).
 * - Retryable vs permanent. Any failure is retried, except a `SinkPermanentError` (the sink refused
 *   records for good: authorisation, too large, policy, no sealer): the refused records are written
 *   to the sink's quarantine folder (gateway/quarantine/outputs.ts), counted, logged at error, and the
 *   cursor advances past them. Only once that write succeeded: if it fails, the batch is retried like
 *   any failure, so nothing is dropped unrecorded. Without `dataDir` there is nowhere to keep them and
 *   they are retried.
 * - A sink that refuses everything because of its configuration (`SinkConfigError`: wrong credentials,
 *   no permission, a missing bucket or topic) is a failing sink, never a reason to quarantine: a typo in
 *   a password must not divert all data. The records stay in the buffer (lag tells the truth), the send
 *   is retried with the capped backoff, the stats show `configFailure` (reason, what to fix, since when)
 *   and the failure is logged at error with what to fix, at most once per `failureLogIntervalMs`.
 */
import type { Logger } from 'pino';
import type { StoredRecord } from '../plugin-api/record.js';
import type { OutputPlugin } from '../plugin-api/contract.js';
import type { RecordBuffer } from '../buffer/types.js';
import type { Sealer } from '../crypto/sealer.js';
import { LayerGateError, SinkConfigError, SinkPermanentError, SinkSendError, SinkTimeoutError } from '../plugin-api/errors.js';
import { Sleeper, fullJitterDelay } from '../plugin-api/retry.js';
import type { BackoffOptions } from '../plugin-api/retry.js';
import { SinkQuarantine } from '../quarantine/outputs.js';
import { BatchReader, recordBytes } from './batch-reader.js';
import { refuseOffPremises } from './off-premises.js';
import type { OffPremisesRefusal } from './off-premises.js';
import { sendWithTimeout } from './send.js';

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
  /**
   * a send that has not settled after this long is a failure (default 30 s); `null`: no timeout, the
   * send is awaited (the gateway passes the output's declaration, `OutputCapabilities.sendTimeoutMs`)
   */
  sendTimeoutMs?: number | null;
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
  /**
   * set while the sink refuses every record because of its configuration (`SinkConfigError`): the reason,
   * what to fix and when it started; null once a send succeeds
   */
  configFailure: { reason: string; message: string; action: string; sinceMs: number } | null;
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

/** Beyond this many unsettled timed-out sends, the forwarder waits instead of piling up more. */
const MAX_ABANDONED_SENDS = 4;

export class Forwarder {
  readonly name: string;
  private readonly buffer: RecordBuffer;
  private readonly output: OutputPlugin;
  private readonly log: Logger;
  private readonly batches: BatchReader;
  private readonly backoff: BackoffOptions;
  private readonly sendTimeoutMs: number | null;
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
  /** the current wait (idle, linger or backoff); stop() and drain() wake it early */
  private readonly sleeper = new Sleeper();
  private lastCursor = 0;
  private lastFailureLogMs = 0;
  private counters = {
    sentRecords: 0,
    sentBytes: 0,
    batches: 0,
    failures: 0,
    consecutiveFailures: 0,
    backoffMs: 0,
    abandonedSends: 0,
    retries: 0,
    quarantinedRecords: 0,
    permanentFailures: 0,
    offPremisesRefused: 0,
  };
  private readonly premises: 'on' | 'off';
  private readonly onOffPremisesRefused: ((refusal: OffPremisesRefusal) => void) | undefined;
  private readonly errorsByKind: Record<string, number> = {};
  private readonly quarantine: SinkQuarantine | undefined;
  private lastError: { message: string; atMs: number } | null = null;
  private configFailure: ForwarderStats['configFailure'] = null;

  constructor(opts: ForwarderOptions) {
    this.name = opts.name;
    this.buffer = opts.buffer;
    this.output = opts.output;
    this.log = opts.log.child({ sink: opts.name, forwarder: true });
    const linger = opts.linger ?? 0;
    if (!Number.isFinite(linger) || linger < 0) {
      throw new RangeError(`forwarder option linger: expected a non-negative number of ms, got ${opts.linger}`);
    }
    this.batches = new BatchReader(
      opts.buffer,
      opts.name,
      positive(opts.batchSize ?? 500, 'batchSize'),
      positive(opts.batchBytes ?? 8 * 1024 * 1024, 'batchBytes'),
      linger,
    );
    this.backoff = opts.backoff ?? { initialMs: 500, maxMs: 60_000 };
    positive(this.backoff.initialMs, 'backoff.initialMs');
    if (this.backoff.maxMs < this.backoff.initialMs) {
      throw new RangeError(`forwarder ${opts.name}: backoff.maxMs (${this.backoff.maxMs}) < backoff.initialMs`);
    }
    this.sendTimeoutMs = opts.sendTimeoutMs === null ? null : positive(opts.sendTimeoutMs ?? 30_000, 'sendTimeoutMs');
    this.stopTimeoutMs = positive(opts.stopTimeoutMs ?? 10_000, 'stopTimeoutMs');
    this.idlePollMs = positive(opts.idlePollMs ?? 5_000, 'idlePollMs');
    this.failureLogIntervalMs = opts.failureLogIntervalMs ?? 60_000;
    this.quarantine =
      opts.dataDir === undefined ? undefined : new SinkQuarantine(opts.dataDir, opts.name, opts.quarantineMaxBytes ?? 64 * 1024 * 1024, this.log, opts.sealer);
    this.premises = opts.premises ?? 'off';
    this.onOffPremisesRefused = opts.onOffPremisesRefused;
  }

  start(): void {
    if (this.loop !== undefined) return;
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
    this.sleeper.wake();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      loop.then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), this.stopTimeoutMs);
      }),
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
    this.sleeper.wake();
  }

  stats(): ForwarderStats {
    return {
      sink: this.name,
      state: this.state,
      cursor: this.readCursor(),
      ...this.counters,
      errorsByKind: { ...this.errorsByKind },
      lastError: this.lastError,
      configFailure: this.configFailure,
      ...this.lag(),
    };
  }

  private lag(): { lagRecords: number; lagSeconds: number } {
    try {
      const lagRecords = this.buffer.lag(this.name).records;
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
    const stopping = () => this.stopping;
    const batches = this.batches;
    while (!this.stopping && current()) {
      if (this.counters.abandonedSends >= MAX_ABANDONED_SENDS) {
        batches.dropAhead();
        // a hanging sink: do not pile up more unsettled sends (each holds a batch in memory)
        await this.backOff(
          new SinkTimeoutError(`sink ${this.name}: ${this.counters.abandonedSends} timed-out sends still unsettled; waiting before retrying`),
          false,
        );
        continue;
      }
      let batch: StoredRecord[];
      try {
        batch = batches.next();
      } catch (err) {
        if (this.stopping) break;
        await this.backOff(err);
        continue;
      }
      if (batch.length === 0) {
        this.state = 'idle';
        await this.waitForAppend(this.idlePollMs);
        continue;
      }
      const lingerMs = batches.lingerLeft(batch, this.draining);
      if (lingerMs > 0) {
        batches.dropAhead(); // re-read after the wait
        this.state = 'lingering';
        await this.linger(lingerMs);
        continue;
      }
      // enforcement in depth: whatever routed them here, an off-premises sink gets no sensitive/confidential record
      const toSend = this.premises === 'off' ? refuseOffPremises(batch, this.name, this.log, this.counters, this.onOffPremisesRefused) : batch;
      this.state = 'sending';
      if (this.counters.consecutiveFailures > 0) this.counters.retries++;
      let refused: StoredRecord[] = [];
      try {
        if (toSend.length > 0) {
          const sending = sendWithTimeout(this.output, this.name, toSend, this.sendTimeoutMs, this.counters);
          sending.catch(() => undefined); // awaited just below; only to not count as unhandled meanwhile
          if (batches.shouldReadAhead(batch)) await batches.readAhead(batch, stopping);
          await sending;
        }
      } catch (err) {
        batches.dropAhead();
        if (!current()) return;
        if (!(err instanceof SinkPermanentError) || !(await this.quarantineRefused(toSend, err))) {
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
        batches.dropAhead();
        await this.backOff(err);
        continue;
      }
      this.lastCursor = lastSeq;
      this.onSuccess(refused.length === 0 ? toSend : toSend.filter((r) => !refused.includes(r)));
    }
    if (current()) this.state = 'stopped';
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
    if (this.configFailure) this.log.info({ reason: this.configFailure.reason }, 'sink configuration problem resolved; delivering again');
    this.configFailure = null;
  }

  /**
   * Keep the records a sink refused for good in its quarantine folder, then count and log at error.
   * Returns false when there is no quarantine folder or the write failed: the batch is then retried,
   * never skipped unrecorded.
   */
  private async quarantineRefused(batch: StoredRecord[], err: SinkPermanentError): Promise<boolean> {
    const seqs = err.seqs ? new Set(err.seqs) : undefined;
    const refused = seqs ? batch.filter((r) => seqs.has(r.seq)) : batch;
    if (!this.quarantine) {
      this.log.error({ err }, 'sink refused records permanently but the forwarder has no data folder to quarantine them; retrying');
      return false;
    }
    if (!(await this.quarantine.keep(refused, err))) return false;
    // counted here once kept; a refusal that could not be kept is counted by backOff with the retry
    this.countError(err);
    const c = this.counters;
    c.quarantinedRecords += refused.length;
    c.permanentFailures++;
    this.lastError = { message: err.message, atMs: Date.now() };
    this.log.error(
      {
        err,
        reason: err.reason,
        records: refused.length,
        firstSeq: refused[0]?.seq,
        lastSeq: refused[refused.length - 1]?.seq,
        dir: this.quarantine.dir,
        quarantinedRecords: c.quarantinedRecords,
      },
      'sink refused records permanently; quarantined them and moved on',
    );
    return true;
  }

  private countError(err: unknown): void {
    const reason = (err as { reason?: unknown } | null)?.reason;
    const kind = typeof reason === 'string' && reason ? reason : err instanceof LayerGateError ? err.code : (err as Error | null)?.name || 'error';
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
      err: error,
      consecutiveFailures: c.consecutiveFailures,
      backoffMs: c.backoffMs,
      cursor: this.lastCursor,
    };
    const config = error instanceof SinkConfigError ? error : undefined;
    // a configuration failure is not a blip that heals itself: it starts (or keeps) the sink failing
    if (config) this.configFailure = { reason: config.reason, message: config.message, action: config.action, sinceMs: this.configFailure?.sinceMs ?? now };
    else if (countAsFailure) this.configFailure = null;
    const firstOfKind = c.consecutiveFailures <= 1 || (config !== undefined && this.configFailure?.sinceMs === now);
    if (firstOfKind || now - this.lastFailureLogMs >= this.failureLogIntervalMs) {
      this.lastFailureLogMs = now;
      if (config) {
        // at error, with what to fix: someone must act, the records wait in the buffer until they do
        this.log.error(
          {
            ...fields,
            reason: config.reason,
            action: config.action,
            lagRecords: this.lag().lagRecords,
            since: new Date(this.configFailure!.sinceMs).toISOString(),
          },
          `sink refuses every record because of its configuration (${config.reason}); records stay in the buffer and are retried. Fix: ${config.action}`,
        );
      } else {
        this.log.warn(fields, c.consecutiveFailures <= 1 ? 'send failed; retrying with backoff' : 'sink still failing');
      }
    } else {
      this.log.debug(fields, 'send failed again');
    }
    if (this.stopping) return;
    this.state = 'backing-off';
    await this.sleeper.sleep(c.backoffMs);
  }

  /** Wait for the next 'append', at most `timeoutMs`. */
  /**
   * A partial batch of young records waits for its deadline, or until a full batch is pending, or a
   * stop or drain. Appends wake the wait only to compare the sink's lag with a batch (in memory); the
   * batch is read again once, when it is due.
   */
  private async linger(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.stopping && !this.draining) {
      const left = deadline - Date.now();
      if (left <= 0 || this.batches.fullBatchPending()) return;
      await this.waitForAppend(left);
    }
  }

  private waitForAppend(timeoutMs: number): Promise<void> {
    // subscribed synchronously after the read, so no append can slip in between
    return this.sleeper.sleep(timeoutMs, this.buffer, 'append');
  }
}

function positive(n: number, what: string): number {
  if (!Number.isFinite(n) || n <= 0) throw new RangeError(`forwarder option ${what}: expected a positive number, got ${n}`);
  return n;
}
