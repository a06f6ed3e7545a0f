/**
 * One signal's decimated values over a time range as a uPlot chart: each bucket's min and max as a
 * band, its last value as the line, so every peak of a fast trace is drawn at any zoom. Dragging
 * across the chart selects a narrower range (`onZoom`: the page asks the server again for that
 * range); the range is fixed by the page, not by the data, so an empty stretch shows as empty.
 *
 * The canvas is hidden from screen readers; the caption says the range, the count and min/max.
 * For tests, the chart's box carries `data-points` (the points drawn) and `data-from`/`data-to`.
 * Made again when the theme changes (the key), as RateChart is.
 */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import type { SignalValues } from '../../api/types.js';
import { columnsOf, type TimeRange, valueText } from '../../lib/signal-values.js';

const HEIGHT = 220;

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
}

export function SignalChart({
  id,
  label,
  answer,
  range,
  onZoom,
}: {
  id: string;
  label: string;
  answer: SignalValues | null;
  range: TimeRange;
  onZoom(range: TimeRange): void;
}) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const rangeRef = useRef(range);
  rangeRef.current = range;
  const zoomRef = useRef(onZoom);
  zoomRef.current = onZoom;

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const axis = { stroke: cssVar('--muted'), grid: { stroke: cssVar('--grid'), width: 1 }, ticks: { stroke: cssVar('--grid'), width: 1 } };
    const line = cssVar('--chart-line');
    const u = new uPlot(
      {
        width: Math.max(200, el.clientWidth),
        height: HEIGHT,
        legend: { show: false },
        cursor: { drag: { x: true, y: false, setScale: false }, points: { show: false } },
        scales: {
          x: { time: true, range: () => [rangeRef.current.from / 1000, rangeRef.current.to / 1000] },
          y: {
            range: (_u, min, max) => {
              if (min === null || max === null || !Number.isFinite(min) || !Number.isFinite(max)) return [0, 1];
              const pad = (max - min) * 0.08 || Math.abs(max) * 0.05 || 1;
              return [min - pad, max + pad];
            },
          },
        },
        axes: [
          { ...axis, space: 70 },
          { ...axis, size: 60, values: (_u, ticks) => ticks.map((t) => valueText(t)) },
        ],
        series: [
          {},
          { label: 'last', stroke: line, width: 1.5, points: { show: false }, spanGaps: false },
          { label: 'min', stroke: 'transparent', width: 0, points: { show: false } },
          { label: 'max', stroke: 'transparent', width: 0, points: { show: false } },
        ],
        bands: [{ series: [3, 2], fill: cssVar('--chart-fill') }],
        hooks: {
          setSelect: [
            (self) => {
              const { left, width } = self.select;
              if (width < 4) return;
              const from = self.posToVal(left, 'x') * 1000;
              const to = self.posToVal(left + width, 'x') * 1000;
              self.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
              if (to - from >= 10) zoomRef.current({ from: Math.round(from), to: Math.round(to) });
            },
          ],
        },
      },
      [[], [], [], []],
      el,
    );
    plot.current = u;
    const resize = new ResizeObserver(() => u.setSize({ width: Math.max(200, el.clientWidth), height: HEIGHT }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, []);

  useEffect(() => {
    const u = plot.current;
    const el = box.current;
    if (!u || !el) return;
    const cols = answer ? columnsOf(answer) : ([[], [], [], []] as const);
    u.setData(cols as unknown as uPlot.AlignedData);
    el.dataset.points = String(u.data[0]?.length ?? 0);
    el.dataset.from = new Date(range.from).toISOString();
    el.dataset.to = new Date(range.to).toISOString();
  }, [answer, range]);

  return <div ref={box} class="signal-chart-canvas" id={id} aria-hidden="true" title={`${label}: drag across the chart to zoom in`} data-points="0" />;
}
