/**
 * Shared setup of the opcua input's tests: each input with the real Pipeline and SQLite buffer behind
 * it (one sink `lake`), and their cleanup: inputs stopped and buffers closed after each test, data
 * folders removed after all.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { openBuffer } from '../../gateway/buffer/index.js';
import type { RecordBuffer } from '../../gateway/buffer/types.js';
import { Pipeline } from '../../gateway/ingest/pipeline.js';
import { type OpcuaInput, definition } from '../../plugins/inputs/opcua/index.js';
import { opcuaConfigSchema } from '../../plugins/inputs/opcua/schema.js';

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

  /** An input of `config` (parsed by the input's schema) on the data in `dataDir` (a new folder by default). */
  open(config: Record<string, unknown>, dataDir = mkdtempSync(path.join(os.tmpdir(), 'lg-opcua-'))): OpcuaRig {
    this.dirs.add(dataDir);
    const buffer = openBuffer({ dir: path.join(dataDir, 'buffer'), maxBytes: 256 * 1024 * 1024, sinks: ['lake'] }, silent);
    const pipeline = new Pipeline({ buffer, outputs: [{ name: 'lake', plugin: { premises: 'on' } }], dataDir, quarantineMaxBytes: 1 << 20, log: silent });
    const input = definition.create(opcuaConfigSchema.parse(config), { dataDir, machine: 'test' }) as OpcuaInput;
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
