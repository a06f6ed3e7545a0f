/**
 * The frames input's upload route: `POST /frames` on a raw node:http server, for cameras that push
 * images instead of writing files. Bearer token; build, layer, phase and source time from headers.
 *
 * Design constraints:
 * - At most `upload.maxConcurrent` uploads are handled at once; one more is answered 503 with
 *   Retry-After at once (its body unread), so a burst cannot hold unbounded images in memory.
 * - A body larger than `maxFileBytes` is refused (413) as soon as its declared length or its bytes
 *   pass the limit, and counted as a `too-large` rejection.
 * - The answer comes after the commit: 201 stored, 200 duplicate of a recent frame, 400/413 rejected,
 *   503 when the buffer did not take the frame or the gateway is stopping (the camera retries).
 * - The token is compared in constant time.
 */
import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { InputContext } from '../../../gateway/plugin-api/index.js';
import { FrameRejected, hintsFromName } from './frame.js';
import type { FrameHints } from './frame.js';
import type { IngestResult } from './ingest.js';
import type { FramesConfig } from './schema.js';

export class UploadServer {
  private server: http.Server | undefined;
  private stopped = true;
  private active = 0;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly config: FramesConfig,
    private readonly cfg: NonNullable<FramesConfig['upload']>,
    private readonly pattern: RegExp,
    /** the shared ingest path (resolves undefined when the emit failed) */
    private readonly ingest: (bytes: Buffer, hints: FrameHints) => Promise<IngestResult | undefined>,
    /** counts and quarantines a rejected frame */
    private readonly reject: (err: FrameRejected, bytes: Buffer | undefined, where: string) => void,
    private readonly counters: { uploads: number; uploadsRefused: number },
  ) {}

  /** Uploads being handled right now (at most `upload.maxConcurrent`). */
  get inProgress(): number {
    return this.active;
  }

  /** The route's base URL while listening. */
  get url(): string | undefined {
    const a = this.server?.address() as AddressInfo | null | undefined;
    if (!a) return undefined;
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return `http://${host}:${a.port}/frames`;
  }

  /** Listen on the configured host and port. */
  async start(ctx: InputContext): Promise<void> {
    const cfg = this.cfg;
    this.stopped = false;
    const token = Buffer.from(cfg.token);
    const server = http.createServer((req, res) => {
      const p = this.handleUpload(req, res, token).catch((err: unknown) => {
        ctx.log.error({ err }, 'frames: upload handler failed');
        if (!res.headersSent) reply(res, 500, { error: 'internal error' });
      });
      this.inFlight.add(p);
      void p.finally(() => this.inFlight.delete(p));
    });
    server.requestTimeout = 120_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(cfg.port, cfg.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
  }

  /** Refuse new uploads, close the server and wait for the uploads in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    const server = this.server;
    this.server = undefined;
    if (server) {
      server.closeIdleConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private async handleUpload(req: http.IncomingMessage, res: http.ServerResponse, token: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== '/frames') return reply(res, 404, { error: `no route ${url.pathname}; POST /frames` });
    if (req.method !== 'POST') return reply(res, 405, { error: 'use POST /frames' });
    const auth = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const given = Buffer.from(auth ?? '');
    if (!auth || given.length !== token.length || !timingSafeEqual(given, token)) {
      req.resume();
      return reply(res, 401, { error: 'missing or wrong bearer token' });
    }
    if (this.stopped) return reply(res, 503, { error: 'the gateway is stopping' });
    const limit = this.cfg.maxConcurrent;
    if (this.active >= limit) {
      this.counters.uploadsRefused++;
      req.resume();
      res.setHeader('retry-after', '1');
      return reply(res, 503, { error: `${limit} uploads are being handled (upload.maxConcurrent); retry later` });
    }
    this.active++;
    try {
      await this.handleAcceptedUpload(req, res, url);
    } finally {
      this.active--;
    }
  }

  private async handleAcceptedUpload(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    const h = (k: string): string | undefined => {
      const v = req.headers[k];
      return typeof v === 'string' && v.length > 0 ? v : undefined;
    };
    const fileName = path.basename(h('x-layergate-file-name') ?? url.searchParams.get('name') ?? `upload-${Date.now()}`);
    const tooLarge = (what: string): void => {
      const err = new FrameRejected('too-large', `${fileName}: ${what} is more than maxFileBytes (${this.config.maxFileBytes})`);
      this.reject(err, undefined, fileName);
      reply(res, 413, { error: err.message, reason: err.reason, code: err.code });
    };
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (declared > this.config.maxFileBytes) {
      req.resume();
      return tooLarge(`a body of ${declared} bytes`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req) {
      size += (c as Buffer).length;
      if (size > this.config.maxFileBytes) {
        tooLarge('the body');
        req.destroy();
        return;
      }
      chunks.push(c as Buffer);
    }
    const bytes = Buffer.concat(chunks);
    const hints: FrameHints = { fileName, ...hintsFromName(fileName, this.pattern) };
    const build = h('x-layergate-build');
    const layer = h('x-layergate-layer');
    const phase = h('x-layergate-kind') ?? h('x-layergate-phase');
    const time = h('x-layergate-source-time-ms');
    if (build) hints.build = build;
    if (layer !== undefined) {
      if (!/^\d+$/.test(layer)) return reply(res, 400, { error: `x-layergate-layer must be a non-negative integer, got ${JSON.stringify(layer)}` });
      hints.layer = Number(layer);
    }
    if (phase) hints.phase = phase;
    if (time !== undefined && Number.isFinite(Number(time))) hints.sourceTimeMs = Number(time);
    hints.sourceTimeMs ??= Date.now();
    try {
      const r = await this.ingest(bytes, hints);
      if (!r) return reply(res, 503, { error: 'the buffer did not take the frame; retry later' });
      this.counters.uploads++;
      return reply(res, r.duplicate ? 200 : 201, r);
    } catch (err) {
      if (err instanceof FrameRejected) {
        this.reject(err, bytes, fileName);
        return reply(res, err.reason === 'too-large' ? 413 : 400, { error: err.message, reason: err.reason, code: err.code });
      }
      throw err;
    }
  }
}

function reply(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
