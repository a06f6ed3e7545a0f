/**
 * The lake's batch writes in a long-lived worker thread (batch-job.ts), so that the CPU of a batch
 * (parsing bodies, building and encoding its tables: seconds for 10^6 records) never runs on the
 * gateway's event loop, which the inputs, the buffer and every other forwarder share.
 *
 * Design constraints:
 * - One thread per lake, started with the lake and restarted after a crash. Jobs are handled one at a
 *   time in arrival order (the forwarder sends one batch at a time; a second would queue), so at most
 *   one batch is in the thread's memory.
 * - The batch is moved, not copied: its buffers go in the transfer list (packed-batch.ts).
 * - A crash (an uncaught error, out of memory, the thread terminated) rejects every job in flight with
 *   a SinkSendError, which the forwarder retries: the batch is sent again to a new thread, and files
 *   the crashed one had published are found with the same bytes (kept, not duplicated).
 * - An idle thread does not keep the process alive; one with a job does.
 *
 * The thread is started by gateway/plugin-api/worker-thread.ts (from the TypeScript sources or the built package).
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Worker } from 'node:worker_threads';
import { SinkSendError } from '../../../gateway/plugin-api/index.js';
import { runBatchJob } from './batch-job.js';
import type { BatchJob, BatchResult } from './batch-job.js';
import { startModuleWorker } from '../../../gateway/plugin-api/worker-thread.js';

/** marks the thread this module starts, so that importing it elsewhere (a test runner's worker) does nothing */
const BATCH_WORKER = 'layergate-lake-batch';

/** What the lake's thread is sent (`id` pairs replies with their job): a job, or attributes it asked for. */
export type BatchMessage = { id: number; job: BatchJob } | { id: number; attributes: string[] };

/** What the thread sends back: a job's result or failure, or a request for attributes (packed-batch.ts). */
export type BatchReply =
  | { id: number; ok: true; result: BatchResult }
  | { id: number; ok: false; message: string; code?: string }
  | { id: number; attributesOf: number[] };

/** Runs the lake's batch jobs. */
export interface BatchWriter {
  /** `transfer`: the job's buffers, moved to the thread (unusable by the caller afterwards) */
  run(job: BatchJob, transfer: ArrayBuffer[], attributesOf: (indices: number[]) => string[]): Promise<BatchResult>;
  /** Start the thread now (so the first batch does not wait for it). */
  warm(): void;
  /** Let the jobs in flight finish, then end the thread. */
  close(): Promise<void>;
  /** How long the thread has been busy and idle since it started (its event loop utilization). */
  utilization(): { active: number; idle: number };
}

/**
 * The thread's young generation, MiB: a batch job makes much short-lived garbage (a parsed body per
 * record), which V8's default (larger) young generation lets pile up. At 16 MiB the heap rose by about
 * 27 MiB per 50,000-record batch instead of 42, for no measurable CPU.
 */
const YOUNG_GENERATION_MB = 16;

/** A thread running this module's batch jobs. */
export function startBatchWorker(): Worker {
  return startModuleWorker(import.meta.url, BATCH_WORKER, { resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB } });
}

/** The lake's batch thread. `spawn` starts it (tests give one that crashes). */
export function workerBatchWriter(spawn: () => Worker = startBatchWorker): BatchWriter {
  let worker: Worker | undefined;
  let nextId = 1;
  const pending = new Map<number, { resolve: (r: BatchResult) => void; reject: (e: Error) => void; attributesOf: (indices: number[]) => string[] }>();
  let closing = false;
  /** settles when a job in flight does (close waits for them) */
  const flights = new Set<Promise<void>>();
  /** the busy and idle time of threads that ended */
  const used = { active: 0, idle: 0 };
  const account = (w: Worker) => {
    const elu = w.performance.eventLoopUtilization();
    used.active += elu.active;
    used.idle += elu.idle;
  };

  const crashed = (w: Worker, cause: string) => {
    if (worker !== w) return;
    account(w);
    worker = undefined;
    const jobs = [...pending.values()];
    pending.clear();
    for (const p of jobs) {
      p.reject(new SinkSendError(`file-lake: the batch worker ${cause}; the batch is sent again`, { reason: 'worker-exited' }));
    }
  };

  const start = (): Worker => {
    const w = spawn();
    w.on('message', (reply: BatchReply) => {
      if ('attributesOf' in reply) {
        const p = pending.get(reply.id);
        if (p) w.postMessage({ id: reply.id, attributes: p.attributesOf(reply.attributesOf) } satisfies BatchMessage);
        return;
      }
      const p = pending.get(reply.id);
      pending.delete(reply.id);
      if (pending.size === 0) w.unref(); // idle: the thread does not keep the process alive
      if (!p) return;
      if (reply.ok) p.resolve(reply.result);
      else p.reject(Object.assign(new Error(reply.message), reply.code ? { code: reply.code } : {}));
    });
    w.on('error', (err) => crashed(w, `failed (${err.message})`));
    w.on('exit', (code) => crashed(w, `exited (code ${code})`));
    w.unref();
    return w;
  };

  return {
    run(job: BatchJob, transfer: ArrayBuffer[], attributesOf: (indices: number[]) => string[]): Promise<BatchResult> {
      if (closing) return Promise.reject(new SinkSendError('file-lake: the lake is stopping', { reason: 'stopping' }));
      worker ??= start();
      const w = worker;
      const id = nextId++;
      const result = new Promise<BatchResult>((resolve, reject) => {
        pending.set(id, { resolve, reject, attributesOf });
        w.ref(); // a job in flight keeps the process alive
        w.postMessage({ id, job } satisfies BatchMessage, transfer);
      });
      const flight = result.then(
        () => undefined,
        () => undefined,
      );
      flights.add(flight);
      void flight.then(() => flights.delete(flight));
      return result;
    },
    warm(): void {
      closing = false;
      worker ??= start();
    },
    async close(): Promise<void> {
      closing = true;
      const w = worker;
      if (!w) return;
      await Promise.allSettled(flights);
      if (worker !== w) return; // it crashed meanwhile
      worker = undefined;
      account(w);
      w.removeAllListeners('exit');
      await w.terminate();
    },
    utilization() {
      const elu = worker?.performance.eventLoopUtilization();
      return { active: used.active + (elu?.active ?? 0), idle: used.idle + (elu?.idle ?? 0) };
    },
  };
}

if (workerData === BATCH_WORKER && parentPort) {
  const port = parentPort;
  const asked = new Map<number, (attributes: string[]) => void>();
  // one job at a time, in arrival order: at most one batch in this thread's memory
  let queue = Promise.resolve();
  port.on('message', (message: BatchMessage) => {
    const { id } = message;
    if ('attributes' in message) {
      asked.get(id)?.(message.attributes);
      asked.delete(id);
      return;
    }
    const attributesOf = (indices: number[]) =>
      new Promise<string[]>((resolve) => {
        asked.set(id, resolve);
        port.postMessage({ id, attributesOf: indices } satisfies BatchReply);
      });
    queue = queue.then(() =>
      runBatchJob(message.job, attributesOf).then(
        (result) => port.postMessage({ id, ok: true, result } satisfies BatchReply),
        (err: unknown) => port.postMessage({ id, ok: false, message: (err as Error).message, code: (err as NodeJS.ErrnoException).code } satisfies BatchReply),
      ),
    );
  });
}
