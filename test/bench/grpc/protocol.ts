/**
 * Messages between `npm run bench:grpc` (test/bench/grpc.bench.ts, the gateway's process) and its
 * client processes (./stream-client.ts, ./store-client.ts, ./mqtt-publisher.ts), over the IPC channel
 * of test/bench/e2e/children.ts `Child`.
 */
import type { HistogramJson } from '../e2e/histogram.js';

// ---- StreamRecords followers ---------------------------------------------------------------------

export type StreamCommand =
  /** the measured window starts now (the gateway's newest seq at that moment) */
  | { type: 'start'; headSeq: number }
  /** the window ended at `headSeq`: report once every seq up to it was received (or after `graceMs`) */
  | { type: 'stop'; headSeq: number; graceMs: number };

export interface StreamResult {
  /** records that arrived between the client's receipt of 'start' and of 'stop' */
  arrived: number;
  /** ms between the client's receipt of 'start' and of 'stop' */
  windowMs: number;
  /** distinct seqs of (start headSeq, stop headSeq] received (by the end of the grace) */
  covered: number;
  /** ms after 'stop' until the last seq of the window arrived (NaN: not within the grace) */
  caughtUpMs: number;
  /** receive_time_ns -> arrival in the client, ms, records that arrived within the window */
  latency: HistogramJson;
  /** stream errors (a reconnect with after_seq follows each) */
  errors: string[];
  /** the client process's CPU over the window, µs */
  cpuUs: number;
  /** the client process's RSS at the end, bytes */
  rss: number;
}

export type StreamMessage = { type: 'ready' } | { type: 'result'; result: StreamResult } | { type: 'failed'; message: string };

// ---- Store callers ---------------------------------------------------------------------------------

export type StoreCommand = { type: 'go' };

export interface LargeStoreResult {
  /** per payload: ms from the first message written to the gateway's answer */
  ms: number[];
  bytes: number;
  seqs: string[];
}

export interface SmallStoreResult {
  calls: number;
  errors: number;
  errorSamples: string[];
  windowMs: number;
  /** call -> answer, ms */
  latency: HistogramJson;
  cpuUs: number;
}

export type StoreMessage =
  | { type: 'ready' }
  | { type: 'large'; result: LargeStoreResult }
  | { type: 'small'; result: SmallStoreResult }
  | { type: 'failed'; message: string };

// ---- MQTT publisher ---------------------------------------------------------------------------------

export type PublisherCommand = { type: 'go' } | { type: 'stop' };

export type PublisherMessage = { type: 'ready' } | { type: 'done'; published: number; acked: number; ms: number } | { type: 'failed'; message: string };
