/**
 * The "connected but silent" watchdog: a subscription that delivers no value change for longer than
 * the silence limit (default 20 x the slowest publishing or sampling interval, at least 10 s) is torn
 * down and made anew by the session loop.
 *
 * Design constraints:
 * - With `whileStates`, silence counts only while the machine is in one of those states (silence
 *   outside a build is normal); the clock restarts when such a state begins.
 */
import type { OpcuaConfig } from './schema.js';

export class SilenceWatchdog {
  /** ms of silence after which the watchdog trips */
  readonly limitMs: number;

  constructor(private readonly config: OpcuaConfig) {
    const slowest = Math.max(
      config.publishingInterval,
      config.samplingInterval,
      ...config.items.map((i) => i.samplingInterval ?? 0),
      ...config.discover.map((d) => d.samplingInterval ?? 0),
    );
    this.limitMs = config.watchdog.silence ?? Math.max(10_000, 20 * slowest);
  }

  /** How often to check (a quarter of the limit, between 50 ms and 1 s). */
  get checkIntervalMs(): number {
    return Math.max(50, Math.min(1000, this.limitMs / 4));
  }

  /**
   * Check a subscription whose last value arrived at `clock.lastDataAt`, the machine being in `state`:
   * the ms of silence when the watchdog trips, else undefined. Outside the watched states the clock is
   * moved to now.
   */
  check(clock: { lastDataAt: number }, state: string | undefined): number | undefined {
    const c = this.config.watchdog;
    const applies = c.whileStates.length === 0 || !this.config.machine.enabled || (state !== undefined && c.whileStates.includes(state));
    if (!applies) {
      clock.lastDataAt = Date.now();
      return undefined;
    }
    const silent = Date.now() - clock.lastDataAt;
    return silent <= this.limitMs ? undefined : silent;
  }
}
