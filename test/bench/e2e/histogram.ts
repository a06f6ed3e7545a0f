/**
 * A log-bucket latency histogram (HDR-style, about 1 % relative precision): what the end-to-end
 * benchmark records per record, receive -> sink ack and source -> sink ack, in milliseconds.
 *
 * Buckets grow by a factor of 1.01 from 1 µs up; values below 1 µs land in bucket 0. A histogram
 * travels between processes as its non-empty buckets (`toJSON`/`fromJSON`) and merges by adding counts.
 * A percentile is the upper bound of the bucket that holds it (never under-reports), clamped to the
 * largest value seen.
 */

const GROWTH = 1.01;
const LN_GROWTH = Math.log(GROWTH);
/** 1 µs * 1.01^2200 is about 3.3e9 ms: beyond any run */
const BUCKETS = 2200;

export interface HistogramJson {
  /** [bucket index, count] for every non-empty bucket */
  b: [number, number][];
  n: number;
  max: number;
  sum: number;
}

export class LogHistogram {
  private readonly counts = new Float64Array(BUCKETS);
  count = 0;
  max = 0;
  sum = 0;

  /** one value in ms (negative values, e.g. a clock step, count as 0) */
  record(ms: number): void {
    const v = Math.max(ms, 0);
    const us = v * 1000;
    const i = us < 1 ? 0 : Math.min(BUCKETS - 1, 1 + Math.floor(Math.log(us) / LN_GROWTH));
    this.counts[i]!++;
    this.count++;
    this.sum += v;
    if (v > this.max) this.max = v;
  }

  merge(other: LogHistogram | HistogramJson): void {
    const h = other instanceof LogHistogram ? other.toJSON() : other;
    for (const [i, c] of h.b) this.counts[i]! += c;
    this.count += h.n;
    this.sum += h.sum;
    if (h.max > this.max) this.max = h.max;
  }

  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.max = 0;
    this.sum = 0;
  }

  /** the value at quantile q (0..1) in ms; NaN when empty */
  quantile(q: number): number {
    if (this.count === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(this.max, i === 0 ? 0.001 : GROWTH ** i / 1000);
    }
    return this.max;
  }

  mean(): number {
    return this.count === 0 ? Number.NaN : this.sum / this.count;
  }

  toJSON(): HistogramJson {
    const b: [number, number][] = [];
    for (let i = 0; i < BUCKETS; i++) if (this.counts[i]! > 0) b.push([i, this.counts[i]!]);
    return { b, n: this.count, max: this.max, sum: this.sum };
  }

  static fromJSON(h: HistogramJson): LogHistogram {
    const out = new LogHistogram();
    out.merge(h);
    return out;
  }
}
