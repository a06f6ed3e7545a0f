/**
 * Independent reader for the minio and cloud tests: runs ./read_series.py with pyarrow (the venv of
 * test/tools/python.sh) over time-series objects downloaded as they are in the bucket, and returns what
 * it printed. It shares no code with the writer.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const pythonSh = path.join(here, 'python.sh');
const run = promisify(execFile);

export interface SeriesDataset {
  rows: number;
  files: number;
  /** column name -> arrow type as pyarrow prints it */
  schema: Record<string, string>;
  partitions: { machine: string | null; build: string | null; date: string | null }[];
  /** every column (partition columns too): timestamps as int64 ns in decimal strings, binary as hex */
  columns: Record<string, unknown[]>;
  /** rows read with a filter `signal == <signal>` (when a signal was given) */
  rows_of_signal?: number;
}

export interface SeriesDump {
  datasets: Record<string, SeriesDataset>;
  /** by path relative to the root: rows, whether they are in (signal, seq) order, first column's compression */
  files: Record<string, { rows: number; sorted: boolean; compression: string }>;
}

export async function readSeriesWithPyarrow(root: string, signal?: string): Promise<SeriesDump> {
  const args = [path.join(here, 'read_series.py'), root, ...(signal === undefined ? [] : [signal])];
  const { stdout } = await run(pythonSh, args, { maxBuffer: 512 * 1024 * 1024 });
  return JSON.parse(stdout) as SeriesDump;
}
