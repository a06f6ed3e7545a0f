/**
 * Bandwidth control of the cloud uplink: a token bucket that paces every byte the uploader sends, a
 * schedule that sets the cap by time of day (e.g. 20 Mbit/s during shifts, unlimited at night), and a
 * congestion controller that backs off below the cap when the link is busy with other traffic.
 *
 * Design constraints:
 * - The bucket paces the body bytes as they are written to the socket (`ThrottledFileStream`), not
 *   whole parts: a 16 MiB part sent at link speed and then a long pause would still flood the plant's
 *   uplink for seconds. The burst is kept small (BURST_SECONDS of the rate): a window of W seconds
 *   carries at most cap x (W + 0.2 s). It is not smaller because the bucket credits time the process
 *   was not scheduled only up to the burst: on a busy gateway (GC, other work) a 50 ms burst lost up
 *   to a tenth of the cap.
 * - Rates are bytes per second internally; the config speaks bits per second (what a network
 *   engineer reads on a link), converted in one place (`parseBitRate` in gateway/config/units.ts).
 * - Congestion (AIMD, like TCP's own control): each finished request reports its bytes, its time and
 *   its latency to first response byte. The controller keeps the lowest latency seen as the idle
 *   baseline; a request whose latency is well above it, or whose throughput falls far below what the
 *   bucket allowed (uncapped: the best throughput measured), counts as congestion and multiplies the rate factor by BACKOFF_FACTOR; each
 *   clean request adds RECOVERY_STEP back, up to 1. The effective rate is cap x factor; with no cap
 *   the reference is the best throughput measured. A floor keeps the sync moving however busy the
 *   link is. While a part is on the wire, a small probe request every second measures the round trip
 *   through the link's queue (`observeProbe`), so a queue filled by other traffic (a bloated router
 *   buffer) makes the sync yield within a second or two, not only at the end of a part; a clean probe
 *   gives back half a step. Each tick also compares the bytes the socket took with what the bucket
 *   allowed (`observeInFlight`): a link that drains slower than the cap shows as falling throughput
 *   mid-part, even where its queue is too short for the probe to see. The controller is pure arithmetic on the reported figures, so it is tested directly.
 */
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';

/** seconds of the rate the bucket may hold: small, so short windows stay near the cap too */
export const BURST_SECONDS = 0.2;
/** the bucket never holds less than this many bytes (one write chunk must fit) */
const MIN_BURST_BYTES = 16 * 1024;

export class TokenBucket {
  private rate: number;
  private tokens: number;
  private last: number;
  private readonly now: () => number;

  /** `bytesPerSecond` may be Infinity (no limit). */
  constructor(bytesPerSecond: number, now: () => number = () => performance.now()) {
    this.now = now;
    this.rate = bytesPerSecond;
    this.last = now();
    this.tokens = this.capacity();
  }

  get bytesPerSecond(): number {
    return this.rate;
  }

  setRate(bytesPerSecond: number): void {
    if (bytesPerSecond === this.rate) return;
    this.refill();
    this.rate = bytesPerSecond;
    this.tokens = Math.min(this.tokens, this.capacity());
  }

  private capacity(): number {
    return Number.isFinite(this.rate) ? Math.max(MIN_BURST_BYTES, this.rate * BURST_SECONDS) : Infinity;
  }

  private refill(): void {
    const t = this.now();
    if (Number.isFinite(this.rate)) this.tokens = Math.min(this.capacity(), this.tokens + ((t - this.last) / 1000) * this.rate);
    this.last = t;
  }

  /**
   * Take `n` bytes' worth of tokens; returns how many ms the caller must wait before sending them
   * (0 when they are there). The debt is booked at once, so concurrent takers queue up fairly.
   */
  take(n: number): number {
    if (!Number.isFinite(this.rate)) return 0;
    this.refill();
    this.tokens -= n;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.rate) * 1000;
  }
}

/** One schedule entry: on these weekdays (0 = Sunday; all when absent), from..to local time, this cap. */
export interface ScheduleWindow {
  days?: number[];
  /** "HH:MM" local time */
  from: string;
  /** "HH:MM" local time; before `from` means the window runs past midnight */
  to: string;
  /** bits per second; Infinity = unlimited */
  bitsPerSecond: number;
}

function minutes(hhmm: string): number {
  const m = /^(\d{1,2}):(\d{2})$/.exec(hhmm);
  if (!m || Number(m[1]) > 24 || Number(m[2]) > 59) throw new RangeError(`expected a time of day "HH:MM", got ${JSON.stringify(hhmm)}`);
  return Number(m[1]) * 60 + Number(m[2]);
}

/** The cap in bits per second at `at`: the first matching schedule window, else `defaultBits`. */
export function scheduledCap(schedule: readonly ScheduleWindow[], defaultBits: number, at: Date = new Date()): number {
  const minute = at.getHours() * 60 + at.getMinutes();
  const day = at.getDay();
  for (const w of schedule) {
    const from = minutes(w.from);
    const to = minutes(w.to);
    const inside = from <= to ? minute >= from && minute < to : minute >= from || minute < to;
    // a window past midnight belongs to the day it started on
    const startDay = from > to && minute < to ? (day + 6) % 7 : day;
    if (inside && (!w.days || w.days.includes(startDay))) return w.bitsPerSecond;
  }
  return defaultBits;
}

/** What one finished request tells the controller. */
export interface TransferSample {
  bytes: number;
  /** ms from the first body byte to the response */
  durationMs: number;
  /** ms from the last body byte written to the response headers (server + path latency) */
  latencyMs: number;
  /** the bucket's rate while it ran, bytes/s (Infinity when uncapped) */
  allowedBytesPerSecond: number;
}

export const BACKOFF_FACTOR = 0.7;
export const RECOVERY_STEP = 0.1;
export const MIN_FACTOR = 0.1;
/** latency above baseline x this (plus LATENCY_SLACK_MS) counts as congestion */
export const LATENCY_RATIO = 3;
export const LATENCY_SLACK_MS = 50;
/** throughput below allowed (uncapped: the best measured) x this counts as congestion (only for transfers long enough to tell) */
export const THROUGHPUT_RATIO = 0.6;
const MIN_SAMPLE_BYTES = 256 * 1024;

export class CongestionController {
  private factorValue = 1;
  private baselineLatencyMs = Infinity;
  private probeBaselineMs = Infinity;
  private bestBytesPerSecond = 0;
  /** congestion events seen (for stats) */
  congestions = 0;

  get factor(): number {
    return this.factorValue;
  }

  get baselineMs(): number {
    return this.baselineLatencyMs;
  }

  /** Feed one finished request; returns whether it counted as congestion. */
  observe(s: TransferSample): boolean {
    const throughput = s.durationMs > 0 ? (s.bytes / s.durationMs) * 1000 : Infinity;
    const latencyHigh = Number.isFinite(this.baselineLatencyMs) && s.latencyMs > this.baselineLatencyMs * LATENCY_RATIO + LATENCY_SLACK_MS;
    this.baselineLatencyMs = Math.min(this.baselineLatencyMs, s.latencyMs);
    // what this transfer should have reached: the bucket's rate, or uncapped the best seen so far
    const reference = Number.isFinite(s.allowedBytesPerSecond) ? s.allowedBytesPerSecond : this.bestBytesPerSecond;
    const slow = s.bytes >= MIN_SAMPLE_BYTES && reference > 0 && throughput < reference * THROUGHPUT_RATIO;
    if (s.bytes >= MIN_SAMPLE_BYTES && Number.isFinite(throughput)) this.bestBytesPerSecond = Math.max(this.bestBytesPerSecond, throughput);
    if (latencyHigh || slow) {
      this.factorValue = Math.max(MIN_FACTOR, this.factorValue * BACKOFF_FACTOR);
      this.congestions++;
      return true;
    }
    this.factorValue = Math.min(1, this.factorValue + RECOVERY_STEP);
    return false;
  }

  /**
   * A latency probe (a tiny request on its own connection while an upload runs): its round trip
   * includes the wait in the bottleneck's queue, so other traffic filling the link shows up within a
   * probe interval instead of at the end of a part. Returns whether it counted as congestion.
   */
  observeProbe(rttMs: number): boolean {
    const high = rttMs > this.probeThresholdMs();
    this.probeBaselineMs = Math.min(this.probeBaselineMs, rttMs);
    if (high) {
      this.factorValue = Math.max(MIN_FACTOR, this.factorValue * BACKOFF_FACTOR);
      this.congestions++;
      return true;
    }
    this.factorValue = Math.min(1, this.factorValue + RECOVERY_STEP / 2);
    return false;
  }

  /**
   * Throughput while a part is on the wire, over the last tick: the socket takes bytes only as fast
   * as the link drains them, so a link slower than the bucket's rate shows here within a tick or
   * two, long before the part ends. It only backs off (recovery comes from clean probes and parts),
   * so a slow link holds the rate down while clean probes keep nudging it back up.
   */
  observeInFlight(bytesPerSecond: number, allowedBytesPerSecond: number): boolean {
    if (!Number.isFinite(allowedBytesPerSecond) || bytesPerSecond >= allowedBytesPerSecond * THROUGHPUT_RATIO) return false;
    this.factorValue = Math.max(MIN_FACTOR, this.factorValue * BACKOFF_FACTOR);
    this.congestions++;
    return true;
  }

  /**
   * The probe round trip above which the link counts as congested (Infinity before a baseline exists).
   * A probe still unanswered past it is judged at once: on a link whose queue is full, tail drops
   * make the probe itself wait for retransmissions, so waiting for its answer would hide the very
   * congestion it is there to see.
   */
  probeThresholdMs(): number {
    return Number.isFinite(this.probeBaselineMs) ? this.probeBaselineMs * LATENCY_RATIO + LATENCY_SLACK_MS : Infinity;
  }

  /** A request failed outright (timeout, reset): back off like congestion. */
  failed(): void {
    this.factorValue = Math.max(MIN_FACTOR, this.factorValue * BACKOFF_FACTOR);
    this.congestions++;
  }

  /** The rate to use, bytes/s: cap x factor; uncapped, the best measured throughput x factor (Infinity at full factor). */
  effectiveRate(capBytesPerSecond: number): number {
    if (Number.isFinite(capBytesPerSecond)) return capBytesPerSecond * this.factorValue;
    if (this.factorValue >= 1 || this.bestBytesPerSecond === 0) return Infinity;
    return this.bestBytesPerSecond * this.factorValue;
  }
}

/** chunk size of paced reads; small enough that pacing is smooth at a few Mbit/s */
const CHUNK_BYTES = 16 * 1024;

/**
 * A byte range of a file as a Readable, paced by a token bucket. `onProgress` gets every chunk's
 * length as it is handed to the socket. `firstByteAt`/`lastByteAt` (performance.now()) are set as
 * the body goes out, for the congestion controller.
 */
export class ThrottledFileStream extends Readable {
  private fh: FileHandle | undefined;
  private pos: number;
  private readonly end: number;
  firstByteAt = 0;
  lastByteAt = 0;

  constructor(
    private readonly file: string,
    start: number,
    length: number,
    private readonly bucket: TokenBucket,
    private readonly onProgress: (bytes: number) => void = () => undefined,
  ) {
    super({ highWaterMark: CHUNK_BYTES });
    this.pos = start;
    this.end = start + length;
  }

  /** bytes of the range not yet handed to the socket */
  get remaining(): number {
    return this.end - this.pos;
  }

  override _construct(callback: (err?: Error | null) => void): void {
    open(this.file, 'r').then(
      (fh) => {
        this.fh = fh;
        callback();
      },
      (err: Error) => callback(err),
    );
  }

  override _read(): void {
    const n = Math.min(CHUNK_BYTES, this.end - this.pos);
    if (n <= 0) {
      this.push(null);
      return;
    }
    const wait = this.bucket.take(n);
    const go = () => {
      const fh = this.fh;
      // destroyed while waiting for tokens (pause, stop, a failed request): nothing more to read
      if (this.destroyed || !fh) return;
      const buf = Buffer.allocUnsafe(n);
      fh.read(buf, 0, n, this.pos)
        .then(({ bytesRead }) => {
          if (bytesRead !== n) throw new Error(`${this.file}: short read at ${this.pos} (${bytesRead} of ${n} bytes); the file changed`);
          this.pos += n;
          const t = performance.now();
          if (this.firstByteAt === 0) this.firstByteAt = t;
          this.lastByteAt = t;
          if (this.destroyed) return;
          this.onProgress(n);
          this.push(buf);
        })
        .catch((err: Error) => {
          if (!this.destroyed) this.destroy(err);
        });
    };
    if (wait > 0) setTimeout(go, wait);
    else go();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    const fh = this.fh;
    this.fh = undefined;
    if (!fh) {
      callback(err);
      return;
    }
    fh.close().then(
      () => callback(err),
      () => callback(err),
    );
  }
}
