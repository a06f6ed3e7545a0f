/**
 * Retry timing for long-lived loops: the one backoff formula and the one cancellable sleep that the
 * forwarder, the cloud uploader and the reconnecting inputs (mqtt, opcua) share.
 *
 * Design constraints:
 * - One formula: capped exponential, `min(maxMs, initialMs * 2^attempt)`; callers that retry against a
 *   shared resource (a sink, the cloud) add full jitter on top (uniform in [0, that ceiling)). Each
 *   caller keeps its own delays and caps; only the arithmetic is shared.
 * - Not the `exponential-backoff` package: it owns the retry loop around one operation, with a fixed
 *   attempt count and sleeps that cannot be cut short. The loops here are long-lived, retry forever,
 *   report their current delay in their stats, and `stop()` must end a backoff sleep at once.
 * - Pure and allocation-free per call (these run once per failure, never per record).
 */

export interface BackoffOptions {
  /** the delay (for full jitter: its upper bound) of the first retry */
  initialMs: number;
  /** cap of the delay, however many failures in a row */
  maxMs: number;
}

/** 2^52 is the last power of two a double holds exactly; more failures than that change nothing. */
const MAX_EXPONENT = 52;

/** Capped exponential backoff: `min(maxMs, initialMs * 2^attempt)` (attempt 0 is the first retry). */
export function exponentialDelay(attempt: number, backoff: BackoffOptions): number {
  return Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(Math.max(0, attempt), MAX_EXPONENT));
}

/** Capped exponential backoff with full jitter: uniform in [0, exponentialDelay(attempt)), whole ms. */
export function fullJitterDelay(attempt: number, backoff: BackoffOptions, random: () => number = Math.random): number {
  return Math.floor(random() * exponentialDelay(attempt, backoff));
}

/** Something that emits a wake-up event (a `RecordBuffer`'s 'append', say). */
export interface WakeSource<E extends string> {
  on(event: E, listener: () => void): unknown;
  off(event: E, listener: () => void): unknown;
}

/**
 * A sleep that another party can cut short: `wake()` ends the sleep in progress (if any) at once; a
 * later sleep is not affected. One owner sleeps at a time (a loop's backoff or idle wait).
 */
export class Sleeper {
  private wakeCurrent: (() => void) | undefined;

  /** Sleep `ms`, or less: until `wake()`, or until `event` fires on `source` when given. */
  sleep<E extends string>(ms: number, source?: WakeSource<E>, event?: E): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        if (source && event) source.off(event, done);
        if (this.wakeCurrent === done) this.wakeCurrent = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      // subscribed synchronously, so an event right after the caller's last check is not missed
      if (source && event) source.on(event, done);
      this.wakeCurrent = done;
    });
  }

  /** End the current sleep now (no-op when none is in progress). */
  wake(): void {
    this.wakeCurrent?.();
  }
}
