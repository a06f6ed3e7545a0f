/**
 * `layergate backup`: what a plant must keep to rebuild this gateway on another PC, in one folder:
 *
 *   layergate-backup-<machine>-<UTC time>/       (mode 0700; every file 0600)
 *     manifest.json        machine, time, version, and each file's size and SHA-256
 *     identity.sqlite      API users, tokens, sessions (an online SQLite backup: consistent while
 *                          the gateway runs and writes it)
 *     config-history.sqlite  every configuration version the gateway ran with (gateway/config/history.ts)
 *     layergate.yaml       the configuration file as it is on disk (secrets stay `${VAR}` references)
 *     audit.jsonl          the hash-chained audit log (verifiable after restore: `audit verify --file`)
 *     KEY-LOCATION.txt     where the encryption key ring is (a file, or the variable that holds it),
 *                          never the key itself ...
 *     keys/layergate.keys  ... unless asked (`--include-key`): a backup with the key opens every
 *                          confidential record it can reach, so it is kept apart by default
 *
 * Not in it: the buffer and the lake (data, not configuration; they have their own sinks), and
 * the generated TLS key (a new one is made on the new PC; its fingerprint changes, which is shown).
 */
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { apiDir } from '../api/server.js';
import { IDENTITY_FILE } from '../api/identity/store.js';
import { defaultAuditPath } from '../audit/audit-log.js';
import { historyPath } from '../config/history.js';
import type { LoadedConfig } from '../config/load.js';
import { keyFileOf } from '../crypto/keys.js';

export interface BackupOptions {
  /** the folder the backup folder is made in */
  outDir: string;
  includeKey: boolean;
  env?: NodeJS.ProcessEnv;
  now?: Date;
}

export interface BackupManifest {
  machine: string;
  createdAt: string;
  version: string;
  configFile: string | null;
  keyIncluded: boolean;
  files: { name: string; bytes: number; sha256: string }[];
}

export async function makeBackup(loaded: LoadedConfig, opts: BackupOptions): Promise<{ dir: string; manifest: BackupManifest }> {
  const { config } = loaded;
  const now = opts.now ?? new Date();
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  const dir = path.join(opts.outDir, `layergate-backup-${config.gateway.machine}-${stamp}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const files: string[] = [];

  // SQLite's online backup: pages copied under its locks, so a gateway writing meanwhile is fine
  for (const [from, name] of [
    [path.join(apiDir(config.gateway.dataDir), IDENTITY_FILE), 'identity.sqlite'],
    [historyPath(config.gateway.dataDir), 'config-history.sqlite'],
  ] as const) {
    if (!existsSync(from)) continue;
    const db = new Database(from, { readonly: true, fileMustExist: true });
    try {
      await db.backup(path.join(dir, name));
    } finally {
      db.close();
    }
    files.push(name);
  }
  const configFile = loaded.origin.startsWith('(') ? null : path.resolve(loaded.origin);
  if (configFile) {
    copyFileSync(configFile, path.join(dir, 'layergate.yaml'));
    files.push('layergate.yaml');
  }
  const audit = config.audit.path ?? defaultAuditPath(config.gateway.dataDir);
  if (existsSync(audit)) {
    copyFileSync(audit, path.join(dir, 'audit.jsonl'));
    files.push('audit.jsonl');
  }
  const keyFile = keyFileOf(config.encryption, config.gateway.dataDir, opts.env ?? process.env);
  const keyWhere = keyFile ? `the key file ${keyFile}` : `the environment variable ${config.encryption.keyEnv}`;
  let keyIncluded = false;
  if (opts.includeKey && keyFile && existsSync(keyFile)) {
    mkdirSync(path.join(dir, 'keys'), { mode: 0o700 });
    copyFileSync(keyFile, path.join(dir, 'keys', 'layergate.keys'));
    files.push('keys/layergate.keys');
    keyIncluded = true;
  }
  writeFileSync(
    path.join(dir, 'KEY-LOCATION.txt'),
    [
      `The encryption key ring of this gateway is in ${keyWhere}.`,
      keyIncluded
        ? 'A copy is in keys/layergate.keys: keep this backup as safe as the key itself.'
        : 'It is NOT in this backup (give --include-key to add it). Without it, confidential records sealed by this gateway cannot be read: keep a copy of the key apart from this backup.',
      '',
    ].join('\n'),
  );
  files.push('KEY-LOCATION.txt');
  for (const f of files) chmodSync(path.join(dir, f), 0o600);
  const manifest: BackupManifest = {
    machine: config.gateway.machine,
    createdAt: now.toISOString(),
    version: packageVersion(),
    configFile,
    keyIncluded,
    files: files.map((name) => {
      const bytes = readFileSync(path.join(dir, name));
      return { name, bytes: statSync(path.join(dir, name)).size, sha256: createHash('sha256').update(bytes).digest('hex') };
    }),
  };
  writeFileSync(path.join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
  return { dir, manifest };
}

/** The version of the package this module belongs to (from the source tree or from dist/). */
function packageVersion(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++, dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
    if (pkg.name === 'layergate') return pkg.version ?? 'unknown';
  }
  return 'unknown';
}
