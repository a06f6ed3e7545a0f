/**
 * A small uPlot chart of one series' records/s over the last minutes, with its current value and
 * peak in text beside it (the canvas itself is hidden from screen readers: the text says it).
 *
 * Colours are read from the theme's CSS variables when the chart is made; the chart is made again
 * when the theme changes (`theme` in its key), as uPlot draws on a canvas and cannot follow CSS.
 */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import { rate } from '../lib/format.js';
import { HISTORY_WINDOW_S, type Series } from '../lib/rate-history.js';

const HEIGHT = 110;
const clock = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit' });

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
}

export function RateChart({ id, label, series, version }: { id: string; label: string; series: Series | undefined; version: number }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const axis = { stroke: cssVar('--muted'), grid: { stroke: cssVar('--grid'), width: 1 }, ticks: { stroke: cssVar('--grid'), width: 1 }, size: 36 };
    const u = new uPlot(
      {
        width: Math.max(160, el.clientWidth),
        height: HEIGHT,
        legend: { show: false },
        cursor: { show: false },
        // the whole window always, filling from the right: the chart's width means the same minutes every time
        scales: {
          x: {
            time: true,
            range: (_u, _min, max) => {
              const end = Number.isFinite(max) ? max : Date.now() / 1000;
              return [end - HISTORY_WINDOW_S, end];
            },
          },
          y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.15)] },
        },
        axes: [
          { ...axis, space: 70, values: (_u, ticks) => ticks.map((t) => clock.format(new Date(t * 1000))) },
          { ...axis, size: 44, values: (_u, ticks) => ticks.map((t) => rate(t)) },
        ],
        series: [{}, { label, stroke: cssVar('--chart-line'), fill: cssVar('--chart-fill'), width: 2, points: { show: false } }],
      },
      [series?.t ?? [], series?.v ?? []],
      el,
    );
    plot.current = u;
    const resize = new ResizeObserver(() => u.setSize({ width: Math.max(160, el.clientWidth), height: HEIGHT }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      u.destroy();
      plot.current = null;
    };
    // made once per theme (the key); new data goes through setData below
  }, [label]);

  useEffect(() => {
    plot.current?.setData([series?.t ?? [], series?.v ?? []]);
  }, [series, version]);

  const now = series?.v[series.v.length - 1] ?? 0;
  const peak = series ? Math.max(0, ...series.v) : 0;
  return (
    <figure class="chart" aria-labelledby={`${id}-caption`}>
      <figcaption id={`${id}-caption`}>
        <span class="chart-label">{label}</span>
        <span class="chart-value">
          {rate(now)} records/s <span class="muted">(peak {rate(peak)})</span>
        </span>
      </figcaption>
      <div ref={box} class="chart-canvas" aria-hidden="true" data-samples={series?.t.length ?? 0} />
    </figure>
  );
}
