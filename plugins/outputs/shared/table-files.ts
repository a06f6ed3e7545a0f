/**
 * Reading back the table files the outputs write (Arrow IPC file or Parquet, the tables of
 * plugins/outputs/shared/columns.ts): used by the file lake to merge and check its files, and by tests
 * to read what a sink stored.
 */
import fs from 'node:fs/promises';
import { tableFromIPC } from 'apache-arrow';
import type { Table } from 'apache-arrow';
import * as parquet from 'parquet-wasm';

/** Read a table file an output wrote (Arrow IPC file or Parquet) back into an Arrow table. */
export async function readTableFile(file: string): Promise<Table> {
  const bytes = await fs.readFile(file);
  if (file.endsWith('.parquet')) return tableFromIPC(parquet.readParquet(bytes).intoIPCStream());
  return tableFromIPC(bytes);
}
