/**
 * The API's commands on the PC, as plant IT uses them before and beside the web UI: `admin setup`
 * prints the setup token, `users add` makes a user (a generated password shown once, or one from
 * stdin) that can then log in, an admin made here voids the setup token, and `api info` names the
 * certificate's fingerprint.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { IdentityStore } from '../../gateway/api/identity/store.js';
import { loadTls } from '../../gateway/api/tls.js';
import { ConfigHistory, historyPath } from '../../gateway/config/history.js';
import { newKeyLine } from '../../gateway/crypto/sealer.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const tsxLoader = createRequire(import.meta.url).resolve('tsx');

function cli(args: string[], input?: string) {
  const env = { ...process.env };
  delete env.LAYERGATE_CONFIG;
  delete env.LAYERGATE_DATA_DIR;
  const r = spawnSync(process.execPath, ['--import', tsxLoader, path.join(repo, 'gateway/cli/main.ts'), ...args], {
    env,
    encoding: 'utf8',
    timeout: 60_000,
    ...(input !== undefined ? { input } : {}),
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const policy = { maxFailures: 5, windowMs: 60_000, lockoutMs: 60_000 };

describe('layergate admin setup, users, api info', () => {
  it('setup token until an admin exists; users added here log in; api info shows the fingerprint', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lg-api-cli-'));
    const dataDir = path.join(dir, 'data');
    const file = path.join(dir, 'layergate.yaml');
    writeFileSync(file, `gateway: { dataDir: ${dataDir} }\napi: { host: 127.0.0.1, port: 0, grpc: { port: 0 } }\n`);
    const apiDir = path.join(dataDir, 'api');

    const setup = cli(['admin', 'setup', '-c', file]);
    expect(setup.code).toBe(0);
    const token = setup.stdout.trim();
    expect(token).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(readFileSync(path.join(apiDir, 'setup-token'), 'utf8').trim()).toBe(token);
    // asked again, the same token (it stays valid until used)
    expect(cli(['admin', 'setup', '-c', file]).stdout.trim()).toBe(token);

    const weak = cli(['users', 'add', 'ops', '--role', 'operator', '--password-stdin', '-c', file], 'short\n');
    expect(weak.code).toBe(2);
    expect(weak.stderr).toContain('at least 10 characters');
    const ops = cli(['users', 'add', 'ops', '--role', 'operator', '--password-stdin', '-c', file], 'operator-password\n');
    expect([ops.code, ops.stdout.trim()]).toEqual([0, 'user ops (operator) added']);
    const admin = cli(['users', 'add', 'ada', '--role', 'admin', '-c', file]);
    expect(admin.code).toBe(0);
    const generated = /password \(shown once\): (\S+)$/m.exec(admin.stdout)![1]!;
    // an admin exists: the setup token is void and no longer printed
    expect(existsSync(path.join(apiDir, 'setup-token'))).toBe(false);
    expect(cli(['admin', 'setup', '-c', file]).code).toBe(1);
    expect(cli(['users', 'add', 'ops', '-c', file]).code).toBe(1);
    const list = cli(['users', 'list', '-c', file, '--json']);
    expect(JSON.parse(list.stdout).map((u: { name: string; role: string }) => [u.name, u.role])).toEqual([
      ['ada', 'admin'],
      ['ops', 'operator'],
    ]);
    const store = new IdentityStore(apiDir);
    try {
      expect(await store.login('ada', generated, policy)).toMatchObject({ ok: true });
      expect(await store.login('ops', 'operator-password', policy)).toMatchObject({ ok: true });
    } finally {
      store.close();
    }
    // a new password replaces the old one
    expect(cli(['users', 'passwd', 'ops', '--password-stdin', '-c', file], 'a-new-operator-pw\n').code).toBe(0);
    const again = new IdentityStore(apiDir);
    try {
      expect(await again.login('ops', 'operator-password', policy)).toMatchObject({ ok: false });
      expect(await again.login('ops', 'a-new-operator-pw', policy)).toMatchObject({ ok: true });
    } finally {
      again.close();
    }
    // the last admin cannot be removed
    const last = cli(['users', 'remove', 'ada', '-c', file]);
    expect(last.code).toBe(1);
    expect(last.stderr).toContain('last admin');

    const before = JSON.parse(cli(['api', 'info', '-c', file, '--json']).stdout);
    expect(before).toMatchObject({ running: false, tls: true, fingerprint: null, setupPending: false });
    const tls = await loadTls(apiDir, {});
    const info = JSON.parse(cli(['api', 'info', '-c', file, '--json']).stdout);
    expect(info.fingerprint).toBe(tls.fingerprint);
    expect(cli(['api', 'info', '-c', file]).stdout).toContain(`SHA-256 ${tls.fingerprint}`);
    const audit = readFileSync(path.join(dataDir, 'audit', 'audit.jsonl'), 'utf8');
    expect(audit).toContain('"type":"user-added"');
    expect(audit).not.toContain('operator-password');
    expect(audit).not.toContain(generated);
  }, 120_000);

  it('backup: users (consistent while the store is open and written), config, audit log; the key only when asked', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lg-backup-'));
    const dataDir = path.join(dir, 'data');
    const keyFile = path.join(dir, 'layergate.keys');
    writeFileSync(keyFile, `${newKeyLine('k1')}\n`, { mode: 0o600 });
    const file = path.join(dir, 'layergate.yaml');
    writeFileSync(file, `gateway: { dataDir: ${dataDir}, machine: m290 }\nencryption: { keyFile: ${keyFile} }\n`);
    expect(cli(['users', 'add', 'ada', '--role', 'admin', '--password-stdin', '-c', file], 'admin-password-1\n').code).toBe(0);
    // the gateway holds the store open and writes to it while the backup runs
    // a version in the configuration's history, as a start records it
    const history = new ConfigHistory(historyPath(dataDir));
    history.record(readFileSync(file, 'utf8'), { author: 'file', comment: 'loaded at start', origin: file });
    history.close();
    const live = new IdentityStore(path.join(dataDir, 'api'));
    try {
      await live.addUser('viewer1', 'viewer', 'viewer-password');
      const out = path.join(dir, 'backups');
      const r = cli(['backup', '-c', file, '--out', out, '--json']);
      expect(r.code).toBe(0);
      const made = JSON.parse(r.stdout) as { dir: string; keyIncluded: boolean; files: { name: string; sha256: string }[] };
      expect(made.dir).toMatch(/layergate-backup-m290-\d{8}T\d{6}Z$/);
      expect(made.keyIncluded).toBe(false);
      expect(made.files.map((f) => f.name).sort()).toEqual(['KEY-LOCATION.txt', 'audit.jsonl', 'config-history.sqlite', 'identity.sqlite', 'layergate.yaml']);
      for (const f of made.files) {
        expect(
          createHash('sha256')
            .update(readFileSync(path.join(made.dir, f.name)))
            .digest('hex'),
          f.name,
        ).toBe(f.sha256);
        expect(statSync(path.join(made.dir, f.name)).mode & 0o077, f.name).toBe(0);
      }
      expect(readFileSync(path.join(made.dir, 'KEY-LOCATION.txt'), 'utf8')).toContain(`the key file ${keyFile}`);
      expect(readFileSync(path.join(made.dir, 'KEY-LOCATION.txt'), 'utf8')).not.toContain(readFileSync(keyFile, 'utf8').trim().split(':')[1]!);
      // the copy is a working store: both users, their passwords
      const restoredDir = path.join(dir, 'restored');
      mkdirSync(restoredDir);
      copyFileSync(path.join(made.dir, 'identity.sqlite'), path.join(restoredDir, 'identity.sqlite'));
      const restored = new IdentityStore(restoredDir);
      try {
        expect(restored.users().map((u) => u.name)).toEqual(['ada', 'viewer1']);
        expect(await restored.login('viewer1', 'viewer-password', policy)).toMatchObject({ ok: true });
      } finally {
        restored.close();
      }
      const copied = new ConfigHistory(path.join(made.dir, 'config-history.sqlite'));
      try {
        expect(copied.list().map((v) => v.comment)).toEqual(['loaded at start']);
        expect(copied.text(1)).toBe(readFileSync(file, 'utf8'));
      } finally {
        copied.close();
      }
      const withKey = JSON.parse(cli(['backup', '-c', file, '--out', path.join(dir, 'with-key'), '--include-key', '--json']).stdout) as {
        dir: string;
        keyIncluded: boolean;
      };
      expect(withKey.keyIncluded).toBe(true);
      expect(readFileSync(path.join(withKey.dir, 'keys', 'layergate.keys'), 'utf8')).toBe(readFileSync(keyFile, 'utf8'));
    } finally {
      live.close();
    }
  }, 120_000);
});
