/**
 * The CLI commands of the control-plane API, added to the `layergate` program by gateway/cli/main.ts.
 * They work on the data folder directly, so they run beside a running gateway or without one:
 *
 *   layergate api info [-c FILE] [--json]        where the API listens, its certificate's fingerprint, whether setup is pending
 *   layergate admin setup [-c FILE]              print the one-time setup token (while no admin exists)
 *   layergate users list [-c FILE] [--json]
 *   layergate users add NAME [--role ROLE] [--password-stdin] [-c FILE]   without --password-stdin a password is generated and printed once
 *   layergate users passwd NAME [--password-stdin] [-c FILE]
 *   layergate users remove NAME [-c FILE]
 *   layergate backup [-c FILE] [--out DIR] [--include-key] [--json]   users, config, audit log and the key's location (gateway/backup/backup.ts)
 *
 * User changes made here are audited like those made through the API (`by: "cli"`).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { apiDir } from '../api/server.js';
import { readEndpoint } from '../api/endpoint.js';
import { passwordProblem } from '../api/identity/passwords.js';
import { ROLES, type Role } from '../api/identity/roles.js';
import { ensureSetupToken, setupTokenPath, voidSetupToken } from '../api/identity/setup-token.js';
import { IdentityStore } from '../api/identity/store.js';
import { certificateFingerprint, tlsDir } from '../api/tls.js';
import { AuditLog, defaultAuditPath } from '../audit/audit-log.js';
import { makeBackup } from '../backup/backup.js';
import type { LoadedConfig } from '../config/load.js';
import type { CommandHelpers } from './policy-commands.js';

function role(v: string): Role {
  if (!(ROLES as readonly string[]).includes(v)) throw new InvalidArgumentError(`expected a role ${ROLES.join(' | ')}, got "${v}"`);
  return v as Role;
}

function json(v: unknown): string {
  return `${JSON.stringify(v, null, 2)}\n`;
}

/** The new password: the first line of stdin, or a generated one (then printed once). */
function newPassword(fromStdin: boolean | undefined): { password: string; generated: boolean } {
  if (!fromStdin) return { password: randomBytes(18).toString('base64url'), generated: true };
  const line = readFileSync(0, 'utf8').split(/\r?\n/)[0] ?? '';
  return { password: line, generated: false };
}

export function addApiCommands(program: Command, h: CommandHelpers): void {
  const withIdentity = <T>(file: string | undefined, fn: (store: IdentityStore, loaded: LoadedConfig) => T | Promise<T>): Promise<T> => {
    const loaded = h.load(file);
    const store = new IdentityStore(apiDir(loaded.config.gateway.dataDir));
    return Promise.resolve(fn(store, loaded)).finally(() => store.close());
  };
  const audit = (loaded: LoadedConfig) => new AuditLog(loaded.config.audit.path ?? defaultAuditPath(loaded.config.gateway.dataDir));

  const api = program.command('api').description('the control-plane HTTPS API');
  api
    .command('info')
    .description("where the API listens, its certificate's SHA-256 fingerprint, whether the first admin is still to be created")
    .option('-c, --config <file>', 'config file')
    .option('--json', 'machine-readable output')
    .action(async (opts: { config?: string; json?: boolean }) => {
      const loaded = h.load(h.configFile(opts.config));
      const c = loaded.config.api;
      const dir = apiDir(loaded.config.gateway.dataDir);
      const running = readEndpoint(dir);
      const certFile = c.tls.certFile ?? path.join(tlsDir(dir), 'cert.pem');
      const cert = c.tls.enabled ? certificateFingerprint(certFile) : undefined;
      const info = {
        enabled: c.enabled,
        url: running?.url ?? `${c.tls.enabled ? 'https' : 'http'}://${c.host}:${c.port}`,
        running: running !== undefined,
        grpc: !c.enabled || !c.grpc.enabled ? null : (running?.grpc ?? `${c.grpc.host ?? c.host}:${c.grpc.port}`),
        tls: c.tls.enabled,
        certificate: c.tls.enabled ? certFile : null,
        fingerprint: cert?.fingerprint ?? null,
        validTo: cert?.validTo ?? null,
        setupPending: existsSync(setupTokenPath(dir)),
      };
      if (opts.json) process.stdout.write(json(info));
      else {
        process.stdout.write(
          `${[
            `api          ${info.enabled ? info.url : 'disabled (api.enabled: false)'}${info.running ? ' (running)' : ' (not running)'}`,
            `grpc         ${info.grpc ?? 'disabled (api.grpc.enabled: false)'}`,
            `certificate  ${info.tls ? (info.fingerprint ? `${info.certificate}\nfingerprint  SHA-256 ${info.fingerprint}\nvalid to     ${info.validTo}` : `${info.certificate} (made at the first start)`) : 'none: plain HTTP'}`,
            `setup        ${info.setupPending ? 'pending: no admin yet (`layergate admin setup` prints the token)' : 'done'}`,
          ].join('\n')}\n`,
        );
      }
    });

  program
    .command('admin')
    .description('first-admin setup')
    .command('setup')
    .description('print the one-time setup token that creates the first admin (only while there is none)')
    .option('-c, --config <file>', 'config file')
    .action((opts: { config?: string }) =>
      withIdentity(h.configFile(opts.config), (store, loaded) => {
        const dir = apiDir(loaded.config.gateway.dataDir);
        if (store.hasAdmin()) {
          voidSetupToken(dir);
          throw h.fail(h.exit.failure, 'an admin exists already: log in as that admin (or add one with `layergate users add NAME --role admin`)');
        }
        process.stdout.write(`${ensureSetupToken(dir)}\n`);
      }),
    );

  program
    .command('backup')
    .description(
      'what rebuilds this gateway on another PC: API users and tokens, the config file, the audit log, where the key is (the key only with --include-key)',
    )
    .option('-c, --config <file>', 'config file')
    .option('--out <dir>', 'folder to make the backup folder in', '.')
    .option('--include-key', 'also copy the encryption key ring (the backup then opens confidential data: keep it as safe as the key)')
    .option('--json', 'machine-readable output')
    .action(async (opts: { config?: string; out: string; includeKey?: boolean; json?: boolean }) => {
      const loaded = h.load(h.configFile(opts.config));
      const { dir, manifest } = await makeBackup(loaded, { outDir: path.resolve(opts.out), includeKey: opts.includeKey === true });
      if (opts.json) process.stdout.write(json({ dir, ...manifest }));
      else {
        process.stdout.write(
          `${[`backup       ${dir}`, ...manifest.files.map((f) => `  ${f.name.padEnd(22)} ${String(f.bytes).padStart(10)} B  sha256 ${f.sha256}`), manifest.keyIncluded ? 'key          INCLUDED: keep this backup as safe as the key' : 'key          not included (its location is in KEY-LOCATION.txt)'].join('\n')}\n`,
        );
      }
    });

  const users = program.command('users').description('users of the API and the web UI');
  users
    .command('list')
    .option('-c, --config <file>', 'config file')
    .option('--json', 'machine-readable output')
    .action((opts: { config?: string; json?: boolean }) =>
      withIdentity(h.configFile(opts.config), (store) => {
        const list = store.users();
        process.stdout.write(
          opts.json ? json(list) : list.map((u) => `${u.name.padEnd(24)} ${u.role.padEnd(9)} since ${u.createdAt}`).join('\n') + (list.length ? '\n' : ''),
        );
      }),
    );
  users
    .command('add <name>')
    .description('add a user; without --password-stdin a password is generated and printed once')
    .option('--role <role>', `one of ${ROLES.join(', ')}`, role, 'viewer' as Role)
    .option('--password-stdin', 'read the password from the first line of stdin')
    .option('-c, --config <file>', 'config file')
    .action((name: string, opts: { role: Role; passwordStdin?: boolean; config?: string }) =>
      withIdentity(h.configFile(opts.config), async (store, loaded) => {
        const { password, generated } = newPassword(opts.passwordStdin);
        const problem = passwordProblem(password);
        if (problem) throw h.fail(h.exit.config, problem);
        try {
          await store.addUser(name, opts.role, password);
        } catch (err) {
          throw h.fail(h.exit.failure, (err as Error).message);
        }
        audit(loaded).append('user-added', { user: name, role: opts.role, by: 'cli' });
        // an admin made here ends the setup flow as one made with the token would
        if (opts.role === 'admin') voidSetupToken(apiDir(loaded.config.gateway.dataDir));
        process.stdout.write(generated ? `user ${name} (${opts.role}) added; password (shown once): ${password}\n` : `user ${name} (${opts.role}) added\n`);
      }),
    );
  users
    .command('passwd <name>')
    .description("set a new password (ends the user's sessions); without --password-stdin one is generated and printed once")
    .option('--password-stdin', 'read the password from the first line of stdin')
    .option('-c, --config <file>', 'config file')
    .action((name: string, opts: { passwordStdin?: boolean; config?: string }) =>
      withIdentity(h.configFile(opts.config), async (store, loaded) => {
        const { password, generated } = newPassword(opts.passwordStdin);
        const problem = passwordProblem(password);
        if (problem) throw h.fail(h.exit.config, problem);
        try {
          await store.setPassword(name, password);
        } catch (err) {
          throw h.fail(h.exit.failure, (err as Error).message);
        }
        audit(loaded).append('user-password-set', { user: name, by: 'cli' });
        process.stdout.write(generated ? `new password for ${name} (shown once): ${password}\n` : `password of ${name} set\n`);
      }),
    );
  users
    .command('remove <name>')
    .option('-c, --config <file>', 'config file')
    .action((name: string, opts: { config?: string }) =>
      withIdentity(h.configFile(opts.config), (store, loaded) => {
        try {
          store.removeUser(name);
        } catch (err) {
          throw h.fail(h.exit.failure, (err as Error).message);
        }
        audit(loaded).append('user-removed', { user: name, by: 'cli' });
        process.stdout.write(`user ${name} removed\n`);
      }),
    );
}
