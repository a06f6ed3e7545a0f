/**
 * The end-to-end benchmark's verdicts and tables: each case against its targets (PASS/MISS), the
 * raw client limit beside it (which of the two, gateway or server, limits a sink that falls behind),
 * the MQTT -> Kafka flows against their references, the headroom steps; as console text and as the
 * Markdown of report.md and of the README's benchmark table.
 *
 * Targets:
 *   every case       delivered/offered >= 0.99 and lag not growing
 *   kafka latency    p99 receive -> Kafka ack < 250 ms at W1, < 1 s at W1+W2+W3
 *   memory           peak RSS < 256 MB at W1+W2 with the lake and with Kafka
 *   headroom         >= 3x of W1 and of W2 for Kafka and the lake (with --headroom)
 *   MQTT -> Kafka    JSON scalars: >= 45,000 msg/s and <= 2.0 CPU-s per 100,000 messages;
 *                    4 KiB blocks: >= 0.8 of the bare MQTT.js -> kafkajs bridge
 */
import type { FlowResult } from './mqtt-kafka.js';
import type { RawResult } from './raw.js';
import type { CaseResult } from './run-case.js';
import type { SinkName, WorkloadName } from './workloads.js';

export interface HeadroomResult {
  sink: SinkName;
  workload: 'W1' | 'W2';
  /** the highest scale that passed (0: not even 1x) */
  sustained: number;
  steps: { scale: number; ratio: number; growing: boolean; pass: boolean }[];
}

export interface Verdict {
  pass: boolean;
  what: string;
  detail: string;
}

export const CASE_RATIO = 0.99;

const fmt = (x: number, d = 0): string => (Number.isFinite(x) ? x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : '-');
/** a latency in ms, with its unit (seconds from 10 s on) */
const ms = (x: number): string => (!Number.isFinite(x) ? '-' : x >= 10_000 ? `${fmt(x / 1000, 1)} s` : `${fmt(x, x < 10 ? 1 : 0)} ms`);

export const casePasses = (c: CaseResult): boolean => c.ratio >= CASE_RATIO && !c.lag.growing;

/** What limits a sink that falls behind, with the raw client's rate as the evidence. */
export function limitOf(c: CaseResult, raw: RawResult | undefined): string {
  if (casePasses(c)) return '-';
  if (!raw) return 'no raw measurement';
  if (raw.recordsPerS < c.offered.recordsPerS * 1.05)
    return `server on this machine: the bare client reaches only ${fmt(raw.recordsPerS)}/s of the ${fmt(c.offered.recordsPerS)}/s offered`;
  return `gateway: the bare client writes ${fmt(raw.recordsPerS)}/s (${fmt(raw.recordsPerS / Math.max(1, c.offered.recordsPerS), 1)}x the offered rate) to the same server`;
}

export function verdicts(cases: CaseResult[], raws: RawResult[], flows: FlowResult[], headroom: HeadroomResult[]): Verdict[] {
  const out: Verdict[] = [];
  const rawOf = (c: CaseResult) => raws.find((r) => r.sink === c.sink && r.workload === c.workload);
  for (const c of cases) {
    out.push({
      pass: casePasses(c),
      what: `${c.workload} x ${c.sink}${c.scale !== 1 ? ` (${c.scale}x)` : ''}: delivered/offered >= ${CASE_RATIO} and lag bounded`,
      detail:
        `${fmt(c.ratio, 3)} delivered/offered, lag ${c.lag.growing ? 'growing' : 'bounded'} (${fmt(c.lag.startSeconds, 1)} s -> ${fmt(c.lag.endSeconds, 1)} s)` +
        (casePasses(c) ? '' : `; limit: ${limitOf(c, rawOf(c))}`),
    });
  }
  const p99 = (w: WorkloadName, limitMs: number) => {
    for (const c of cases.filter((x) => x.sink === 'kafka' && x.workload === w && x.scale === 1)) {
      out.push({
        pass: c.latency.receive.p99 < limitMs,
        what: `${w} x kafka: p99 receive -> Kafka ack < ${ms(limitMs)}`,
        detail: `p99 ${ms(c.latency.receive.p99)} (p50 ${ms(c.latency.receive.p50)}, max ${ms(c.latency.receive.max)}, ${fmt(c.latency.receive.n)} records after the warm-up; warm-up included: p99 ${ms(c.latency.receiveWhole.p99)}, max ${ms(c.latency.receiveWhole.max)})`,
      });
    }
  };
  p99('W1', 250);
  p99('W123', 1000);
  for (const c of cases.filter((x) => x.workload === 'W12' && (x.sink === 'lake' || x.sink === 'kafka') && x.scale === 1)) {
    out.push({ pass: c.peakRssMB < 256, what: `W1+W2 x ${c.sink}: peak RSS < 256 MB`, detail: `peak RSS ${fmt(c.peakRssMB)} MB` });
  }
  for (const h of headroom.filter((x) => x.sink === 'kafka' || x.sink === 'lake')) {
    out.push({
      pass: h.sustained >= 3,
      what: `headroom ${h.workload} x ${h.sink} >= 3x`,
      detail: `sustains ${h.sustained}x (${h.steps.map((s) => `${s.scale}x ${s.pass ? 'ok' : `${fmt(s.ratio, 2)}${s.growing ? ' growing' : ''}`}`).join(', ')})`,
    });
  }
  for (const f of flows) {
    if (f.kind === 'json') {
      const g = f.gateway;
      out.push({
        pass: !!g && g.msgPerS >= 45_000,
        what: 'MQTT QoS1 JSON scalars -> Kafka >= 45,000 msg/s',
        detail: g ? `${fmt(g.msgPerS)} msg/s (bare MQTT.js -> kafkajs: ${f.bare ? fmt(f.bare.msgPerS) : '-'} msg/s)` : f.errors.join('; '),
      });
      out.push({
        pass: !!g && g.cpuPer100k <= 2.0,
        what: 'MQTT QoS1 JSON scalars -> Kafka <= 2.0 CPU-s per 100,000 messages',
        detail: g ? `${fmt(g.cpuPer100k, 2)} CPU-s per 100,000 (bare: ${f.bare ? fmt(f.bare.cpuPer100k, 2) : '-'})` : f.errors.join('; '),
      });
    } else {
      out.push({
        pass: f.ratio >= 0.8,
        what: '4 KiB blocks MQTT -> Kafka >= 0.8 of bare MQTT.js -> kafkajs',
        detail: `${fmt(f.ratio, 2)} (gateway ${f.gateway ? fmt(f.gateway.msgPerS) : '-'} msg/s, bare ${f.bare ? fmt(f.bare.msgPerS) : '-'} msg/s)${f.errors.length ? `; ${f.errors.join('; ')}` : ''}`,
      });
    }
  }
  return out;
}

export interface Table {
  head: string[];
  rows: string[][];
}

export function caseTable(cases: CaseResult[], raws: RawResult[]): Table {
  const head = [
    'workload',
    'sink',
    'offered/s',
    'delivered/s',
    'delivered/offered',
    'lag start -> end',
    'lag',
    'receive->ack p50/p99/max (after warm-up)',
    'CPU-s per M records',
    'CPU-s per M samples',
    'load CPU-s (OPC-UA server)',
    'peak RSS MB',
    'peak heap/external MB',
    'disk bytes per payload byte',
    'at the sink',
    'raw client/s',
    'gateway/raw',
    'verdict',
  ];
  const rows = cases.map((c) => {
    const raw = raws.find((r) => r.sink === c.sink && r.workload === c.workload);
    return [
      c.scale === 1 ? c.workload : `${c.workload} ${c.scale}x`,
      c.sink,
      fmt(c.offered.recordsPerS),
      fmt(c.deliveredPerS),
      fmt(c.ratio, 3),
      `${fmt(c.lag.startRecords)} / ${fmt(c.lag.startSeconds, 1)} s -> ${fmt(c.lag.endRecords)} / ${fmt(c.lag.endSeconds, 1)} s`,
      c.lag.growing ? 'growing' : 'bounded',
      `${ms(c.latency.receive.p50)} / ${ms(c.latency.receive.p99)} / ${ms(c.latency.receive.max)}`,
      fmt(c.cpu.perMillionRecords, 1),
      c.cpu.perMillionSamples === null ? '-' : fmt(c.cpu.perMillionSamples, 2),
      `${fmt(c.offered.loadCpuS, 1)}${c.opcuaServer !== null ? ` (${c.opcuaServer}: ${fmt(c.offered.loadCpuByPart.opcua ?? Number.NaN, 1)})` : ''}`,
      fmt(c.peakRssMB),
      `${fmt(c.peakHeapUsedMB)} / ${fmt(c.peakExternalMB)}`,
      fmt(c.disk.perPayloadByte, 1),
      `${fmt(c.atSink.count)} ${c.atSink.unit}${c.atSink.verified ? '' : ' (!)'}`,
      raw ? fmt(raw.recordsPerS) : '-',
      raw ? fmt(c.deliveredPerS / raw.recordsPerS, 2) : '-',
      casePasses(c) ? 'PASS' : 'MISS',
    ];
  });
  return { head, rows };
}

export function flowTable(flows: FlowResult[]): Table {
  const head = ['flow', 'messages', 'gateway msg/s', 'gateway CPU-s per 100k', 'bare msg/s', 'bare CPU-s per 100k', 'gateway/bare', 'reference'];
  const rows = flows.map((f) => [
    f.kind === 'json' ? 'MQTT QoS1 JSON scalars -> Kafka' : 'MQTT QoS1 4 KiB blocks -> Kafka',
    fmt(f.n),
    f.gateway ? fmt(f.gateway.msgPerS) : '-',
    f.gateway ? fmt(f.gateway.cpuPer100k, 2) : '-',
    f.bare ? fmt(f.bare.msgPerS) : '-',
    f.bare ? fmt(f.bare.cpuPer100k, 2) : '-',
    fmt(f.ratio, 2),
    f.kind === 'json' ? '45,000 msg/s, 2.0 CPU-s' : '>= 0.8 of bare',
  ]);
  return { head, rows };
}

export function rawTable(raws: RawResult[]): Table {
  return {
    head: ['sink', 'workload', 'raw client', 'records/s', 'MB/s'],
    rows: raws.map((r) => [r.sink, r.workload, r.what, fmt(r.recordsPerS), fmt(r.bytesPerS / 1e6, 2)]),
  };
}

export function markdown(t: Table): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  return [`| ${t.head.map(esc).join(' | ')} |`, `| ${t.head.map(() => '---').join(' | ')} |`, ...t.rows.map((r) => `| ${r.map(esc).join(' | ')} |`)].join('\n');
}

/** A fixed-width table for the console. */
export function text(t: Table): string {
  const widths = t.head.map((h, i) => Math.max(h.length, ...t.rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  return [line(t.head), widths.map((w) => '-'.repeat(w)).join('  '), ...t.rows.map(line)].join('\n');
}

export function verdictLines(vs: Verdict[]): string[] {
  return vs.map((v) => `${v.pass ? 'PASS' : 'MISS'}  ${v.what}: ${v.detail}`);
}
