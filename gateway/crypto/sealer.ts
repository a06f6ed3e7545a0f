/**
 * The contract for sealing confidential bodies at rest (buffer, spool, local object store). The
 * implementation (AES-256-GCM, a fresh nonce per record, the key id carried in the sealed bytes so a
 * rotated key ring still opens old records) lives beside this file; outputs only see this interface
 * through `PluginEnvironment.sealer`.
 */
export interface Sealer {
  /** the id of the key new seals use */
  readonly keyId: string;
  /** Encrypt and authenticate; the result is self-describing (format version, key id, nonce, tag). */
  seal(plain: Buffer): Buffer;
  /** Check and decrypt; throws a coded error naming the key id when the key is unknown or the bytes were altered. */
  open(sealed: Buffer): Buffer;
}

// ---- implementation: AES-256-GCM with a key ring ------------------------------------------------
//
// Sealed bytes: "LGS" 0x01 (format version) | key id length (1 byte) | key id (ASCII) | nonce (12) |
// tag (16) | ciphertext. The header (magic, version, key id) is authenticated as associated data, so
// a key id cannot be swapped without the open failing. The nonce is random per seal (96 bits): with
// one key, the collision risk stays negligible far beyond the records a gateway writes in the
// lifetime of a key (rotate yearly or after ~2^32 seals, NIST SP 800-38D).
//
// Key ring text (file or environment variable): one `id:base64` per entry (a 32-byte key), entries
// on their own lines (or separated by commas in a variable), `#` comments; the first entry is the
// active key that new seals use, the others stay to open what they sealed. Ids: letters, digits,
// `.`, `_`, `-`, at most 64.

import { createCipheriv, createDecipheriv, randomBytes, randomFillSync } from 'node:crypto';
import { KeyInvalidError, KeyUnknownError, SealedDataError } from '../plugin-api/errors.js';

const MAGIC = Buffer.from('LGS\u0001', 'latin1');
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
export const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;

export interface KeyRing {
  /** the active key id (first entry) */
  active: string;
  keys: ReadonlyMap<string, Buffer>;
}

/** Parse key ring text; `where` names its origin in errors (never the key bytes). */
export function parseKeyRing(text: string, where: string): KeyRing {
  const keys = new Map<string, Buffer>();
  let active: string | undefined;
  const entries = text
    .split(/[\n,]/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  entries.forEach((entry, i) => {
    const colon = entry.indexOf(':');
    const id = colon < 0 ? '' : entry.slice(0, colon);
    if (!KEY_ID.test(id)) throw new KeyInvalidError(`${where}: entry ${i + 1}: expected "id:base64-key" with an id of letters, digits, ".", "_", "-"`);
    const b64 = entry.slice(colon + 1);
    const key = Buffer.from(b64, 'base64');
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || key.length !== KEY_BYTES) {
      throw new KeyInvalidError(`${where}: key "${id}": expected ${KEY_BYTES} bytes in base64 (44 characters), got ${key.length} bytes`);
    }
    if (keys.has(id)) throw new KeyInvalidError(`${where}: key id "${id}" appears twice`);
    keys.set(id, key);
    active ??= id;
  });
  if (active === undefined) throw new KeyInvalidError(`${where}: no key in it`);
  return { active, keys };
}

/** A new key ring entry line: `id:base64` with a fresh random key. */
export function newKeyLine(id: string): string {
  if (!KEY_ID.test(id)) throw new KeyInvalidError(`key id "${id}": expected letters, digits, ".", "_", "-"`);
  return `${id}:${randomBytes(KEY_BYTES).toString('base64')}`;
}

/** True when the bytes carry the sealed-format header (they may still fail to open). */
export function isSealed(bytes: Buffer): boolean {
  return bytes.length >= MAGIC.length + 2 && bytes.subarray(0, MAGIC.length).equals(MAGIC);
}

export class AesGcmSealer implements Sealer {
  readonly keyId: string;
  private readonly keys: ReadonlyMap<string, Buffer>;
  private readonly header: Buffer;
  private readonly key: Buffer;

  constructor(ring: KeyRing) {
    if (!ring.keys.has(ring.active)) throw new KeyInvalidError(`key ring: the active key "${ring.active}" is not in it`);
    this.keyId = ring.active;
    this.keys = ring.keys;
    this.key = ring.keys.get(ring.active)!;
    this.header = headerFor(ring.active);
  }

  /** the key ids this sealer can open */
  keyIds(): string[] {
    return [...this.keys.keys()];
  }

  /** The same ring with another active key (the key check seals a known text with each key). */
  withActive(id: string): AesGcmSealer {
    return new AesGcmSealer({ active: id, keys: this.keys });
  }

  seal(plain: Buffer): Buffer {
    const nonce = nextNonce();
    const cipher = createCipheriv('aes-256-gcm', this.key, nonce);
    cipher.setAAD(this.header);
    const body = cipher.update(plain);
    const final = cipher.final(); // GCM: empty
    const h = this.header.length;
    const out = Buffer.allocUnsafe(h + NONCE_BYTES + TAG_BYTES + body.length + final.length);
    this.header.copy(out, 0);
    nonce.copy(out, h);
    cipher.getAuthTag().copy(out, h + NONCE_BYTES);
    body.copy(out, h + NONCE_BYTES + TAG_BYTES);
    final.copy(out, h + NONCE_BYTES + TAG_BYTES + body.length);
    return out;
  }

  open(sealed: Buffer): Buffer {
    if (!isSealed(sealed)) throw new SealedDataError('sealed data: not in the sealed format (no LGS header)');
    const idLen = sealed[MAGIC.length]!;
    const headerLen = MAGIC.length + 1 + idLen;
    if (idLen === 0 || sealed.length < headerLen + NONCE_BYTES + TAG_BYTES) {
      throw new SealedDataError(`sealed data: truncated (${sealed.length} bytes)`);
    }
    const id = sealed.subarray(MAGIC.length + 1, headerLen).toString('latin1');
    const key = this.keys.get(id);
    if (!key) {
      throw new KeyUnknownError(
        `sealed data: sealed with key "${id}", which is not in the key ring (it has: ${this.keyIds().join(', ')}); restore that key to read it`,
      );
    }
    const nonce = sealed.subarray(headerLen, headerLen + NONCE_BYTES);
    const tag = sealed.subarray(headerLen + NONCE_BYTES, headerLen + NONCE_BYTES + TAG_BYTES);
    const decipher = createDecipheriv('aes-256-gcm', key, nonce);
    decipher.setAAD(sealed.subarray(0, headerLen));
    decipher.setAuthTag(tag);
    try {
      return Buffer.concat([decipher.update(sealed.subarray(headerLen + NONCE_BYTES + TAG_BYTES)), decipher.final()]);
    } catch (err) {
      throw new SealedDataError(
        `sealed data (key "${id}"): authentication failed: the bytes were altered, or key "${id}" in the ring is not the key that sealed them`,
        { cause: err },
      );
    }
  }
}

// Nonces come from the CSPRNG in blocks (one fill per 1024 seals instead of a call per seal); each
// nonce is used once and the block is never reused.
const NONCE_BLOCK = 1024;
let nonces = Buffer.alloc(0);
let nonceAt = 0;
function nextNonce(): Buffer {
  if (nonceAt >= nonces.length) {
    nonces = randomFillSync(Buffer.allocUnsafe(NONCE_BYTES * NONCE_BLOCK));
    nonceAt = 0;
  }
  const n = nonces.subarray(nonceAt, nonceAt + NONCE_BYTES);
  nonceAt += NONCE_BYTES;
  return n;
}

function headerFor(id: string): Buffer {
  const idBytes = Buffer.from(id, 'latin1');
  return Buffer.concat([MAGIC, Buffer.from([idBytes.length]), idBytes]);
}
