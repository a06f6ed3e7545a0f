/**
 * The SQL of the `postgres` output: the versioned migrations that create and evolve its schema, the
 * daily partitions, and the statements a batch runs. No I/O here: ./index.ts runs these.
 *
 * Design constraints:
 * - Migrations are numbered and append-only: a released migration never changes, a change is a new
 *   one. `layergate_schema_version` records each applied number; they run in one transaction under an
 *   advisory lock (several gateways may share a warehouse and start together), and each statement is
 *   idempotent on its own (IF NOT EXISTS), so a half-applied older schema made by hand still migrates.
 * - Partition names are `<table>_p<YYYYMMDD>` (UTC day, bounds [00:00, next 00:00)): retention finds
 *   a partition's day by its name, never by parsing bound expressions.
 * - Identifiers are quoted with pg's escapeIdentifier; the schema name is also restricted by the config.
 */
import pg from 'pg';
import { columnsOf, DATA_TABLES } from './rows.js';
import type { DataTable } from './rows.js';

export const id = (name: string): string => pg.escapeIdentifier(name);

export interface Migration {
  version: number;
  description: string;
  statements(schema: string): string[];
}

function dataTable(schema: string, t: DataTable): string {
  const cols = columnsOf(t)
    .map(([n, type]) => `  ${id(n)} ${type}`)
    .join(',\n');
  // the partition key must be part of a unique key on a partitioned table: `time` is a function of the
  // record (source time, else receive time), so (machine, seq, time) is as unique as (machine, seq)
  return `CREATE TABLE IF NOT EXISTS ${id(schema)}.${id(t)} (\n${cols},\n  PRIMARY KEY (machine, seq, time)\n) PARTITION BY RANGE (time)`;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'scalars, events, samples, files (partitioned by day), builds, layers, melt_pool_channels',
    statements: (s) => [
      ...DATA_TABLES.map((t) => dataTable(s, t)),
      `CREATE INDEX IF NOT EXISTS scalars_signal_time ON ${id(s)}.scalars (signal, time)`,
      ...DATA_TABLES.map((t) => `CREATE INDEX IF NOT EXISTS ${id(`${t}_build_layer`)} ON ${id(s)}.${id(t)} (build, layer)`),
      `CREATE TABLE IF NOT EXISTS ${id(s)}.builds (
  machine text NOT NULL,
  build text NOT NULL,
  first_time timestamptz,
  last_time timestamptz,
  records bigint NOT NULL DEFAULT 0,
  state text,
  state_time timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (machine, build)
)`,
      `CREATE TABLE IF NOT EXISTS ${id(s)}.layers (
  machine text NOT NULL,
  build text NOT NULL,
  layer integer NOT NULL,
  first_time timestamptz,
  last_time timestamptz,
  records bigint NOT NULL DEFAULT 0,
  state text,
  state_time timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (machine, build, layer)
)`,
      // one row per block and channel, for SQL users who would rather not index arrays
      `CREATE OR REPLACE VIEW ${id(s)}.melt_pool_channels AS
SELECT b.machine, b.seq, b.time, b.source, b.signal, b.build, b.layer, b.class, b.block_seq,
       c.channel, c.count, c.nan, c.min, c.max, c.mean, c.std
FROM ${id(s)}.samples b,
     unnest(b.channels, b.ch_count, b.ch_nan, b.ch_min, b.ch_max, b.ch_mean, b.ch_std) AS c(channel, count, nan, min, max, mean, std)`,
    ],
  },
];

export const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

export function versionTable(schema: string): string[] {
  return [
    `CREATE SCHEMA IF NOT EXISTS ${id(schema)}`,
    `CREATE TABLE IF NOT EXISTS ${id(schema)}.layergate_schema_version (
  version integer PRIMARY KEY,
  description text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
)`,
  ];
}

/** `YYYYMMDD` of a UTC day given in ms since the epoch */
export function dayName(dayMs: number): string {
  return new Date(dayMs).toISOString().slice(0, 10).replace(/-/g, '');
}

export function partitionName(table: DataTable, dayMs: number): string {
  return `${table}_p${dayName(dayMs)}`;
}

/** the day of a partition name of `table`, or undefined for a table that is not one of ours */
export function partitionDay(table: DataTable, name: string): number | undefined {
  const m = new RegExp(`^${table}_p(\\d{4})(\\d{2})(\\d{2})$`).exec(name);
  return m ? Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) : undefined;
}

export function createPartition(schema: string, table: DataTable, dayMs: number): string {
  const from = new Date(dayMs).toISOString();
  const to = new Date(dayMs + 86_400_000).toISOString();
  return `CREATE TABLE IF NOT EXISTS ${id(schema)}.${id(partitionName(table, dayMs))} PARTITION OF ${id(schema)}.${id(table)} FOR VALUES FROM ('${from}') TO ('${to}')`;
}

export function listPartitions(): string {
  return `SELECT c.relname AS name FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n ON n.oid = p.relnamespace
WHERE n.nspname = $1 AND p.relname = $2`;
}

/** the temp staging table of a data table: its columns and NOT NULLs, none of its checks, no partitions */
export function stageName(schema: string, table: DataTable): string {
  return `lg_stage_${schema}_${table}`;
}

export function createStage(schema: string, table: DataTable): string {
  return `CREATE TEMP TABLE IF NOT EXISTS ${id(stageName(schema, table))} (LIKE ${id(schema)}.${id(table)} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS`;
}

/** staged rows into the table, duplicates skipped; answers what was inserted, per build and layer */
export function insertFromStage(schema: string, table: DataTable): string {
  const cols = columnsOf(table)
    .map(([n]) => id(n))
    .join(', ');
  return `WITH ins AS (
  INSERT INTO ${id(schema)}.${id(table)} (${cols}) SELECT ${cols} FROM ${id(stageName(schema, table))}
  ON CONFLICT DO NOTHING RETURNING build, layer, time_ns
)
SELECT build, layer, count(*)::bigint AS n, min(time_ns) AS first_ns, max(time_ns) AS last_ns FROM ins GROUP BY build, layer`;
}

export function copyInto(target: string, table: DataTable): string {
  return `COPY ${target} (${columnsOf(table)
    .map(([n]) => id(n))
    .join(', ')}) FROM STDIN`;
}

const STATE_NEWER = 'EXCLUDED.state IS NOT NULL AND (t.state_time IS NULL OR EXCLUDED.state_time >= t.state_time)';

/**
 * The build and layer summaries of a batch in one statement (one round trip): $1 machine; layers as
 * arrays $2 build, $3 layer, $4 first, $5 last, $6 records, $7 state, $8 state time; builds as arrays
 * $9 build, $10 first, $11 last, $12 records, $13 state, $14 state time. Times are timestamptz text.
 * First/last widen, records add up (the caller counts inserted rows only), the state is the newest seen.
 */
export function upsertSummaries(schema: string): string {
  const set = `first_time = LEAST(t.first_time, EXCLUDED.first_time),
    last_time = GREATEST(t.last_time, EXCLUDED.last_time),
    records = t.records + EXCLUDED.records,
    state = CASE WHEN ${STATE_NEWER} THEN EXCLUDED.state ELSE t.state END,
    state_time = CASE WHEN ${STATE_NEWER} THEN EXCLUDED.state_time ELSE t.state_time END,
    updated_at = now()`;
  return `WITH l AS (
  INSERT INTO ${id(schema)}.layers AS t (machine, build, layer, first_time, last_time, records, state, state_time)
  SELECT $1, u.build, u.layer, u.f::timestamptz, u.l::timestamptz, u.n, u.st, u.stt::timestamptz
  FROM unnest($2::text[], $3::integer[], $4::text[], $5::text[], $6::bigint[], $7::text[], $8::text[]) AS u(build, layer, f, l, n, st, stt)
  ON CONFLICT (machine, build, layer) DO UPDATE SET
    ${set}
)
INSERT INTO ${id(schema)}.builds AS t (machine, build, first_time, last_time, records, state, state_time)
SELECT $1, u.build, u.f::timestamptz, u.l::timestamptz, u.n, u.st, u.stt::timestamptz
FROM unnest($9::text[], $10::text[], $11::text[], $12::bigint[], $13::text[], $14::text[]) AS u(build, f, l, n, st, stt)
ON CONFLICT (machine, build) DO UPDATE SET
  ${set}`;
}
