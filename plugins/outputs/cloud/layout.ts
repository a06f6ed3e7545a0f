/**
 * Where a cloud output keeps things: its local sync store folder and the bucket keys of a build (its
 * manifest, its time-series objects). One place, read by the output (./index.ts, ./compaction.ts) and
 * by the `layergate sync` commands (./sync/control.ts), so the operator's `sync verify` looks for a
 * manifest exactly where the output wrote it.
 */
import path from 'node:path';
import { partitionSegment, seqName, utcDate } from '../shared/layout.js';

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

/**
 * The key of a time-series Parquet object: one per table, build and window (and channel set for
 * samples), all signals inside (a column), under the UTC date of the window's start:
 * `<p>/machine=<m>/build=<b>/timeseries/<table>/date=<YYYY-MM-DD>/part-<first>-<last>[-<channels>].parquet`.
 * `channelsHash`: 8 hex digits naming a samples object's channel set.
 */
export function timeseriesKey(
  prefix: string,
  machine: string,
  o: { build: string; table: string; windowStartMs: number; firstSeq: number; lastSeq: number; channelsHash?: string | undefined },
): string {
  const date = utcDate(BigInt(o.windowStartMs) * 1_000_000n);
  const suffix = o.channelsHash ? `-${o.channelsHash}` : '';
  return `${buildPrefix(prefix, machine, o.build)}/timeseries/${o.table}/date=${date}/part-${seqName(o.firstSeq)}-${seqName(o.lastSeq)}${suffix}.parquet`;
}
