/**
 * Where the key ring comes from, and the checks that make a missing or wrong key a clear error at
 * start instead of garbage later.
 *
 * - Source, in order: `encryption.keyFile`; else the variable `encryption.keyEnv` (default
 *   LAYERGATE_KEYS); else, with `generateKey` (default), `<dataDir>/keys/layergate.keys`, created with
 *   one fresh key on first start. A configured key file that is missing is an error, never replaced.
 * - A key file must be mode 0600 or 0400 (owner only): anything else is refused at start.
 * - Key check: `<dataDir>/keys/keycheck.json` holds, per key id ever used here, a short known text
 *   sealed with it. At start every id in it must be in the ring and must open its text: a key
 *   removed from the ring, or replaced by another key under the same id, stops the start with a
 *   coded error naming the id (records sealed with it may still be in the buffer or spool).
 * - Rotation (`layergate keys rotate`): a new key goes first in the file (it becomes active), the
 *   old ones stay, so everything sealed before still opens.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync, openSync, fsyncSync, closeSync } from 'node:fs';
import path from 'node:path';
import { KeyCheckFileError, KeyMissingError, KeyPermissionsError, KeyWrongError } from '../plugin-api/errors.js';
import { AesGcmSealer, newKeyLine, parseKeyRing } from './sealer.js';
import type { KeyRing } from './sealer.js';
import type { EncryptionConfig } from './schema.js';

const CHECK_TEXT = 'layergate key check';

export interface KeySource {
  kind: 'file' | 'env' | 'generated';
  /** the file, or the variable's name */
  where: string;
  /** generated: the file was created by this start (false: made by an earlier one and read) */
  created?: boolean;
}

/** The key file a config uses (configured or generated), or undefined when the ring comes from the environment. */
export function keyFileOf(enc: EncryptionConfig, dataDir: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (enc.keyFile) return path.resolve(enc.keyFile);
  if (env[enc.keyEnv]) return undefined;
  return enc.generateKey ? generatedKeyFile(dataDir) : undefined;
}

export function generatedKeyFile(dataDir: string): string {
  return path.join(dataDir, 'keys', 'layergate.keys');
}

/** Read a key file, refusing one others may read. */
export function readKeyFile(file: string): KeyRing {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(file);
  } catch (err) {
    throw new KeyMissingError(`encryption key file ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : (err as Error).message}`);
  }
  const mode = st.mode & 0o777;
  if (mode !== 0o600 && mode !== 0o400) {
    throw new KeyPermissionsError(`encryption key file ${file}: mode ${mode.toString(8).padStart(4, '0')}, must be 0600 or 0400 (chmod 600 ${file})`);
  }
  return parseKeyRing(readFileSync(file, 'utf8'), `encryption key file ${file}`);
}

/** Load the key ring the config names (creating the generated file when allowed). */
export function loadKeyRing(enc: EncryptionConfig, dataDir: string, env: NodeJS.ProcessEnv = process.env): { ring: KeyRing; source: KeySource } {
  if (enc.keyFile) {
    const file = path.resolve(enc.keyFile);
    return { ring: readKeyFile(file), source: { kind: 'file', where: file } };
  }
  const fromEnv = env[enc.keyEnv];
  if (fromEnv) return { ring: parseKeyRing(fromEnv, `environment variable ${enc.keyEnv}`), source: { kind: 'env', where: enc.keyEnv } };
  if (!enc.generateKey) {
    throw new KeyMissingError(`no encryption key: set encryption.keyFile, or the environment variable ${enc.keyEnv} (encryption.generateKey is false)`);
  }
  const file = generatedKeyFile(dataDir);
  const created = !existsSync(file);
  if (created) writeKeyFile(file, [newKeyLine(`k${compactDate()}`)], 'created by layergate on first start; move it off the data disk (encryption.keyFile)');
  return { ring: readKeyFile(file), source: { kind: 'generated', where: file, created } };
}

/** Check the ring against the key check file; record the ring's ids in it. Throws a coded error naming the id. */
export function checkKeys(sealer: AesGcmSealer, dataDir: string): void {
  const file = path.join(dataDir, 'keys', 'keycheck.json');
  let seen: Record<string, string> = {};
  if (existsSync(file)) {
    try {
      seen = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
    } catch (err) {
      throw new KeyCheckFileError(
        `key check file ${file}: not readable JSON (${(err as Error).message}); restore it, or delete it only if no sealed data is left`,
      );
    }
  }
  for (const [id, sealedB64] of Object.entries(seen)) {
    if (!sealer.keyIds().includes(id)) {
      throw new KeyWrongError(
        `encryption key "${id}" was used by this gateway (${file}) but is not in the key ring: records sealed with it cannot be read; restore it (keep old keys after a rotation)`,
      );
    }
    let ok = false;
    try {
      ok = sealer.open(Buffer.from(sealedB64, 'base64')).toString() === CHECK_TEXT;
    } catch {
      ok = false;
    }
    if (!ok) {
      throw new KeyWrongError(`encryption key "${id}" in the key ring is not the key this gateway sealed data with (${file}): wrong key file or variable?`);
    }
  }
  let changed = false;
  for (const id of sealer.keyIds()) {
    if (seen[id] !== undefined) continue;
    seen[id] = sealer.withActive(id).seal(Buffer.from(CHECK_TEXT)).toString('base64');
    changed = true;
  }
  if (changed) {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    atomicWrite(file, `${JSON.stringify(seen, null, 2)}\n`, 0o600);
  }
}

/** Load, check, and return the sealer the gateway uses. */
export function openSealer(enc: EncryptionConfig, dataDir: string, env: NodeJS.ProcessEnv = process.env): { sealer: AesGcmSealer; source: KeySource } {
  const { ring, source } = loadKeyRing(enc, dataDir, env);
  const sealer = new AesGcmSealer(ring);
  checkKeys(sealer, dataDir);
  return { sealer, source };
}

/** Put a new key first in a key file (it becomes the active key); the old keys stay. Returns the new id. */
export function rotateKeyFile(file: string, newId = `k${compactDate()}`): { newId: string; ids: string[] } {
  const ring = readKeyFile(file);
  let id = newId;
  for (let n = 2; ring.keys.has(id); n++) id = `${newId}-${n}`;
  const lines = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));
  writeKeyFile(
    file,
    [newKeyLine(id), ...lines],
    `rotated ${new Date().toISOString()}: the first key is active; keep the others while data sealed with them may exist`,
  );
  return { newId: id, ids: [id, ...ring.keys.keys()] };
}

function writeKeyFile(file: string, lines: string[], comment: string): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  atomicWrite(file, `# layergate key ring: ${comment}\n${lines.join('\n')}\n`, 0o600);
}

function atomicWrite(file: string, text: string, mode: number): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode });
  chmodSync(tmp, mode);
  const fd = openSync(tmp, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

function compactDate(): string {
  return new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')
    .toLowerCase();
}
