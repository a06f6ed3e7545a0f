/**
 * An independent Sparkplug B edge node for tests: test/tools/sparkplug_edge_node.py on aiospb (PyPI,
 * pinned in requirements-sparkplug.txt), run by python.sh in a venv of its own (.services/pyvenv-sparkplug)
 * because aiospb needs Python 3.12 or newer. It shares no code with LayerGate: its births, data, seq,
 * bdSeq, primary host awareness and store and forward are all aiospb's.
 *
 * The test sets the node's and its device's metric values over stdin and waits on what the node
 * reports on stdout (see the script's docstring).
 */
import { type ChildProcessWithoutNullStreams, execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { waitFor } from '../support/wait.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const run = promisify(execFile);

/** The version the venv's interpreter must have at least (aiospb 8's `Requires-Python`). */
const MIN_PYTHON: readonly [number, number] = [3, 12];

function pythonVersion(cmd: string, env?: NodeJS.ProcessEnv): [number, number] | undefined {
  try {
    const out = execFileSync(cmd, ['-c', 'import sys; print(sys.version_info[0], sys.version_info[1])'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      ...(env ? { env } : {}),
    });
    const [major, minor] = out.trim().split(' ').map(Number);
    return major !== undefined && minor !== undefined ? [major, minor] : undefined;
  } catch {
    return undefined;
  }
}

const atLeastMin = (v: [number, number] | undefined): boolean => v !== undefined && (v[0] > MIN_PYTHON[0] || (v[0] === MIN_PYTHON[0] && v[1] >= MIN_PYTHON[1]));

let python: string | undefined;

/**
 * An interpreter for the venv: $SPARKPLUG_PYTHON, else python3 when new enough, else python3.13 or
 * python3.12 on the PATH, else the newest pyenv version that is (the machine's python3 is older).
 */
export function edgeNodePython(): string {
  if (python) return python;
  const candidates = [process.env.SPARKPLUG_PYTHON, 'python3', 'python3.13', 'python3.12'].filter((c): c is string => !!c);
  for (const c of candidates) if (atLeastMin(pythonVersion(c))) return (python = c);
  let pyenvRoot: string | undefined;
  try {
    pyenvRoot = execFileSync('pyenv', ['root'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    pyenvRoot = process.env.PYENV_ROOT;
  }
  const versions = pyenvRoot && existsSync(path.join(pyenvRoot, 'versions')) ? readdirSync(path.join(pyenvRoot, 'versions')) : [];
  const pyenvPythons = versions
    .filter((v) => /^\d+\.\d+(\.\d+)?$/.test(v))
    .sort((a, b) => b.localeCompare(a, 'en', { numeric: true }))
    .map((v) => path.join(pyenvRoot!, 'versions', v, 'bin', 'python3'));
  for (const c of pyenvPythons) if (existsSync(c) && atLeastMin(pythonVersion(c))) return (python = c);
  throw new Error(
    `the Sparkplug edge node (aiospb) needs Python ${MIN_PYTHON.join('.')} or newer: none found (python3, python3.13, python3.12, pyenv versions); set SPARKPLUG_PYTHON`,
  );
}

function venvEnv(): NodeJS.ProcessEnv {
  return { ...process.env, PYTHON: edgeNodePython(), PYVENV: 'pyvenv-sparkplug', PYREQUIREMENTS: 'requirements-sparkplug.txt' };
}

/** Create the edge node's venv if needed (slow only the first time); call it from a beforeAll with a long timeout. */
export async function setupEdgeNode(): Promise<void> {
  await run(path.join(here, 'python.sh'), ['--setup'], { env: venvEnv(), maxBuffer: 16 * 1024 * 1024 });
}

export interface EdgeNodeConfig {
  host: string;
  port: number;
  username: string;
  password: string;
  group: string;
  node: string;
  device: string;
  /** the Sparkplug host id of its primary host application */
  primary: string;
  /** the folder of aiospb's file historian (what it stores while its primary host is offline) */
  historianDir: string;
  scanRateMs?: number;
}

/** One line the edge node printed. */
export type EdgeNodeEvent =
  | { event: 'session' }
  | { event: 'publishing'; value: boolean }
  | { event: 'stored'; key: string; values: Record<string, number> }
  | { event: 'applied'; line: number };

/** Metric values by name, on the node and on its device (each has `Temperature` and `Counter`). */
export interface EdgeNodeValues {
  node?: Record<string, number>;
  device?: Record<string, number>;
}

export class EdgeNode {
  readonly events: EdgeNodeEvent[] = [];
  private readonly proc: ChildProcessWithoutNullStreams;
  private readonly exited: Promise<number | null>;
  private stderr = '';
  private lines = 0;

  constructor(cfg: EdgeNodeConfig) {
    this.proc = spawn(path.join(here, 'python.sh'), ['sparkplug_edge_node.py', JSON.stringify(cfg)], { env: venvEnv() });
    createInterface({ input: this.proc.stdout }).on('line', (line) => this.events.push(JSON.parse(line) as EdgeNodeEvent));
    this.proc.stderr.on('data', (d: Buffer) => {
      // aiospb logs every message at info; keep the tail for a failure's message
      this.stderr = (this.stderr + d.toString()).slice(-20_000);
    });
    this.exited = new Promise((resolve) => this.proc.on('exit', (code) => resolve(code)));
  }

  /** Whether aiospb currently publishes (its primary host online) rather than storing; undefined before it said. */
  get publishing(): boolean | undefined {
    const last = this.events.filter((e) => e.event === 'publishing').pop();
    return last?.event === 'publishing' ? last.value : undefined;
  }

  /** Wait until the node reports whether it publishes (true) or stores (false). */
  async waitPublishing(value: boolean, timeoutMs = 30_000): Promise<void> {
    await waitFor(`the edge node ${value ? 'publishing' : 'storing'}`, () => this.publishing === value || this.failed(), timeoutMs);
  }

  async waitSession(timeoutMs = 60_000): Promise<void> {
    await waitFor('the edge node connected', () => this.events.some((e) => e.event === 'session') || this.failed(), timeoutMs);
  }

  /** Set metric values and wait until the node's scanner reads them. */
  async set(values: EdgeNodeValues): Promise<void> {
    const line = ++this.lines;
    this.proc.stdin.write(`${JSON.stringify(values)}\n`);
    await waitFor(`edge node line ${line} applied`, () => this.events.some((e) => e.event === 'applied' && e.line >= line) || this.failed());
  }

  /** The values the node kept in its historian for one edge node or device key (`G/N` or `G/N/D`) and alias. */
  stored(key: string, alias: number): number[] {
    return this.events.flatMap((e) => (e.event === 'stored' && e.key === key && String(alias) in e.values ? [e.values[String(alias)]!] : []));
  }

  /** Kill the process (SIGKILL): the broker sees the connection drop and publishes the node's will, its NDEATH. */
  async kill(): Promise<void> {
    this.proc.kill('SIGKILL');
    await this.exited;
  }

  /** End the session cleanly (DDEATH, NDEATH, disconnect) and wait for the process. */
  async stop(): Promise<void> {
    if (this.proc.exitCode === null) this.proc.stdin.end();
    const code = await Promise.race([this.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 15_000))]);
    if (code === 'timeout') {
      this.proc.kill('SIGKILL');
      await this.exited;
    }
  }

  /** Throws with the node's log when it exited before it was stopped. */
  private failed(): false {
    if (this.proc.exitCode !== null) throw new Error(`the edge node exited with ${this.proc.exitCode}:\n${this.stderr}`);
    return false;
  }
}
