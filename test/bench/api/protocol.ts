/**
 * The messages between `npm run bench:api` (test/bench/api.bench.ts) and its API client process
 * (./clients.ts). Types only.
 */
import type { HistogramJson } from '../e2e/histogram.js';

export interface ClientsResult {
  /** from the clients' start (every stream open, every poller answered once) to the stop, ms */
  windowMs: number;
  /** process.cpuUsage() of the client process over that window, µs */
  cpuUs: number;
  polls: {
    /** answered 200 */
    ok: number;
    /** any other answer, or a failed request */
    errors: number;
    /** request sent -> body read, ms */
    latency: HistogramJson;
  };
  sse: {
    /** `status` events received, all streams */
    events: number;
    /** streams that ended or failed before the stop */
    ended: number;
    errors: number;
    /** time between consecutive events of one stream, ms */
    interval: HistogramJson;
    /** |interval - api.statusInterval|, ms */
    jitter: HistogramJson;
  };
  /** the first few error messages */
  errorSamples: string[];
}

export type ClientsMessage = { type: 'ready' } | { type: 'result'; result: ClientsResult } | { type: 'failed'; message: string };

export type ClientsCommand = { type: 'stop' };
