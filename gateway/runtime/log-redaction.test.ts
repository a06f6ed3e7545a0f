/**
 * Secrets never reach a log line, whatever logs them: an MQTT input whose URL holds a password from
 * `${PW}` reconnects to a closed port, and none of its lines (messages, `url`, `err`) shows the
 * password; a value from a secret variable reused in a field that is not secret is scrubbed too.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config/load.js';
import { INPUT_ENVELOPE_KEYS, pluginSettings } from '../config/schema.js';
import type { InputContext } from '../plugin-api/contract.js';
import { definition } from '../../plugins/inputs/mqtt/index.js';
import type { MqttInputConfig } from '../../plugins/inputs/mqtt/schema.js';
import { loggerFor } from './gateway.js';
import { createLogger } from './log.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** a port nothing listens on: bound, then closed again */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

function capture(): { lines: string[]; destination: { write(line: string): void } } {
  const lines: string[] = [];
  return { lines, destination: { write: (line: string) => void lines.push(line) } };
}

describe('log redaction', () => {
  it('an mqtt input reconnecting to mqtt://user:${PW}@host logs its errors without the password', async () => {
    const PW = 'Hunter2-reconnect-pw';
    const port = await closedPort();
    const env = { PW };
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'lg-log-redaction-'));
    dirs.push(dataDir);
    const loaded = loadConfig({
      env,
      text: [
        `gateway: { dataDir: ${JSON.stringify(dataDir)} }`,
        'inputs:',
        '  m:',
        '    type: mqtt',
        `    url: "mqtt://user:\${PW}@127.0.0.1:${port}"`,
        '    reconnect: { initial: 20ms, max: 50ms }',
        '    subscriptions: [ { topic: a, decoder: json } ]',
      ].join('\n'),
    });
    expect(loaded.secrets).toContain(PW);
    const { lines, destination } = capture();
    const log = loggerFor(loaded, { env, destination });
    const entry = loaded.config.inputs.m!;
    const input = definition.create(pluginSettings(entry, INPUT_ENVELOPE_KEYS) as MqttInputConfig, { dataDir, machine: 'm1' });
    const ctx = { name: 'm', log: log.child({ input: 'm' }) } as unknown as InputContext;
    await input.start(ctx);
    const deadline = Date.now() + 10_000;
    while (lines.filter((l) => l.includes('mqtt: client error')).length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await input.stop();
    const errors = lines.filter((l) => l.includes('mqtt: client error'));
    expect(errors.length).toBeGreaterThanOrEqual(2);
    expect(lines.join('')).not.toContain(PW);
    // the URL is still there to read, its password redacted
    expect(errors[0]).toContain(`mqtt://user:<redacted>@127.0.0.1:${port}`);
  });

  it('scrubs URL passwords from every string of a line: message, err.message, err.stack, nested objects', () => {
    const { lines, destination } = capture();
    const log = createLogger({ destination });
    const err = new Error('cannot reach redis://:s3cr3t-redis@cache:6379');
    log.error({ err, target: { urls: ['amqp://bob:b0b-pass@q/vh'] } }, 'failed: mqtt://alice:al1ce-pw@broker');
    const line = lines.join('');
    for (const pw of ['s3cr3t-redis', 'b0b-pass', 'al1ce-pw']) expect(line).not.toContain(pw);
    expect(line).toContain('redis://:<redacted>@cache:6379');
    expect(line).toContain('amqp://bob:<redacted>@q/vh');
    expect(line).toContain('mqtt://alice:<redacted>@broker');
  });

  it('a secret variable reused in a field that is not secret is scrubbed from the log lines', () => {
    const env = { MQTT_PASSWORD: 'reused-Secret-42' };
    const loaded = loadConfig({ env, text: 'gateway: { machine: "m-${MQTT_PASSWORD}" }' });
    const { lines, destination } = capture();
    loggerFor(loaded, { env, destination }).info({ machine: loaded.config.gateway.machine }, 'machine named');
    expect(lines.join('')).not.toContain('reused-Secret-42');
    expect(lines.join('')).toContain('m-<redacted>');
  });
});
