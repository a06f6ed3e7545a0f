/**
 * The CLI's client of a running gateway's API, for the commands that read state the running gateway
 * holds: `layergate buffer stats` and `buffer losses` (the buffer admits one process at a time, so
 * while the gateway runs they cannot open it and ask the gateway instead), and `layergate explain`
 * (the policy in force and the job markings the running pipeline holds, which the config file cannot
 * tell). `ask` is the one client; each command adds its route, its answer's schema and its conversion.
 *
 * - Finding it: `<dataDir>/api/endpoint.json` of the config's data folder, whose pid is alive
 *   (gateway/api/endpoint.ts). None: the caller answers itself, as with a stopped gateway (the buffer
 *   opened, the policy built from the config file).
 * - Where it connects: the endpoint's port, on this PC only: an API on every interface (0.0.0.0) is
 *   asked on 127.0.0.1 (:: on ::1); one on a loopback address on that address; one on a single
 *   interface's address on that address (the PC's own, which the kernel delivers locally).
 * - Whom it trusts: exactly the certificate in the data folder (`api.tls.certFile`, or the generated
 *   `<dataDir>/api/tls/cert.pem`), pinned by its SHA-256 fingerprint, which must also be the one the
 *   running gateway announced in endpoint.json; no CA store, no host name check (the pin is
 *   stricter). Plain HTTP only when the endpoint's URL is http (api.tls.enabled: false, which the
 *   API allows on a loopback address only unless forced).
 * - The credential: the local token the API writes at every start (gateway/api/local-credential.ts),
 *   readable by the gateway's user and root; sent as `Authorization: Bearer`.
 * - Failures are the caller's exit 1 with what to do (`fail`), never the buffer's "locked" message:
 *   a gateway runs but its API does not answer, refuses the token, or the token cannot be read. A
 *   gateway that stopped while being asked (its endpoint gone) is no failure: the caller then answers
 *   itself.
 *
 * Node's http/https only: the CLI takes no HTTP client dependency.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import type { z } from 'zod';
import { type Endpoint, ENDPOINT_FILE, readEndpoint } from '../api/endpoint.js';
import { localTokenPath, readLocalToken } from '../api/local-credential.js';
import { bufferAnswer, lossesAnswer } from '../api/routes/buffer.js';
import { explainResponse } from '../api/routes/explain.js';
import { apiDir } from '../api/server.js';
import { tlsDir } from '../api/tls.js';
import { lossFromJson, statsFromJson } from '../buffer/report.js';
import type { BufferStats, LossEntry } from '../buffer/types.js';
import type { ExplainAnswer, ExplainQuery } from '../classify/explain-report.js';
import type { LoadedConfig } from '../config/load.js';
import type { SensitivityClass } from '../plugin-api/record.js';
import type { QuarantineCount } from '../quarantine/summary.js';

/** a request that takes longer is a gateway that does not answer */
export const REQUEST_TIMEOUT_MS = 10_000;

/** turns a failure into the command's exit-1 error */
export type Fail = (message: string) => Error;

interface Running {
  dir: string;
  endpoint: Endpoint;
  certFile: string;
}

/** The running gateway of this config's data folder, or undefined when none runs (or it serves no API). */
function running(loaded: Pick<LoadedConfig, 'config'>): Running | undefined {
  const dir = apiDir(loaded.config.gateway.dataDir);
  const endpoint = readEndpoint(dir);
  return endpoint && { dir, endpoint, certFile: loaded.config.api.tls.certFile ?? path.join(tlsDir(dir), 'cert.pem') };
}

/** The address to connect to for an API listening on `host`: this PC's own, loopback where it can be. */
export function localAddress(host: string): string {
  const h = host.replace(/^\[(.*)\]$/, '$1');
  if (h === '0.0.0.0') return '127.0.0.1';
  if (h === '::') return '::1';
  return h;
}

/**
 * GET `pathname` from the running gateway and parse the answer with `schema`; with the endpoint that
 * answered (who answered, for a command that says so). Undefined when no gateway runs (or it
 * stopped meanwhile).
 */
async function ask<S extends z.ZodType>(
  loaded: Pick<LoadedConfig, 'config'>,
  pathname: string,
  schema: S,
  fail: Fail,
): Promise<{ answer: z.output<S>; endpoint: Endpoint } | undefined> {
  const gw = running(loaded);
  if (!gw) return undefined;
  const { endpoint } = gw;
  const url = new URL(endpoint.url);
  const who = `a gateway is running (pid ${endpoint.pid}, API ${endpoint.url})`;
  let token: string;
  try {
    token = readLocalToken(gw.dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw fail(
      code === 'EACCES' || code === 'EPERM'
        ? `${who}, but its local credential ${localTokenPath(gw.dir)} is not readable by this user: run this as the gateway's user (or root)`
        : `${who}, but its local credential ${localTokenPath(gw.dir)} cannot be read (${(err as Error).message}); restarting the gateway writes it again`,
    );
  }
  const host = localAddress(url.hostname);
  const options: https.RequestOptions = {
    host,
    port: endpoint.port,
    path: pathname,
    method: 'GET',
    headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
    timeout: REQUEST_TIMEOUT_MS,
    agent: false,
  };
  if (url.protocol === 'https:') {
    let cert: string;
    let fingerprint: string;
    try {
      cert = readFileSync(gw.certFile, 'utf8');
      fingerprint = new X509Certificate(cert).fingerprint256;
    } catch (err) {
      throw fail(`${who}, but its certificate ${gw.certFile} cannot be read: ${(err as Error).message}`);
    }
    if (endpoint.fingerprint !== null && endpoint.fingerprint !== fingerprint) {
      throw fail(
        `${who}, but it serves the certificate ${endpoint.fingerprint}, not the one in ${gw.certFile} (${fingerprint}): the file changed since it started; restart the gateway`,
      );
    }
    Object.assign(options, {
      ca: cert,
      // the certificate itself is the trust anchor, also when it was issued by a CA (a configured one)
      allowPartialTrustChain: true,
      checkServerIdentity: (_host: string, peer: { fingerprint256: string }) =>
        peer.fingerprint256 === fingerprint
          ? undefined
          : Object.assign(new Error(`it presented the certificate ${peer.fingerprint256}, not ${fingerprint}`), { code: 'ERR_LG_CERT_PIN' }),
    });
  }
  let answer: { status: number; text: string };
  try {
    answer = await get(url.protocol === 'https:' ? https : http, options);
  } catch (err) {
    // it stopped while being asked: the caller answers itself (the buffer is free to open)
    if (readEndpoint(gw.dir) === undefined) return undefined;
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && TLS_REFUSAL.test(code)) {
      throw fail(
        `${who}, but the server at ${hostPort(host, endpoint.port)} is not it: ${(err as Error).message} (the certificate in ${gw.certFile} is trusted, no other);` +
          ' nothing was sent to it. If the gateway stopped and another program holds the port, restart the gateway',
      );
    }
    throw fail(
      `${who}, but its API cannot be reached at ${hostPort(host, endpoint.port)}: ${(err as Error).message}` +
        ` (if no gateway runs, a crash left ${path.join(gw.dir, ENDPOINT_FILE)} behind and pid ${endpoint.pid} is another process: remove that file)`,
    );
  }
  if (answer.status !== 200) {
    let message = answer.text.slice(0, 500);
    try {
      const e = JSON.parse(answer.text) as { error?: string; message?: string };
      if (e.message) message = `${e.error ?? 'error'}: ${e.message}`;
    } catch {
      /* not JSON: shown as it came */
    }
    throw fail(`${who}, but its API answered ${pathname} with ${answer.status}: ${message}`);
  }
  const parsed = schema.safeParse(JSON.parse(answer.text));
  if (!parsed.success) throw fail(`${who}, but its answer to ${pathname} is not what this layergate expects (another version?): ${parsed.error.message}`);
  return { answer: parsed.data, endpoint };
}

/** a certificate the pin or the chain check refused (node's codes, and the pin's own) */
const TLS_REFUSAL =
  /^(ERR_LG_CERT_PIN|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|CERT_\w+|ERR_TLS_CERT_ALTNAME_INVALID)$/;

function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

function get(client: typeof http | typeof https, options: https.RequestOptions): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = client.request(options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS / 1000} s`)));
    req.on('error', reject);
    req.end();
  });
}

/** The running gateway's buffer figures and input quarantine; undefined when no gateway runs. */
export async function runningBufferStats(
  loaded: Pick<LoadedConfig, 'config'>,
  fail: Fail,
): Promise<{ s: BufferStats; quarantine: QuarantineCount[] } | undefined> {
  const a = (await ask(loaded, '/api/v1/buffer', bufferAnswer, fail))?.answer;
  if (!a) return undefined;
  const { quarantine, ...stats } = a;
  return { s: statsFromJson(stats), quarantine: quarantine.map((q) => ({ input: q.input, reason: q.reason, items: q.items, bytes: q.bytes })) };
}

/** The running gateway's loss ledger, newest first; undefined when no gateway runs. */
export async function runningLosses(loaded: Pick<LoadedConfig, 'config'>, limit: number, fail: Fail): Promise<LossEntry[] | undefined> {
  const a = await ask(loaded, `/api/v1/losses?limit=${limit}`, lossesAnswer, fail);
  return a?.answer.map(lossFromJson);
}

/**
 * The running gateway's `layergate explain` answer (GET /api/v1/explain): its policy in force, with
 * the job marking its pipeline holds for the build as a floor (`jobMark`); `endpoint`: who answered.
 * Undefined when no gateway runs.
 */
export async function runningExplain(
  loaded: Pick<LoadedConfig, 'config'>,
  q: ExplainQuery,
  fail: Fail,
): Promise<{ answer: ExplainAnswer; jobMark: SensitivityClass | null; endpoint: Endpoint } | undefined> {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined) params.set(k, v);
  const a = await ask(loaded, `/api/v1/explain?${params}`, explainResponse, fail);
  if (!a) return undefined;
  const { jobMark, ...answer } = a.answer;
  return { answer, jobMark, endpoint: a.endpoint };
}
