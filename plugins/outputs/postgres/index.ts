/**
 * The `postgres` output: the plant's local warehouse. Records become rows of SQL tables any SQL user can
 * read without the gateway (README.md has the schema and example queries):
 *
 *   <schema>.scalars   one row per process value, typed columns (docs/values.md)
 *   <schema>.events    one row per event or JSON document, payload JSONB
 *   <schema>.samples   one row per melt-pool block: per-channel count, NaN count, min, max, mean, std
 *   <schema>.files     one catalog row per frame or file: hash, size, content type, location
 *   <schema>.builds, <schema>.layers   one row per build and per layer: first/last time, records, state
 *
 * The four data tables are partitioned by UTC day on `time` (native declarative partitions, created
 * ahead and on demand, dropped by `partitions.retention`); `layergate_schema_version` tracks the
 * migrations the output applies at start (./sql.ts).
 *
 * Design constraints:
 * - Ack = COMMIT. A batch is one transaction: its rows in every table and the build and layer summaries
 *   they change, so a crash of the gateway or of the server leaves either all or none of it.
 * - Exactly once in the tables from at least once out of the buffer: every data table has the unique
 *   key (machine, seq, time). The fast path COPYs a table's rows of the batch straight into the table
 *   (in a savepoint); a redelivered record fails that COPY on the key (23505), and the rows then go
 *   through a temp staging table and `INSERT ... SELECT ... ON CONFLICT DO NOTHING`, which skips what is
 *   there. The summaries count only rows actually inserted (the COPY's rows, or the INSERT's RETURNING),
 *   so a redelivery never counts a record twice either.
 * - Refused for good, per record: a row the server will not hold (a NUL in text or in a JSON string, a
 *   value outside its column's range, a constraint the plant added) fails its statement with a data
 *   exception (SQLSTATE class 22, 23 or 54). The table's rows are then bisected in savepoints until
 *   each refused row is alone; those records are quarantined by the forwarder (`SinkPermanentError`
 *   with their seqs), the rest of the batch commits. A row larger than `maxRowBytes` is refused before it
 *   is sent.
 * - Confidential records reach this sink only when the plant routes them here, and are stored as the
 *   MinIO output stores them: sealed with the gateway's key (`sealed` column; the readable value,
 *   payload or statistics columns NULL). With no key configured they are refused (quarantined).
 * - Configuration, not the records: a wrong password, a missing database or privilege, a certificate
 *   the output does not trust refuse every record alike: a failing sink (`SinkConfigError`: kept in the
 *   buffer, retried, logged at error with what to fix), never quarantined. Connection loss, a server
 *   shutting down or recovering, timeouts, a full disk, deadlocks are retried by the forwarder.
 * - One batch at a time: sends and partition maintenance are serialised on the output's own queue (a
 *   send the forwarder abandoned after its timeout finishes before the retry starts).
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Logger } from 'pino';
import { tlsConnectionOptions } from '../../../gateway/plugin-api/index.js';
import type { OutputContext, OutputDefinition, OutputPlugin, Sealer, StoredRecord } from '../../../gateway/plugin-api/index.js';
import { causes, classified, isClassified, permanent, retryable } from '../shared/sink.js';
import type { FailureKind } from '../shared/sink.js';
import { definition as lazyDefinition } from './definition.js';
import { buildRow, DATA_TABLES, dayOf, timestampText } from './rows.js';
import type { DataTable, Row } from './rows.js';
import type { PostgresConfig } from './schema.js';
import {
  copyInto,
  createPartition,
  createStage,
  id,
  insertFromStage,
  listPartitions,
  MIGRATIONS,
  partitionDay,
  partitionName,
  stageName,
  upsertSummaries,
  versionTable,
} from './sql.js';

export { postgresConfigSchema } from './schema.js';
export type { PostgresConfig } from './schema.js';

const DAY_MS = 86_400_000;
/** COPY data is sent in pieces of about this many characters */
const COPY_CHUNK = 256 * 1024;

const CREDENTIALS = 'check outputs.<postgres>.user and password (e.g. the ${PGPASSWORD} variable) against the server (pg_hba.conf, the role)';
const TLS_ACTION = "check outputs.<postgres>.tls: `ca` must be the CA that signed the server's certificate, and the host a name or IP in it";

/** SQLSTATE classes of a row the server refuses on its own merit: data exception, integrity, program limit */
export function isRowRefusal(err: unknown): boolean {
  const code = sqlState(err);
  return code !== undefined && (code.startsWith('22') || (code.startsWith('23') && code !== '23505') || code.startsWith('54'));
}

function sqlState(err: unknown): string | undefined {
  for (const e of causes(err)) if (typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)) return e.code;
  return undefined;
}

export function classifyPostgresError(err: unknown): FailureKind {
  const code = sqlState(err);
  if (code === '28P01' || code === '28000') return { permanent: false, reason: 'not-authorized', config: CREDENTIALS };
  if (code === '42501') {
    return {
      permanent: false,
      reason: 'not-authorized',
      config: 'grant the role CREATE on the database (or on outputs.<postgres>.schema) and ownership of the tables the output made',
    };
  }
  if (code === '3D000') return { permanent: false, reason: 'database-missing', config: 'create the database named by outputs.<postgres>.database' };
  for (const e of causes(err)) {
    const c = typeof e.code === 'string' ? e.code : '';
    const msg = String(e.message ?? '');
    if (/CERT|SELF_SIGNED|UNABLE_TO_(VERIFY|GET)|ERR_TLS/.test(c)) return { permanent: false, reason: 'tls', config: TLS_ACTION };
    if (/does not support SSL/i.test(msg))
      return { permanent: false, reason: 'tls', config: 'the server has TLS off: turn on ssl in postgresql.conf, or set outputs.<postgres>.tls: false' };
  }
  if (code?.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03') return { permanent: false, reason: 'connection' };
  if (code === '57014') return { permanent: false, reason: 'timeout' };
  if (code === '40001' || code === '40P01') return { permanent: false, reason: 'conflict' };
  if (code?.startsWith('53')) return { permanent: false, reason: 'server-resources' };
  for (const e of causes(err)) {
    const c = typeof e.code === 'string' ? e.code : '';
    const msg = String(e.message ?? '');
    if (/^(ECONNREFUSED|ECONNRESET|EPIPE|EHOSTUNREACH|ENOTFOUND|EAI_AGAIN|ETIMEDOUT)$/.test(c)) return { permanent: false, reason: 'connection' };
    if (/timeout/i.test(msg)) return { permanent: false, reason: 'timeout' };
    if (/Connection terminated|connection.*(closed|ended)|not queryable|Client has encountered a connection error/i.test(msg))
      return { permanent: false, reason: 'connection' };
  }
  return { permanent: false, reason: 'postgres' };
}

export interface PostgresOutputStats {
  /** rows inserted (duplicates of rows already there not counted) */
  rows: number;
  /** rows of redelivered records that were there already */
  duplicates: number;
  batches: number;
  /** records refused for good (quarantined) */
  refused: number;
  /** records whose body did not fit their content type (catalogued in files with the reason) */
  malformed: number;
  /** batches that fell back from the direct COPY to the staging table */
  staged: number;
}

/** per build and layer: rows inserted, their time span, the newest state seen */
interface Summary {
  build: string;
  layer: number | null;
  n: number;
  firstNs?: bigint;
  lastNs?: bigint;
  state?: string;
  stateNs?: bigint;
}

type Refusal = { seqs: number[]; reason: string; message: string };

export class PostgresOutput implements OutputPlugin {
  readonly type = 'postgres';
  private readonly config: PostgresConfig;
  private readonly machine: string;
  private readonly sealer: Sealer | undefined;
  private pool: pg.Pool | undefined;
  private log: Logger | undefined;
  private ready = false;
  /** `<table>:<day ms>` of the partitions known to exist */
  private readonly partitions = new Set<string>();
  /** connections whose temp staging tables exist */
  private readonly staged = new WeakSet<pg.PoolClient>();
  /** connections with our error listener */
  private readonly listening = new WeakSet<pg.PoolClient>();
  private queue: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private savepoints = 0;
  private readonly counters: PostgresOutputStats = { rows: 0, duplicates: 0, batches: 0, refused: 0, malformed: 0, staged: 0 };

  constructor(config: PostgresConfig, env: { machine: string; sealer?: Sealer }) {
    this.config = config;
    this.machine = env.machine;
    this.sealer = env.sealer;
  }

  get schema(): string {
    return this.config.schema;
  }

  stats(): PostgresOutputStats {
    return { ...this.counters };
  }

  private poolConfig(name: string): pg.PoolConfig {
    const c = this.config;
    const tls = tlsConnectionOptions(c.tls, 'outputs.<postgres>.tls');
    return {
      host: c.host,
      port: c.port,
      database: c.database,
      user: c.user,
      ...(c.password !== undefined ? { password: c.password } : {}),
      ssl: tls ?? false,
      // one batch at a time; the second connection serves the maintenance running beside an idle send
      max: 2,
      connectionTimeoutMillis: c.connectTimeout,
      statement_timeout: c.statementTimeout,
      idleTimeoutMillis: 60_000,
      application_name: `layergate:${name}`,
      // timestamps are written and read as UTC text
      options: '-c TimeZone=UTC',
    };
  }

  async start(ctx: OutputContext): Promise<void> {
    this.log = ctx.log;
    const pool = new pg.Pool(this.poolConfig(ctx.name));
    // an idle connection dropped by the server (restart, timeout) is an event, not a crash; the next send reconnects
    pool.on('error', (err) => ctx.log.debug({ err }, 'postgres idle connection lost'));
    this.pool = pool;
    try {
      await this.exclusive(() => this.prepare());
      ctx.log.info({ host: this.config.host, database: this.config.database, schema: this.config.schema }, 'postgres output ready');
    } catch (err) {
      const kind = classifyPostgresError(err);
      if (kind.config !== undefined)
        ctx.log.error({ err, action: kind.config }, 'postgres refused the output (configuration); records stay in the buffer and are retried');
      else ctx.log.warn({ err }, 'postgres not ready at start; the forwarder retries');
    }
    const every = Math.max(1000, this.config.partitions.maintenanceInterval);
    this.timer = setInterval(() => {
      void this.exclusive(() => this.maintain()).catch((err: unknown) => ctx.log.warn({ err }, 'postgres partition maintenance failed; tried again later'));
    }, every);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    const pool = this.pool;
    this.pool = undefined;
    await pool?.end().catch(() => undefined);
  }

  /** run `work` after everything queued before it (sends and maintenance never overlap) */
  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private get db(): pg.Pool {
    if (!this.pool) throw new Error('postgres output: used before start');
    return this.pool;
  }

  /** a pooled connection; one the server drops while checked out fails its query, its error event is only logged */
  private async connect(): Promise<pg.PoolClient> {
    const client = await this.db.connect();
    if (!this.listening.has(client)) {
      client.on('error', (err) => this.log?.debug({ err }, 'postgres connection lost'));
      this.listening.add(client);
    }
    return client;
  }

  /** migrations (once per output), then partitions ahead and retention */
  private async prepare(): Promise<void> {
    if (!this.ready) {
      await this.migrate();
      this.ready = true;
    }
    await this.maintain();
  }

  /** Apply the migrations this schema lacks, in one transaction under an advisory lock. Returns the version. */
  async migrate(): Promise<number> {
    const client = await this.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`layergate-schema:${this.schema}`]);
      for (const s of versionTable(this.schema)) await client.query(s);
      const r = await client.query<{ v: number | null }>(`SELECT max(version) AS v FROM ${id(this.schema)}.layergate_schema_version`);
      let version = r.rows[0]?.v ?? 0;
      for (const m of MIGRATIONS) {
        if (m.version <= version) continue;
        for (const s of m.statements(this.schema)) await client.query(s);
        await client.query(`INSERT INTO ${id(this.schema)}.layergate_schema_version (version, description) VALUES ($1, $2)`, [m.version, m.description]);
        this.log?.info({ schema: this.schema, version: m.version, description: m.description }, 'postgres schema migrated');
        version = m.version;
      }
      await client.query('COMMIT');
      return version;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  /**
   * Partitions from yesterday to `ahead` days after today (UTC) for every data table, and the drop of
   * those whose whole day is older than the retention. `nowMs` for tests.
   */
  async maintain(nowMs = Date.now()): Promise<{ created: string[]; dropped: string[] }> {
    const today = Math.floor(nowMs / DAY_MS) * DAY_MS;
    const { ahead, retention } = this.config.partitions;
    const cutoff = retention === undefined ? undefined : nowMs - retention;
    const created: string[] = [];
    const dropped: string[] = [];
    for (const t of DATA_TABLES) {
      for (let d = today - DAY_MS; d <= today + ahead * DAY_MS; d += DAY_MS) {
        if (cutoff !== undefined && d + DAY_MS <= cutoff) continue;
        if (await this.ensurePartition(t, d)) created.push(`${t}:${d}`);
      }
      if (cutoff === undefined) continue;
      const r = await this.db.query<{ name: string }>(listPartitions(), [this.schema, t]);
      for (const { name } of r.rows) {
        const day = partitionDay(t, name);
        if (day === undefined || day + DAY_MS > cutoff) continue;
        await this.db.query(`DROP TABLE IF EXISTS ${id(this.schema)}.${id(name)}`);
        this.partitions.delete(`${t}:${day}`);
        dropped.push(name);
      }
    }
    if (dropped.length > 0) this.log?.info({ schema: this.schema, dropped }, 'postgres partitions dropped by retention');
    return { created, dropped };
  }

  /** create the day's partition of `table` unless known; true when this call created it */
  private async ensurePartition(table: DataTable, dayMs: number): Promise<boolean> {
    const key = `${table}:${dayMs}`;
    if (this.partitions.has(key)) return false;
    try {
      const r = await this.db.query(`SELECT to_regclass($1) IS NOT NULL AS present`, [`${id(this.schema)}.${id(partitionName(table, dayMs))}`]);
      const present = (r.rows[0] as { present: boolean }).present;
      if (!present) await this.db.query(createPartition(this.schema, table, dayMs));
      this.partitions.add(key);
      return !present;
    } catch (err) {
      // another gateway created it between our check and our CREATE
      if (sqlState(err) === '42P07' || sqlState(err) === '23505') {
        this.partitions.add(key);
        return false;
      }
      throw err;
    }
  }

  send(batch: StoredRecord[]): Promise<void> {
    return this.exclusive(() => this.sendNow(batch));
  }

  private async sendNow(batch: StoredRecord[]): Promise<void> {
    if (!this.pool) throw new Error('postgres output: send before start');
    try {
      if (!this.ready) await this.prepare();
    } catch (err) {
      throw this.failure(err, 'schema');
    }
    const refused: Refusal[] = [];
    const byTable = new Map<DataTable, Row[]>();
    for (const r of batch) {
      if (r.class === 'confidential' && !this.sealer) {
        refused.push({ seqs: [r.seq], reason: 'no-sealer', message: `seq ${r.seq} (${r.signal}) is confidential and no encryption key is configured` });
        continue;
      }
      const row = buildRow(this.machine, r, this.sealer);
      // a UTF-16 length below a third of the limit cannot be above it in UTF-8
      if (row.line.length * 3 > this.config.maxRowBytes && Buffer.byteLength(row.line) > this.config.maxRowBytes) {
        refused.push({
          seqs: [r.seq],
          reason: 'too-large',
          message: `seq ${r.seq} (${r.signal}): a row of ${Buffer.byteLength(row.line)} bytes exceeds maxRowBytes ${this.config.maxRowBytes}`,
        });
        continue;
      }
      if (row.malformed) this.counters.malformed++;
      const list = byTable.get(row.table);
      if (list) list.push(row);
      else byTable.set(row.table, [row]);
    }
    try {
      for (const [t, rows] of byTable) for (const d of new Set(rows.map((x) => dayOf(x.timeNs)))) await this.ensurePartition(t, d);
    } catch (err) {
      throw this.failure(err, 'partitions');
    }

    const client = await this.connect().catch((err: unknown) => {
      throw this.failure(err, 'connect');
    });
    let broken = false;
    const summaries = new Map<string, Summary>();
    let inserted = 0;
    let landed = 0;
    try {
      if (!this.staged.has(client)) {
        for (const t of DATA_TABLES) await client.query(createStage(this.schema, t));
        this.staged.add(client);
      }
      let begun = false;
      for (const [t, rows] of byTable) {
        const before = refused.length;
        inserted += await this.land(client, t, rows, summaries, refused, !begun);
        begun = true;
        const out = new Set(refused.slice(before).flatMap((x) => x.seqs));
        landed += rows.length - out.size;
        for (const row of rows) if (row.state !== undefined && !out.has(row.record.seq)) observeState(summaries, row);
      }
      if (!begun) await client.query('BEGIN');
      await this.upsertSummaries(client, summaries);
      await client.query('COMMIT');
    } catch (err) {
      broken = !(await client.query('ROLLBACK').then(
        () => true,
        () => false,
      ));
      if (sqlState(err) === '23514' && /no partition of relation/.test((err as Error).message)) {
        // a partition dropped behind our back (by hand, or by another gateway's retention): learn again
        this.partitions.clear();
        throw retryable('partition-missing', `postgres ${this.where()}: ${(err as Error).message}`, err);
      }
      throw this.failure(err, `batch seq ${batch[0]?.seq}..${batch[batch.length - 1]?.seq}`);
    } finally {
      client.release(broken);
    }
    this.counters.rows += inserted;
    this.counters.duplicates += landed - inserted;
    this.counters.batches++;
    if (refused.length > 0) {
      const seqs = refused.flatMap((x) => x.seqs);
      this.counters.refused += seqs.length;
      throw permanent(
        refused[0]!.reason,
        `postgres: ${seqs.length} record(s) refused: ${refused
          .slice(0, 3)
          .map((x) => x.message)
          .join('; ')}`,
        undefined,
        seqs,
      );
    }
  }

  /**
   * One table's rows of the batch, inside the batch's transaction: straight COPY into the table when
   * none is there yet (the common case), else through the staging table with duplicates skipped; rows
   * the server refuses are isolated and added to `refused`. Returns the rows inserted.
   */
  private async land(
    client: pg.PoolClient,
    table: DataTable,
    rows: Row[],
    summaries: Map<string, Summary>,
    refused: Refusal[],
    begin: boolean,
  ): Promise<number> {
    const sp = `lg_${++this.savepoints}`;
    // round trips are the cost of a small batch: BEGIN goes with the first savepoint, and the savepoint is
    // left to the COMMIT to release (a handful per batch, one per table)
    await client.query(`${begin ? 'BEGIN; ' : ''}SAVEPOINT ${sp}`);
    try {
      await copy(client, copyInto(`${id(this.schema)}.${id(table)}`, table), rows);
      for (const row of rows) addRow(summaries, row);
      return rows.length;
    } catch (err) {
      await client.query(`ROLLBACK TO SAVEPOINT ${sp}`);
      if (sqlState(err) !== '23505' && !isRowRefusal(err)) throw err;
    }
    this.counters.staged++;
    return this.landStaged(client, table, rows, summaries, refused);
  }

  /** through the staging table; a refused statement is split in halves until the refused rows are alone */
  private async landStaged(client: pg.PoolClient, table: DataTable, rows: Row[], summaries: Map<string, Summary>, refused: Refusal[]): Promise<number> {
    const sp = `lg_${++this.savepoints}`;
    await client.query(`SAVEPOINT ${sp}`);
    try {
      await client.query(`TRUNCATE ${id(stageName(this.schema, table))}`);
      await copy(client, copyInto(id(stageName(this.schema, table)), table), rows);
      const r = await client.query<{ build: string | null; layer: number | null; n: string; first_ns: string; last_ns: string }>(
        insertFromStage(this.schema, table),
      );
      await client.query(`RELEASE SAVEPOINT ${sp}`);
      let n = 0;
      for (const g of r.rows) {
        n += Number(g.n);
        if (g.build !== null) addSummary(summaries, g.build, g.layer, Number(g.n), BigInt(g.first_ns), BigInt(g.last_ns));
      }
      return n;
    } catch (err) {
      await client.query(`ROLLBACK TO SAVEPOINT ${sp}`);
      if (!isRowRefusal(err)) throw err;
      if (rows.length === 1) {
        const r = rows[0]!.record;
        refused.push({
          seqs: [r.seq],
          reason: refusalReason(err),
          message: `seq ${r.seq} (${r.signal}) refused by the server: ${sqlState(err)} ${(err as Error).message}`,
        });
        return 0;
      }
      const half = Math.ceil(rows.length / 2);
      return (
        (await this.landStaged(client, table, rows.slice(0, half), summaries, refused)) +
        (await this.landStaged(client, table, rows.slice(half), summaries, refused))
      );
    }
  }

  private async upsertSummaries(client: pg.PoolClient, summaries: Map<string, Summary>): Promise<void> {
    if (summaries.size === 0) return;
    const layers = [...summaries.values()].filter((s) => s.layer !== null);
    const ts = (ns: bigint | undefined) => (ns === undefined ? null : timestampText(ns));
    const builds = new Map<string, Summary>();
    for (const s of summaries.values()) {
      const b = builds.get(s.build) ?? { build: s.build, layer: null, n: 0 };
      b.n += s.n;
      if (s.firstNs !== undefined && (b.firstNs === undefined || s.firstNs < b.firstNs)) b.firstNs = s.firstNs;
      if (s.lastNs !== undefined && (b.lastNs === undefined || s.lastNs > b.lastNs)) b.lastNs = s.lastNs;
      if (s.stateNs !== undefined && (b.stateNs === undefined || s.stateNs >= b.stateNs)) {
        b.stateNs = s.stateNs;
        b.state = s.state!;
      }
      builds.set(s.build, b);
    }
    const list = [...builds.values()];
    await client.query(upsertSummaries(this.schema), [
      this.machine,
      layers.map((s) => s.build),
      layers.map((s) => s.layer),
      layers.map((s) => ts(s.firstNs)),
      layers.map((s) => ts(s.lastNs)),
      layers.map((s) => s.n),
      layers.map((s) => s.state ?? null),
      layers.map((s) => ts(s.stateNs)),
      list.map((s) => s.build),
      list.map((s) => ts(s.firstNs)),
      list.map((s) => ts(s.lastNs)),
      list.map((s) => s.n),
      list.map((s) => s.state ?? null),
      list.map((s) => ts(s.stateNs)),
    ]);
  }

  private where(): string {
    return `${this.config.host}:${this.config.port}/${this.config.database}`;
  }

  private failure(err: unknown, what: string): Error {
    if (isClassified(err)) return err;
    const kind = classifyPostgresError(err);
    const state = sqlState(err);
    return classified(kind, `postgres ${this.where()} ${what}: ${state ? `${state} ` : ''}${(err as Error)?.message ?? String(err)}`, err);
  }
}

/** a reason word for a row the server refused, by SQLSTATE */
function refusalReason(err: unknown): string {
  const code = sqlState(err) ?? '';
  if (code.startsWith('54')) return 'too-large';
  if (code.startsWith('23')) return 'constraint';
  return 'invalid-value';
}

/** COPY `rows` with `sql` (a COPY ... FROM STDIN), their lines sent in chunks */
async function copy(client: pg.PoolClient, sql: string, rows: Row[]): Promise<void> {
  function* chunks(): Generator<string> {
    let buf = '';
    for (const r of rows) {
      buf += r.line;
      if (buf.length >= COPY_CHUNK) {
        yield buf;
        buf = '';
      }
    }
    if (buf) yield buf;
  }
  await pipeline(Readable.from(chunks()), client.query(copyFrom(sql)));
}

function summaryOf(summaries: Map<string, Summary>, build: string, layer: number | null): Summary {
  const key = `${build}\u0000${layer ?? ''}`;
  let s = summaries.get(key);
  if (!s) {
    s = { build, layer, n: 0 };
    summaries.set(key, s);
  }
  return s;
}

function addSummary(summaries: Map<string, Summary>, build: string, layer: number | null, n: number, firstNs: bigint, lastNs: bigint): void {
  const s = summaryOf(summaries, build, layer);
  s.n += n;
  if (s.firstNs === undefined || firstNs < s.firstNs) s.firstNs = firstNs;
  if (s.lastNs === undefined || lastNs > s.lastNs) s.lastNs = lastNs;
}

function addRow(summaries: Map<string, Summary>, row: Row): void {
  const r = row.record;
  if (r.build !== undefined) addSummary(summaries, r.build, r.layer ?? null, 1, row.timeNs, row.timeNs);
}

/** the newest state a landed record reports for its build and layer */
function observeState(summaries: Map<string, Summary>, row: Row): void {
  const r = row.record;
  if (r.build === undefined) return;
  const s = summaryOf(summaries, r.build, r.layer ?? null);
  if (s.stateNs === undefined || row.timeNs >= s.stateNs) {
    s.stateNs = row.timeNs;
    s.state = row.state!;
  }
}

/** The full definition: the lazy one of ./definition.ts, and how to create an instance. */
export const definition: OutputDefinition<PostgresConfig> = {
  ...lazyDefinition,
  create: (config, env) => new PostgresOutput(config, env),
};
