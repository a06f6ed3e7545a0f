/**
 * What lies in <dataDir>/quarantine/inputs/, counted per input and reason from the sidecars (for
 * `layergate status` and the CLI). Read-only; the folders are capped, so the read is bounded.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

export interface QuarantineCount {
  input: string;
  reason: string;
  items: number;
  /** raw bytes kept */
  bytes: number;
}

/**
 * The input quarantine, counted per input and reason. Items that were counted but not kept (folder
 * full) appear only in the running gateway's input stats and its log.
 */
export function quarantineSummary(dataDir: string): QuarantineCount[] {
  const root = path.join(dataDir, 'quarantine', 'inputs');
  const counts = new Map<string, QuarantineCount>();
  let inputs: string[];
  try {
    inputs = readdirSync(root);
  } catch {
    return [];
  }
  for (const input of inputs.sort()) {
    let files: string[];
    try {
      files = readdirSync(path.join(root, input)).filter((f) => f.endsWith('.json'));
    } catch {
      continue;
    }
    for (const f of files) {
      let side: { error?: { reason?: string; code?: string; name?: string }; size?: number };
      try {
        side = JSON.parse(readFileSync(path.join(root, input, f), 'utf8'));
      } catch {
        side = { error: { reason: 'unreadable-sidecar' } };
      }
      const reason = side.error?.reason ?? side.error?.code ?? side.error?.name ?? 'error';
      const key = `${input}\0${reason}`;
      const c = counts.get(key) ?? { input, reason, items: 0, bytes: 0 };
      c.items++;
      c.bytes += side.size ?? 0;
      counts.set(key, c);
    }
  }
  return [...counts.values()].sort((a, b) => (a.input === b.input ? (a.reason < b.reason ? -1 : 1) : a.input < b.input ? -1 : 1));
}
