/**
 * The messages the end-to-end benchmark's processes exchange over their IPC channels: the gateway
 * harness (harness.ts) and the load generators (load.ts) report to the orchestrator (main.ts,
 * run-case.ts), which tells them when to start and stop. Types only.
 */
import type { HistogramJson } from './histogram.js';

/** One sink's figures in a harness sample (the forwarder's stats plus the ack latencies since the last sample). */
export interface SinkSample {
  sink: string;
  state: string;
  cursor: number;
  sentRecords: number;
  sentBytes: number;
  batches: number;
  failures: number;
  /** records the sink refused for good (quarantined) */
  quarantinedRecords: number;
  lagRecords: number;
  lagSeconds: number;
  lastError: string | null;
  /** receive time -> sink ack, ms, records acked since the previous sample */
  receiveToAck: HistogramJson;
  /** source time -> sink ack, ms (records that carry a source time) */
  sourceToAck: HistogramJson;
}

/** What the gateway harness reports once a second. */
export interface HarnessSample {
  type: 'sample';
  /** wall clock, ms */
  t: number;
  /** process.cpuUsage() user + system since the harness started, µs (all threads of the gateway process) */
  cpuUs: number;
  rss: number;
  /** the kernel's peak resident set (VmHWM), bytes */
  peakRss: number;
  /**
   * where the resident set goes, bytes (process.memoryUsage()): the V8 heap in use, and memory of JS
   * objects outside it (Buffers, ArrayBuffers: `external` includes `arrayBuffers`); the rest of RSS is
   * native (SQLite's page cache, the allocator, code); each with its highest value of the samples so far
   */
  mem: { heapUsed: number; heapTotal: number; external: number; arrayBuffers: number };
  peakMem: { heapUsed: number; heapTotal: number; external: number; arrayBuffers: number };
  /** /proc/self/io write_bytes: bytes this process caused to be written to storage */
  writeBytes: number;
  buffer: { records: number; bytes: number; fill: number; evictedRecords: number };
  /** per input: records committed, quarantined messages */
  inputs: Record<string, { records: number; bytes: number; quarantined: number }>;
  /** per input plugin: its own stats() when it has one (e.g. OPC-UA monitored items) */
  inputPlugins: Record<string, Record<string, unknown>>;
  sinks: SinkSample[];
}

export type HarnessMessage = { type: 'ready'; pid: number } | HarnessSample | { type: 'failed'; message: string } | { type: 'stopped'; sample: HarnessSample };

/** orchestrator -> harness: stop the gateway (orderly) and exit */
export type HarnessCommand = { type: 'stop' };

/** What a load generator has offered so far. */
export interface LoadCounts {
  /** messages, value changes or files offered to the gateway */
  units: number;
  /** payload bytes of those units */
  bytes: number;
  /** process.cpuUsage() of the generator, µs */
  cpuUs: number;
}

export type LoadMessage = { type: 'ready'; info?: Record<string, unknown> } | ({ type: 'counts' } & LoadCounts) | { type: 'failed'; message: string };

/** orchestrator -> load generator */
export type LoadCommand = { type: 'start' } | { type: 'counts' } | { type: 'stop' };
