/**
 * PostgreSQL for the tests, from Debian's server binaries (/usr/lib/postgresql/<major>/bin, package
 * `postgresql`), with a cluster of its own under .services/run/postgres (never the system's clusters,
 * pg_ctlcluster or service): a test superuser with a password (SCRAM), loopback only on its own port,
 * its unix socket inside the run folder, TLS on with a certificate the harness generates. Also
 * `DedicatedPostgres`: a cluster of a test's own (temp folder, free port) for tests that stop, crash and
 * restart the server, so the shared one is never touched.
 *
 * Design constraints:
 * - PostgreSQL refuses to run as root. When the harness runs as root (CI), the cluster belongs to a
 *   system user of its own (`layergate-pg`, created with `useradd --system` when missing) and every
 *   server binary is run through `setpriv`, which execs (no intermediate process), so the pid the harness
 *   records is the server's. Run as another user, the server runs as that user.
 * - The server's major version is pinned (PG_MAJOR, Debian bookworm's): a cluster's files belong to one
 *   major, and the outputs' tests are written against its behaviour. Another major installed, or a data
 *   folder made by another, fails with a message that says so instead of starting something else.
 * - `down` sends SIGTERM, which PostgreSQL reads as a *smart* shutdown (wait for every client to leave):
 *   a small shell wrapper turns it into SIGINT (fast shutdown: roll back open transactions, checkpoint,
 *   exit) so `down` never hangs on an idle pool of a test.
 * - Readiness is `SELECT 1` through `pg`, the gateway's driver, over TLS, in the test database (created
 *   by the probe when missing, so the first `up` and a restarted cluster behave the same).
 */
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { freePort } from '../support/wait.js';
import { HOST, POSTGRES } from './endpoints.js';
import type { TestService } from './service.js';
import { DedicatedChild } from './dedicated-child.js';
import { type ServerCertificate, serverCertificate } from './test-ca.js';
import { aptInstall, capture, ensureDir, runDir, runLogged, spawnDetached, step, waitReady, which, writeIfChanged } from './process.js';

const NAME = 'postgres';
/** the server major the tests expect: Debian 12 (bookworm) ships PostgreSQL 15 (`apt-cache policy postgresql`) */
export const PG_MAJOR = 15;
/** the system user that owns the clusters when the harness runs as root */
export const PG_SYSTEM_USER = 'layergate-pg';

const dir = runDir(NAME);
const dataDir = path.join(dir, 'data');
const socketDir = path.join(dir, 'socket');
const logFile = path.join(dir, 'postgres.log');

/** Where Debian put the server binaries of PG_MAJOR; fails clearly when only another major is installed. */
export function pgBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  const wanted = path.join(root, String(PG_MAJOR), 'bin');
  if (existsSync(path.join(wanted, 'postgres'))) return wanted;
  const others = existsSync(root) ? readdirSync(root).filter((v) => existsSync(path.join(root, v, 'bin', 'postgres'))) : [];
  if (others.length > 0) {
    throw new Error(
      `postgres: the tests expect PostgreSQL ${PG_MAJOR} (Debian bookworm's server binaries under ${wanted}), found only ${others.join(', ')} under ${root}; install postgresql-${PG_MAJOR}`,
    );
  }
  return undefined;
}

function bin(name: 'initdb' | 'postgres'): string {
  const d = pgBinDir();
  if (!d) throw new Error(`postgres: PostgreSQL ${PG_MAJOR} is not installed (run \`npm run services -- up\`, which installs Debian's postgresql)`);
  return path.join(d, name);
}

interface RunAs {
  uid: number;
  gid: number;
  /** the command prefix that runs a binary as that user (empty when the harness is that user) */
  prefix: string[];
}

/** The user the server runs as: this one, or (as root) PG_SYSTEM_USER, created when missing. */
export async function pgRunAs(): Promise<RunAs> {
  if (process.getuid?.() !== 0) return { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, prefix: [] };
  let ids = await userIds(PG_SYSTEM_USER);
  if (!ids) {
    await capture(which('useradd') ?? 'useradd', [
      '--system',
      '--no-create-home',
      '--home-dir',
      '/nonexistent',
      '--shell',
      '/usr/sbin/nologin',
      PG_SYSTEM_USER,
    ]).catch((err: Error) => {
      // a concurrent harness (another checkout) may have created it meanwhile
      if (!/already exists/.test(err.message)) throw err;
    });
    ids = await userIds(PG_SYSTEM_USER);
    if (!ids) throw new Error(`postgres: could not create the system user ${PG_SYSTEM_USER}`);
  }
  return { ...ids, prefix: [which('setpriv') ?? 'setpriv', `--reuid=${ids.uid}`, `--regid=${ids.gid}`, '--clear-groups', '--'] };
}

async function userIds(user: string): Promise<{ uid: number; gid: number } | undefined> {
  try {
    const uid = Number((await capture('id', ['-u', user])).trim());
    const gid = Number((await capture('id', ['-g', user])).trim());
    return Number.isInteger(uid) && Number.isInteger(gid) ? { uid, gid } : undefined;
  } catch {
    return undefined;
  }
}

/** mkdir owned by the server's user (mode 0700: PostgreSQL refuses a data folder others can read). */
function ownedDir(d: string, who: RunAs, mode = 0o700): void {
  mkdirSync(d, { recursive: true });
  chownSync(d, who.uid, who.gid);
  chmodSync(d, mode);
}

/** The test CA and server certificate (./test-ca.ts), the key owned by the server's user as PostgreSQL demands. */
async function generateCertificates(caFile: string, who: RunAs, log: string): Promise<ServerCertificate> {
  const { cert, key } = await serverCertificate({ service: NAME, caFile, caName: 'LayerGate PostgreSQL test CA', logFile: log });
  // PostgreSQL wants its key owned by the server's user and not readable by others
  chownSync(key, who.uid, who.gid);
  chmodSync(key, 0o600);
  chownSync(cert, who.uid, who.gid);
  chmodSync(path.dirname(caFile), 0o755);
  return { cert, key };
}

/** initdb a cluster (once): superuser and password from `credentials`, SCRAM for every connection. */
async function initCluster(data: string, who: RunAs, credentials: { user: string; password: string }, log: string): Promise<void> {
  const versionFile = path.join(data, 'PG_VERSION');
  if (existsSync(versionFile)) {
    const major = readFileSync(versionFile, 'utf8').trim();
    if (major !== String(PG_MAJOR)) {
      throw new Error(`postgres: the cluster in ${data} was made by PostgreSQL ${major}, the tests expect ${PG_MAJOR}; remove the folder to start afresh`);
    }
    return;
  }
  ownedDir(data, who);
  const pwfile = path.join(path.dirname(data), `.pwfile-${process.pid}`);
  writeFileSync(pwfile, `${credentials.password}\n`, { mode: 0o600 });
  chownSync(pwfile, who.uid, who.gid);
  try {
    await runLogged(
      NAME,
      who.prefix[0] ?? bin('initdb'),
      [
        ...who.prefix.slice(1),
        ...(who.prefix.length ? [bin('initdb')] : []),
        '-D',
        data,
        '-U',
        credentials.user,
        `--pwfile=${pwfile}`,
        '-A',
        'scram-sha-256',
        '-E',
        'UTF8',
        '--no-locale',
      ],
      { logFile: log, cwd: path.dirname(data) },
    );
  } finally {
    rmSync(pwfile, { force: true });
  }
}

/** The server's settings, as command-line options (the cluster's postgresql.conf stays initdb's). */
function serverArgs(o: { data: string; port: number; socket: string; cert: string; key: string }): string[] {
  const settings: Record<string, string> = {
    listen_addresses: HOST,
    port: String(o.port),
    unix_socket_directories: o.socket,
    ssl: 'on',
    ssl_cert_file: o.cert,
    ssl_key_file: o.key,
    // durability as a plant's server has it: the restart tests rely on what was committed surviving a crash
    fsync: 'on',
    synchronous_commit: 'on',
    shared_buffers: '64MB',
    max_connections: '200',
    log_destination: 'stderr',
    logging_collector: 'off',
    log_min_messages: 'warning',
    log_line_prefix: '%m [%p] ',
  };
  return ['-D', o.data, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
}

/**
 * `sh -c` that runs the server and turns SIGTERM into SIGINT (fast shutdown), waiting for its exit.
 * `$0` is the postgres binary, the rest its arguments.
 */
const FAST_STOP_WRAPPER = 'trap \'kill -INT "$child" 2>/dev/null\' TERM; "$0" "$@" & child=$!; wait "$child"; s=$?; wait "$child" 2>/dev/null; exit $s';

interface Connection {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  caFile: string;
}

/** `SELECT 1` through `pg` over TLS; creates `database` first when it is missing. */
async function selectOne(c: Connection): Promise<void> {
  const ssl = { ca: readFileSync(c.caFile), rejectUnauthorized: true };
  const connect = async (database: string): Promise<pg.Client> => {
    const client = new pg.Client({ host: c.host, port: c.port, user: c.user, password: c.password, database, ssl, connectionTimeoutMillis: 2000 });
    client.on('error', () => undefined);
    await client.connect();
    return client;
  };
  let client: pg.Client;
  try {
    client = await connect(c.database);
  } catch (err) {
    if ((err as { code?: string }).code !== '3D000') throw err; // invalid_catalog_name: the database is missing
    const admin = await connect('postgres');
    try {
      await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(c.database)}`).catch((e: { code?: string }) => {
        if (e.code !== '42P04') throw e; // created meanwhile by another probe
      });
    } finally {
      await admin.end();
    }
    client = await connect(c.database);
  }
  try {
    const r = await client.query<{ one: number; ssl: boolean; version: string }>(
      "SELECT 1 AS one, (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()) AS ssl, current_setting('server_version_num') AS version",
    );
    const row = r.rows[0]!;
    if (row.one !== 1) throw new Error(`SELECT 1 answered ${JSON.stringify(row)}`);
    if (!row.ssl) throw new Error('the connection is not encrypted (ssl off?)');
    if (Math.floor(Number(row.version) / 10000) !== PG_MAJOR) throw new Error(`the server is PostgreSQL ${row.version}, the tests expect ${PG_MAJOR}`);
  } finally {
    await client.end();
  }
}

/** The harness's PostgreSQL answers `SELECT 1` through `pg` over TLS, in the test database. */
export function postgresAnswers(): Promise<void> {
  return selectOne(POSTGRES);
}

export const postgres: TestService = {
  name: NAME,
  ports: [POSTGRES.port],
  logFile,
  async install() {
    if (!pgBinDir()) await step('postgres: apt-get install postgresql', () => aptInstall(NAME, ['postgresql']));
    if (!pgBinDir()) throw new Error(`postgres: apt-get install postgresql did not install PostgreSQL ${PG_MAJOR}'s server binaries`);
  },
  async start() {
    const who = await pgRunAs();
    ensureDir(dir);
    chmodSync(dir, 0o755);
    await initCluster(dataDir, who, POSTGRES, path.join(dir, 'initdb.log'));
    ownedDir(socketDir, who, 0o755);
    const { cert, key } = await generateCertificates(POSTGRES.caFile, who, path.join(dir, 'openssl.log'));
    const args = serverArgs({ data: dataDir, port: POSTGRES.port, socket: socketDir, cert, key });
    writeIfChanged(path.join(dir, 'server-args.txt'), `${args.join(' ')}\n`);
    spawnDetached({
      service: NAME,
      command: who.prefix[0] ?? '/bin/sh',
      args: [...who.prefix.slice(1), ...(who.prefix.length ? ['/bin/sh'] : []), '-c', FAST_STOP_WRAPPER, bin('postgres'), ...args],
      logFile,
      // the wrapper's command line names the data folder; the server's own does too
      marker: dataDir,
    });
  },
  async ready(timeoutMs) {
    await waitReady(NAME, postgresAnswers, { timeoutMs, logFile });
  },
};

/**
 * A PostgreSQL cluster of a test's own: temp folder, free port, TLS with its own certificate, the same
 * superuser and password as the shared one; a child of the test process. `stop` shuts it down fast
 * (SIGINT), `crash` is an immediate shutdown (SIGQUIT: every backend killed, no checkpoint, crash
 * recovery at the next start). `start` again keeps the data and the port.
 */
export class DedicatedPostgres extends DedicatedChild {
  port = 0;
  private who: RunAs | undefined;
  private args: string[] = [];

  constructor() {
    super(NAME);
    // the server's user must reach its data folder inside
    chmodSync(this.dir, 0o755);
  }

  get caFile(): string {
    return path.join(this.dir, 'certs', 'ca.crt');
  }

  get connection(): Connection {
    return { host: HOST, port: this.port, user: POSTGRES.user, password: POSTGRES.password, database: POSTGRES.database, caFile: this.caFile };
  }

  protected override async prepare(): Promise<void> {
    const who = (this.who ??= await pgRunAs());
    if (this.port === 0) this.port = await freePort();
    const data = path.join(this.dir, 'data');
    await initCluster(data, who, POSTGRES, path.join(this.dir, 'initdb.log'));
    ownedDir(path.join(this.dir, 'socket'), who, 0o755);
    const { cert, key } = await generateCertificates(this.caFile, who, path.join(this.dir, 'openssl.log'));
    this.args = serverArgs({ data, port: this.port, socket: path.join(this.dir, 'socket'), cert, key });
  }

  protected command() {
    const prefix = this.who?.prefix ?? [];
    // the postmaster's pid is the child's: setpriv execs it (its backends are its children)
    return { command: prefix[0] ?? bin('postgres'), args: [...prefix.slice(1), ...(prefix.length ? [bin('postgres')] : []), ...this.args] };
  }

  protected probe(): Promise<void> {
    return selectOne(this.connection);
  }

  /** fast shutdown (SIGINT: PostgreSQL takes SIGTERM as a smart shutdown, which waits for every client), or SIGKILL */
  override async stop(opts: { kill?: boolean } = {}): Promise<void> {
    await this.halt(opts.kill ? 'SIGKILL' : 'SIGINT');
  }

  /** immediate shutdown (SIGQUIT): every backend killed, no checkpoint, crash recovery at the next start, as after a power cut */
  async crash(): Promise<void> {
    await this.halt('SIGQUIT');
  }
}
