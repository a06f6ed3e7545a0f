/**
 * PostgreSQL smoke test: the harness's cluster answers through `pg` (the gateway's driver) over TLS with
 * the test CA, refuses a wrong password, runs the server major the tests expect, and takes a COPY through
 * `pg-copy-streams` (the output's bulk path) into a partitioned table.
 */
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { afterAll, describe, expect, it } from 'vitest';
import { POSTGRES } from './endpoints.js';
import { PG_MAJOR } from './postgres.js';

const ssl = { ca: readFileSync(POSTGRES.caFile), rejectUnauthorized: true };
const client = new pg.Client({ ...POSTGRES, ssl });
const schema = `smoke_${randomUUID().slice(0, 8)}`;
const connected = client.connect();

afterAll(async () => {
  await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await client.end();
});

describe('postgres (real server from the test harness)', () => {
  it(`answers over TLS, verified against the test CA, and is PostgreSQL ${PG_MAJOR}`, async () => {
    await connected;
    const r = await client.query<{ ssl: boolean; version: string }>(
      "SELECT ssl, current_setting('server_version_num') AS version FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    );
    expect(r.rows[0]!.ssl).toBe(true);
    expect(Math.floor(Number(r.rows[0]!.version) / 10000)).toBe(PG_MAJOR);
  });

  it('refuses a wrong password', async () => {
    const wrong = new pg.Client({ ...POSTGRES, password: 'not-the-password', ssl });
    wrong.on('error', () => undefined);
    await expect(wrong.connect()).rejects.toMatchObject({ code: '28P01' });
    await wrong.end().catch(() => undefined);
  });

  it('takes a COPY into a partitioned table and reads it back', async () => {
    await connected;
    await client.query(`CREATE SCHEMA ${schema}`);
    await client.query(`CREATE TABLE ${schema}.t (time timestamptz NOT NULL, v double precision) PARTITION BY RANGE (time)`);
    await client.query(`CREATE TABLE ${schema}.t_p PARTITION OF ${schema}.t FOR VALUES FROM ('2026-01-01') TO ('2026-01-02')`);
    const lines = Array.from({ length: 1000 }, (_, i) => `2026-01-01T00:00:${String(i % 60).padStart(2, '0')}Z\t${i / 2}\n`);
    await pipeline(Readable.from([lines.join('')]), client.query(copyFrom(`COPY ${schema}.t (time, v) FROM STDIN`)));
    const r = await client.query<{ n: string; s: number }>(`SELECT count(*) AS n, sum(v) AS s FROM ${schema}.t`);
    expect(r.rows[0]).toEqual({ n: '1000', s: (999 * 1000) / 4 });
  });
});
