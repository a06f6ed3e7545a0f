/** Shared setup of the mqtt input's tests and benchmark: the real Pipeline and SQLite buffer behind the input. */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { openBuffer } from '../../gateway/buffer/index.js';
import type { RecordBuffer } from '../../gateway/buffer/types.js';
import { Pipeline } from '../../gateway/ingest/pipeline.js';
import { MQTT } from '../services/endpoints.js';
import { type MqttInput, definition } from '../../plugins/inputs/mqtt/index.js';
import { mqttConfigSchema } from '../../plugins/inputs/mqtt/schema.js';

export const silent = pino({ level: 'silent' });

export interface Rig {
  dataDir: string;
  buffer: RecordBuffer;
  pipeline: Pipeline;
  create(config: Record<string, unknown>): MqttInput;
}

/** A buffer with one sink `lake` and a pipeline in front of it. */
export function rig(prefix = 'lg-mqtt-'): Rig {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), prefix));
  const buffer = openBuffer({ dir: path.join(dataDir, 'buffer'), maxBytes: 512 * 1024 * 1024, sinks: ['lake'] }, silent);
  const pipeline = new Pipeline({ buffer, outputs: [{ name: 'lake', plugin: { premises: 'on' } }], dataDir, quarantineMaxBytes: 16 << 20, log: silent });
  return {
    dataDir,
    buffer,
    pipeline,
    create: (config) =>
      definition.create(mqttConfigSchema.parse({ url: MQTT.url, username: MQTT.username, password: MQTT.password, ...config }), {
        dataDir,
        machine: 'test-machine',
      }) as MqttInput,
  };
}

export { sleep, waitFor } from './wait.js';
