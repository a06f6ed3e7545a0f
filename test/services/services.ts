/**
 * Orchestrates the test services: `up`, `down` and `status` over Kafka, MinIO (local + cloud), Redis and
 * Mosquitto, for the CLI (cli.ts) and the vitest global setup (global-setup.ts).
 *
 * Design constraints:
 * - Idempotent: `up` leaves running servers alone (it only checks that they answer), installs what is
 *   missing, starts what is down, and waits until every server answers a real request. A failed `up`
 *   stops what it started and reports the failing server's log tail.
 * - Installs run side by side where they can (Maven, the Go build, apt) but apt-get runs one at a time,
 *   since dpkg takes a machine-wide lock.
 * - Concurrent callers (two test runs, a test run and the CLI) are serialised by a lock directory whose
 *   owner pid is checked, so a crashed holder does not block the next caller.
 * - Test runs hold leases. A server started by a test run is marked; the last test run to finish stops
 *   the marked servers, so a run leaves the machine as it found it even when runs overlap. Servers
 *   started by hand (`npm run services -- up`) carry no mark and are never stopped by a test run.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DEMO_ENV_FILE, writeDemoEnv } from './demo-env.js';
import { ferretdb } from './ferretdb.js';
import { kafka } from './kafka.js';
import { minioCloud, minioLocal } from './minio.js';
import { mosquitto } from './mosquitto.js';
import { postgres } from './postgres.js';
import { redis } from './redis.js';
import type { TestService } from './service.js';
import { assertPortsFree, ensureDir, livePid, portOpen, progress, RUN_DIR, runDir, ServiceError, sleep, step, stopByPidFile } from './process.js';

export const SERVICES: readonly TestService[] = [kafka, minioLocal, minioCloud, redis, mosquitto, postgres, ferretdb];

/** seconds each server may take from spawn to answering (Kafka's JVM start dominates) */
const READY_TIMEOUT_MS: Record<string, number> = { kafka: 120_000 };
const DEFAULT_READY_TIMEOUT_MS = 45_000;

const LOCK_DIR = path.join(RUN_DIR, '.lock');
const LEASES_DIR = path.join(RUN_DIR, 'leases');
const TEST_MARK = 'started-by-test-run';

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Run `work` holding the harness lock; waits for another holder, breaks the lock of a dead one. */
export async function withLock<T>(work: () => Promise<T>, waitMs = 30 * 60_000): Promise<T> {
  ensureDir(RUN_DIR);
  const deadline = Date.now() + waitMs;
  let announced = false;
  for (;;) {
    try {
      mkdirSync(LOCK_DIR);
      writeFileSync(path.join(LOCK_DIR, 'owner'), `${process.pid}\n`);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number.parseInt(readFileSafe(path.join(LOCK_DIR, 'owner')) ?? '', 10);
      const ownerless = Number.isNaN(owner) && Date.now() - lockAgeStart() > 60_000;
      if ((Number.isInteger(owner) && owner > 0 && !pidAlive(owner)) || ownerless) {
        rmSync(LOCK_DIR, { recursive: true, force: true });
        continue;
      }
      if (!announced) {
        progress(`waiting for another services command (pid ${Number.isNaN(owner) ? '?' : owner}) to finish`);
        announced = true;
      }
      if (Date.now() > deadline) throw new Error(`the services lock ${LOCK_DIR} is held by pid ${owner}; gave up waiting`);
      await sleep(500);
    }
  }
  try {
    return await work();
  } finally {
    rmSync(LOCK_DIR, { recursive: true, force: true });
  }
}

/** when the lock directory was made (a holder that died before writing its pid leaves it ownerless) */
function lockAgeStart(): number {
  try {
    return statSync(LOCK_DIR).mtimeMs;
  } catch {
    return Date.now();
  }
}

function readFileSafe(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** apt-get installs must not overlap; everything else may */
const APT_SERVICES = new Set(['redis', 'mosquitto', 'postgres']);

async function installAll(services: readonly TestService[]): Promise<void> {
  const apt = services.filter((service) => APT_SERVICES.has(service.name));
  const rest = services.filter((service) => !APT_SERVICES.has(service.name));
  await Promise.all([
    (async () => {
      for (const service of apt) await service.install();
    })(),
    ...rest.map((service) => service.install()),
  ]);
}

export interface UpResult {
  /** the services this call started (the others were already running) */
  started: string[];
  seconds: number;
}

/** Bring every service up (caller holds the lock). */
export async function upLocked(services: readonly TestService[] = SERVICES): Promise<UpResult> {
  const startedAt = Date.now();
  const down = services.filter((service) => livePid(service.name) === undefined);
  for (const service of down) await assertPortsFree(service.name, service.ports);

  await installAll(down);

  const started: TestService[] = [];
  try {
    for (const service of down) {
      ensureDir(runDir(service.name));
      await service.start();
      started.push(service);
      progress(`${service.name}: started (pid ${livePid(service.name) ?? '?'}), log ${path.relative(process.cwd(), service.logFile)}`);
    }
    await step(
      `waiting for ${services.map((service) => service.name).join(', ')} to answer`,
      () => Promise.all(services.map((service) => service.ready(READY_TIMEOUT_MS[service.name] ?? DEFAULT_READY_TIMEOUT_MS))),
      15_000,
    );
  } catch (error) {
    for (const service of started.reverse()) await stopByPidFile(service.name);
    if (started.length > 0) progress(`stopped ${started.map((service) => service.name).join(', ')} again after the failure`);
    throw error;
  }
  // every server of the strategy demo answers: tell `npm start` where (only when the whole harness is up)
  if (services === SERVICES) writeDemoEnv();
  const seconds = (Date.now() - startedAt) / 1000;
  progress(
    down.length === 0
      ? `all ${services.length} services were already up (checked in ${seconds.toFixed(1)} s)`
      : `all ${services.length} services up in ${seconds.toFixed(1)} s (started: ${started.map((service) => service.name).join(', ')})`,
  );
  return { started: started.map((service) => service.name), seconds };
}

export function up(services: readonly TestService[] = SERVICES): Promise<UpResult> {
  return withLock(() => upLocked(services));
}

/** Stop the given services by their pid files (caller holds the lock). */
export async function downLocked(services: readonly TestService[] = SERVICES): Promise<string[]> {
  const stopped: string[] = [];
  // reverse order of start: clients of nothing else, so the order only keeps logs tidy
  for (const service of [...services].reverse()) {
    const pid = await stopByPidFile(service.name);
    rmSync(path.join(runDir(service.name), TEST_MARK), { force: true });
    if (pid !== undefined) {
      stopped.push(service.name);
      progress(`${service.name}: stopped pid ${pid}`);
    } else {
      progress(`${service.name}: was not running`);
    }
  }
  // the strategy demo needs every server: its env file goes with the first one stopped
  if (stopped.length > 0) rmSync(DEMO_ENV_FILE, { force: true });
  return stopped;
}

export function down(services: readonly TestService[] = SERVICES): Promise<string[]> {
  return withLock(() => downLocked(services));
}

export interface ServiceStatus {
  name: string;
  pid: number | undefined;
  ports: readonly number[];
  state: 'up' | 'not answering' | 'down' | 'port held by another process';
  detail?: string;
}

export async function status(services: readonly TestService[] = SERVICES): Promise<ServiceStatus[]> {
  return Promise.all(
    services.map(async (service): Promise<ServiceStatus> => {
      const pid = livePid(service.name);
      if (pid === undefined) {
        const held = (await Promise.all(service.ports.map((port) => portOpen(port)))).some(Boolean);
        return { name: service.name, pid, ports: service.ports, state: held ? 'port held by another process' : 'down' };
      }
      try {
        await service.ready(3000);
        return { name: service.name, pid, ports: service.ports, state: 'up' };
      } catch (error) {
        const detail = error instanceof ServiceError ? error.message.split('\n')[0] : String(error);
        return { name: service.name, pid, ports: service.ports, state: 'not answering', ...(detail ? { detail } : {}) };
      }
    }),
  );
}

export function formatStatus(rows: readonly ServiceStatus[]): string {
  const lines = [['service', 'pid', 'ports', 'state'], ...rows.map((row) => [row.name, row.pid?.toString() ?? '-', row.ports.join(','), row.state])];
  const widths = lines[0]!.map((_, column) => Math.max(...lines.map((line) => line[column]!.length)));
  const text = lines.map((line) =>
    line
      .map((cell, column) => cell.padEnd(widths[column]!))
      .join('  ')
      .trimEnd(),
  );
  for (const row of rows) if (row.detail) text.push(`  ${row.name}: ${row.detail}`);
  return text.join('\n');
}

// ---------------------------------------------------------------------------------------------
// test-run leases

function liveLeases(): number[] {
  if (!existsSync(LEASES_DIR)) return [];
  const live: number[] = [];
  for (const entry of readdirSync(LEASES_DIR)) {
    const pid = Number.parseInt(entry, 10);
    if (Number.isInteger(pid) && pidAlive(pid)) live.push(pid);
    else rmSync(path.join(LEASES_DIR, entry), { force: true });
  }
  return live;
}

/**
 * For a test run: take a lease, bring up whatever is down, and mark what this run started. Returns the
 * services it started.
 */
export function acquireForTestRun(): Promise<UpResult> {
  return withLock(async () => {
    ensureDir(LEASES_DIR);
    const lease = path.join(LEASES_DIR, String(process.pid));
    writeFileSync(lease, `${new Date().toISOString()}\n`);
    let result: UpResult;
    try {
      result = await upLocked();
    } catch (error) {
      rmSync(lease, { force: true });
      throw error;
    }
    for (const name of result.started) writeFileSync(path.join(runDir(name), TEST_MARK), `${process.pid}\n`);
    return result;
  });
}

/**
 * For a test run's teardown: drop the lease; when no other test run is still using the services, stop
 * the ones a test run started. Returns the services it stopped.
 */
export function releaseForTestRun(): Promise<string[]> {
  return withLock(async () => {
    rmSync(path.join(LEASES_DIR, String(process.pid)), { force: true });
    const others = liveLeases();
    if (others.length > 0) {
      progress(`leaving the services running for the test run(s) still using them (pid ${others.join(', ')})`);
      return [];
    }
    const marked = SERVICES.filter((service) => existsSync(path.join(runDir(service.name), TEST_MARK)));
    return marked.length === 0 ? [] : downLocked(marked);
  });
}

/** A hand-run `up` adopts servers a test run started, so the end of that run leaves them running. */
export function clearTestMarks(): void {
  for (const service of SERVICES) rmSync(path.join(runDir(service.name), TEST_MARK), { force: true });
}
