/**
 * `npm run bench:e2e`: delivery end to end, from the source to each sink's ack, at the design
 * workloads of shared/DOMAIN.md (W1 process values, W2 melt pool, W3 frames, W1+W2, W1+W2+W3), for
 * each sink (file lake, Kafka, Redis, MinIO, cloud), against the shared servers of the test harness
 * (`npm run services -- up`). Each case runs the gateway as a child process with a config of its own
 * and the load from separate processes (run-case.ts); beside each case the sink's raw client limit is
 * measured in the same run (raw.ts); then the MQTT -> Kafka flows at full speed (mqtt-kafka.ts); with
 * `--headroom` the highest multiple of W1 and W2 each sink sustains. It prints PASS/MISS per target
 * (report.ts) and writes results.json, report.md and one SVG per workload to
 * bench-results/e2e-<timestamp>/ (git-ignored); `--update-readme` regenerates the README's table.
 *
 *   npm run bench:e2e                                          (all cases, 30 s each: about 30 min)
 *   npm run bench:e2e -- --sinks lake,kafka --workloads W1 --duration 20s
 *   npm run bench:e2e -- --duration 10m --update-readme         (the 10-minute claim)
 *   npm run bench:e2e -- --headroom --sinks kafka,lake --no-flows
 * Options: --sinks, --workloads, --duration, --drain (drain timeout), --scale, --headroom,
 * --headroom-duration, --headroom-max, --raw-seconds (0: no raw baselines), --no-flows, --flows-only,
 * --flow-messages, --update-readme, --readme-from RESULTS_JSON, --keep (keep each case's temp folder), --compiled (the gateway from a
 * tsc build, without the tsx loader: memory as a plant sees it), --out DIR, --set SINK.KEY=VALUE,
 * --opcua-server milo|node-opcua (W1's OPC-UA load server: Eclipse Milo in a JVM by default, a tenth of
 * the CPU node-opcua needs for 50,000 changes/s, so the load generator leaves the gateway its core).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import { buildGateway } from './children.js';
import { setOutputOverride } from './config.js';
import { runFlow } from './mqtt-kafka.js';
import type { FlowResult } from './mqtt-kafka.js';
import { rawBaseline } from './raw.js';
import type { RawResult } from './raw.js';
import { updateReadme } from './readme.js';
import { caseTable, casePasses, flowTable, markdown, rawTable, text, verdictLines, verdicts } from './report.js';
import type { HeadroomResult } from './report.js';
import { runCase } from './run-case.js';
import type { CaseResult } from './run-case.js';
import { serversDown } from './sinks.js';
import { workloadChart } from './svg.js';
import { MILO_VERSION } from '../support/milo-opcua/milo-opcua.js';
import { OPCUA_SERVERS, SINKS, WORKLOADS, describeWorkload, partsOf, sinkTakes } from './workloads.js';
import type { OpcuaServerName, SinkName, WorkloadName } from './workloads.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

function seconds(v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(v.trim());
  if (!m) throw new InvalidArgumentError(`expected a duration like 30s, 10m, got ${v}`);
  const n = Number(m[1]);
  return m[2] === 'ms' ? n / 1000 : m[2] === 'm' ? n * 60 : m[2] === 'h' ? n * 3600 : n;
}

function oneOf<T extends string>(all: readonly T[], what: string) {
  return (v: string): T => {
    if (!all.includes(v as T)) throw new InvalidArgumentError(`unknown ${what} ${v} (known: ${all.join(', ')})`);
    return v as T;
  };
}

/** how the report names W1's OPC-UA load server */
const opcuaServerLabel = (s: OpcuaServerName): string =>
  s === 'milo' ? `Eclipse Milo ${MILO_VERSION} (Java child process of the load generator)` : 'node-opcua (in the load generator process)';

function listOf<T extends string>(all: readonly T[], what: string) {
  return (v: string): T[] => {
    const xs = v.split(',').map((x) => x.trim()) as T[];
    for (const x of xs) if (!all.includes(x)) throw new InvalidArgumentError(`unknown ${what} ${x} (known: ${all.join(', ')})`);
    return xs;
  };
}

const program = new Command('bench:e2e')
  .option('--sinks <list>', `sinks (${SINKS.join(',')})`, listOf(SINKS, 'sink'))
  .option('--workloads <list>', `workloads (${WORKLOADS.join(',')}); default all, W12 with the lake and Kafka only`, listOf(WORKLOADS, 'workload'))
  .option('--duration <d>', 'steady phase of each case', seconds, 30)
  .option('--drain <d>', 'longest wait for the sinks to catch up after the load stops', seconds, 15)
  .option('--scale <x>', 'multiple of the design rates', Number, 1)
  .option('--headroom', 'step the scale of W1 and W2 (1, 2, 3, ...) per sink until a step misses')
  .option('--headroom-duration <d>', 'steady phase of a headroom step', seconds, 20)
  .option('--headroom-max <n>', 'highest scale tried', Number, 6)
  .option('--raw-seconds <s>', 'length of each raw client baseline (0: none)', Number, 3)
  .option('--no-flows', 'skip the MQTT -> Kafka flows')
  .option('--flows-only', 'only the MQTT -> Kafka flows')
  .option('--flow-messages <n>', 'messages of the JSON flow (the 4 KiB flow sends a tenth)', Number, 200_000)
  .option('--update-readme', "regenerate the README's end-to-end table")
  .option('--readme-from <results.json>', "regenerate the README's end-to-end table from a finished run's results.json, and run nothing")
  .option('--keep', "keep each case's temp folder (config, logs, data)")
  .option('--compiled', 'run the gateway from a tsc build with plain node, as a plant does (memory figures; children.ts)')
  .option('--out <dir>', 'results folder (default bench-results/e2e-<timestamp>)')
  .option(
    '--opcua-server <name>',
    `W1's OPC-UA load server: ${OPCUA_SERVERS.join(' or ')} (Eclipse Milo, a JVM child process, takes about a tenth of the CPU node-opcua needs)`,
    oneOf(OPCUA_SERVERS, 'OPC-UA server'),
    'milo',
  )
  .option(
    '--set <sink.key=value>',
    'a sink setting over its default, repeatable (e.g. kafka.grouping=partition, kafka.batchRecords=2000; the value is JSON or a plain string)',
    setting,
    [],
  );

/** `--set kafka.grouping=partition`: laid over the sink's default output config (config.ts). */
function setting(text: string, previous: string[]): string[] {
  const m = /^([a-z]+)\.([A-Za-z][A-Za-z0-9]*)=(.*)$/.exec(text);
  if (!m || !(SINKS as readonly string[]).includes(m[1]!)) throw new InvalidArgumentError(`expected <sink>.<key>=<value> with a sink of ${SINKS.join(', ')}`);
  let value: unknown = m[3];
  try {
    value = JSON.parse(m[3]!);
  } catch {
    // a plain string
  }
  setOutputOverride(m[1] as SinkName, m[2]!, value);
  return [...previous, text];
}

interface Options {
  sinks?: SinkName[];
  workloads?: WorkloadName[];
  duration: number;
  drain: number;
  scale: number;
  headroom?: boolean;
  headroomDuration: number;
  headroomMax: number;
  rawSeconds: number;
  flows: boolean;
  flowsOnly?: boolean;
  flowMessages: number;
  updateReadme?: boolean;
  readmeFrom?: string;
  keep?: boolean;
  compiled?: boolean;
  out?: string;
  set: string[];
  opcuaServer: OpcuaServerName;
}

const started = Date.now();
const clock = (): string => {
  const s = Math.round((Date.now() - started) / 1000);
  return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
};

async function main(): Promise<void> {
  const o = program.parse().opts<Options>();
  if (o.readmeFrom) {
    const run = JSON.parse(readFileSync(o.readmeFrom, 'utf8')) as {
      startedAt: string;
      options: Options;
      cases: CaseResult[];
      raws: RawResult[];
      flows: FlowResult[];
    };
    writeReadmeTable(
      run.cases.filter((c) => c.scale === run.options.scale),
      run.raws,
      run.flows,
      run.options,
      run.startedAt,
    );
    return;
  }
  if (o.compiled) buildGateway();
  const sinks = o.sinks ?? [...SINKS];
  const workloads = o.workloads ?? [...WORKLOADS];
  // W12 is the memory target's load (the lake and Kafka); W3 routes nothing to the cloud (frames are sensitive)
  const matrix: [WorkloadName, SinkName][] = o.flowsOnly
    ? []
    : workloads.flatMap((w) =>
        sinks
          .filter((s) => o.workloads !== undefined || w !== 'W12' || s === 'lake' || s === 'kafka')
          .filter((s) => partsOf(w).some((p) => sinkTakes(s, p)))
          .map((s): [WorkloadName, SinkName] => [w, s]),
      );
  const down = await serversDown([...new Set([...matrix.map(([, s]) => s), ...(o.flows ? (['kafka'] as const) : [])])], matrix.length > 0);
  if (down.length > 0) {
    console.error(
      `bench:e2e needs the test servers, and these do not answer: ${down.join(', ')}.\nStart them with \`npm run services -- up\` (see README, "Tests and services").`,
    );
    process.exit(2);
  }
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
  const out = o.out ?? path.join(repo, 'bench-results', `e2e-${stamp}`);
  mkdirSync(out, { recursive: true });
  const abort = new AbortController();
  process.on('SIGINT', () => {
    if (abort.signal.aborted) process.exit(130);
    console.log('\ninterrupted: stopping the current case and cleaning up (Ctrl-C again to leave at once)');
    abort.abort();
  });

  const caseS = o.duration + 45 + o.drain / 2 + (o.rawSeconds > 0 ? o.rawSeconds + 3 : 0);
  console.log(
    `bench:e2e: ${matrix.length} case(s) of ${o.duration} s at ${o.scale}x the design rates${o.flows ? ', then the MQTT -> Kafka flows' : ''}${o.headroom ? ', then headroom steps' : ''}; ` +
      `about ${Math.ceil((matrix.length * caseS) / 60)} min for the cases; ${os.cpus().length} CPUs, load average ${os.loadavg()[0]!.toFixed(1)}; results in ${path.relative(process.cwd(), out)}`,
  );
  for (const w of new Set(matrix.map(([w]) => w))) console.log(`  ${describeWorkload(w, o.scale)}`);
  const withOpcua = matrix.some(([w]) => partsOf(w).some((p) => p.part === 'opcua'));
  if (withOpcua) console.log(`  OPC-UA load server: ${opcuaServerLabel(o.opcuaServer)} (--opcua-server)`);

  const cases: CaseResult[] = [];
  const raws: RawResult[] = [];
  const flows: FlowResult[] = [];
  const headroom: HeadroomResult[] = [];
  const failures: string[] = [];
  const loadavg: { case: string; before: number; after: number }[] = [];
  let i = 0;
  for (const [w, s] of matrix) {
    if (abort.signal.aborted) break;
    i++;
    const before = os.loadavg()[0]!;
    const progress = (line: string) => console.log(`[${clock()} ${i}/${matrix.length}] ${line}`);
    try {
      const c = await runCase({
        workload: w,
        sink: s,
        scale: o.scale,
        durationS: o.duration,
        drainTimeoutS: o.drain,
        progress,
        keep: o.keep,
        signal: abort.signal,
        opcuaServer: o.opcuaServer,
      });
      cases.push(c);
      loadavg.push({ case: `${w} x ${s}`, before, after: os.loadavg()[0]! });
      progress(
        `${w} x ${s}: ${casePasses(c) ? 'PASS' : 'MISS'} delivered/offered ${c.ratio.toFixed(3)}, ${Math.round(c.deliveredPerS).toLocaleString('en-US')}/s of ${Math.round(c.offered.recordsPerS).toLocaleString('en-US')}/s offered, lag ${c.lag.growing ? 'growing' : 'bounded'}, p99 ${Math.round(c.latency.receive.p99)} ms; ` +
          `gateway ${c.cpu.seconds.toFixed(1)} CPU-s, load generators ${c.offered.loadCpuS.toFixed(1)} CPU-s${c.opcuaServer !== null ? ` (OPC-UA server ${c.opcuaServer}: ${(c.offered.loadCpuByPart.opcua ?? 0).toFixed(1)})` : ''}`,
      );
      if (o.rawSeconds > 0 && !abort.signal.aborted) {
        progress(`${w} x ${s}: raw client baseline, ${o.rawSeconds} s`);
        raws.push(await rawBaseline(s, w, o.rawSeconds));
      }
    } catch (err) {
      failures.push(`${w} x ${s}: ${(err as Error).message}`);
      progress(`${w} x ${s}: FAILED ${(err as Error).message}`);
    }
  }
  if (o.flows && !abort.signal.aborted) {
    for (const [kind, n] of [
      ['json', o.flowMessages],
      ['block4k', Math.round(o.flowMessages / 10)],
    ] as const) {
      if (abort.signal.aborted) break;
      try {
        flows.push(await runFlow(kind, n, (line) => console.log(`[${clock()}] ${line}`)));
      } catch (err) {
        failures.push(`flow ${kind}: ${(err as Error).message}`);
      }
    }
  }
  if (o.headroom && !abort.signal.aborted) {
    for (const s of sinks) {
      for (const w of ['W1', 'W2'] as const) {
        const h: HeadroomResult = { sink: s, workload: w, sustained: 0, steps: [] };
        for (let scale = 1; scale <= o.headroomMax && !abort.signal.aborted; scale++) {
          const progress = (line: string) => console.log(`[${clock()} headroom] ${line}`);
          try {
            const c = await runCase({
              workload: w,
              sink: s,
              scale,
              durationS: o.headroomDuration,
              drainTimeoutS: o.drain,
              progress,
              signal: abort.signal,
              opcuaServer: o.opcuaServer,
            });
            cases.push(c);
            const pass = casePasses(c);
            h.steps.push({ scale, ratio: c.ratio, growing: c.lag.growing, pass });
            progress(
              `${w} x ${s} at ${scale}x: ${pass ? 'sustained' : 'missed'} (delivered/offered ${c.ratio.toFixed(3)}, lag ${c.lag.growing ? 'growing' : 'bounded'})`,
            );
            if (!pass) break;
            h.sustained = scale;
          } catch (err) {
            failures.push(`headroom ${w} x ${s} ${scale}x: ${(err as Error).message}`);
            break;
          }
        }
        headroom.push(h);
      }
    }
  }

  // ---- report -------------------------------------------------------------------------------------
  const vs = verdicts(cases, raws, flows, headroom);
  const designCases = cases.filter((c) => c.scale === o.scale);
  console.log(`\nend to end, source -> sink ack (steady phase, then drain)${withOpcua ? `; OPC-UA load server: ${opcuaServerLabel(o.opcuaServer)}` : ''}:`);
  console.log(text(caseTable(designCases, raws)));
  if (raws.length) console.log(`\nraw client limits, same run:\n${text(rawTable(raws))}`);
  if (flows.length) console.log(`\nMQTT -> Kafka at full speed:\n${text(flowTable(flows))}`);
  console.log('');
  for (const l of verdictLines(vs)) console.log(l);
  for (const f of failures) console.log(`FAILED  ${f}`);
  console.log(
    `\n${vs.filter((v) => v.pass).length} PASS, ${vs.filter((v) => !v.pass).length} MISS${failures.length ? `, ${failures.length} failed` : ''}; ` +
      `load average now ${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} CPUs (the servers and other work share them)`,
  );

  const charts: string[] = [];
  for (const w of new Set(designCases.map((c) => c.workload))) {
    const file = `${w}.svg`;
    writeFileSync(
      path.join(out, file),
      workloadChart(
        `${describeWorkload(w, o.scale)} (${o.duration} s)`,
        designCases.filter((c) => c.workload === w),
      ),
    );
    charts.push(file);
  }
  const md = [
    `# bench:e2e ${new Date(started).toISOString()}`,
    '',
    `${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), load average ${loadavg.map((l) => l.before.toFixed(1)).join(', ') || '-'} at the start of each case. ` +
      `Steady phase ${o.duration} s per case at ${o.scale}x the design rates, then up to ${o.drain} s of drain.` +
      (withOpcua ? ` OPC-UA load server: ${opcuaServerLabel(o.opcuaServer)}.` : ''),
    '',
    markdown(caseTable(designCases, raws)),
    '',
    ...(raws.length ? ['## Raw client limits (same run)', '', markdown(rawTable(raws)), ''] : []),
    ...(flows.length ? ['## MQTT -> Kafka at full speed', '', markdown(flowTable(flows)), ''] : []),
    ...(headroom.length ? ['## Headroom', '', ...headroom.map((h) => `- ${h.workload} x ${h.sink}: ${h.sustained}x`), ''] : []),
    '## Verdicts',
    '',
    ...verdictLines(vs).map((l) => `- ${l}`),
    ...failures.map((f) => `- FAILED ${f}`),
    '',
    ...charts.map((c) => `![${c}](${c})`),
    '',
  ].join('\n');
  writeFileSync(path.join(out, 'report.md'), md);
  writeFileSync(
    path.join(out, 'results.json'),
    `${JSON.stringify(
      {
        startedAt: new Date(started).toISOString(),
        options: o,
        opcuaServer: withOpcua ? opcuaServerLabel(o.opcuaServer) : null,
        machine: { cpus: os.cpus().length, loadavg },
        cases,
        raws,
        flows,
        headroom,
        verdicts: vs,
        failures,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`\nwrote ${path.relative(process.cwd(), path.join(out, 'report.md'))}, results.json and ${charts.length} chart(s)`);
  if (o.updateReadme) writeReadmeTable(designCases, raws, flows, o, new Date(started).toISOString());
}

/** The README's table between its markers: the main columns of the design cases, and the flows. */
function writeReadmeTable(designCases: CaseResult[], raws: RawResult[], flows: FlowResult[], o: Pick<Options, 'duration' | 'scale'>, startedAt: string): void {
  const table = caseTable(designCases, raws);
  const keep = [
    'workload',
    'sink',
    'offered/s',
    'delivered/offered',
    'lag',
    'receive->ack p50/p99/max (after warm-up)',
    'peak RSS MB',
    'raw client/s',
    'verdict',
  ];
  const idx = keep.map((k) => table.head.indexOf(k));
  const body = [
    `One run of \`npm run bench:e2e\` (${startedAt.slice(0, 10)}, ${o.duration} s per case at ${o.scale}x, ${os.cpus().length} CPUs shared with the servers):`,
    '',
    markdown({ head: keep, rows: table.rows.map((r) => idx.map((j) => r[j]!)) }),
    ...(flows.length ? ['', markdown(flowTable(flows))] : []),
  ].join('\n');
  updateReadme(path.join(repo, 'README.md'), body);
  console.log("updated the README's end-to-end table");
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
