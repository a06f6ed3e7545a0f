/**
 * MinIO for the tests, built from source and run as two instances: `minio-local` (the plant's MinIO) and
 * `minio-cloud` (stands in for AWS S3), each with its own ports, data folder and credentials.
 *
 * Design constraints:
 * - Built with `go install github.com/minio/minio@<pinned>` into .services/cache/minio-<version>/, with
 *   the Go build and module caches inside .services/cache so nothing lands in the user's Go folders.
 *   The pin is the Go pseudo-version of the RELEASE.2025-09-07T16-13-09Z tag (the module proxy serves
 *   MinIO's releases only by pseudo-version, since RELEASE.* tags are not semantic versions).
 * - The build takes minutes on 2 cores; the binary is reused for every later `up`.
 * - Readiness is MinIO's own health API (live, then ready), then a signed ListBuckets through the
 *   `minio` client the gateway uses, which proves the credentials.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Client } from 'minio';
import { HOST, MINIO_CLOUD, MINIO_LOCAL } from './endpoints.js';
import type { TestService } from './service.js';
import { CACHE_DIR, capture, ensureDir, runDir, runLogged, ServiceError, spawnDetached, step, waitReady, which } from './process.js';

/** RELEASE.2025-09-07T16-13-09Z */
export const MINIO_VERSION = 'v0.0.0-20250907161309-07c3a429bfed';
const MINIO_MODULE = 'github.com/minio/minio';

const binDir = path.join(CACHE_DIR, `minio-${MINIO_VERSION}`);
const binary = path.join(binDir, 'minio');

function goEnv(): NodeJS.ProcessEnv {
  const flags = [process.env.GOFLAGS ?? '', '-modcacherw', '-buildvcs=false', '-trimpath'].filter(Boolean).join(' ');
  return {
    ...process.env,
    GOBIN: binDir,
    GOCACHE: path.join(CACHE_DIR, 'go-build'),
    GOMODCACHE: path.join(CACHE_DIR, 'go-mod'),
    GOFLAGS: flags,
    GOTOOLCHAIN: 'local',
    CGO_ENABLED: '0',
  };
}

/** the pinned MinIO's go.mod asks for Go 1.24; Debian's golang-go is older, so no apt fallback here */
const MIN_GO_MINOR = 24;

async function assertGoToolchain(): Promise<void> {
  if (!which('go')) throw new ServiceError('minio', `building MinIO needs Go 1.${MIN_GO_MINOR} or newer on PATH; no 'go' found`);
  const version = (await capture('go', ['env', 'GOVERSION'])).trim();
  const minor = Number(/^go1\.(\d+)/.exec(version)?.[1] ?? 0);
  if (minor < MIN_GO_MINOR) throw new ServiceError('minio', `building MinIO needs Go 1.${MIN_GO_MINOR} or newer; found ${version}`);
}

let building: Promise<void> | undefined;

/** Build the pinned MinIO once; both instances share the binary and concurrent callers share the build. */
function buildMinio(): Promise<void> {
  if (existsSync(binary)) return Promise.resolve();
  building ??= (async () => {
    await assertGoToolchain();
    ensureDir(binDir);
    await step(`minio: go install ${MINIO_MODULE}@${MINIO_VERSION} (several minutes when cold)`, () =>
      runLogged('minio', 'go', ['install', `${MINIO_MODULE}@${MINIO_VERSION}`], {
        env: goEnv(),
        logFile: path.join(CACHE_DIR, 'logs', 'minio-build.log'),
      }),
    );
  })();
  return building;
}

interface MinioEndpoint {
  readonly port: number;
  readonly consolePort: number;
  readonly accessKey: string;
  readonly secretKey: string;
}

/** MinIO answers its health API and a signed request with the instance's credentials. */
export async function minioAnswers(endpoint: MinioEndpoint): Promise<void> {
  for (const check of ['live', 'ready']) {
    const response = await fetch(`http://${HOST}:${endpoint.port}/minio/health/${check}`, { signal: AbortSignal.timeout(2000) });
    if (!response.ok) throw new Error(`/minio/health/${check} answered ${response.status}`);
  }
  const client = new Client({
    endPoint: HOST,
    port: endpoint.port,
    useSSL: false,
    accessKey: endpoint.accessKey,
    secretKey: endpoint.secretKey,
  });
  await client.listBuckets();
}

function minioInstance(name: string, endpoint: MinioEndpoint): TestService {
  const dir = runDir(name);
  const logFile = path.join(dir, `${name}.log`);
  const dataDir = path.join(dir, 'data');
  return {
    name,
    ports: [endpoint.port, endpoint.consolePort],
    logFile,
    install: buildMinio,
    async start() {
      ensureDir(dataDir);
      spawnDetached({
        service: name,
        command: binary,
        args: [
          'server',
          dataDir,
          '--address',
          `${HOST}:${endpoint.port}`,
          '--console-address',
          `${HOST}:${endpoint.consolePort}`,
          // keeps MinIO away from ~/.minio
          '--certs-dir',
          path.join(dir, 'certs'),
          '--quiet',
        ],
        env: {
          ...process.env,
          MINIO_ROOT_USER: endpoint.accessKey,
          MINIO_ROOT_PASSWORD: endpoint.secretKey,
          MINIO_UPDATE: 'off',
          MINIO_BROWSER: 'on',
          HOME: dir,
        },
        logFile,
        marker: dataDir,
      });
    },
    async ready(timeoutMs) {
      await waitReady(name, () => minioAnswers(endpoint), { timeoutMs, logFile });
    },
  };
}

export const minioLocal = minioInstance('minio-local', MINIO_LOCAL);
export const minioCloud = minioInstance('minio-cloud', MINIO_CLOUD);
