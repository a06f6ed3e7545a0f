/**
 * One StreamRecords follower of `npm run bench:grpc`, a process of its own (so its decoding does not
 * run on the gateway's thread): the package's client (client/ `connectGateway`, TLS trusting exactly
 * the API's certificate, a viewer token), `StreamRecords` with no filter from now on, decoded as
 * plant software gets it (proto-loader objects, 64-bit integers as decimal strings). It keeps every
 * seq it receives (to count which seqs of the measured window arrived) and, for records arriving
 * within the window, the latency receive_time_ns -> arrival here (same machine clock). A stream that
 * ends with an error is resumed with `after_seq` (the last seq received), as a real consumer does;
 * each error is reported.
 *
 * argv: <target> <certFile>; env LG_BENCH_GRPC_TOKEN.
 */
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { connectGateway } from '../../../client/index.js';
import type { StreamRecordsResponse__Output } from '../../../wire/generated/grpc/layergate/v1/StreamRecordsResponse.js';
import { LogHistogram } from '../e2e/histogram.js';
import type { StreamCommand, StreamMessage } from './protocol.js';

const [target, certFile] = process.argv.slice(2);
const send = (m: StreamMessage): void => void process.send?.(m);

const client = connectGateway({ target: target!, token: process.env.LG_BENCH_GRPC_TOKEN ?? '', ca: readFileSync(certFile!) });

let seqs = new Float64Array(1 << 20);
let n = 0;
let lastSeq: number | undefined;
let inWindow = false;
let arrived = 0;
let windowStart = 0;
let windowMs = 0;
let cpuStart: NodeJS.CpuUsage | undefined;
let cpuUs = 0;
const latency = new LogHistogram();
const errors: string[] = [];
let ready = false;
let waitFor: { seq: number; at: number; resolve: () => void } | undefined;
let caughtUpMs = Number.NaN;

const nowMs = (): number => performance.timeOrigin + performance.now();

function follow(): void {
  const req = lastSeq === undefined ? {} : { afterSeq: String(lastSeq) };
  const call = client.raw.StreamRecords(req, new grpc.Metadata());
  call.on('data', (m: StreamRecordsResponse__Output) => {
    const records = m.records?.records;
    if (!records || records.length === 0) return;
    const at = nowMs();
    if (n + records.length > seqs.length) {
      const bigger = new Float64Array(Math.max(seqs.length * 2, n + records.length));
      bigger.set(seqs.subarray(0, n));
      seqs = bigger;
    }
    for (const r of records) {
      const seq = Number(r.seq);
      seqs[n++] = seq;
      lastSeq = seq;
      if (inWindow) latency.record(at - Number(r.receiveTimeNs) / 1e6);
    }
    if (inWindow) arrived += records.length;
    if (!ready) {
      ready = true;
      send({ type: 'ready' });
    }
    if (waitFor && lastSeq !== undefined && lastSeq >= waitFor.seq) {
      caughtUpMs = at - waitFor.at;
      waitFor.resolve();
      waitFor = undefined;
    }
  });
  call.on('error', (e: grpc.ServiceError) => {
    if (e.code === grpc.status.CANCELLED) return;
    errors.push(`${grpc.status[e.code] ?? e.code}: ${e.details}`);
    setTimeout(follow, 100);
  });
}

/** how many of the seqs received lie in (from, to] (seqs arrive increasing) */
function coveredIn(from: number, to: number): number {
  const lowerBound = (x: number): number => {
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (seqs[mid]! <= x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  return lowerBound(to) - lowerBound(from);
}

let startSeq = 0;
process.on('message', (cmd: StreamCommand) => {
  if (cmd.type === 'start') {
    startSeq = cmd.headSeq;
    inWindow = true;
    arrived = 0;
    latency.reset();
    windowStart = nowMs();
    cpuStart = process.cpuUsage();
  } else if (cmd.type === 'stop') {
    inWindow = false;
    windowMs = nowMs() - windowStart;
    const cpu = process.cpuUsage(cpuStart);
    cpuUs = cpu.user + cpu.system;
    const at = nowMs();
    const done = new Promise<void>((resolve) => {
      if (lastSeq !== undefined && lastSeq >= cmd.headSeq) {
        caughtUpMs = 0;
        resolve();
      } else waitFor = { seq: cmd.headSeq, at, resolve };
    });
    void Promise.race([done, new Promise((r) => setTimeout(r, cmd.graceMs))]).then(() => {
      send({
        type: 'result',
        result: {
          arrived,
          windowMs,
          covered: coveredIn(startSeq, cmd.headSeq),
          caughtUpMs,
          latency: latency.toJSON(),
          errors,
          cpuUs,
          rss: process.memoryUsage().rss,
        },
      });
    });
  }
});
process.on('SIGTERM', () => {
  client.close();
  process.exit(0);
});

follow();
