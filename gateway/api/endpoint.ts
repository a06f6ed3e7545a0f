/**
 * `<dataDir>/api/endpoint.json`: where the running gateway's API listens (its URL with the port
 * actually taken, which differs from the config with `api.port: 0`), written when it starts
 * listening and removed when it stops. `layergate api info` and the CLI's commands that talk to a
 * running gateway read it; an entry whose pid is not alive is stale and ignored.
 */
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const ENDPOINT_FILE = 'endpoint.json';

export interface Endpoint {
  url: string;
  port: number;
  pid: number;
  fingerprint: string | null;
  startedAt: string;
  /** the gRPC API's host:port (null: off or not listening; absent: written by a gateway before it had one) */
  grpc?: string | null;
}

export function writeEndpoint(apiDir: string, e: Endpoint): void {
  const file = path.join(apiDir, ENDPOINT_FILE);
  writeFileSync(`${file}.tmp`, `${JSON.stringify(e, null, 2)}\n`, { mode: 0o644 });
  renameSync(`${file}.tmp`, file);
}

export function removeEndpoint(apiDir: string, pid = process.pid): void {
  const e = readEndpoint(apiDir);
  if (e?.pid === pid) rmSync(path.join(apiDir, ENDPOINT_FILE), { force: true });
}

/** The endpoint of a running gateway, or undefined when there is none (or its process is gone). */
export function readEndpoint(apiDir: string): Endpoint | undefined {
  const file = path.join(apiDir, ENDPOINT_FILE);
  if (!existsSync(file)) return undefined;
  let e: Endpoint;
  try {
    e = JSON.parse(readFileSync(file, 'utf8')) as Endpoint;
  } catch {
    return undefined;
  }
  try {
    process.kill(e.pid, 0);
    return e;
  } catch (err) {
    // EPERM: alive, but another user's (the gateway's own user): it runs, this user may not signal it
    return (err as { code?: string }).code === 'EPERM' ? e : undefined;
  }
}
