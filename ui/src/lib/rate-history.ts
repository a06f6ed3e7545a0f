/**
 * The last minutes of each input's and output's records/s, kept in the page from the status stream
 * (the API keeps no history): what the dashboard's charts draw and what tells a stalled flow.
 *
 * Bounded: samples older than the window are dropped, so a dashboard left open for days holds a
 * few hundred numbers per series.
 */

export const HISTORY_WINDOW_S = 5 * 60;

export interface Series {
  /** sample times, Unix seconds (uPlot's x axis) */
  t: number[];
  /** records/s at those times */
  v: number[];
  /** when the rate was last above 0 (Unix seconds); null: not since the page opened */
  lastFlowAt: number | null;
  /** when this page first saw the series */
  firstSeenAt: number;
}

export class RateHistory {
  private readonly series = new Map<string, Series>();

  constructor(private readonly windowS = HISTORY_WINDOW_S) {}

  add(key: string, atS: number, value: number): void {
    let s = this.series.get(key);
    if (!s) {
      s = { t: [], v: [], lastFlowAt: null, firstSeenAt: atS };
      this.series.set(key, s);
    }
    s.t.push(atS);
    s.v.push(value);
    if (value > 0) s.lastFlowAt = atS;
    let drop = 0;
    while (drop < s.t.length && s.t[drop]! < atS - this.windowS) drop++;
    if (drop > 0) {
      s.t.splice(0, drop);
      s.v.splice(0, drop);
    }
  }

  get(key: string): Series | undefined {
    return this.series.get(key);
  }

  /** seconds the series has been at 0 (since its last flow, or since the page saw it) */
  quietFor(key: string, nowS: number): number {
    const s = this.series.get(key);
    if (!s) return 0;
    return nowS - (s.lastFlowAt ?? s.firstSeenAt);
  }
}
