/**
 * A server of a test's own, run as a child of the test process on its own free loopback ports with its
 * own data folder in a temp directory (`lg-dedicated-<name>-*`), for tests that stop, kill, freeze and
 * restart a server while the shared ones other tests use are never touched. Kafka, Redis and MinIO
 * (./dedicated.ts), FerretDB (./ferretdb.ts) and PostgreSQL (./postgres.ts) are built on it.
 *
 * Design constraints:
 * - `stop()` then `start()` keeps the data folder and the ports, as a restart of a plant server would,
 *   so what the server acknowledged before the stop is still there.
 * - `start()` resolves once `probe()` succeeds (within 120 s), and fails with the log's tail when the
 *   process exits first or never answers.
 * - `stop()` is SIGTERM (a clean shutdown; PostgreSQL's override sends SIGINT, its fast shutdown)
 *   unless `kill: true`; it waits until the process is gone (SIGKILL after 30 s). `pause()`/`resume()` freeze and thaw it (SIGSTOP/SIGCONT).
 * - `dispose()` stops the process and removes the folder; call it from afterAll. Only the processes
 *   started here are ever signalled, by their pid.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { logTail, sleep } from './process.js';

const ANSWER_WITHIN_MS = 120_000;
const EXIT_WITHIN_MS = 30_000;

export interface DedicatedServer {
  readonly name: string;
  readonly dir: string;
  readonly logFile: string;
  /** start (or start again, same ports and data) and wait until it answers */
  start(): Promise<void>;
  stop(opts?: { kill?: boolean }): Promise<void>;
  pause(): void;
  resume(): void;
  dispose(): Promise<void>;
  readonly running: boolean;
}

export abstract class DedicatedChild implements DedicatedServer {
  readonly dir: string;
  readonly logFile: string;
  private child: ChildProcess | undefined;
  private exited: Promise<void> | undefined;

  constructor(readonly name: string) {
    this.dir = mkdtempSync(path.join(os.tmpdir(), `lg-dedicated-${name}-`));
    this.logFile = path.join(this.dir, `${name}.log`);
  }

  /** what to run (`env` defaults to the test process's) */
  protected abstract command(): { command: string; args: string[]; env?: NodeJS.ProcessEnv };
  /** resolves when the server answers a client, throws while it does not */
  protected abstract probe(): Promise<void>;
  /** before each start: ports, folders, certificates */
  protected async prepare(): Promise<void> {}

  get running(): boolean {
    return this.child !== undefined;
  }

  /** the server process's pid while it runs */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<void> {
    if (this.child) return;
    await this.prepare();
    const { command, args, env } = this.command();
    const fd = openSync(this.logFile, 'a');
    const child = spawn(command, args, { cwd: this.dir, env: env ?? process.env, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    void this.exited.then(() => {
      if (this.child === child) this.child = undefined;
    });
    const deadline = Date.now() + ANSWER_WITHIN_MS;
    let last: unknown;
    for (;;) {
      if (!this.child) throw new Error(`dedicated ${this.name} exited before it answered:\n${logTail(this.logFile)}`);
      try {
        await this.probe();
        return;
      } catch (err) {
        last = err;
      }
      if (Date.now() > deadline)
        throw new Error(`dedicated ${this.name} did not answer within ${ANSWER_WITHIN_MS / 1000} s (${String(last)}):\n${logTail(this.logFile)}`);
      await sleep(250);
    }
  }

  async stop(opts: { kill?: boolean } = {}): Promise<void> {
    await this.halt(opts.kill ? 'SIGKILL' : 'SIGTERM');
  }

  /** send `signal` and wait until the process is gone; SIGKILL when it is not within 30 s */
  protected async halt(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill(signal);
    const gone = await Promise.race([this.exited!.then(() => true), sleep(EXIT_WITHIN_MS).then(() => false)]);
    if (!gone) {
      child.kill('SIGKILL');
      await this.exited;
    }
    this.child = undefined;
  }

  /**
   * Freeze the server (SIGSTOP): it answers nothing, while the kernel still takes its connections and
   * the bytes sent to them, as a hung or swapped-out server does. `resume` (SIGCONT) lets it read them.
   */
  pause(): void {
    if (!this.child) throw new Error(`dedicated ${this.name} is not running`);
    this.child.kill('SIGSTOP');
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }

  async dispose(): Promise<void> {
    this.resume();
    await this.stop({ kill: true });
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** the server's log, for a failing test's message */
  log(): string {
    return existsSync(this.logFile) ? readFileSync(this.logFile, 'utf8') : '';
  }
}
