/**
 * The main thread's side of the delivery thread (./delivery-worker.ts): starts it with the outputs to
 * run, moves the buffer's cursors when it posts acks, tells it when the buffer moved on, relays its
 * log lines and audit events, and keeps the forwarders' latest stats for `Gateway.stats()`.
 *
 * Constraints:
 * - The buffer stays the main thread's: only this side writes it (an ack is `buffer.ack` here; a blob
 *   the thread found damaged is read again here, by the buffer's own `readBlob`, whose check writes
 *   the loss ledger and quarantines the file). The thread reads on a connection of its own.
 * - Messages are applied in the order the thread posted them: acks that follow a damaged blob's
 *   report wait for its accounting (an asynchronous read), so its loss names the sinks that had not
 *   received the record rather than none, the skipping sink having acked past it.
 * - News for the thread (the newest seq, the sinks' cursors and lags) is coalesced: however many
 *   appends, acks and evictions happen in one turn of the event loop, one message goes out after it.
 * - A thread that ends without being asked to (a plugin's uncaught error) is logged at error and
 *   started again after `RESTART_DELAY_MS`, from the cursors the buffer holds: records it had sent but
 *   not acked are sent again (at least once). The process itself keeps running; ingest never stops.
 * - `stop()` waits for the thread to stop its forwarders and outputs (each forwarder gives up on a
 *   send after its stop timeout), then ends the thread.
 */
import type { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { RecordBuffer } from '../buffer/types.js';
import type { SinkPosition } from '../forward/buffer-view.js';
import type { ForwarderStats } from '../forward/forwarder.js';
import type { OffPremisesRefusal } from '../forward/off-premises.js';
import { BlobMissingError, PluginStartError } from '../plugin-api/errors.js';
import type { BlobRef } from '../plugin-api/record.js';
import { startModuleWorker } from '../plugin-api/worker-thread.js';
import type { DeliveryOutput, DeliverySetup, FromDelivery, ToDelivery } from './delivery-protocol.js';
import { DELIVERY_WORKER, DELIVERY_WORKER_MODULE } from './delivery-worker.js';

/** after an unexpected end of the thread, wait this long before starting it again */
const RESTART_DELAY_MS = 1_000;
/** beyond the forwarders' own stop timeout, how long `stop()` waits for the thread to answer */
const STOP_MARGIN_MS = 5_000;

export interface DeliveryHostOptions {
  /** the buffer the gateway owns (acks are applied to it) */
  buffer: RecordBuffer;
  setup: Omit<DeliverySetup, 'sinks' | 'newestSeq'>;
  log: Logger;
  onOffPremisesRefused: (refusal: OffPremisesRefusal) => void;
}

export class DeliveryHost {
  private worker: Worker | undefined;
  private readonly buffer: RecordBuffer;
  private readonly log: Logger;
  private forwarders: ForwarderStats[] = [];
  private newsPending = false;
  private stopping = false;
  private stopped: (() => void) | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private readonly onBufferNews = (): void => this.scheduleNews();
  /** a damaged blob's accounting under way, and the acks posted after it, in the order posted */
  private accounting: Promise<void> | undefined;
  /** `reconfigure` requests waiting for the thread's answer */
  private readonly pending = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  private nextRequest = 0;

  private constructor(private readonly opts: DeliveryHostOptions) {
    this.buffer = opts.buffer;
    this.log = opts.log;
  }

  /** Start the thread and its outputs; rejects with a PluginStartError when an output cannot start. */
  static async start(opts: DeliveryHostOptions): Promise<DeliveryHost> {
    const host = new DeliveryHost(opts);
    try {
      await host.spawn();
    } catch (err) {
      host.stopping = true;
      await host.worker?.terminate();
      throw err;
    }
    host.buffer.on('append', host.onBufferNews);
    host.buffer.on('space', host.onBufferNews);
    return host;
  }

  /**
   * A configuration applied live: the thread stops the outputs named in `stop` and starts `start`;
   * the others run on. Rejects with a PluginStartError when one of `start` cannot start (the ones
   * started were stopped again; the ones in `stop` stay stopped: the caller puts back what it wants).
   * A thread started again later (after a crash) runs the outputs as they are after this.
   */
  async reconfigure(stop: readonly string[], start: readonly DeliveryOutput[]): Promise<void> {
    if (!this.worker || this.stopping) throw new PluginStartError('the delivery thread is not running; try again in a moment');
    const id = ++this.nextRequest;
    const answered = new Promise<void>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    this.send({ type: 'reconfigure', id, stop: [...stop], start: [...start], ...this.positions() });
    const kept = this.opts.setup.outputs.filter((o) => !stop.includes(o.name));
    this.forwarders = this.forwarders.filter((f) => !stop.includes(f.sink));
    try {
      await answered;
      this.opts.setup.outputs = [...kept, ...start];
    } catch (err) {
      this.opts.setup.outputs = kept;
      throw err;
    }
  }

  /** Shutdown: the forwarders send partial batches at once. */
  drain(): void {
    this.send({ type: 'drain' });
  }

  /** Stop the forwarders and outputs in the thread, then the thread. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    clearTimeout(this.restartTimer);
    this.buffer.off('append', this.onBufferNews);
    this.buffer.off('space', this.onBufferNews);
    const worker = this.worker;
    if (!worker) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.log.warn('delivery thread did not stop in time; ending it');
        resolve();
      }, this.opts.setup.stopTimeoutMs + STOP_MARGIN_MS);
      this.stopped = () => {
        clearTimeout(timer);
        resolve();
      };
      worker.once('exit', () => this.stopped?.());
      this.send({ type: 'stop' });
    });
    await worker.terminate();
    this.worker = undefined;
    // the last acks and accounting land before the gateway closes the buffer
    await this.accounting;
  }

  /** Each forwarder's stats as the thread last posted them, with the cursor and lag the buffer holds now. */
  stats(): ForwarderStats[] {
    return this.forwarders.map((f) => {
      try {
        const lag = this.buffer.lag(f.sink);
        return { ...f, cursor: this.buffer.cursor(f.sink), lagRecords: lag.records, lagSeconds: lag.records === 0 ? 0 : f.lagSeconds };
      } catch {
        return f; // the buffer is closed (after shutdown)
      }
    });
  }

  private positions(): { newestSeq: number; sinks: SinkPosition[] } {
    const st = this.buffer.stats();
    return {
      newestSeq: st.newestSeq ?? 0,
      sinks: st.sinks.map((s) => ({ sink: s.sink, cursor: s.cursor, lagRecords: s.lagRecords, lagBytes: s.lagBytes })),
    };
  }

  private spawn(): Promise<void> {
    const setup: DeliverySetup & { role: string } = { ...this.opts.setup, ...this.positions(), role: DELIVERY_WORKER };
    const worker = startModuleWorker(DELIVERY_WORKER_MODULE, setup);
    this.worker = worker;
    return new Promise<void>((resolve, reject) => {
      let started = false;
      worker.on('message', (m: FromDelivery) => {
        switch (m.type) {
          case 'started':
            started = true;
            resolve();
            break;
          case 'start-failed':
            reject(new PluginStartError(m.message));
            break;
          default:
            this.onMessage(m);
        }
      });
      worker.on('error', (err) => {
        this.log.error({ err }, 'delivery thread failed');
        if (!started) reject(new PluginStartError(`delivery thread: ${err.message}`, { cause: err }));
      });
      worker.on('exit', (code) => {
        if (this.worker === worker) this.worker = undefined;
        for (const p of this.pending.values())
          p.reject(new PluginStartError(`the delivery thread ended (exit code ${code}) while outputs were being reconfigured`));
        this.pending.clear();
        if (!started) {
          reject(new PluginStartError(`delivery thread ended while starting (exit code ${code})`));
          return;
        }
        if (this.stopping) return;
        this.log.error({ exitCode: code, restartInMs: RESTART_DELAY_MS }, 'delivery thread ended unexpectedly; starting it again');
        this.restartTimer = setTimeout(() => {
          if (this.stopping) return;
          this.spawn().catch((err: unknown) => this.log.error({ err }, 'delivery thread could not start again'));
        }, RESTART_DELAY_MS);
      });
    });
  }

  private onMessage(m: FromDelivery): void {
    switch (m.type) {
      case 'ack':
        // after a damaged blob reported before it: the sink acks past the record it skipped, and the
        // ledger names the sinks that had not received the record only while the cursor is below it
        if (this.accounting !== undefined) this.inOrder(() => this.applyAck(m));
        else this.applyAck(m);
        break;
      case 'stats':
        this.forwarders = m.forwarders;
        break;
      case 'blob-damaged':
        this.inOrder(() => this.accountDamagedBlob(m.ref));
        break;
      case 'off-premises-refused':
        this.opts.onOffPremisesRefused(m.refusal);
        break;
      case 'log':
        this.relayLog(m.line);
        break;
      case 'stopped':
        this.stopped?.();
        break;
      case 'reconfigured': {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (m.error === undefined) p?.resolve();
        else p?.reject(new PluginStartError(m.error));
        break;
      }
    }
  }

  private applyAck(m: Extract<FromDelivery, { type: 'ack' }>): void {
    try {
      this.buffer.ack(m.sink, m.seq);
    } catch (err) {
      this.log.error({ err, sink: m.sink, seq: m.seq }, 'ack from the delivery thread could not be applied');
    }
    if (m.stats) {
      const i = this.forwarders.findIndex((f) => f.sink === m.sink);
      if (i >= 0) this.forwarders[i] = m.stats;
      else this.forwarders.push(m.stats);
    }
    this.scheduleNews();
  }

  /** Run `step` after the steps queued before it (a damaged blob's accounting, the acks that followed it). */
  private inOrder(step: () => void | Promise<void>): void {
    const next = (this.accounting ?? Promise.resolve()).then(step).catch((err: unknown) => this.log.error({ err }, 'delivery thread message failed'));
    this.accounting = next;
    void next.then(() => {
      if (this.accounting === next) this.accounting = undefined;
    });
  }

  /**
   * The owner's own read of a blob the thread found damaged: its check of size and hash is the one that
   * drops the blob's records into the loss ledger ('blob-corrupt') and moves the file to quarantine,
   * so nothing is accounted on the thread's word alone, and a second report of the same blob finds
   * it gone and accounts nothing twice.
   */
  private accountDamagedBlob(ref: BlobRef): Promise<void> {
    return this.buffer.readBlob(ref).then(
      () => this.log.warn({ sha256: ref.sha256 }, 'the delivery thread found a spooled blob damaged, but it reads intact on the main thread'),
      (err: unknown) => {
        // a damaged or gone blob was logged by the buffer itself; anything else is worth a line here
        if ((err as { code?: unknown }).code !== BlobMissingError.code) this.log.error({ err, sha256: ref.sha256 }, 'damaged blob could not be accounted');
      },
    );
  }

  private scheduleNews(): void {
    if (this.newsPending || this.stopping) return;
    this.newsPending = true;
    setImmediate(() => {
      this.newsPending = false;
      if (this.stopping || !this.worker) return;
      try {
        this.send({ type: 'buffer', ...this.positions() });
      } catch (err) {
        this.log.error({ err }, 'buffer news for the delivery thread failed');
      }
    });
  }

  private send(m: ToDelivery): void {
    this.worker?.postMessage(m);
  }

  /** A line of the thread's logger, written through the gateway's (same level, fields and message). */
  private relayLog(line: string): void {
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line) as Record<string, unknown>;
    } catch {
      this.log.warn({ line }, 'delivery thread: unreadable log line');
      return;
    }
    const { level, time: _time, pid: _pid, hostname: _hostname, msg, ...fields } = entry;
    const label = this.log.levels.labels[Number(level)] ?? 'info';
    const write = (this.log as unknown as Record<string, (obj: object, msg?: string) => void>)[label];
    write?.call(this.log, fields, typeof msg === 'string' ? msg : undefined);
  }
}
