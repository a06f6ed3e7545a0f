/**
 * A deadline on one of node-opcua's promises (connect, disconnect, the trust hint's probe): its
 * calls have no timeout of their own that covers everything they wait for, and the input's
 * reconnect loop must never wait on one for ever.
 */
import { OpcuaTimeoutError } from '../../../gateway/plugin-api/index.js';

/** `p`, or an OpcuaTimeoutError naming `what` once `ms` have passed without its answer. */
export async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_r, reject) => {
        t = setTimeout(() => reject(new OpcuaTimeoutError(`opcua: ${what} timed out after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(t);
  }
}
