/**
 * Where a cloud output keeps things: its local sync store folder and the bucket keys of a build. One
 * place, read by the output (./index.ts) and by the `layergate sync` commands (./sync/control.ts),
 * so the operator's `sync verify` looks for a manifest exactly where the output wrote it.
 */
import path from 'node:path';
import { partitionSegment } from '../shared/layout.js';

/** The local sync store of the cloud output `outputName`. */
export function syncDir(dataDir: string, outputName: string): string {
  return path.join(dataDir, 'sync', outputName);
}

/** The key prefix of every object of one build (an empty build id is the `unknown` partition). */
export function buildPrefix(prefix: string, machine: string, build: string): string {
  return `${prefix}/machine=${partitionSegment(machine)}/build=${partitionSegment(build || undefined)}`;
}

/** The key of a build's manifest. */
export function manifestKey(prefix: string, machine: string, build: string): string {
  return `${buildPrefix(prefix, machine, build)}/manifest.json`;
}
