/**
 * What a configuration applied to a running gateway changes (`Gateway.apply`): which inputs and
 * outputs are added, removed, changed or left alone, and whether the change can be applied live at all.
 *
 * Constraints:
 * - Live: `inputs`, `outputs`, `classification` and `routing`. Everything else (the data folder, the
 *   buffer's bounds, encryption, audit, the API, the log level) is fixed for the life of the process:
 *   a candidate that changes any of it is refused as a whole, naming each key, and applied by a restart.
 * - An instance is "changed" when anything in its entry differs, its envelope keys (`class`, `classes`,
 *   `kinds`, `linger`, ...) included; equal entries compare equal whatever their key order, so an
 *   unchanged input keeps running (and keeps its session with its server).
 */
import { isDeepStrictEqual } from 'node:util';
import type { Config } from '../config/schema.js';

/** the top-level sections a running gateway takes live */
export const LIVE_SECTIONS = ['inputs', 'outputs', 'classification', 'routing'] as const;

export interface InstanceChanges {
  added: string[];
  removed: string[];
  changed: string[];
  unchanged: string[];
}

export interface ReloadPlan {
  /** keys outside the live sections whose value differs (a non-empty list refuses the apply) */
  needsRestart: string[];
  inputs: InstanceChanges;
  outputs: InstanceChanges;
  /** classification or routing differ */
  policyChanged: boolean;
}

function instanceChanges(from: Record<string, unknown>, to: Record<string, unknown>): InstanceChanges {
  const c: InstanceChanges = { added: [], removed: [], changed: [], unchanged: [] };
  for (const name of Object.keys(from)) {
    if (!(name in to)) c.removed.push(name);
    else if (isDeepStrictEqual(from[name], to[name])) c.unchanged.push(name);
    else c.changed.push(name);
  }
  for (const name of Object.keys(to)) if (!(name in from)) c.added.push(name);
  return c;
}

/** The keys (dotted paths, one level into each section) whose values differ between two objects. */
function differingKeys(from: Record<string, unknown>, to: Record<string, unknown>, prefix: string): string[] {
  const keys = new Set([...Object.keys(from), ...Object.keys(to)]);
  return [...keys].filter((k) => !isDeepStrictEqual(from[k], to[k])).map((k) => `${prefix}${k}`);
}

export function planReload(from: Config, to: Config): ReloadPlan {
  const needsRestart: string[] = [];
  const fixed = Object.keys({ ...from, ...to }).filter((k) => !(LIVE_SECTIONS as readonly string[]).includes(k));
  for (const section of fixed) {
    const a = (from as Record<string, unknown>)[section];
    const b = (to as Record<string, unknown>)[section];
    if (isDeepStrictEqual(a, b)) continue;
    if (a && b && typeof a === 'object' && typeof b === 'object')
      needsRestart.push(...differingKeys(a as Record<string, unknown>, b as Record<string, unknown>, `${section}.`));
    else needsRestart.push(section);
  }
  return {
    needsRestart,
    inputs: instanceChanges(from.inputs, to.inputs),
    outputs: instanceChanges(from.outputs, to.outputs),
    policyChanged: !isDeepStrictEqual(from.classification, to.classification) || !isDeepStrictEqual(from.routing, to.routing),
  };
}

/** Anything to do at all. */
export function planChangesSomething(p: ReloadPlan): boolean {
  const any = (c: InstanceChanges) => c.added.length + c.removed.length + c.changed.length > 0;
  return p.policyChanged || any(p.inputs) || any(p.outputs);
}
