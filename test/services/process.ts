/**
 * Process plumbing shared by the test-service modules (kafka.ts, minio.ts, redis.ts, mosquitto.ts).
 *
 * Design constraints:
 * - Every server runs detached in its own session, stdout+stderr appended to a log file, and is known
 *   only by the pid file the harness wrote. `down` signals exactly those pids, and only after checking
 *   that the pid still belongs to the command line the harness started (a recycled pid is never hit).
 * - All state lives under `.services/` in the repository root: `cache/` for downloads and builds (kept
 *   between runs so a warm `up` is fast), `run/<service>/` for data, generated config, logs and pid files.
 * - A failure names the service and carries the tail of its log, so a broken start is diagnosable from
 *   the test output alone.
 * - Long steps print one line when they start and one with the elapsed seconds when they end, plus a
 *   heartbeat line while they run, so a cold build on a slow machine is visibly alive.
 */
import { spawn, execFile } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readlinkSync, readSync, fstatSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SERVICES_DIR } from './endpoints.js';

/** the checkout this harness belongs to (not where a symlinked .services points) */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SERVICES_ROOT = SERVICES_DIR;
export const CACHE_DIR = path.join(SERVICES_ROOT, 'cache');
export const RUN_DIR = path.join(SERVICES_ROOT, 'run');

export function runDir(service: string): string {
  return path.join(RUN_DIR, service);
}

export function ensureDir(dir: string): string {
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Progress lines on stderr: user-facing output of the CLI and the test setup, one line per step. */
export function progress(message: string): void {
  process.stderr.write(`[services] ${message}\n`);
}

/**
 * Run one long step with a start line, a heartbeat every `heartbeatMs`, and an end line with the
 * elapsed seconds (also on failure).
 */
export async function step<T>(label: string, work: () => Promise<T>, heartbeatMs = 30_000): Promise<T> {
  const started = Date.now();
  const elapsed = (): string => `${((Date.now() - started) / 1000).toFixed(1)} s`;
  progress(`${label} ...`);
  const heartbeat = setInterval(() => progress(`${label} still running (${elapsed()})`), heartbeatMs);
  try {
    const result = await work();
    progress(`${label} done in ${elapsed()}`);
    return result;
  } catch (error) {
    progress(`${label} FAILED after ${elapsed()}`);
    throw error;
  } finally {
    clearInterval(heartbeat);
  }
}

export class ServiceError extends Error {
  constructor(
    readonly service: string,
    message: string,
    readonly logTail?: string,
  ) {
    super(`${service}: ${message}${logTail ? `\n--- last lines of the ${service} log ---\n${logTail}` : ''}`);
    this.name = 'ServiceError';
  }
}

/** The last `lines` lines of a log file, or a note that there is none. */
export function logTail(file: string, lines = 40): string {
  if (!existsSync(file)) return `(no log at ${file})`;
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const length = Math.min(size, 64 * 1024);
    const buffer = Buffer.alloc(length);
    readSync(fd, buffer, 0, length, size - length);
    return (
      buffer
        .toString('utf8')
        .split('\n')
        .slice(-lines - 1)
        .join('\n')
        .trimEnd() || '(log is empty)'
    );
  } finally {
    closeSync(fd);
  }
}

/**
 * Run a command to completion with its output appended to `logFile`; throws with the log tail when it
 * exits non-zero. For install and build steps, not for servers.
 */
export function runLogged(
  service: string,
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; logFile: string },
): Promise<void> {
  ensureDir(path.dirname(options.logFile));
  const fd = openSync(options.logFile, 'a');
  writeFileSync(fd, `\n$ ${command} ${args.join(' ')}\n`);
  return new Promise<void>((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd ?? REPO_ROOT,
      env: options.env ?? process.env,
      stdio: ['ignore', fd, fd],
    });
    child.on('error', (error) => {
      closeSync(fd);
      reject(new ServiceError(service, `cannot run ${command}: ${error.message}`));
    });
    child.on('exit', (code, signal) => {
      closeSync(fd);
      if (code === 0) resolve();
      else reject(new ServiceError(service, `${command} ${args.join(' ')} exited with ${signal ?? code}`, logTail(options.logFile)));
    });
  });
}

/** Captured stdout of a short command; throws with stderr when it fails. */
export function capture(command: string, args: readonly string[], env?: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { env: env ?? process.env, maxBuffer: 4 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(' ')}: ${error.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** Absolute path of an executable on PATH, or undefined. */
export function which(executable: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, executable);
    if (existsSync(candidate)) return candidate;
  }
  // Debian puts daemons in /usr/sbin, which a non-login PATH may lack
  for (const dir of ['/usr/sbin', '/usr/local/sbin', '/sbin']) {
    const candidate = path.join(dir, executable);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// pid files

export interface PidRecord {
  pid: number;
  /**
   * a substring of /proc/<pid>/cmdline that identifies the process the harness started; together with
   * the process's working directory (inside the service's run folder) it guards against pid reuse
   */
  marker: string;
  startedAt: string;
}

function pidFilePath(service: string): string {
  return path.join(runDir(service), `${service}.pid`);
}

export function readPidRecord(service: string): PidRecord | undefined {
  const file = pidFilePath(service);
  if (!existsSync(file)) return undefined;
  try {
    const record = JSON.parse(readFileSync(file, 'utf8')) as PidRecord;
    return Number.isInteger(record.pid) && record.pid > 0 ? record : undefined;
  } catch {
    return undefined;
  }
}

function cmdlineOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return undefined;
  }
}

function cwdOf(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/cwd`);
  } catch {
    return undefined;
  }
}

function isZombie(pid: number): boolean {
  try {
    // field 3 of /proc/<pid>/stat, after the parenthesised command name
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

/** The pid the harness started for `service`, if that very process is still running. */
export function livePid(service: string): number | undefined {
  const record = readPidRecord(service);
  if (!record) return undefined;
  const cmdline = cmdlineOf(record.pid);
  if (cmdline === undefined || !cmdline.includes(record.marker) || isZombie(record.pid)) return undefined;
  // the harness starts every server inside its run folder (Redis then moves into run/redis/data)
  if (!cwdOf(record.pid)?.startsWith(runDir(service))) return undefined;
  return record.pid;
}

export interface SpawnSpec {
  service: string;
  command: string;
  args: readonly string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  logFile: string;
  /** substring of the command line that proves a pid is still this server (guards against pid reuse) */
  marker: string;
}

/** Start a server detached from this process, output to its log file, and record its pid. */
export function spawnDetached(spec: SpawnSpec): number {
  ensureDir(path.dirname(spec.logFile));
  const fd = openSync(spec.logFile, 'a');
  writeFileSync(fd, `\n===== ${new Date().toISOString()} starting: ${spec.command} ${spec.args.join(' ')}\n`);
  const child = spawn(spec.command, spec.args, {
    cwd: spec.cwd ?? runDir(spec.service),
    env: spec.env ?? process.env,
    detached: true,
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  if (child.pid === undefined) throw new ServiceError(spec.service, `could not start ${spec.command}`, logTail(spec.logFile));
  child.unref();
  const record: PidRecord = { pid: child.pid, marker: spec.marker, startedAt: new Date().toISOString() };
  writeFileSync(pidFilePath(spec.service), `${JSON.stringify(record)}\n`);
  return child.pid;
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (error) {
    // it may have exited between the check and the signal
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return isZombie(pid);
  } catch {
    return true;
  }
}

/**
 * Stop the process recorded in the service's pid file: SIGTERM, then SIGKILL after `graceMs`.
 * Returns the pid it stopped, or undefined when nothing of ours was running. Never signals a pid whose
 * command line no longer matches what the harness started.
 */
export async function stopByPidFile(service: string, graceMs = 20_000): Promise<number | undefined> {
  const pid = livePid(service);
  if (pid === undefined) {
    rmSync(pidFilePath(service), { force: true });
    return undefined;
  }
  signal(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (!processGone(pid) && Date.now() < deadline) await sleep(100);
  if (!processGone(pid)) {
    signal(pid, 'SIGKILL');
    while (!processGone(pid)) await sleep(50);
  }
  rmSync(pidFilePath(service), { force: true });
  return pid;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
export function portOpen(port: number, host = '127.0.0.1', timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = (open: boolean): void => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Poll `probe` until it resolves, the deadline passes, or the server process dies; on failure throw
 * with the server's log tail and the probe's last error.
 */
export async function waitReady(
  service: string,
  probe: () => Promise<void>,
  options: { timeoutMs: number; logFile: string; intervalMs?: number },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      await probe();
      return;
    } catch (error) {
      lastError = error;
    }
    if (livePid(service) === undefined)
      throw new ServiceError(service, `the server exited before it answered (${describe(lastError)})`, logTail(options.logFile));
    if (Date.now() >= deadline)
      throw new ServiceError(
        service,
        `no answer within ${Math.round(options.timeoutMs / 1000)} s (last probe: ${describe(lastError)})`,
        logTail(options.logFile),
      );
    await sleep(options.intervalMs ?? 250);
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Fail early, with a clear message, when a port the harness needs is held by a process it did not start. */
export async function assertPortsFree(service: string, ports: readonly number[]): Promise<void> {
  for (const port of ports) {
    if (await portOpen(port))
      throw new ServiceError(
        service,
        `port 127.0.0.1:${port} is already in use by a process the harness did not start ` +
          `(no live pid file under ${runDir(service)}); stop it or free the port`,
      );
  }
}

/** Keeps a file's content when it is already identical, so generated configs do not churn. */
export function writeIfChanged(file: string, content: string, mode?: number): void {
  if (existsSync(file) && readFileSync(file, 'utf8') === content) return;
  ensureDir(path.dirname(file));
  writeFileSync(file, content, mode === undefined ? undefined : { mode });
}

// ---------------------------------------------------------------------------------------------
// Debian packages

/**
 * Install Debian packages for binaries that are missing. Daemons must not be started by the install
 * (the harness runs its own instances on its own ports), so a policy-rc.d that forbids starting
 * services is put in place for the duration when the machine has none, and RUNLEVEL=1 is set.
 */
export async function aptInstall(service: string, packages: readonly string[]): Promise<void> {
  const logFile = path.join(CACHE_DIR, 'logs', 'apt.log');
  const asRoot = process.getuid?.() === 0;
  const sudo = asRoot ? [] : ['sudo', '-n'];
  const policy = '/usr/sbin/policy-rc.d';
  const placedPolicy = asRoot && !existsSync(policy);
  if (placedPolicy) writeFileSync(policy, '#!/bin/sh\n# placed by LayerGate test services during apt-get install\nexit 101\n', { mode: 0o755 });
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive', RUNLEVEL: '1' };
  const [command, ...prefix] = [...sudo, 'apt-get'];
  try {
    try {
      await runLogged(service, command!, [...prefix, 'install', '-y', '--no-install-recommends', ...packages], { env, logFile });
    } catch {
      // the package lists may be missing or stale on a fresh machine
      await runLogged(service, command!, [...prefix, 'update'], { env, logFile });
      await runLogged(service, command!, [...prefix, 'install', '-y', '--no-install-recommends', ...packages], { env, logFile });
    }
  } finally {
    if (placedPolicy) rmSync(policy, { force: true });
  }
}
