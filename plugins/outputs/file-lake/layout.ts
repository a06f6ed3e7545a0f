/**
 * The folder layout of the file lake (see index.ts): its tables, the partition folder of a record, and
 * the folders of the earlier layout (one folder per signal) that `layergate lake migrate` moves.
 *
 *   now:      <lake>/<table>/machine=<m>/build=<b>/date=<YYYY-MM-DD>/part-<first>-<last>.<ext>
 *             <lake>/images/machine=<m>/build=<b>/date=<YYYY-MM-DD>/<seq>.<ext>
 *   earlier:  <lake>/<table>/machine=<m>/build=<b>/signal=<s>/part-<first>-<last>.<ext>
 *             <lake>/images/machine=<m>/build=<b>/signal=<s>/<seq>.<ext>
 */
import type { Dirent } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { partitionSegment, utcDate } from '../shared/layout.js';

export type LakeTable = 'scalars' | 'samples' | 'events' | 'raw' | 'frames';

/** The tables, each a folder under the lake's root. */
export const LAKE_TABLES: readonly LakeTable[] = ['scalars', 'samples', 'events', 'raw', 'frames'];

/** The partition folder (relative to a table folder) of a record: machine, build, UTC date of receipt. */
export function lakePartition(machine: string, build: string | undefined, receiveTimeNs: bigint): string {
  return path.join(`machine=${partitionSegment(machine)}`, `build=${partitionSegment(build)}`, `date=${utcDate(receiveTimeNs)}`);
}

async function subfolders(dir: string, prefix: string): Promise<string[]> {
  let entries: Dirent[];
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
    throw err;
  }
  return entries
    .filter((e) => e.isDirectory() && e.name.startsWith(prefix))
    .map((e) => path.join(dir, e.name))
    .sort();
}

/** Folders of the earlier layout: `<table or images>/machine=*` `/build=*` `/signal=*`, absolute. */
export async function oldLayoutFolders(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const top of [...LAKE_TABLES, 'images']) {
    for (const machine of await subfolders(path.join(root, top), 'machine=')) {
      for (const build of await subfolders(machine, 'build=')) out.push(...(await subfolders(build, 'signal=')));
    }
  }
  return out;
}
