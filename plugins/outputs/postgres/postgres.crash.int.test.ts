/**
 * Crashes in the middle of a batch, against real PostgreSQL: the server crashed (immediate shutdown,
 * SIGQUIT: every open transaction lost, crash recovery at the restart) and the gateway process
 * SIGKILLed (`layergate run` as a child), each while a batch's transaction is open. Then every record
 * routed to the output is in the tables exactly once, and the build and layer summaries count each once.
 *
 * "In the middle of a batch" is made certain, not hoped for: the test holds a lock on the `layers`
 * table, so the output's transaction, its rows COPYed already, waits on the summaries' upsert; the crash
 * comes when pg_stat_activity shows the output's backend waiting on that lock.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openBuffer } from '../../../gateway/buffer/index.js';
import { loadConfig } from '../../../gateway/config/load.js';
import { bufferOptions } from '../../../gateway/runtime/gateway.js';
import { makeConfig } from '../../../simulator/config.js';
import { Simulator } from '../../../simulator/engine.js';
import { MQTT, POSTGRES } from '../../../test/services/endpoints.js';
import { DedicatedPostgres } from '../../../test/services/postgres.js';
import { samplesDraft, scalarDrafts, silent, sinkOutage, sinkRig } from '../../../test/support/sink-harness.js';
import type { SinkRig } from '../../../test/support/sink-harness.js';
import { waitFor } from '../../../test/support/wait.js';
import { definition as fileLake } from '../file-lake/index.js';
import { definition } from './index.js';
import type { PostgresOutput } from './index.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const tsxLoader = createRequire(import.meta.url).resolve('tsx');
const TABLES = ['scalars', 'events', 'samples', 'files'];

type Conn = { host: string; port: number; user: string; password: string; database: string; caFile: string };
function client(c: Conn): pg.Client {
  const cl = new pg.Client({
    host: c.host,
    port: c.port,
    user: c.user,
    password: c.password,
    database: c.database,
    ssl: { ca: readFileSync(c.caFile), rejectUnauthorized: true },
  });
  cl.on('error', () => undefined);
  return cl;
}

/** every seq the tables hold for `machine`, repeats included (the unique key should make them impossible) */
async function seqsIn(c: pg.Client, schema: string, machine: string): Promise<number[]> {
  const r = await c.query<{ seq: string }>(TABLES.map((t) => `SELECT seq::text FROM ${schema}.${t} WHERE machine = $1`).join(' UNION ALL '), [machine]);
  return r.rows.map((x) => Number(x.seq));
}

/**
 * Hold an exclusive lock on `<schema>.layers` until the output's backend (application `layergate:<sink>`)
 * waits on it, i.e. its batch transaction is open with its rows written; returns the lock's client.
 */
async function catchMidBatch(c: Conn, schema: string, sink: string): Promise<pg.Client> {
  const locker = client(c);
  await locker.connect();
  await locker.query('BEGIN');
  await locker.query(`LOCK TABLE ${schema}.layers IN EXCLUSIVE MODE`);
  // pg_stat_activity is a snapshot taken once per transaction: the locker's own would never change
  await waitFor(
    'the output waiting inside its batch transaction',
    async () =>
      (
        await locker
          .query('SELECT pg_stat_clear_snapshot()')
          .then(() =>
            locker.query("SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock' AND xact_start IS NOT NULL", [
              `layergate:${sink}`,
            ]),
          )
      ).rowCount! > 0,
    60_000,
    20,
  ).catch(async (err: unknown) => {
    const seen = await locker.query(
      'SELECT application_name, state, wait_event_type, wait_event, xact_start IS NOT NULL AS tx, left(query, 60) AS q FROM pg_stat_activity',
    );
    throw new Error(`${(err as Error).message}; sessions: ${JSON.stringify(seen.rows)}`);
  });
  return locker;
}

describe('postgres output: crashes in the middle of a batch', () => {
  let server: DedicatedPostgres;
  const rigs: SinkRig[] = [];
  beforeAll(async () => {
    server = new DedicatedPostgres();
    await server.start();
  }, 120_000);
  afterEach(async () => {
    for (const r of rigs.splice(0)) await r.close();
  });
  afterAll(async () => {
    await server.dispose();
  });

  it('the server crashed (SIGQUIT) with a batch open and restarted: the backlog drains, nothing lost or stored twice, summaries exact', async () => {
    const c = server.connection;
    const schema = `lgt_${randomUUID().slice(0, 8)}`;
    const out = definition.create(
      definition.configSchema.parse({
        host: c.host,
        port: c.port,
        database: c.database,
        user: c.user,
        password: c.password,
        tls: { ca: c.caFile },
        schema,
        connectTimeout: '1s',
        statementTimeout: '10s',
      }),
      { dataDir: '/nonexistent', machine: 'pbf-sim' },
    ) as PostgresOutput;
    const lakeDir = mkdtempSync(path.join(os.tmpdir(), 'lg-pg-lake-'));
    const r = await sinkRig([
      { name: 'pg', plugin: out, forwarder: { backoff: { initialMs: 100, maxMs: 500 }, sendTimeoutMs: 15_000 } },
      {
        name: 'lake',
        plugin: fileLake.create(fileLake.configSchema.parse({ path: lakeDir }), { dataDir: lakeDir, machine: 'pbf-sim' }),
        forwarder: { linger: 0 },
      },
    ]);
    rigs.push(r);
    let n = 0;
    let lostInCrash = 0;
    await sinkOutage({
      label: 'postgres crash',
      r,
      sink: 'pg',
      other: 'lake',
      server: 'PostgreSQL',
      downHow: 'SIGQUIT with a batch transaction open',
      duplicatesIn: 'in the tables',
      burst: () => [...scalarDrafts(10, 'chamber.o2'), samplesDraft('meltpool.a', n++ * 100, 100)],
      pauseMs: 50,
      deliveringBefore: 200,
      deliveringTimeoutMs: 30_000,
      downMs: 3000,
      otherDeliveredAbove: 300,
      otherLagBelow: 200,
      sinkLagAbove: 300,
      stopServer: async () => {
        await catchMidBatch(c, schema, 'pg');
        // counted once the output waits inside its batch: the batches before it committed (and counted) in order,
        // and none can commit while the lock holds it
        const before = out.stats().rows;
        await server.crash();
        // the open batch was never acknowledged: the forwarder still holds it
        lostInCrash = r.forwarders.get('pg')!.stats().lagRecords;
        expect(out.stats().rows).toBe(before);
      },
      startServer: () => server.start(),
      drainTimeoutMs: 60_000,
      readBack: async () => {
        const reader = client(c);
        await reader.connect();
        try {
          const seqs = await seqsIn(reader, schema, 'pbf-sim');
          expect(seqs.length).toBe(new Set(seqs).size);
          const [sum] = (await reader.query<{ n: string }>(`SELECT sum(records) AS n FROM ${schema}.layers WHERE machine = 'pbf-sim'`)).rows;
          expect(Number(sum!.n)).toBe(seqs.length);
          return seqs;
        } finally {
          await reader.end();
        }
      },
    });
    expect(lostInCrash).toBeGreaterThan(0);
    rmSync(lakeDir, { recursive: true, force: true });
  }, 180_000);
});

describe('postgres output: the gateway killed (SIGKILL) in the middle of a batch', () => {
  const children: ChildProcess[] = [];
  let sim: Simulator | undefined;
  afterEach(async () => {
    for (const ch of children) if (ch.exitCode === null && ch.signalCode === null) ch.kill('SIGKILL');
    children.length = 0;
    await sim?.stop();
    sim = undefined;
  });

  function startGateway(cfg: string, cwd: string, env: NodeJS.ProcessEnv) {
    const childEnv = { ...process.env, ...env };
    delete childEnv.LAYERGATE_CONFIG;
    delete childEnv.LAYERGATE_DATA_DIR;
    const child = spawn(process.execPath, ['--import', tsxLoader, path.join(repo, 'gateway/cli/main.ts'), 'run', '-c', cfg], {
      cwd,
      env: childEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-200_000)));
    child.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-200_000)));
    const exited = new Promise<void>((res) => child.on('exit', () => res()));
    return { child, exited, out: () => out };
  }

  it('`layergate run` SIGKILLed with a batch open, restarted: every record in the buffer is in the tables once, summaries exact', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lg-pg-crash-'));
    const schema = `lgt_${randomUUID().slice(0, 8)}`;
    const machine = `crash-${randomUUID().slice(0, 6)}`;
    const topicPrefix = `lg-pg-crash/${process.pid}`;
    const clientId = `lg-pg-crash-${process.pid}`;
    const cfg = path.join(dir, 'layergate.yaml');
    writeFileSync(
      cfg,
      [
        `gateway: { dataDir: "\${TEST_DATA_DIR}", machine: ${machine}, shutdownGraceMs: 5s }`,
        'inputs:',
        '  mq:',
        '    type: mqtt',
        `    url: ${MQTT.url}`,
        `    username: ${MQTT.username}`,
        '    password: "${TEST_MQTT_PASSWORD}"',
        `    clientId: ${clientId}`,
        '    sessionExpiry: 1h',
        '    subscriptions:',
        `      - { topic: "${topicPrefix}/meltpool/binary", decoder: binary-block, qos: 1 }`,
        `      - { topic: "${topicPrefix}/events", decoder: event, qos: 1 }`,
        'outputs:',
        '  warehouse:',
        '    type: postgres',
        `    host: ${POSTGRES.host}`,
        `    port: ${POSTGRES.port}`,
        `    database: ${POSTGRES.database}`,
        `    user: ${POSTGRES.user}`,
        '    password: "${TEST_PGPASSWORD}"',
        `    tls: { ca: "${POSTGRES.caFile}" }`,
        `    schema: ${schema}`,
        // the ledger: the lake never moves its cursor, so the buffer keeps every record routed
        '  lake: { type: file-lake, linger: 1h, batchRecords: 1000000 }',
      ].join('\n'),
    );
    const env = { TEST_DATA_DIR: path.join(dir, 'data'), TEST_MQTT_PASSWORD: MQTT.password, TEST_PGPASSWORD: POSTGRES.password };
    const wipe = await mqtt.connectAsync(MQTT.url, { username: MQTT.username, password: MQTT.password, clientId, clean: true, protocolVersion: 5 });
    await wipe.endAsync();
    const reader = client(POSTGRES);
    await reader.connect();
    try {
      let gw = startGateway(cfg, dir, env);
      await waitFor('the gateway subscribed', () => gw.out().includes('mqtt: subscribed'), 60_000);
      sim = new Simulator({
        cfg: makeConfig({
          seed: 7,
          job: { totalLayers: 6 },
          timing: { idleS: 0, inertingS: 0.2, layerS: 0.5, recoatS: 0.1, speed: 0.5 },
          meltPool: { rateHz: 10_000, blockSize: 250 },
        }),
        dataDir: dir,
        log: silent,
        controlPort: null,
        mqtt: {
          url: MQTT.url,
          username: MQTT.username,
          password: MQTT.password,
          clientId: `${clientId}-sim`,
          topicPrefix,
          formats: ['binary'],
          qos: 1,
          sparkplugGroup: null,
        },
      });
      await sim.start();
      await waitFor('rows in the warehouse', async () => (await seqsIn(reader, schema, machine).catch(() => [])).length >= 10, 60_000, 100);

      // the kill, with a batch's transaction open and its rows written
      const locker = await catchMidBatch(POSTGRES, schema, 'warehouse');
      const before = (await seqsIn(reader, schema, machine)).length;
      gw.child.kill('SIGKILL');
      await gw.exited;
      await locker.query('COMMIT');
      await locker.end();
      // the server rolls the orphaned transaction back: none of its rows appear
      await waitFor(
        'the killed gateway’s backend gone',
        async () => (await reader.query("SELECT 1 FROM pg_stat_activity WHERE application_name = 'layergate:warehouse'")).rowCount === 0,
        30_000,
        50,
      );
      expect((await seqsIn(reader, schema, machine)).length).toBe(before);

      gw = startGateway(cfg, dir, env);
      await waitFor('the restarted gateway subscribed', () => gw.out().includes('mqtt: subscribed'), 60_000);
      await sim.finished;
      // once the warehouse stopped growing: kill, read the buffer; restart until it says it delivered everything
      let accounted = false;
      for (let attempt = 0; attempt < 4 && !accounted; attempt++) {
        let last = -1;
        await waitFor(
          'the warehouse to stop growing',
          async () => {
            const now = (await seqsIn(reader, schema, machine)).length;
            const stable = now === last;
            last = now;
            return stable;
          },
          60_000,
          2000,
        );
        // SIGKILL again, not a clean stop: a clean stop would flush the lake's lingering batch and move the
        // ledger's cursor; the warehouse's unacknowledged records (if any) go out at the next start
        gw.child.kill('SIGKILL');
        await gw.exited;
        const { config } = loadConfig({ file: cfg, env });
        const buffer = openBuffer(bufferOptions(config), silent);
        let routed: number[];
        let lag: number;
        try {
          routed = buffer.read('lake', 10_000_000, 1 << 30).map((x) => x.seq);
          lag = buffer.stats().sinks.find((s) => s.sink === 'warehouse')!.lagRecords;
        } finally {
          buffer.close();
        }
        if (lag === 0) {
          const seqs = await seqsIn(reader, schema, machine);
          expect(seqs.length).toBe(new Set(seqs).size);
          expect(seqs.sort((a, b) => a - b)).toEqual(routed);
          const [sum] = (await reader.query<{ n: string }>(`SELECT sum(records) AS n FROM ${schema}.layers WHERE machine = $1`, [machine])).rows;
          const withLayer = (
            await reader.query<{ n: string }>(
              TABLES.map((t) => `SELECT count(*) AS n FROM ${schema}.${t} WHERE machine = $1 AND build IS NOT NULL AND layer IS NOT NULL`).join(' UNION ALL '),
              [machine],
            )
          ).rows.reduce((a, b) => ({ n: String(Number(a.n) + Number(b.n)) }), { n: '0' });
          expect(Number(sum!.n)).toBe(Number(withLayer!.n));
          console.log(`[postgres gateway SIGKILL] ${routed.length} records routed, ${seqs.length} rows, killed with a batch open at ${before} rows`);
          accounted = true;
        } else {
          gw = startGateway(cfg, dir, env);
          await waitFor('the restarted gateway subscribed', () => gw.out().includes('mqtt: subscribed'), 60_000);
        }
      }
      expect(accounted).toBe(true);
    } finally {
      await reader.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
      await reader.end();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 240_000);
});
