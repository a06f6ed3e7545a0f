/**
 * One send to a sink, bounded in time unless the sink's send bounds itself: a send that does not settle
 * within the timeout counts as a failure (`SinkTimeoutError`), so a hanging sink only grows its own lag.
 *
 * Design constraints:
 * - An abandoned send (timed out, still running in the plugin) is counted in `abandonedSends` until it
 *   settles; its late result is ignored, never acked. The forwarder stops piling up more of them past
 *   a limit (each holds a batch in memory).
 * - No timeout (`null`) for an output that declares its send bounded local work
 *   (`OutputCapabilities.sendTimeoutMs`): the send is awaited however long it takes. Abandoning it would
 *   only start the same work again beside it, so a sink that falls behind under load would do it twice.
 * - A plugin that throws synchronously fails the send like one that rejects.
 */
import type { OutputPlugin } from '../plugin-api/contract.js';
import { SinkTimeoutError } from '../plugin-api/errors.js';
import type { StoredRecord } from '../plugin-api/record.js';

/**
 * Send `batch` to `output`; rejects with `SinkTimeoutError` after `timeoutMs`, or with `null` settles
 * only when the plugin's send does.
 */
export function sendWithTimeout(
  output: OutputPlugin,
  sink: string,
  batch: StoredRecord[],
  timeoutMs: number | null,
  counters: { abandonedSends: number },
): Promise<void> {
  if (timeoutMs === null) return startSend(output, batch);
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      counters.abandonedSends++;
      reject(new SinkTimeoutError(`sink ${sink}: send of seq ${batch[0]!.seq}..${batch[batch.length - 1]!.seq} did not settle within ${timeoutMs} ms`));
    }, timeoutMs);
    startSend(output, batch).then(
      () => {
        if (settled) {
          counters.abandonedSends--;
          return;
        }
        settled = true;
        clearTimeout(timer);
        resolve();
      },
      (err: unknown) => {
        if (settled) {
          counters.abandonedSends--;
          return;
        }
        settled = true;
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

/** The plugin's send as a promise: a synchronous throw becomes a rejection. */
function startSend(output: OutputPlugin, batch: StoredRecord[]): Promise<void> {
  try {
    return Promise.resolve(output.send(batch));
  } catch (err) {
    return Promise.reject(err);
  }
}
