/**
 * The compactor's merges in a worker thread, so that their CPU (seconds for a group of rollEvery rows)
 * never runs on the gateway's event loop. `workerMerger` starts the thread on the first merge and
 * sends it one job at a time (the compactor runs one merge at a time); `inlineMerger` runs the same
 * job on the calling thread (tests of the merge itself, a lake opened by a command).
 *
 * The thread is started by gateway/plugin-api/worker-thread.ts (from the TypeScript sources or the built package).
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Worker } from 'node:worker_threads';
import type { Merger } from './compaction.js';
import { runMergeJob } from './merge-job.js';
import type { MergeJob, MergeResult } from './merge-job.js';
import { startModuleWorker } from '../../../gateway/plugin-api/worker-thread.js';

/** marks the thread this module starts, so that importing it elsewhere (a test runner's worker) does nothing */
const MERGE_WORKER = 'layergate-lake-merge';

type Reply = { ok: true; result: MergeResult } | { ok: false; message: string; code?: string };

export function inlineMerger(): Merger {
  return { run: runMergeJob, close: async () => undefined };
}

export function workerMerger(): Merger {
  let worker: Worker | undefined;
  let pending: { resolve: (r: MergeResult) => void; reject: (e: Error) => void } | undefined;
  const fail = (err: Error) => {
    const p = pending;
    pending = undefined;
    worker = undefined;
    p?.reject(err);
  };
  const start = (): Worker => {
    const w = startModuleWorker(import.meta.url, MERGE_WORKER);
    w.on('message', (reply: Reply) => {
      const p = pending;
      pending = undefined;
      w.unref(); // idle: the thread does not keep the process alive

      if (reply.ok) p?.resolve(reply.result);
      else p?.reject(Object.assign(new Error(reply.message), reply.code ? { code: reply.code } : {}));
    });
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`merge worker exited (code ${code})`)));
    w.unref();
    return w;
  };
  return {
    run(job: MergeJob): Promise<MergeResult> {
      if (pending) return Promise.reject(new Error('merge worker busy: one merge at a time'));
      worker ??= start();
      const w = worker;
      return new Promise<MergeResult>((resolve, reject) => {
        pending = { resolve, reject };
        w.ref(); // a merge in progress does
        w.postMessage(job);
      });
    },
    /** Ends the thread; a merge in progress is cancelled (its temp file is left for the next start). */
    async close(): Promise<void> {
      const w = worker;
      if (!w) return;
      w.removeAllListeners('exit');
      fail(new Error('merge cancelled: the lake is stopping'));
      await w.terminate();
    },
  };
}

if (workerData === MERGE_WORKER && parentPort) {
  const port = parentPort;
  port.on('message', (job: MergeJob) => {
    runMergeJob(job).then(
      (result) => port.postMessage({ ok: true, result } satisfies Reply),
      (err: unknown) => port.postMessage({ ok: false, message: (err as Error).message, code: (err as NodeJS.ErrnoException).code } satisfies Reply),
    );
  });
}
