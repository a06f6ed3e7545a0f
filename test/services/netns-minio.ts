/**
 * A MinIO behind a constrained, breakable link: a dedicated MinIO (the harness's cached build) runs
 * inside its own Linux network namespace, reached from the test's namespace through a veth pair, with
 * `tc` on the host end of the pair shaping what goes towards MinIO (the upload direction): a rate
 * (netem `rate`, or a tbf), loss (100% = the link drops every packet: an outage) and delay.
 *
 * Design constraints:
 * - Everything is private to this machine: the namespace, the veth pair and a /30 in 10.213.0.0/16
 *   that exists only on the two ends of the pair; names carry a random id so parallel test files never
 *   collide. Needs root (CI runs as root) and the `ip` and `tc` tools.
 * - `dispose()` kills the MinIO it started (by pid), deletes the namespace (which removes the pair
 *   with its qdiscs) and the data folder; it is also run on process exit as a safety net, so a failing
 *   test leaves nothing behind.
 * - `txBytes()` reads the kernel's counter of bytes sent into the link (host end), so the tests measure
 *   what actually went over the wire, headers and TCP/IP overhead included.
 */
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'minio';
import { MINIO_VERSION } from './minio.js';
import { CACHE_DIR, logTail, sleep, which } from './process.js';

export const NETNS_MINIO_KEYS = { accessKey: 'lg-netns-admin', secretKey: 'lg-netns-secret-key' } as const;
const PORT = 9000;

export interface LinkShape {
  /** rate limit of the link towards MinIO, Mbit/s (absent: unlimited) */
  rateMbit?: number;
  /** how long a packet may wait in the link's queue, ms (default 50; a deep, bloated router buffer: hundreds) */
  queueMs?: number;
}

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Whether this machine can host the namespace (root, ip, tc, the cached MinIO). */
export function netnsAvailable(): { ok: boolean; why?: string } {
  if (process.getuid?.() !== 0) return { ok: false, why: 'not root' };
  if (!which('ip') || !which('tc')) return { ok: false, why: 'ip or tc missing (iproute2)' };
  if (!existsSync(minioBinary())) return { ok: false, why: 'the MinIO build is not cached yet: run `npm run services -- up`' };
  return { ok: true };
}

function minioBinary(): string {
  return path.join(CACHE_DIR, `minio-${MINIO_VERSION}`, 'minio');
}

const live = new Set<NetnsMinio>();
process.once('exit', () => {
  for (const m of live) m.disposeSync();
});

export class NetnsMinio {
  readonly id = randomBytes(3).toString('hex');
  readonly ns = `lgsync-${this.id}`;
  /** host end (in the test's namespace) and MinIO's end of the pair; at most 15 characters */
  readonly hostDev = `lgh${this.id}`;
  readonly nsDev = `lgn${this.id}`;
  readonly hostAddress: string;
  readonly minioAddress: string;
  readonly dir: string;
  readonly logFile: string;
  private child: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  private made = false;

  constructor() {
    // a /30 in 10.213.0.0/16 not present on this machine: .1 host end, .2 MinIO's end
    const taken = run('ip', ['-4', '-o', 'addr']);
    let host: string;
    let minio: string;
    do {
      const n = Math.floor(Math.random() * 16384) * 4;
      host = `10.213.${n >> 8}.${(n & 255) + 1}`;
      minio = `10.213.${n >> 8}.${(n & 255) + 2}`;
    } while (taken.includes(` ${host}/`) || taken.includes(` ${minio}/`));
    this.hostAddress = host;
    this.minioAddress = minio;
    this.dir = mkdtempSync(path.join(os.tmpdir(), `lg-netns-minio-${this.id}-`));
    this.logFile = path.join(this.dir, 'minio.log');
  }

  get endpoint(): string {
    return `http://${this.minioAddress}:${PORT}`;
  }

  client(): Client {
    return new Client({ endPoint: this.minioAddress, port: PORT, useSSL: false, ...NETNS_MINIO_KEYS });
  }

  /** Create the namespace and the link, start MinIO in it and wait until it answers. */
  async start(): Promise<void> {
    live.add(this);
    this.made = true;
    run('ip', ['netns', 'add', this.ns]);
    run('ip', ['link', 'add', this.hostDev, 'type', 'veth', 'peer', 'name', this.nsDev]);
    run('ip', ['link', 'set', this.nsDev, 'netns', this.ns]);
    run('ip', ['addr', 'add', `${this.hostAddress}/30`, 'dev', this.hostDev]);
    run('ip', ['link', 'set', this.hostDev, 'up']);
    run('ip', ['netns', 'exec', this.ns, 'ip', 'addr', 'add', `${this.minioAddress}/30`, 'dev', this.nsDev]);
    run('ip', ['netns', 'exec', this.ns, 'ip', 'link', 'set', this.nsDev, 'up']);
    run('ip', ['netns', 'exec', this.ns, 'ip', 'link', 'set', 'lo', 'up']);
    // no offloads on the shaped end: the qdisc then sees real-sized packets
    try {
      run('ethtool', ['-K', this.hostDev, 'tso', 'off', 'gso', 'off', 'gro', 'off']);
    } catch {
      /* ethtool absent: netem handles GSO packets too */
    }
    const fd = openSync(this.logFile, 'a');
    // `ip netns exec` execs MinIO in the namespace: the child's pid is MinIO's
    const child = spawn(
      'ip',
      [
        'netns',
        'exec',
        this.ns,
        minioBinary(),
        'server',
        path.join(this.dir, 'data'),
        '--address',
        `${this.minioAddress}:${PORT}`,
        '--console-address',
        `${this.minioAddress}:${PORT + 1}`,
        '--certs-dir',
        path.join(this.dir, 'certs'),
        '--quiet',
      ],
      {
        cwd: this.dir,
        stdio: ['ignore', fd, fd],
        env: {
          ...process.env,
          MINIO_ROOT_USER: NETNS_MINIO_KEYS.accessKey,
          MINIO_ROOT_PASSWORD: NETNS_MINIO_KEYS.secretKey,
          MINIO_UPDATE: 'off',
          MINIO_BROWSER: 'off',
          HOME: this.dir,
        },
      },
    );
    closeSync(fd);
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    void this.exited.then(() => {
      if (this.child === child) this.child = undefined;
    });
    const deadline = Date.now() + 120_000;
    for (;;) {
      if (!this.child) throw new Error(`netns MinIO exited before it answered:\n${logTail(this.logFile)}`);
      try {
        const res = await fetch(`${this.endpoint}/minio/health/ready`, { signal: AbortSignal.timeout(2000) });
        if (res.ok) {
          await this.client().listBuckets();
          return;
        }
      } catch {
        /* not yet */
      }
      if (Date.now() > deadline) throw new Error(`netns MinIO did not answer within 120 s:\n${logTail(this.logFile)}`);
      await sleep(250);
    }
  }

  /** Shape the link towards MinIO (replaces the previous shape); `{}` = no limit. */
  shape(s: LinkShape): void {
    if (!s.rateMbit) {
      try {
        run('tc', ['qdisc', 'del', 'dev', this.hostDev, 'root']);
      } catch {
        /* no qdisc of ours */
      }
      return;
    }
    // burst: one 1 ms worth of the rate but at least a few full-size frames
    const burstBytes = Math.max(16 * 1514, Math.round((s.rateMbit * 1e6) / 8 / 1000));
    run('tc', [
      'qdisc',
      'replace',
      'dev',
      this.hostDev,
      'root',
      'tbf',
      'rate',
      `${s.rateMbit}mbit`,
      'burst',
      String(burstBytes),
      'latency',
      `${s.queueMs ?? 50}ms`,
    ]);
  }

  /** Link down (`true`): MinIO's end goes down, packets towards it vanish. `false`: back up. */
  outage(down: boolean): void {
    run('ip', ['netns', 'exec', this.ns, 'ip', 'link', 'set', this.nsDev, down ? 'down' : 'up']);
  }

  /** Bytes the host end has sent into the link so far. */
  txBytes(): number {
    return Number(readFileSync(`/sys/class/net/${this.hostDev}/statistics/tx_bytes`, 'utf8').trim());
  }

  async dispose(): Promise<void> {
    const child = this.child;
    if (child) {
      child.kill('SIGKILL');
      await Promise.race([this.exited, sleep(10_000)]);
    }
    this.disposeSync();
  }

  /** Kill MinIO (by pid), delete the namespace (and with it the pair) and the folder. Idempotent. */
  disposeSync(): void {
    if (this.child?.pid) {
      try {
        process.kill(this.child.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    this.child = undefined;
    if (this.made) {
      try {
        run('ip', ['link', 'del', this.hostDev]);
      } catch {
        /* went with the namespace */
      }
      try {
        run('ip', ['netns', 'del', this.ns]);
      } catch {
        /* already gone */
      }
      this.made = false;
    }
    rmSync(this.dir, { recursive: true, force: true });
    live.delete(this);
  }
}
