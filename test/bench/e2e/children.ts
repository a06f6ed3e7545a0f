/**
 * The benchmark's child processes (gateway harness, load generators, bare bridges): forked with the
 * tsx loader so they run the TypeScript sources, each with its own log file, an IPC channel for typed
 * messages, and a clear error (with the log's last lines) when one dies before it answers.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';

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
  ) {
    const fd = openSync(logFile, 'a');
    this.proc = fork(script, args, { execArgv: ['--import', 'tsx'], stdio: ['ignore', fd, fd, 'ipc'], env });
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

  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it is gone. */
  async kill(graceMs = 5000): Promise<void> {
    if (!this.alive) return;
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(t);
  }
}
