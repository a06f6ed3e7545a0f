import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { GATEWAY_NODE_FLAGS } from '../gateway/runtime/node-flags.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..');
const unitText = readFileSync(path.join(here, 'layergate.service'), 'utf8');

/** A small systemd unit parser: section -> key -> values (a key may repeat). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const sec = /^\[(.+)\]$/.exec(line);
    if (sec) {
      current = new Map();
      sections.set(sec[1]!, current);
      continue;
    }
    const kv = /^([A-Za-z0-9]+)=(.*)$/.exec(line);
    if (!kv || !current) throw new Error(`line ${i + 1}: not a key=value line inside a section: ${raw}`);
    current.set(kv[1]!, [...(current.get(kv[1]!) ?? []), kv[2]!]);
  }
  return sections;
}

function durationSec(v: string): number {
  const m = /^(\d+)(s|min)?$/.exec(v);
  if (!m) throw new Error(`unsupported duration ${v}`);
  return Number(m[1]) * (m[2] === 'min' ? 60 : 1);
}

describe('systemd/layergate.service', () => {
  const unit = parseUnit(unitText);
  const svc = unit.get('Service')!;
  const one = (k: string): string | undefined => svc.get(k)?.at(-1);

  it('is hardened, restarts on failure and stops with SIGTERM beyond the grace period', () => {
    expect([...unit.keys()]).toEqual(['Unit', 'Service', 'Install']);
    expect(one('User')).toBe('layergate');
    expect(one('StateDirectory')).toBe('layergate');
    expect(one('ProtectSystem')).toBe('strict');
    expect(one('NoNewPrivileges')).toBe('yes');
    expect(one('ProtectHome')).toBe('yes');
    expect(one('PrivateTmp')).toBe('yes');
    expect(one('Restart')).toBe('on-failure');
    expect(one('RestartPreventExitStatus')).toBe('2');
    expect(one('KillSignal')).toBe('SIGTERM');
    expect(one('CapabilityBoundingSet')).toBe('');
    // the default gateway.shutdownGraceMs is 10 s; the unit must wait well beyond it before SIGKILL
    expect(durationSec(one('TimeoutStopSec')!)).toBeGreaterThanOrEqual(30);
    expect(svc.get('Environment')).toContain('LAYERGATE_DATA_DIR=/var/lib/layergate');
    expect(one('EnvironmentFile')).toBe('-/etc/layergate/layergate.env');
    expect(one('ExecStart')).toBe(`/usr/bin/node ${GATEWAY_NODE_FLAGS.join(' ')} /opt/layergate/dist/gateway/cli/main.js run -c /etc/layergate/layergate.yaml`);
    expect(unit.get('Install')!.get('WantedBy')).toEqual(['multi-user.target']);
  });

  it('reloads with SIGHUP and lets the gateway replace its config file (the API apply persists)', () => {
    // systemctl reload: SIGHUP to the main process, which applies the file live (gateway/cli/main.ts)
    expect(svc.get('ExecReload')).toEqual(['/bin/kill -HUP $MAINPID']);
    expect(unitText).toMatch(/^# .*only a restart .*applies it/m);
    // the folder is group-writable for the gateway, sticky (it replaces only its own files), and
    // systemd must not set it back to 0750 at start
    expect(one('ConfigurationDirectory')).toBe('layergate');
    expect(one('ConfigurationDirectoryMode')).toBe('1770');
    // ProtectSystem=strict makes /etc read-only in the service's namespace: the config folder is excepted
    expect(svc.get('ReadWritePaths')).toEqual(['/etc/layergate']);
    // the secrets stay with systemd: read as root before the drop to User=, never writable config
    expect(svc.get('EnvironmentFile')).toEqual(['-/etc/layergate/layergate.env']);
    expect(one('StateDirectoryMode')).toBe('0750');
  });

  it('passes systemd-analyze verify (or, without it, parses cleanly)', () => {
    const probe = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
    if (probe.error) {
      // no systemd-analyze on this machine: the parser above already read every line as key=value
      expect(parseUnit(unitText).get('Service')!.size).toBeGreaterThan(20);
      return;
    }
    // verify checks that ExecStart's binary exists: point it at this node, as install.sh does
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lg-unit-'));
    const file = path.join(dir, 'layergate.service');
    writeFileSync(file, unitText.replaceAll('/usr/bin/node', process.execPath));
    const r = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
    const ownWarnings = r.stderr.split('\n').filter((l) => l.includes('layergate.service'));
    expect(ownWarnings).toEqual([]);
    expect(r.status).toBe(0);
  });
});

describe('systemd/install.sh', () => {
  /** a minimal built checkout: the installer's logic without copying node_modules */
  function fakeCheckout(): string {
    const src = mkdtempSync(path.join(os.tmpdir(), 'lg-src-'));
    mkdirSync(path.join(src, 'systemd'));
    cpSync(path.join(here, 'install.sh'), path.join(src, 'systemd', 'install.sh'));
    cpSync(path.join(here, 'layergate.service'), path.join(src, 'systemd', 'layergate.service'));
    cpSync(path.join(repo, 'config'), path.join(src, 'config'), { recursive: true });
    cpSync(path.join(repo, 'proto'), path.join(src, 'proto'), { recursive: true });
    mkdirSync(path.join(src, 'dist', 'gateway', 'cli'), { recursive: true });
    writeFileSync(path.join(src, 'dist', 'gateway', 'cli', 'main.js'), '// built cli\n');
    writeFileSync(path.join(src, 'package.json'), '{"name":"layergate"}\n');
    return src;
  }
  const run = (src: string, ...args: string[]) => spawnSync('bash', [path.join(src, 'systemd', 'install.sh'), ...args], { encoding: 'utf8' });

  it('stages files, config and unit; a second run changes nothing and keeps an edited config', () => {
    const src = fakeCheckout();
    const root = mkdtempSync(path.join(os.tmpdir(), 'lg-root-'));
    const first = run(src, '--root', root);
    expect(first.stderr).toBe('');
    expect(first.status).toBe(0);
    const cfg = path.join(root, 'etc/layergate/layergate.yaml');
    const env = path.join(root, 'etc/layergate/layergate.env');
    const unitFile = path.join(root, 'etc/systemd/system/layergate.service');
    expect(readFileSync(cfg, 'utf8')).toBe(readFileSync(path.join(repo, 'config/layergate.example.yaml'), 'utf8'));
    expect(statSync(env).mode & 0o777).toBe(0o600);
    // the gateway replaces layergate.yaml (its own) when the API applies a config: the folder is
    // group-writable and sticky, so the root-owned env file cannot be replaced by it
    expect(statSync(path.join(root, 'etc/layergate')).mode & 0o7777).toBe(0o1770);
    expect(statSync(cfg).mode & 0o777).toBe(0o640);
    expect(readFileSync(path.join(root, 'opt/layergate/dist/gateway/cli/main.js'), 'utf8')).toBe('// built cli\n');
    const unit = parseUnit(readFileSync(unitFile, 'utf8'));
    expect(unit.get('Service')!.get('ExecStart')).toEqual([
      `${process.execPath} ${GATEWAY_NODE_FLAGS.join(' ')} /opt/layergate/dist/gateway/cli/main.js run -c /etc/layergate/layergate.yaml`,
    ]);

    writeFileSync(cfg, 'gateway: { machine: edited }\n');
    const second = run(src, '--root', root);
    expect(second.status).toBe(0);
    expect(second.stdout).toContain('kept existing');
    expect(second.stdout).toContain('unit unchanged');
    expect(readFileSync(cfg, 'utf8')).toBe('gateway: { machine: edited }\n');
    expect(statSync(env).mode & 0o777).toBe(0o600);
  });

  it('sets an existing 0750 config folder (an earlier install) to 1770 and keeps the file it holds', () => {
    const src = fakeCheckout();
    const root = mkdtempSync(path.join(os.tmpdir(), 'lg-root-'));
    const etc = path.join(root, 'etc/layergate');
    mkdirSync(etc, { recursive: true, mode: 0o750 });
    writeFileSync(path.join(etc, 'layergate.yaml'), 'gateway: { machine: old }\n', { mode: 0o640 });
    const r = run(src, '--root', root);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('kept existing');
    expect(statSync(etc).mode & 0o7777).toBe(0o1770);
    expect(readFileSync(path.join(etc, 'layergate.yaml'), 'utf8')).toBe('gateway: { machine: old }\n');
    expect(statSync(path.join(etc, 'layergate.yaml')).mode & 0o777).toBe(0o640);
    expect(statSync(path.join(etc, 'layergate.env')).mode & 0o777).toBe(0o600);
  });

  it('refuses to install without a build, naming the fix', () => {
    const src = fakeCheckout();
    const root = mkdtempSync(path.join(os.tmpdir(), 'lg-root-'));
    spawnSync('rm', ['-rf', path.join(src, 'dist')]);
    const r = run(src, '--root', root);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/dist is missing: run 'npm install'/);
  });

  it('--prefix moves the program and the unit follows', () => {
    const src = fakeCheckout();
    const root = mkdtempSync(path.join(os.tmpdir(), 'lg-root-'));
    expect(run(src, '--root', root, '--prefix', '/usr/local/lib/layergate').status).toBe(0);
    const unit = readFileSync(path.join(root, 'etc/systemd/system/layergate.service'), 'utf8');
    expect(unit).toContain('/usr/local/lib/layergate/dist/gateway/cli/main.js run');
    expect(unit).not.toContain('/opt/layergate');
  });
});
