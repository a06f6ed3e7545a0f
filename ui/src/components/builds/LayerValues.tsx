/**
 * A layer's process values over its time window (lib/layers.ts windowOf): every scalar signal's
 * min, max, mean and last in the window, and for sample blocks (melt pool) the same per channel,
 * each asked of GET /api/v1/signals/values at that window (a few requests at a time: the route reads
 * on the gateway's main thread).
 */
import { useEffect, useState } from 'preact/hooks';
import { ApiError, api } from '../../api/client.js';
import type { SignalInfo, SignalValues } from '../../api/types.js';
import { count } from '../../lib/format.js';
import { statsOf, type TimeRange, type WindowStats, valuesPath, valueText } from '../../lib/signal-values.js';
import { TableScroll } from '../TableScroll.js';

/** scalar signals read per layer at most, and channels per sample signal */
const MAX_SCALARS = 40;
const MAX_CHANNELS = 12;
const PARALLEL = 3;
/** buckets per window: small enough that a bucket of a 10 Hz signal holds one or two values (exact mean) */
const POINTS = 200;

interface Row {
  key: string;
  signal: string;
  channel: string | null;
  unit: string | null;
  stats: WindowStats | null;
  error: string | null;
}

const message = (err: unknown): string => (err instanceof ApiError || err instanceof Error ? err.message : String(err));

async function inTurns<T>(items: readonly T[], parallel: number, each: (item: T) => Promise<void>, stale: () => boolean): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length && !stale()) await each(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(parallel, items.length) }, worker));
}

function StatsTable({ caption, rows, channelColumn }: { caption: string; rows: Row[]; channelColumn: boolean }) {
  return (
    <TableScroll label={caption}>
      <table>
        <caption class="visually-hidden">{caption}</caption>
        <thead>
          <tr>
            <th scope="col">{channelColumn ? 'Signal / channel' : 'Signal'}</th>
            <th scope="col" class="num">
              Min
            </th>
            <th scope="col" class="num">
              Max
            </th>
            <th scope="col" class="num">
              Mean
            </th>
            <th scope="col" class="num">
              {channelColumn ? 'Samples' : 'Last'}
            </th>
            <th scope="col">Unit</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.key} data-signal={r.signal}>
              <th scope="row">
                {r.signal}
                {r.channel ? <span class="muted"> / {r.channel}</span> : null}
              </th>
              {r.error ? (
                <td colSpan={5} class="text-bad">
                  {r.error}
                </td>
              ) : !r.stats ? (
                <td colSpan={5} class="muted">
                  …
                </td>
              ) : r.stats.count === 0 ? (
                <td colSpan={5} class="muted">
                  no values in the window
                </td>
              ) : (
                <>
                  <td class="num">{valueText(r.stats.min)}</td>
                  <td class="num">{valueText(r.stats.max)}</td>
                  <td class="num" title={r.stats.meanExact ? undefined : 'estimated from the first and last value of each of the server’s buckets'}>
                    {r.stats.mean === null ? '—' : `${r.stats.meanExact ? '' : '≈ '}${valueText(r.stats.mean)}`}
                  </td>
                  <td class="num">
                    {channelColumn ? `${count(r.stats.count)}${r.stats.nan > 0 ? ` (${count(r.stats.nan)} NaN)` : ''}` : valueText(r.stats.last)}
                  </td>
                  <td>{r.unit ?? ''}</td>
                </>
              )}
            </tr>
          ))}
        </tbody>
      </table>
    </TableScroll>
  );
}

export function LayerValues({ signals, window: win, refresh }: { signals: SignalInfo[]; window: TimeRange; refresh: number }) {
  const [scalars, setScalars] = useState<Row[]>([]);
  const [melt, setMelt] = useState<Row[]>([]);
  const scalarSignals = signals.filter((s) => s.kind === 'scalar').slice(0, MAX_SCALARS);
  const sampleSignals = signals.filter((s) => s.kind === 'samples');
  const names = signals.map((s) => `${s.source}/${s.signal}`).join('\n');

  useEffect(() => {
    let stale = false;
    const isStale = (): boolean => stale;
    // a re-read keeps the rows shown until the new answers replace them
    const rows: Row[] = scalarSignals.map(
      (s) =>
        scalars.find((r) => r.key === `${s.source}\n${s.signal}` && refresh > 0) ?? {
          key: `${s.source}\n${s.signal}`,
          signal: s.signal,
          channel: null,
          unit: null,
          stats: null,
          error: null,
        },
    );
    setScalars(rows);
    void inTurns(
      scalarSignals.map((s, i) => ({ s, i })),
      PARALLEL,
      async ({ s, i }) => {
        let row: Row;
        try {
          const a = await api.get<SignalValues>(valuesPath({ source: s.source, signal: s.signal, range: win, points: POINTS }));
          row = { ...rows[i]!, unit: a.unit, stats: statsOf(a.buckets) };
        } catch (err) {
          row = { ...rows[i]!, error: message(err) };
        }
        if (stale) return;
        rows[i] = row;
        setScalars([...rows]);
      },
      isStale,
    );
    const mrows: Row[] = [];
    const shownMelt = refresh > 0 ? melt : [];
    setMelt(shownMelt);
    void inTurns(
      sampleSignals,
      1,
      async (s) => {
        const ask = (channel: string | null) => api.get<SignalValues>(valuesPath({ source: s.source, signal: s.signal, range: win, points: POINTS, channel }));
        try {
          const first = await ask(null);
          if (stale) return;
          const channels = (first.channels ?? []).slice(0, MAX_CHANNELS);
          const put = (channel: string | null, a: SignalValues): void => {
            mrows.push({ key: `${s.source}\n${s.signal}\n${channel ?? ''}`, signal: s.signal, channel, unit: a.unit, stats: statsOf(a.buckets), error: null });
            // rows of the previous read stay until their channel is read again
            setMelt([...mrows, ...shownMelt.filter((r) => !mrows.some((m) => m.key === r.key))]);
          };
          put(first.channel ?? null, first);
          for (const c of channels) {
            if (c === first.channel) continue;
            const a = await ask(c);
            if (stale) return;
            put(c, a);
          }
        } catch (err) {
          if (stale) return;
          mrows.push({ key: `${s.source}\n${s.signal}`, signal: s.signal, channel: null, unit: null, stats: null, error: message(err) });
          setMelt([...mrows]);
        }
      },
      isStale,
    );
    return () => {
      stale = true;
    };
    // the signal list's names and the window decide what is read
  }, [names, win.from, win.to, refresh]);

  return (
    <div class="layer-values">
      <h3 id="process-values">Process values</h3>
      {scalarSignals.length === 0 ? (
        <p class="muted">No scalar signal in the buffer.</p>
      ) : (
        <StatsTable caption="Process values of the layer" rows={scalars} channelColumn={false} />
      )}
      {signals.filter((s) => s.kind === 'scalar').length > MAX_SCALARS && <p class="muted">The first {MAX_SCALARS} scalar signals are shown.</p>}
      <h3>Melt-pool statistics</h3>
      {sampleSignals.length === 0 ? (
        <p class="muted">No melt-pool (sample block) signal in the buffer.</p>
      ) : melt.length === 0 ? (
        <p class="muted">Reading…</p>
      ) : (
        <StatsTable caption="Melt-pool statistics of the layer" rows={melt} channelColumn />
      )}
    </div>
  );
}
