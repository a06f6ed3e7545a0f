/**
 * Starting a worker thread from the module that runs in it, the same from the TypeScript sources as
 * from the built package: the gateway's delivery thread (gateway/runtime/delivery-worker.ts) and the
 * file lake's workers (plugins/outputs/file-lake: merge-worker.ts, batch-worker.ts).
 *
 * In a source checkout the modules are TypeScript run through tsx: the worker then registers tsx
 * before it loads the module (the built package runs the compiled .js directly).
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { WorkerOptions } from 'node:worker_threads';

/**
 * A worker thread running the module at `moduleUrl` (its `import.meta.url`), with `workerData` (the
 * module checks it, so that importing the module elsewhere, a test runner's worker, does nothing).
 */
export function startModuleWorker(moduleUrl: string, workerData: unknown, options: Omit<WorkerOptions, 'eval' | 'workerData'> = {}): Worker {
  if (!moduleUrl.endsWith('.ts')) return new Worker(new URL(moduleUrl), { ...options, workerData });
  return new Worker(`${tsxPrelude()}.then(() => import(${JSON.stringify(moduleUrl)}));`, { ...options, eval: true, workerData });
}

/**
 * Code (an expression, a promise) that registers tsx in an eval'd worker. tsx is resolved from here, not
 * from the working directory the gateway was started in (its ESM entry: the CommonJS one registers a
 * path that does not exist when run in a worker).
 */
export function tsxPrelude(): string {
  const tsx = pathToFileURL(
    createRequire(import.meta.url)
      .resolve('tsx/esm/api')
      .replace(/\.cjs$/, '.mjs'),
  ).href;
  return `import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); })`;
}
