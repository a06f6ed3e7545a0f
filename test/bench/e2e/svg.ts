/**
 * One SVG chart per workload, hand-written (no chart library): on the left, offered and delivered
 * records per second for each sink as paired bars (delivered/offered printed above); on the right,
 * each sink's lag (age of the oldest unacked record, s) over the case's time, steady phase and
 * drain, the load's stop marked by a dashed line.
 */
import type { CaseResult } from './run-case.js';

const W = 960;
const H = 380;
const PAD = { top: 48, right: 20, bottom: 64, left: 70 };
const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b'];

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** a "nice" upper bound for an axis */
function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

const short = (x: number): string => (x >= 1e6 ? `${(x / 1e6).toFixed(1)}M` : x >= 1e3 ? `${(x / 1e3).toFixed(x >= 1e4 ? 0 : 1)}k` : x.toFixed(x < 10 ? 1 : 0));

export function workloadChart(title: string, cases: CaseResult[]): string {
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`);

  // ---- left: offered vs delivered per sink
  const lw = W / 2 - PAD.left - 10;
  const lh = H - PAD.top - PAD.bottom;
  const x0 = PAD.left;
  const y0 = PAD.top;
  const maxRate = niceMax(Math.max(1, ...cases.flatMap((c) => [c.offered.recordsPerS, c.deliveredPerS])));
  out.push(`<text x="${x0 + lw / 2}" y="${y0 - 10}" text-anchor="middle">records/s: offered (grey) vs delivered (colour)</text>`);
  for (let k = 0; k <= 4; k++) {
    const y = y0 + lh - (lh * k) / 4;
    out.push(`<line x1="${x0}" x2="${x0 + lw}" y1="${y}" y2="${y}" stroke="#ddd"/>`);
    out.push(`<text x="${x0 - 6}" y="${y + 4}" text-anchor="end">${short((maxRate * k) / 4)}</text>`);
  }
  const slot = lw / Math.max(1, cases.length);
  cases.forEach((c, i) => {
    const bw = Math.min(40, slot / 3);
    const cx = x0 + slot * i + slot / 2;
    const ho = (lh * c.offered.recordsPerS) / maxRate;
    const hd = (lh * c.deliveredPerS) / maxRate;
    out.push(`<rect x="${cx - bw}" y="${y0 + lh - ho}" width="${bw}" height="${ho}" fill="#bbb"/>`);
    out.push(`<rect x="${cx}" y="${y0 + lh - hd}" width="${bw}" height="${hd}" fill="${COLORS[i % COLORS.length]}"/>`);
    const ratio = Number.isFinite(c.ratio) ? c.ratio.toFixed(2) : '-';
    out.push(`<text x="${cx}" y="${y0 + lh - Math.max(ho, hd) - 6}" text-anchor="middle">${ratio}</text>`);
    out.push(`<text x="${cx}" y="${y0 + lh + 16}" text-anchor="middle">${esc(c.sink)}</text>`);
  });
  out.push(`<line x1="${x0}" x2="${x0}" y1="${y0}" y2="${y0 + lh}" stroke="black"/>`);
  out.push(`<line x1="${x0}" x2="${x0 + lw}" y1="${y0 + lh}" y2="${y0 + lh}" stroke="black"/>`);

  // ---- right: lag seconds over time
  const rx0 = W / 2 + PAD.left - 20;
  const rw = W - rx0 - PAD.right;
  const maxT = Math.max(1, ...cases.flatMap((c) => c.timeline.map((p) => p.t)));
  const maxLag = niceMax(Math.max(1, ...cases.flatMap((c) => c.timeline.map((p) => p.lagSeconds))));
  out.push(`<text x="${rx0 + rw / 2}" y="${y0 - 10}" text-anchor="middle">lag: age of the oldest unacked record (s)</text>`);
  for (let k = 0; k <= 4; k++) {
    const y = y0 + lh - (lh * k) / 4;
    out.push(`<line x1="${rx0}" x2="${rx0 + rw}" y1="${y}" y2="${y}" stroke="#ddd"/>`);
    out.push(`<text x="${rx0 - 6}" y="${y + 4}" text-anchor="end">${short((maxLag * k) / 4)}</text>`);
  }
  const tx = (t: number) => rx0 + (rw * t) / maxT;
  const ty = (v: number) => y0 + lh - (lh * v) / maxLag;
  const stop = Math.max(0, ...cases.map((c) => c.durationS));
  out.push(`<line x1="${tx(stop)}" x2="${tx(stop)}" y1="${y0}" y2="${y0 + lh}" stroke="#888" stroke-dasharray="4 3"/>`);
  out.push(`<text x="${tx(stop) + 4}" y="${y0 + 12}" fill="#666">load stops</text>`);
  cases.forEach((c, i) => {
    const pts = c.timeline.map((p) => `${tx(p.t).toFixed(1)},${ty(p.lagSeconds).toFixed(1)}`).join(' ');
    if (pts) out.push(`<polyline points="${pts}" fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="2"/>`);
    out.push(
      `<text x="${rx0 + 8 + i * 80}" y="${H - 18}" fill="${COLORS[i % COLORS.length]}">&#9632; ${esc(c.sink)}${c.lag.growing ? ' (growing)' : ''}</text>`,
    );
  });
  out.push(`<line x1="${rx0}" x2="${rx0}" y1="${y0}" y2="${y0 + lh}" stroke="black"/>`);
  out.push(`<line x1="${rx0}" x2="${rx0 + rw}" y1="${y0 + lh}" y2="${y0 + lh}" stroke="black"/>`);
  out.push(`<text x="${rx0 + rw / 2}" y="${y0 + lh + 16}" text-anchor="middle">s since the load started</text>`);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
