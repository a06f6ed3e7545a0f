/**
 * A MongoDB wire-protocol server for the tests: FerretDB v1 on its SQLite backend (MongoDB itself is not
 * in the package sources this machine reaches). The mongodb output and its tests talk to it with the
 * official `mongodb` driver, unchanged. A plain listener and a TLS listener on loopback; no
 * authentication (FerretDB v1 authenticates only through its PostgreSQL backend's users, or an
 * experimental SCRAM mode of its own: neither is worth a test server's moving parts; the output's
 * credentials are the driver's URL and are not the harness's to prove).
 *
 * Design constraints:
 * - Built from the Go module proxy, pinned: `go mod download github.com/FerretDB/FerretDB@<pinned>`, the
 *   module copied to .services/cache/ferretdb-<version>/src and `go build ./cmd/ferretdb` there, with the
 *   Go build and module caches inside .services/cache. Not `go install <module>@<version>`: the module
 *   zip lacks build/version/version.txt (generated in FerretDB's own release builds), and a binary built
 *   without it panics at start, so the copy gets that file (and its siblings) written first.
 *   Default build tags: the SQLite and PostgreSQL backends, pure Go (CGO off).
 * - Telemetry off, the debug HTTP listener off, state and data under .services/run/ferretdb/: nothing
 *   leaves the machine or lands outside the harness's folder.
 * - `--repl-set-name`: FerretDB then answers `hello` as a replica set primary, so the driver uses
 *   retryable writes with it exactly as with MongoDB or Atlas (against a standalone it would not).
 * - A test CA and a server certificate for 127.0.0.1/localhost are generated with openssl into
 *   .services/run/ferretdb/certs once; clients trust MONGODB.caFile.
 * - Readiness is a `ping` through the official driver on both listeners.
 * - `DedicatedFerretdb`: a private instance of the same binary on free ports and a temp data folder
 *   (./dedicated-child.ts), for tests that stop, kill and restart the server (the shared one is never
 *   touched).
 */
import { cpSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { MongoClient } from 'mongodb';
import { freePort } from '../support/wait.js';
import { HOST, MONGODB } from './endpoints.js';
import type { TestService } from './service.js';
import { DedicatedChild } from './dedicated-child.js';
import { type ServerCertificate, serverCertificate } from './test-ca.js';
import { CACHE_DIR, capture, ensureDir, runDir, runLogged, ServiceError, spawnDetached, step, waitReady, which } from './process.js';

const NAME = 'ferretdb';
export const FERRETDB_VERSION = 'v1.24.2';
const FERRETDB_MODULE = 'github.com/FerretDB/FerretDB';

const buildDir = path.join(CACHE_DIR, `ferretdb-${FERRETDB_VERSION}`);
const srcDir = path.join(buildDir, 'src');
export const FERRETDB_BINARY = path.join(buildDir, 'ferretdb');
const buildLog = path.join(CACHE_DIR, 'logs', 'ferretdb-build.log');

const dir = runDir(NAME);
const dataDir = path.join(dir, 'data');
const logFile = path.join(dir, 'ferretdb.log');
const certsDir = path.dirname(MONGODB.caFile);
const serverCert = path.join(certsDir, 'server.crt');
const serverKey = path.join(certsDir, 'server.key');

function goEnv(): NodeJS.ProcessEnv {
  const flags = [process.env.GOFLAGS ?? '', '-modcacherw', '-buildvcs=false', '-trimpath'].filter(Boolean).join(' ');
  return {
    ...process.env,
    GOCACHE: path.join(CACHE_DIR, 'go-build'),
    GOMODCACHE: path.join(CACHE_DIR, 'go-mod'),
    GOFLAGS: flags,
    GOTOOLCHAIN: 'local',
    CGO_ENABLED: '0',
  };
}

/** FerretDB v1.24's go.mod asks for Go 1.22 */
const MIN_GO_MINOR = 22;

let building: Promise<void> | undefined;

/** Build the pinned FerretDB once; concurrent callers share the build. */
function buildFerretdb(): Promise<void> {
  if (existsSync(FERRETDB_BINARY)) return Promise.resolve();
  building ??= (async () => {
    if (!which('go')) throw new ServiceError(NAME, `building FerretDB needs Go 1.${MIN_GO_MINOR} or newer on PATH; no 'go' found`);
    const version = (await capture('go', ['env', 'GOVERSION'])).trim();
    if (Number(/^go1\.(\d+)/.exec(version)?.[1] ?? 0) < MIN_GO_MINOR) {
      throw new ServiceError(NAME, `building FerretDB needs Go 1.${MIN_GO_MINOR} or newer; found ${version}`);
    }
    ensureDir(buildDir);
    await step(`ferretdb: go build ${FERRETDB_MODULE}/cmd/ferretdb@${FERRETDB_VERSION} (minutes when cold)`, async () => {
      const info = JSON.parse(await capture('go', ['mod', 'download', '-json', `${FERRETDB_MODULE}@${FERRETDB_VERSION}`], goEnv())) as {
        Dir?: string;
        Error?: string;
      };
      if (!info.Dir) throw new ServiceError(NAME, `go mod download ${FERRETDB_MODULE}@${FERRETDB_VERSION} failed: ${info.Error ?? 'no Dir'}`);
      rmSync(srcDir, { recursive: true, force: true });
      cpSync(info.Dir, srcDir, { recursive: true, mode: 0 });
      // the module cache is read-only (-modcacherw only for new downloads): the copy must be writable
      await runLogged(NAME, 'chmod', ['-R', 'u+w', srcDir], { logFile: buildLog });
      const versionDir = path.join(srcDir, 'build', 'version');
      writeFileSync(path.join(versionDir, 'version.txt'), `${FERRETDB_VERSION}\n`);
      writeFileSync(path.join(versionDir, 'commit.txt'), 'unknown\n');
      writeFileSync(path.join(versionDir, 'branch.txt'), 'unknown\n');
      writeFileSync(path.join(versionDir, 'package.txt'), 'layergate-test\n');
      await runLogged(NAME, 'go', ['build', '-o', FERRETDB_BINARY, './cmd/ferretdb'], { env: goEnv(), logFile: buildLog, cwd: srcDir });
    });
  })();
  return building;
}

function generateCertificates(): Promise<ServerCertificate> {
  return serverCertificate({ service: NAME, caFile: MONGODB.caFile, caName: 'LayerGate test CA', logFile: path.join(dir, 'openssl.log') });
}

/** FerretDB's command line: SQLite backend in `data`, plain and (optionally) TLS listeners, nothing else. */
function ferretArgs(opts: { data: string; state: string; port: number; tlsPort?: number; cert?: string; key?: string }): string[] {
  return [
    '--handler=sqlite',
    `--sqlite-url=file:${opts.data}/`,
    `--state-dir=${opts.state}`,
    `--listen-addr=${HOST}:${opts.port}`,
    ...(opts.tlsPort ? [`--listen-tls=${HOST}:${opts.tlsPort}`, `--listen-tls-cert-file=${opts.cert}`, `--listen-tls-key-file=${opts.key}`] : []),
    `--repl-set-name=${MONGODB.replicaSet}`,
    '--debug-addr=-',
    '--telemetry=disable',
    '--log-level=warn',
    '--log-format=text',
  ];
}

/** A `ping` through the official driver at `url` (one connection, short timeouts). */
export async function mongoPing(url: string, tls?: { caFile: string }): Promise<void> {
  const client = new MongoClient(url, {
    serverSelectionTimeoutMS: 2000,
    connectTimeoutMS: 2000,
    directConnection: true,
    maxPoolSize: 1,
    ...(tls ? { tls: true, tlsCAFile: tls.caFile } : {}),
  });
  try {
    const answer = await client.db('admin').command({ ping: 1 });
    if (answer.ok !== 1) throw new Error(`ping answered ${JSON.stringify(answer)}`);
  } finally {
    await client.close();
  }
}

/** FerretDB answers a ping on the plain and on the TLS listener. */
export async function ferretdbAnswers(): Promise<void> {
  await mongoPing(MONGODB.url);
  await mongoPing(MONGODB.tlsUrl, { caFile: MONGODB.caFile });
}

export const ferretdb: TestService = {
  name: NAME,
  ports: [MONGODB.port, MONGODB.tlsPort],
  logFile,
  install: buildFerretdb,
  async start() {
    ensureDir(dataDir);
    ensureDir(path.join(dir, 'state'));
    await generateCertificates();
    spawnDetached({
      service: NAME,
      command: FERRETDB_BINARY,
      args: ferretArgs({ data: dataDir, state: path.join(dir, 'state'), port: MONGODB.port, tlsPort: MONGODB.tlsPort, cert: serverCert, key: serverKey }),
      env: { ...process.env, HOME: dir },
      logFile,
      marker: dataDir,
    });
  },
  async ready(timeoutMs) {
    await waitReady(NAME, ferretdbAnswers, { timeoutMs, logFile });
  },
};

/**
 * A private FerretDB (the harness's cached binary) on free loopback ports with its own data folder in a
 * temp directory, a child of the test process: for tests that stop, SIGKILL and restart the server.
 * `stop()` then `start()` keeps the data folder and the ports, as a restart of a plant server would.
 * Only the process this object started is ever signalled, by its pid.
 */
export class DedicatedFerretdb extends DedicatedChild {
  port = 0;

  constructor() {
    super(NAME);
  }

  get url(): string {
    return `mongodb://${HOST}:${this.port}/`;
  }

  protected override async prepare(): Promise<void> {
    if (!existsSync(FERRETDB_BINARY)) throw new Error('FerretDB is not built yet: run `npm run services -- up` first');
    if (this.port === 0) this.port = await freePort();
    ensureDir(path.join(this.dir, 'data'));
    ensureDir(path.join(this.dir, 'state'));
  }

  protected command() {
    return {
      command: FERRETDB_BINARY,
      args: ferretArgs({ data: path.join(this.dir, 'data'), state: path.join(this.dir, 'state'), port: this.port }),
      env: { ...process.env, HOME: this.dir },
    };
  }

  protected probe(): Promise<void> {
    return mongoPing(this.url);
  }
}
