/**
 * The benchmark's child processes (gateway harness, load generators, bare bridges): forked with the
 * tsx loader so they run the TypeScript sources (or, for the gateway with `--compiled`, its build), each with its own log file, an IPC channel for typed
 * messages, and a clear error (with the log's last lines) when one dies before it answers.
 */
import { type ChildProcess, execFileSync, fork } from 'node:child_process';
import { closeSync, cpSync, existsSync, openSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GATEWAY_NODE_FLAGS } from '../../../gateway/runtime/node-flags.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..', '..');
/** where `buildGateway` puts the compiled repo (dist/ is git-ignored) */
const BUILD_DIR = path.join(repo, 'dist', 'bench-e2e');
let compiledHarness: string | undefined;

/**
 * With `--compiled`: a tsc build of the repo, whose harness the gateway children run with plain node,
 * as a plant runs the gateway (`node dist/gateway/cli/main.js`). Under the tsx loader the gateway's
 * RSS is about 60 MB larger (the loader's hooks thread, source maps, sources kept twice): fine for
 * CPU and delivery figures, not for memory. Built once per run.
 */
export function buildGateway(): void {
  rmSync(BUILD_DIR, { recursive: true, force: true });
  execFileSync(
    process.execPath,
    [path.join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(repo, 'tsconfig.json'), '--noEmit', 'false', '--outDir', BUILD_DIR],
    {
      stdio: 'inherit',
    },
  );
  // what tsc does not copy: the generated protobuf code, and the .proto files the record encoders load
  cpSync(path.join(repo, 'wire', 'generated'), path.join(BUILD_DIR, 'wire', 'generated'), { recursive: true });
  cpSync(path.join(repo, 'proto'), path.join(BUILD_DIR, 'proto'), { recursive: true });
  compiledHarness = path.join(BUILD_DIR, 'test', 'bench', 'e2e', 'harness.js');
}

/**
 * Node options of the gateway child: the V8 options a plant's gateway runs with (its heap limit sets
 * how far garbage grows), then BENCH_E2E_GATEWAY_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
 */
export function gatewayNodeArgs(): string[] {
  return [...GATEWAY_NODE_FLAGS, ...(process.env.BENCH_E2E_GATEWAY_NODE_ARGS ?? '').split(' ').filter((a) => a !== '')];
}

/** The gateway harness to fork: the TypeScript source, or its build after `buildGateway`. */
export function harnessScript(): string {
  return compiledHarness ?? path.join(here, 'harness.ts');
}

export function logTail(file: string, lines = 15): string {
  if (!existsSync(file)) return '(no log)';
  return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

export class Child<M extends { type: string }, C> {
  readonly proc: ChildProcess;
  readonly exited: Promise<number | null>;
  private exitCode: number | null | undefined;
  private readonly listeners = new Set<(m: M) => void>();

  constructor(
    readonly name: string,
    script: string,
    args: string[],
    readonly logFile: string,
    env: NodeJS.ProcessEnv = process.env,
    /** more node options for this child (e.g. --cpu-prof for the gateway) */
    nodeArgs: string[] = [],
  ) {
    const fd = openSync(logFile, 'a');
    const loader = script.endsWith('.ts') ? ['--import', 'tsx'] : [];
    this.proc = fork(script, args, { execArgv: [...loader, ...nodeArgs], stdio: ['ignore', fd, fd, 'ipc'], env });
    closeSync(fd);
    this.exited = new Promise((resolve) =>
      this.proc.once('exit', (code) => {
        this.exitCode = code;
        resolve(code);
      }),
    );
    this.proc.on('message', (m) => {
      for (const l of [...this.listeners]) l(m as M);
    });
  }

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  get alive(): boolean {
    return this.exitCode === undefined;
  }

  on(listener: (m: M) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  send(cmd: C): void {
    if (this.alive && this.proc.connected) this.proc.send(cmd as object);
  }

  /** The next message of this type; rejects on a `failed` message, an exit or the timeout. */
  next<T extends M['type']>(type: T, timeoutMs: number): Promise<Extract<M, { type: T }>> {
    return new Promise((resolve, reject) => {
      const done = (fn: () => void): void => {
        clearTimeout(timer);
        off();
        this.proc.off('exit', onExit);
        fn();
      };
      const off = this.on((m) => {
        if (m.type === type) done(() => resolve(m as Extract<M, { type: T }>));
        else if (m.type === 'failed') done(() => reject(new Error(`${this.name}: ${(m as unknown as { message: string }).message}\n${logTail(this.logFile)}`)));
      });
      const onExit = (code: number | null): void =>
        done(() => reject(new Error(`${this.name} exited (code ${code}) before sending '${type}'; its log:\n${logTail(this.logFile)}`)));
      this.proc.once('exit', onExit);
      const timer = setTimeout(
        () => done(() => reject(new Error(`${this.name}: no '${type}' within ${timeoutMs} ms; its log:\n${logTail(this.logFile)}`))),
        timeoutMs,
      );
      if (!this.alive) onExit(this.exitCode ?? null);
    });
  }

  /** (after up to `exitingMs` for a child that exits by itself) SIGTERM, then SIGKILL after `graceMs`; resolves when it is gone. */
  async kill(graceMs = 5000, exitingMs = 0): Promise<void> {
    if (this.alive && exitingMs > 0) await Promise.race([this.exited, new Promise((r) => setTimeout(r, exitingMs).unref())]);
    if (!this.alive) return;
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(t);
  }
}
