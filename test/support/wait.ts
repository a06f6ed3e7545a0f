/** Waiting helpers shared by the tests and benchmarks: poll a condition, find a free loopback port. */
import net from 'node:net';

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

type Falsy = undefined | false | null;

/**
 * Poll until check() is truthy and return its value; past the deadline throw, naming what was awaited.
 * An async check is awaited (a pending promise is not a truthy answer).
 */
export async function waitFor<T>(what: string, check: () => T | Falsy | PromiseLike<T | Falsy>, timeoutMs = 30_000, pollMs = 25): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(pollMs);
  }
}

/** A free TCP port on loopback (bind to 0, read it, close). */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}
