/**
 * Encryption at rest: the AES-256-GCM sealer (round trip, fresh nonce, key id in the bytes), key
 * rotation (old records still open, new seals use the new key), a wrong or missing key and tampered
 * bytes as coded errors (never garbage), the key file's permission check, the key check at start,
 * and the sealing buffer: confidential bodies, inline and spooled, are ciphertext on disk and
 * plaintext to readers.
 */
import { chmodSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { openBuffer } from '../buffer/index.js';
import { KeyInvalidError, KeyMissingError, KeyPermissionsError, KeyUnknownError, KeyWrongError, SealedDataError } from '../plugin-api/errors.js';
import { CONTENT_TYPES } from '../plugin-api/record.js';
import type { RecordInput } from '../plugin-api/record.js';
import { loadConfig } from '../config/load.js';
import { loggerFor } from '../runtime/gateway.js';
import { generatedKeyFile, openSealer, readKeyFile, rotateKeyFile } from './keys.js';
import { AesGcmSealer, newKeyLine, parseKeyRing } from './sealer.js';
import { encryptionSchema } from './schema.js';
import { SealingBuffer } from './sealing-buffer.js';

const tmp = (): string => mkdtempSync(path.join(os.tmpdir(), 'lg-crypto-'));
const ring = (...lines: string[]) => parseKeyRing(lines.join('\n'), 'test ring');
const k1 = newKeyLine('k1');
const k2 = newKeyLine('k2');

function keyFile(dir: string, lines: string[], mode = 0o600): string {
  const f = path.join(dir, 'layergate.keys');
  writeFileSync(f, `${lines.join('\n')}\n`);
  chmodSync(f, mode);
  return f;
}

/** every file under a folder, recursively */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((f) => path.join(dir, f))
    .filter((f) => statSync(f).isFile());
}

describe('AesGcmSealer', () => {
  it('round-trips, with a fresh nonce per seal and the key id readable in the sealed bytes', () => {
    const s = new AesGcmSealer(ring(k1));
    const plain = Buffer.from('scan vectors of part 17');
    const a = s.seal(plain);
    const b = s.seal(plain);
    expect(a.equals(b)).toBe(false);
    expect(a.includes(plain)).toBe(false);
    expect(a.subarray(5, 7).toString()).toBe('k1');
    expect(s.open(a)).toEqual(plain);
    expect(s.open(b)).toEqual(plain);
    expect(s.open(s.seal(Buffer.alloc(0)))).toEqual(Buffer.alloc(0));
  });

  it('rotation: the new key seals, records sealed with the old key still open', () => {
    const before = new AesGcmSealer(ring(k1));
    const old = before.seal(Buffer.from('layer 1'));
    const after = new AesGcmSealer(ring(k2, k1));
    expect(after.keyId).toBe('k2');
    const fresh = after.seal(Buffer.from('layer 2'));
    expect(fresh.subarray(5, 7).toString()).toBe('k2');
    expect(after.open(old).toString()).toBe('layer 1');
    expect(after.open(fresh).toString()).toBe('layer 2');
    // a ring without k2 cannot read the new record, and says which key it needs
    expect(() => before.open(fresh)).toThrow(KeyUnknownError);
    expect(() => before.open(fresh)).toThrow('sealed with key "k2", which is not in the key ring (it has: k1)');
  });

  it('a wrong key under the same id is an authentication error, never garbage', () => {
    const sealed = new AesGcmSealer(ring(k1)).seal(Buffer.from('build file'));
    const impostor = new AesGcmSealer(ring(newKeyLine('k1')));
    expect(() => impostor.open(sealed)).toThrow(SealedDataError);
    expect(() => impostor.open(sealed)).toThrow('sealed data (key "k1"): authentication failed');
  });

  it.each([
    [
      'a ciphertext byte',
      (b: Buffer) => {
        b[b.length - 1]! ^= 0x01;
      },
    ],
    [
      'a tag byte',
      (b: Buffer) => {
        b[7 + 12]! ^= 0x80;
      },
    ],
    [
      'a nonce byte',
      (b: Buffer) => {
        b[7]! ^= 0x01;
      },
    ],
    [
      'the key id (k1 -> k2, a key the ring has)',
      (b: Buffer) => {
        b[6] = '2'.charCodeAt(0);
      },
    ],
  ])('tampering with %s fails to open', (_what, tamper) => {
    const s = new AesGcmSealer(ring(k1, k2));
    const sealed = s.seal(Buffer.from('0123456789abcdef'));
    tamper(sealed);
    expect(() => s.open(sealed)).toThrow(SealedDataError);
  });

  it('truncated or foreign bytes are refused as such', () => {
    const s = new AesGcmSealer(ring(k1));
    expect(() => s.open(s.seal(Buffer.from('x')).subarray(0, 20))).toThrow('truncated');
    expect(() => s.open(Buffer.from('{"v":1}'))).toThrow('not in the sealed format');
  });

  it.each([
    ['k1:c2hvcnQ=', 'key "k1": expected 32 bytes in base64 (44 characters), got 5 bytes'],
    ['no-colon', 'entry 1: expected "id:base64-key"'],
    [`${k1}\n${k1}`, 'key id "k1" appears twice'],
    ['# only a comment', 'no key in it'],
  ])('a malformed ring %j is refused: %s', (text, message) => {
    expect(() => parseKeyRing(text, 'test ring')).toThrow(KeyInvalidError);
    expect(() => parseKeyRing(text, 'test ring')).toThrow(message);
  });
});

describe('key sources and checks at start', () => {
  const enc = (o: Record<string, unknown> = {}) => encryptionSchema.parse(o);

  it('refuses a key file others can read, and names the fix', () => {
    const dir = tmp();
    const f = keyFile(dir, [k1], 0o644);
    expect(() => readKeyFile(f)).toThrow(KeyPermissionsError);
    expect(() => readKeyFile(f)).toThrow(`mode 0644, must be 0600 or 0400 (chmod 600 ${f})`);
    chmodSync(f, 0o400);
    expect(readKeyFile(f).active).toBe('k1');
  });

  it('a configured key file that is missing is an error, never replaced by a new key', () => {
    const dir = tmp();
    const missing = path.join(dir, 'nope.keys');
    expect(() => openSealer(enc({ keyFile: missing }), dir)).toThrow(KeyMissingError);
    expect(() => openSealer(enc({ keyFile: missing }), dir)).toThrow(`encryption key file ${missing}: not found`);
    expect(() => openSealer(enc({ generateKey: false }), dir, {})).toThrow(
      'no encryption key: set encryption.keyFile, or the environment variable LAYERGATE_KEYS',
    );
  });

  it('a key from the environment variable; a generated key file (0600) when nothing is configured', () => {
    expect(openSealer(enc(), tmp(), { LAYERGATE_KEYS: `${k2},${k1}` }).sealer.keyId).toBe('k2');
    const dir = tmp();
    const gen = openSealer(enc(), dir, {});
    expect(gen.source).toEqual({ kind: 'generated', where: generatedKeyFile(dir), created: true });
    expect(statSync(generatedKeyFile(dir)).mode & 0o777).toBe(0o600);
    // the same generated key on the next start, which read it and did not generate one (issue 15, item 9)
    const next = openSealer(enc(), dir, {});
    expect(next.sealer.keyId).toBe(gen.sealer.keyId);
    expect(next.source).toEqual({ kind: 'generated', where: generatedKeyFile(dir), created: false });
  });

  it('the key check: a key removed from the ring, or swapped under its id, stops the start naming the id', () => {
    const dir = tmp();
    const f = keyFile(dir, [k1]);
    openSealer(enc({ keyFile: f }), dir); // first start: k1 recorded
    keyFile(dir, [k2]);
    expect(() => openSealer(enc({ keyFile: f }), dir)).toThrow(KeyWrongError);
    expect(() => openSealer(enc({ keyFile: f }), dir)).toThrow('encryption key "k1" was used by this gateway');
    keyFile(dir, [newKeyLine('k1')]);
    expect(() => openSealer(enc({ keyFile: f }), dir)).toThrow('encryption key "k1" in the key ring is not the key this gateway sealed data with');
    keyFile(dir, [k2, k1]);
    expect(openSealer(enc({ keyFile: f }), dir).sealer.keyId).toBe('k2');
  });

  it('the key ring variable and each key in it never show in log lines', () => {
    const env = { LAYERGATE_KEYS: `${k2},${k1}` };
    const lines: string[] = [];
    const logger = loggerFor(loadConfig({ env }), { env, destination: { write: (l: string) => void lines.push(l) } });
    const key1 = k1.slice(3);
    logger.warn({ ring: env.LAYERGATE_KEYS, one: key1 }, `key ${key1}`);
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain(key1);
    expect(lines[0]).not.toContain(k2.slice(3));
  });

  it('rotateKeyFile puts a new active key first, keeps the old ones and the file mode', () => {
    const dir = tmp();
    const f = keyFile(dir, [k1]);
    const before = openSealer(enc({ keyFile: f }), dir).sealer;
    const old = before.seal(Buffer.from('sealed before the rotation'));
    const r = rotateKeyFile(f, 'k2026');
    expect(r).toEqual({ newId: 'k2026', ids: ['k2026', 'k1'] });
    expect(statSync(f).mode & 0o777).toBe(0o600);
    const after = openSealer(enc({ keyFile: f }), dir).sealer;
    expect(after.keyId).toBe('k2026');
    expect(after.open(old).toString()).toBe('sealed before the rotation');
    expect(rotateKeyFile(f, 'k2026').newId).toBe('k2026-2');
  });
});

describe('SealingBuffer', () => {
  const log = pino({ level: 'silent' });
  const rec = (cls: RecordInput['class'], body: Buffer, i: number): RecordInput => ({
    source: 'frames',
    signal: 'job.scan_file',
    kind: 'document',
    class: cls,
    contentType: CONTENT_TYPES.event,
    receiveTimeNs: 1_795_000_000_000_000_000n + BigInt(i),
    body,
    routes: ['lake'],
  });

  it('confidential bodies (inline and spooled) are ciphertext on disk and plaintext to readers; others untouched', () => {
    const dir = tmp();
    const sealer = new AesGcmSealer(ring(k1));
    const b = new SealingBuffer(openBuffer({ dir, maxBytes: 64 << 20, sinks: ['lake'], inlineMaxBytes: 1024 }, log), sealer);
    const marker = 'CANARY-7f3e-unit';
    const small = Buffer.from(`{"type":"scan","note":"${marker}"}`);
    const large = Buffer.concat([Buffer.from(marker), Buffer.alloc(4096, 0x41), Buffer.from(marker)]);
    const open = Buffer.from(`{"type":"o2","note":"internal-${marker}"}`);
    b.append([rec('confidential', small, 1), rec('confidential', large, 2), rec('internal', open, 3)]);
    const read = b.read('lake', 10);
    expect(read.map((r) => r.body?.toString())).toEqual([small.toString(), large.toString(), open.toString()]);
    expect(read[1]!.blob).toBeUndefined(); // the spooled sealed blob is handed over opened, in memory
    b.close();
    // every occurrence of the marker on disk is the internal record's `internal-<marker>` (not sealed)
    const count = (bytes: Buffer, needle: string): number => {
      let n = 0;
      for (let at = bytes.indexOf(needle); at >= 0; at = bytes.indexOf(needle, at + 1)) n++;
      return n;
    };
    const onDisk = filesUnder(dir).map((f) => readFileSync(f));
    const all = onDisk.reduce((n, bytes) => n + count(bytes, marker), 0);
    const internal = onDisk.reduce((n, bytes) => n + count(bytes, `internal-${marker}`), 0);
    expect(internal).toBeGreaterThan(0);
    expect(all).toBe(internal);
  });
});
