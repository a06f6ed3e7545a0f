/**
 * The compactor's merges in a worker thread, so that their CPU (seconds for a group of rollEvery rows)
 * never runs on the gateway's event loop. `workerMerger` starts the thread on the first merge and
 * sends it one job at a time (the compactor runs one merge at a time); `inlineMerger` runs the same
 * job on the calling thread (tests of the merge itself, a lake opened by a command).
 *
 * In a source checkout the modules are TypeScript run through tsx: the worker then registers tsx
 * before it loads this module (the built package runs the compiled .js directly).
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker, parentPort, workerData } from 'node:worker_threads';
import type { Merger } from './compaction.js';
import { runMergeJob } from './merge-job.js';
import type { MergeJob, MergeResult } from './merge-job.js';

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
    const self = import.meta.url;
    // tsx resolved from here, not from the working directory the gateway was started in
    // (its ESM entry: the CommonJS one registers a path that does not exist when run in a worker)
    const tsx = self.endsWith('.ts')
      ? pathToFileURL(
          createRequire(self)
            .resolve('tsx/esm/api')
            .replace(/\.cjs$/, '.mjs'),
        ).href
      : '';
    const w = self.endsWith('.ts')
      ? new Worker(`import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(self)}); });`, {
          eval: true,
          workerData: MERGE_WORKER,
        })
      : new Worker(new URL(self), { workerData: MERGE_WORKER });
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
