/**
 * A plugin that cannot be created or started stops the gateway's start with one PluginStartError
 * naming the plugin instance (`input mqtt (mqtt): ...`, `output lake: could not start: ...`), whichever
 * thread starts it.
 */
import { PluginStartError } from '../plugin-api/errors.js';

/** Run a plugin's factory; its error becomes a PluginStartError naming `what`. */
export function wrapStart<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new PluginStartError(`${what}: ${(err as Error).message ?? String(err)}`, { cause: err });
  }
}

/** Await a plugin's `start`; its error becomes a PluginStartError naming `what`. */
export async function wrapStartAsync(what: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    throw new PluginStartError(`${what}: could not start: ${(err as Error).message ?? String(err)}`, { cause: err });
  }
}
