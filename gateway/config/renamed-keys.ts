/**
 * Keys a plugin renamed (its definition's `renamedKeys`): a config that still uses one is refused at
 * load with one line naming the old key and the new one (`outputs.lake.accepts: renamed to classes`),
 * instead of the schema's generic "unknown key". Nothing is rewritten behind the operator's back: the
 * file they fix is the file that runs.
 */
import type { RenamedKeys } from '../plugin-api/contract.js';
import type { PluginRegistry } from '../runtime/registry.js';
import { formatPath } from './report.js';

export interface RenamedKeyUse {
  /** the config path of the old key, as problems name it */
  path: string;
  problem: string;
}

const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function has(entry: Record<string, unknown>, keyPath: readonly string[]): boolean {
  let at: unknown = entry;
  for (const k of keyPath) {
    if (!isMap(at) || !(k in at)) return false;
    at = at[k];
  }
  return true;
}

/** Every old key the raw (unvalidated) config uses, in file order. */
export function renamedKeyUses(raw: unknown, registry: PluginRegistry): RenamedKeyUse[] {
  if (!isMap(raw)) return [];
  const uses: RenamedKeyUse[] = [];
  for (const section of ['inputs', 'outputs'] as const) {
    const entries = raw[section];
    if (!isMap(entries)) continue;
    for (const [name, entry] of Object.entries(entries)) {
      if (!isMap(entry) || typeof entry.type !== 'string') continue;
      const renamed: RenamedKeys = registry[section].get(entry.type)?.renamedKeys ?? {};
      for (const [old, now] of Object.entries(renamed)) {
        const keyPath = old.split('.');
        if (!has(entry, keyPath)) continue;
        const path = formatPath([section, name, ...keyPath]);
        uses.push({ path, problem: `${path}: renamed to ${now}` });
      }
    }
  }
  return uses;
}
