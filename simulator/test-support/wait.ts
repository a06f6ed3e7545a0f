/** Small helpers shared by the simulator's tests (the project's waiting helpers, with a 10 s deadline). */
import { waitFor as waitUntil } from '../../test/support/wait.js';

export { freePort, sleep } from '../../test/support/wait.js';

/** Poll until check() is truthy or the timeout passes (then throw, naming what was awaited). */
export function waitFor<T>(what: string, check: () => T | undefined | false | null, timeoutMs = 10_000, pollMs = 20): Promise<T> {
  return waitUntil(what, check, timeoutMs, pollMs);
}
