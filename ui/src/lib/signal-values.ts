/**
 * Reading GET /api/v1/signals/values for the charts and tables: the query string, the decimated
 * buckets as uPlot columns (x in seconds at the bucket's middle; min and max for the band; the
 * bucket's last value for the line) and a window's statistics.
 *
 * The server decimates (signals.ts): a bucket holds count, min, max and its first and last value,
 * no sum, so a mean over a window is exact only while every bucket holds at most two values (first
 * and last are then all of them); otherwise it is estimated from first and last of each bucket and
 * says so (`meanExact`).
 */
import type { SignalValues, ValueBucket } from '../api/types.js';

export interface TimeRange {
  /** epoch ms */
  from: number;
  to: number;
}

export function valuesPath(q: { source: string; signal: string; range: TimeRange; points: number; channel?: string | null }): string {
  const p = new URLSearchParams({
    source: q.source,
    signal: q.signal,
    from: new Date(q.range.from).toISOString(),
    to: new Date(q.range.to).toISOString(),
    points: String(Math.max(1, Math.min(5000, Math.round(q.points)))),
  });
  if (q.channel) p.set('channel', q.channel);
  return `/api/v1/signals/values?${p.toString()}`;
}

/** a stored value (`v`: numbers, 64-bit integers as text, booleans) as a number to draw, or null */
export function numberOf(v: unknown): number | null {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'string' && v.trim() !== '' && /^[-+0-9.eE]+$/.test(v)) {
    const n = Number(v);
    return Number.isFinite(n) ? n : null;
  }
  return null;
}

export type Columns = [number[], (number | null)[], (number | null)[], (number | null)[]];

/** [x (s), line (last), min, max]: one point per bucket, at the bucket's middle; null between buckets not adjacent */
export function columnsOf(answer: SignalValues): Columns {
  const half = Number(answer.bucketNs) / 2e6;
  const x: number[] = [];
  const line: (number | null)[] = [];
  const lo: (number | null)[] = [];
  const hi: (number | null)[] = [];
  const width = (2 * half) / 1000;
  for (const b of answer.buckets) {
    const at = (Date.parse(b.start) + half) / 1000;
    const before = x[x.length - 1];
    // a stretch without values (between exposures, a pause) is a gap in the line, not a slope
    if (before !== undefined && at - before > 1.5 * width) {
      x.push((before + at) / 2);
      line.push(null);
      lo.push(null);
      hi.push(null);
    }
    x.push(at);
    const last = numberOf(b.last);
    line.push(last);
    lo.push(b.min ?? last);
    hi.push(b.max ?? last);
  }
  return [x, line, lo, hi];
}

export interface WindowStats {
  count: number;
  min: number | null;
  max: number | null;
  mean: number | null;
  meanExact: boolean;
  last: unknown;
  nan: number;
}

/** min, max, mean (see the header) and the last value over all buckets */
export function statsOf(buckets: readonly ValueBucket[]): WindowStats {
  let count = 0;
  let min: number | null = null;
  let max: number | null = null;
  let sum = 0;
  let weight = 0;
  let exact = true;
  let nan = 0;
  let last: unknown = null;
  for (const b of buckets) {
    count += b.count;
    nan += b.nan ?? 0;
    if (b.min !== null && (min === null || b.min < min)) min = b.min;
    if (b.max !== null && (max === null || b.max > max)) max = b.max;
    const f = numberOf(b.first);
    const l = numberOf(b.last);
    const n = b.count - (b.nan ?? 0);
    if (n <= 0) continue;
    if (n === 1 && l !== null) {
      sum += l;
      weight += 1;
    } else if (f !== null && l !== null) {
      sum += ((f + l) / 2) * n;
      weight += n;
      if (n > 2) exact = false;
    }
    last = b.last;
  }
  return { count, min, max, mean: weight > 0 ? sum / weight : null, meanExact: exact, last, nan };
}

/** a value as a short text: numbers with up to 4 significant decimals */
export function valueText(v: unknown): string {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toPrecision(Math.abs(v) >= 1000 ? 7 : 4).replace(/\.?0+$/, '');
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

/** presets of the time range, newest data last */
export const RANGE_PRESETS = [
  { label: 'Last minute', ms: 60_000 },
  { label: 'Last 5 minutes', ms: 5 * 60_000 },
  { label: 'Last 15 minutes', ms: 15 * 60_000 },
  { label: 'Last hour', ms: 60 * 60_000 },
] as const;

export function rangeText(r: TimeRange): string {
  const f = new Date(r.from);
  const t = new Date(r.to);
  const opts: Intl.DateTimeFormatOptions = { hour: '2-digit', minute: '2-digit', second: '2-digit' };
  const span = (r.to - r.from) / 1000;
  return `${f.toLocaleTimeString(undefined, opts)} – ${t.toLocaleTimeString(undefined, opts)} (${span >= 120 ? `${Math.round(span / 60)} min` : `${span.toFixed(span < 10 ? 1 : 0)} s`})`;
}
