/**
 * Shared setup of the opcua input's tests: each input with the real Pipeline and SQLite buffer behind
 * it (one sink `lake`), and their cleanup: inputs stopped and buffers closed after each test, data
 * folders removed after all. And the typed round trip: values written to a server's variable, read
 * back from the records the input stored.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import { openBuffer } from '../../gateway/buffer/index.js';
import type { RecordBuffer } from '../../gateway/buffer/types.js';
import { Pipeline } from '../../gateway/ingest/pipeline.js';
import { type OpcuaInput, definition } from '../../plugins/inputs/opcua/index.js';
import { opcuaConfigSchema } from '../../plugins/inputs/opcua/schema.js';
import { parseScalarBody } from '../../gateway/plugin-api/index.js';
import { waitFor } from './wait.js';

const silent = pino({ level: 'silent' });

export interface OpcuaRig {
  dataDir: string;
  buffer: RecordBuffer;
  pipeline: Pipeline;
  input: OpcuaInput;
}

export class OpcuaRigs {
  private running: OpcuaRig[] = [];
  private readonly dirs = new Set<string>();

  /**
   * An input of `config` (parsed by the input's schema) on the data in `dataDir` (a new folder by
   * default); `log` gets what the input logs, `configFile` is the config path the gateway would
   * have been started with.
   */
  open(
    config: Record<string, unknown>,
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'lg-opcua-')),
    opts: { log?: Logger; configFile?: string } = {},
  ): OpcuaRig {
    this.dirs.add(dataDir);
    const buffer = openBuffer({ dir: path.join(dataDir, 'buffer'), maxBytes: 256 * 1024 * 1024, sinks: ['lake'] }, silent);
    const log = opts.log ?? silent;
    const pipeline = new Pipeline({ buffer, outputs: [{ name: 'lake', plugin: { premises: 'on' } }], dataDir, quarantineMaxBytes: 1 << 20, log });
    const input = definition.create(opcuaConfigSchema.parse(config), {
      dataDir,
      machine: 'test',
      ...(opts.configFile !== undefined ? { configFile: opts.configFile } : {}),
    }) as OpcuaInput;
    const rig = { dataDir, buffer, pipeline, input };
    this.running.push(rig);
    return rig;
  }

  /** Stop every input opened since the last call and close its buffer (its data stays). */
  async stopAll(): Promise<void> {
    for (const r of this.running) {
      await r.input.stop();
      r.buffer.close();
    }
    this.running = [];
  }

  /** Remove every data folder. */
  removeAll(): void {
    for (const d of this.dirs) rmSync(d, { recursive: true, force: true });
    this.dirs.clear();
  }
}

/** one value under test of a typed round trip: what the source held and what the record must hold */
export interface TypedRoundTrip {
  /** the input's signal of the variable */
  signal: string;
  /** the value type the records must carry */
  valueType: string;
  /** everything written, sentinels included, in order; and the indexes of the values under test */
  sequence: unknown[];
  tested: number[];
  expected: (src: unknown) => unknown;
  /** write one source value to the server's variable */
  write: (src: unknown) => Promise<void> | void;
}

/**
 * Write every value of the sequence to the server, wait for exactly one record per value, and check
 * the tested ones against their expected values, bit-exact (`same`, wire's sameValue).
 */
export async function checkTypedRoundTrip(rig: OpcuaRig, t: TypedRoundTrip, same: (a: unknown, b: unknown) => boolean): Promise<void> {
  const of = () => rig.buffer.read('lake', 1_000_000).filter((r) => r.signal === t.signal);
  const before = of().length;
  for (const v of t.sequence) await t.write(v);
  const got = await waitFor(`${t.sequence.length} records of ${t.signal}`, () => {
    const rs = of().slice(before);
    return rs.length >= t.sequence.length ? rs : undefined;
  });
  if (got.length !== t.sequence.length) throw new Error(`${t.signal}: ${got.length} records for ${t.sequence.length} values`);
  for (const i of t.tested) {
    const body = parseScalarBody(got[i]!.body!);
    const want = t.expected(t.sequence[i]);
    if (body.type !== t.valueType || !same(body.v, want)) {
      throw new Error(`${t.signal}: wrote ${show(t.sequence[i])}, stored ${got[i]!.body!.toString('utf8')} (expected ${t.valueType} ${show(want)})`);
    }
  }
}

function show(v: unknown): string {
  if (typeof v === 'bigint') return `${v}n`;
  if (v instanceof Uint8Array) return `bytes ${Buffer.from(v).toString('hex')}`;
  if (Array.isArray(v)) return `[${v.map(show).join(', ')}]`;
  if (typeof v === 'number') return Object.is(v, -0) ? '-0' : String(v);
  return JSON.stringify(v);
}

/** A logger that keeps what it is given (JSON lines parsed), for tests that assert what an operator reads. */
export function capturingLog(): { log: Logger; lines: { level: number; msg: string; [k: string]: unknown }[] } {
  const lines: { level: number; msg: string; [k: string]: unknown }[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as (typeof lines)[number]) });
  return { log, lines };
}
