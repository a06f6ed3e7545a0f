// `layergate run` as a child process is in test/e2e/gateway-run.test.ts
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../test/support/wait.js';
import { openBuffer } from '../buffer/index.js';
import { loadConfig } from '../config/load.js';
import { PluginStartError } from '../plugin-api/errors.js';
import { Gateway, bufferOptions, loggerFor } from './gateway.js';
import { CONTENT_TYPES } from '../plugin-api/record.js';
import type { RecordInput } from '../plugin-api/record.js';

function arrowFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.arrow'));
}

const until = (what: string, fn: () => boolean, ms = 30_000): Promise<boolean> => waitFor(what, fn, ms, 50);

describe('Gateway.start', () => {
  it('a plugin that cannot start stops what was started and releases the buffer', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lg-fail-'));
    writeFileSync(path.join(dir, 'not-a-folder'), 'x');
    const loaded = loadConfig({
      text: `gateway: { dataDir: ${dir}/data }\noutputs:\n  lake: { type: file-lake, path: ${dir}/not-a-folder/lake }\n`,
      env: {},
    });
    const log = pino({ level: 'silent' });
    const err = await Gateway.start(loaded, { log }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PluginStartError);
    expect((err as Error).message).toMatch(/^output lake: could not start: .*(ENOTDIR|EEXIST|not a directory)/);
    // the buffer was closed: another opener gets it (it is exclusive while open)
    const again = openBuffer(bufferOptions(loaded.config), log);
    again.close();
  });
});

describe('per-output forwarder settings', () => {
  it("an output's linger and batchRecords reach its forwarder; the file lake's own linger is the default; stop delivers what lingers", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lg-linger-'));
    const loaded = loadConfig({
      text: [
        `gateway: { dataDir: ${dir}/data, machine: m }`,
        'inputs: {}',
        'outputs:',
        `  quick: { type: file-lake, path: ${dir}/quick, linger: 300ms, batchRecords: 7 }`,
        `  slow: { type: file-lake, path: ${dir}/slow }`,
      ].join('\n'),
      env: {},
    });
    const log = pino({ level: 'silent' });
    const gw = await Gateway.start(loaded, { log });
    const now = BigInt(Date.now()) * 1_000_000n;
    const records: RecordInput[] = Array.from({ length: 20 }, (_, i) => ({
      source: 'test',
      signal: 'chamber.o2',
      kind: 'scalar',
      class: 'internal',
      routes: ['quick', 'slow'],
      contentType: CONTENT_TYPES.scalar,
      receiveTimeNs: now,
      body: Buffer.from(`{"v":${i}}`),
    }));
    let lastSeq = 0;
    try {
      lastSeq = gw.buffer.append(records).lastSeq;
      await until('quick delivered', () => gw.buffer.cursor('quick') === lastSeq);
      const byName = (n: string) => gw.stats().forwarders.find((f) => f.sink === n)!;
      expect(byName('quick')).toMatchObject({ batches: 3, sentRecords: 20 }); // 7 and 7 at once, 6 after the linger
      expect(byName('slow')).toMatchObject({ state: 'lingering', cursor: 0 }); // the lake's 60 s
    } finally {
      await gw.stop();
    }
    const buffer = openBuffer(bufferOptions(loaded.config), log);
    try {
      expect(buffer.cursor('slow')).toBe(lastSeq); // delivered during shutdown, not left for the next start
    } finally {
      buffer.close();
    }
    expect(arrowFiles(path.join(dir, 'slow')).length).toBe(1);
  });
});

it('log lines never carry the AWS secret variables the S3 outputs fall back to', () => {
  const loaded = loadConfig({ env: {} });
  const lines: string[] = [];
  const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
  const log = loggerFor(loaded, { env: { AWS_SECRET_ACCESS_KEY: secret }, destination: { write: (l: string) => void lines.push(l) } });
  log.error({ err: new Error(`S3 said: signature mismatch for ${secret}`) }, `upload failed (${secret})`);
  expect(lines).toHaveLength(1);
  expect(lines[0]).not.toContain(secret);
  expect(lines[0]).toContain('signature mismatch for <redacted>');
});
