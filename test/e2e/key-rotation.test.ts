/**
 * Key rotation and wrong keys in the running gateway, with the real CLI where an operator uses it:
 * records sealed before `layergate keys rotate` still open after it (the gateway restarts with the
 * rotated ring; new records are sealed with the new key id); a ring whose key was replaced stops
 * `layergate run` at start with LG_KEY_WRONG (exit 1), nothing read as garbage; every start, the
 * rotation and a changed config are in the audit log, whose chain verifies.
 *
 * The records stay undelivered in the buffer across the restarts because their only sink is a
 * Kafka output pointed at a port where no broker listens (a sink that is down, as in a plant).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { openBuffer } from '../../gateway/buffer/index.js';
import { loadConfig } from '../../gateway/config/load.js';
import { readKeyFile } from '../../gateway/crypto/keys.js';
import { AesGcmSealer, newKeyLine } from '../../gateway/crypto/sealer.js';
import { SealingBuffer } from '../../gateway/crypto/sealing-buffer.js';
import { KeyWrongError } from '../../gateway/plugin-api/errors.js';
import { Gateway, bufferOptions } from '../../gateway/runtime/gateway.js';
import { CONTENT_TYPES } from '../../gateway/plugin-api/record.js';
import type { AuditEntry } from '../../gateway/audit/audit-log.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const tsx = createRequire(import.meta.url).resolve('tsx');
const log = pino({ level: 'silent' });

function cli(args: string[]) {
  const env = { ...process.env };
  delete env.LAYERGATE_CONFIG;
  delete env.LAYERGATE_KEYS;
  const r = spawnSync(process.execPath, ['--import', tsx, path.join(repo, 'gateway/cli/main.ts'), ...args], { encoding: 'utf8', timeout: 60_000, env });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('key rotation across restarts', () => {
  it('old records still open after `layergate keys rotate`; a replaced key stops the start; all audited', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lg-keys-'));
    const keyFile = path.join(dir, 'layergate.keys');
    writeFileSync(keyFile, `${newKeyLine('k1')}\n`);
    chmodSync(keyFile, 0o600);
    const cfg = path.join(dir, 'layergate.yaml');
    const config = (grace: string) =>
      [
        `gateway: { dataDir: ${JSON.stringify(path.join(dir, 'data'))}, machine: m1, shutdownGraceMs: ${grace} }`,
        `encryption: { keyFile: ${JSON.stringify(keyFile)} }`,
        'inputs: {}',
        'outputs: { kafka: { type: kafka, brokers: ["127.0.0.1:1"], connectionTimeout: 300, requestTimeout: 500 } }',
        '',
      ].join('\n');
    writeFileSync(cfg, config('1s'));

    const run = async (notes: string[]): Promise<void> => {
      const gw = await Gateway.start(loadConfig({ file: cfg, env: {} }), { log });
      try {
        await gw.pipeline.contextFor('mes').emit(
          notes.map((note) => ({
            signal: 'job.parameters',
            kind: 'event',
            class: 'confidential',
            contentType: CONTENT_TYPES.event,
            body: Buffer.from(JSON.stringify({ type: 'parameters', note })),
          })),
        );
      } finally {
        await gw.stop();
      }
    };
    await run(['sealed with k1 (a)', 'sealed with k1 (b)']);

    const rotated = cli(['keys', 'rotate', '-c', cfg, '--id', 'k2']);
    expect(rotated.code).toBe(0);
    expect(rotated.stdout).toContain(`rotated ${keyFile}: active key k2; kept k1`);
    expect(readKeyFile(keyFile).active).toBe('k2');

    writeFileSync(cfg, config('2s')); // a config change, to be audited at the next start
    await run(['sealed with k2']);

    // on disk: each body sealed under the key that was active; through the rotated ring: plaintext
    const ring = readKeyFile(keyFile);
    const raw = openBuffer(bufferOptions(loadConfig({ file: cfg, env: {} }).config), log);
    try {
      expect(raw.read('kafka', 10).map((r) => r.body!.subarray(5, 7).toString())).toEqual(['k1', 'k1', 'k2']);
      const opened = new SealingBuffer(raw, new AesGcmSealer(ring)).read('kafka', 10);
      expect(opened.map((r) => JSON.parse(r.body!.toString()).note)).toEqual(['sealed with k1 (a)', 'sealed with k1 (b)', 'sealed with k2']);
    } finally {
      raw.close();
    }

    // another key under the id k1 (a wrong backup restored): the gateway refuses to start
    writeFileSync(keyFile, `${newKeyLine('k2')}\n${newKeyLine('k1')}\n`);
    await expect(Gateway.start(loadConfig({ file: cfg, env: {} }), { log })).rejects.toBeInstanceOf(KeyWrongError);
    const refused = cli(['run', '-c', cfg]);
    expect(refused.code).toBe(1);
    expect(refused.stdout + refused.stderr).toContain('LG_KEY_WRONG');
    expect(refused.stdout + refused.stderr).toContain('encryption key \\"k1\\" in the key ring is not the key this gateway sealed data with');

    // the audit log: two starts, the rotation, the config change; the chain verifies
    const entries = readFileSync(path.join(dir, 'data', 'audit', 'audit.jsonl'), 'utf8')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as AuditEntry);
    expect(entries.map((e) => `${e.type}:${String(e.data.activeKey)}:${'changed' in e.data ? String(e.data.changed) : '-'}`)).toEqual([
      'config-loaded:k1:null',
      'key-rotated:k2:-',
      'config-loaded:k2:true',
    ]);
    const verified = cli(['audit', 'verify', '-c', cfg]);
    expect(verified.code).toBe(0);
    expect(verified.stdout).toContain('3 entries, chain intact');
  });
});
