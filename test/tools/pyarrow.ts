/**
 * Independent reader for tests: runs test/tools/read_lake.py with pyarrow (installed by python.sh
 * into .services/pyvenv, pinned in requirements.txt) and returns what it printed. Tests use it to
 * check files written by TypeScript with a reader that shares no code with the writer.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const run = promisify(execFile);

export interface ArrowFileDump {
  rows: number;
  /** column name -> arrow type as pyarrow prints it, e.g. "timestamp[ns, tz=UTC]" */
  schema: Record<string, string>;
  /** timestamps as int64 ns in decimal strings (exact), binary as hex */
  columns: Record<string, unknown[]>;
  /** Parquet files only: per column, compression and encodings as the file's metadata states them */
  parquet?: Record<string, { compression: string; encodings: string[] }>;
}

export interface LakeDump {
  /** by path relative to the lake root */
  files: Record<string, ArrowFileDump>;
  /** each table folder read as a Hive-partitioned dataset (keys from its `key=value` folder names) */
  datasets: Record<
    string,
    {
      rows: number;
      schema: Record<string, string>;
      /** the distinct partitions: partition key (folder name before `=`) -> value, decoded */
      partitions: Record<string, string | null>[];
      /** distinct values of the `signal` column, when the table has one (the file lake's tables) */
      signals?: string[];
    }
  >;
}

/** Create the venv if needed (slow only the first time); call it from a beforeAll with a long timeout. */
export async function setupPython(): Promise<void> {
  await run(path.join(here, 'python.sh'), ['--setup'], { maxBuffer: 16 * 1024 * 1024 });
}

export async function readLakeWithPyarrow(lakeDir: string): Promise<LakeDump> {
  const { stdout } = await run(path.join(here, 'python.sh'), ['read_lake.py', lakeDir], { maxBuffer: 512 * 1024 * 1024 });
  return JSON.parse(stdout) as LakeDump;
}
