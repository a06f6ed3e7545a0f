/**
 * The frames input's upload route: `POST /frames` on a raw node:http server, for cameras that push
 * images instead of writing files. Bearer token; build, layer, phase and source time from headers.
 *
 * Design constraints:
 * - At most `upload.maxConcurrent` uploads are handled at once; one more is answered 503 with
 *   Retry-After at once (its body unread), so a burst cannot hold unbounded images in memory.
 * - A body larger than `maxFileBytes` is refused (413) as soon as its declared length or its bytes
 *   pass the limit, and counted as a `too-large` rejection.
 * - The answer comes after the commit: 201 stored, 200 duplicate of a recent frame, 400/413 rejected
 *   (a broken image, a header out of the range every sink holds: `headerHints`, or a frame whose
 *   record the pipeline quarantined, e.g. a layer out of range in the file name; the reason says which),
 *   503 when the buffer did not take the frame or the gateway is stopping (the camera retries).
 * - The token is compared in constant time.
 * - Slow bodies cannot hold the slots: after `upload.bodyGrace` a body must keep arriving at
 *   `upload.minBytesPerSecond` on average (counted from the end of the grace), else 408 and the
 *   connection is closed; one deadline per upload, moved forward by each chunk, so the check costs
 *   nothing per byte. And with maxConcurrent >= 2, at most maxConcurrent - 1 uploads may still be
 *   sending past their grace: the one that would take the last slot gets 408 at once, so a camera
 *   that sends its frame in time always finds a slot within bodyGrace, whatever a few slow (or
 *   hostile) clients with a valid token do.
 */
import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { InputContext } from '../../../gateway/plugin-api/index.js';
import { FrameRejected, checkBuild, checkLayer, checkPhase, checkTimeMs, hintsFromName } from './frame.js';
import type { FrameHints } from './frame.js';
import type { IngestResult } from './ingest.js';
import type { FramesConfig } from './schema.js';

export class UploadServer {
  private server: http.Server | undefined;
  private stopped = true;
  private active = 0;
  private ctx: InputContext | undefined;
  /** uploads still sending their body after bodyGrace (at most maxConcurrent - 1 when maxConcurrent >= 2) */
  private pastGrace = 0;
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
    this.ctx = ctx;
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
    // idempotent: a body answered 408 gives its slot back at once, not when its socket has closed
    let held = true;
    const freeSlot = (): void => {
      if (held) this.active--;
      held = false;
    };
    try {
      await this.handleAcceptedUpload(req, res, url, freeSlot);
    } finally {
      freeSlot();
    }
  }

  private async handleAcceptedUpload(req: http.IncomingMessage, res: http.ServerResponse, url: URL, freeSlot: () => void): Promise<void> {
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
    const pace = this.paceBody(req, res, fileName, freeSlot);
    try {
      for await (const c of req) {
        size += (c as Buffer).length;
        pace.received(size);
        if (size > this.config.maxFileBytes) {
          tooLarge('the body');
          req.destroy();
          return;
        }
        chunks.push(c as Buffer);
      }
    } catch (err) {
      // the pace check ended the body (408 already sent); anything else is the client going away
      if (pace.timedOut) return;
      throw err;
    } finally {
      pace.done();
    }
    if (pace.timedOut) return;
    const bytes = Buffer.concat(chunks);
    try {
      const hints = headerHints(fileName, this.pattern, h);
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

  /**
   * The body's pace: after bodyGrace the body must have reached minBytesPerSecond x (time since the
   * grace ended) bytes. The deadline for the bytes so far is start + grace + size / rate; a single
   * timer re-arms to it when it fires early, so a steady body is never woken per chunk. The first
   * wake is the grace's end (the slot check of the module header); a wake a little before it, by
   * Date.now(), re-arms to the grace's end, never past it.
   */
  private paceBody(req: http.IncomingMessage, res: http.ServerResponse, fileName: string, freeSlot: () => void) {
    const start = Date.now();
    const grace = this.cfg.bodyGrace;
    const rate = this.cfg.minBytesPerSecond;
    const reserve = this.cfg.maxConcurrent >= 2;
    let size = 0;
    let finished = false;
    let countedPastGrace = false;
    const state = { timedOut: false };
    const tooSlow = (why: string): void => {
      state.timedOut = true;
      freeSlot();
      this.ctx?.log.warn({ file: fileName, bytes: size, ms: Date.now() - start }, `frames: upload body too slow (${why}); answered 408`);
      if (!res.headersSent) {
        res.setHeader('connection', 'close');
        reply(res, 408, { error: `${fileName}: ${why}; send the body faster or retry later` });
      }
      // the body (and its socket) is destroyed only once the answer is out, so the client sees 408,
      // not a reset; destroying the body ends the read loop (it throws, and timedOut tells why)
      res.once('finish', () => req.destroy(new Error('upload body too slow')));
    };
    const check = (): void => {
      timer = undefined;
      if (finished) return;
      const now = Date.now();
      if (!countedPastGrace) {
        if (now - start < grace) {
          // woken before the grace ended, as Date.now() counts: Node arms a timer from the event
          // loop's cached clock, which can be a millisecond or more behind Date.now() when paceBody
          // ran. Wait for the grace's end, not for the pace deadline below: that skipped the slot
          // check for size / rate (5 s at 500 B and 100 B/s), so a 408 and the camera's slot came 5 s late
          arm(start + grace - now);
          return;
        }
        if (reserve && this.pastGrace >= this.cfg.maxConcurrent - 1) {
          tooSlow(
            `still sending after upload.bodyGrace (${grace} ms) while ${this.pastGrace} other uploads are; the last slot is kept for uploads that finish in time`,
          );
          return;
        }
        countedPastGrace = true;
        this.pastGrace++;
      }
      const deadline = start + grace + (size / rate) * 1000;
      if (now >= deadline) {
        tooSlow(`${size} bytes in ${now - start} ms is slower than upload.minBytesPerSecond (${rate}) after upload.bodyGrace (${grace} ms)`);
        return;
      }
      arm(deadline - now);
    };
    let timer: NodeJS.Timeout | undefined;
    const arm = (ms: number): void => {
      timer = setTimeout(check, Math.max(1, ms));
      timer.unref();
    };
    arm(grace);
    return {
      get timedOut() {
        return state.timedOut;
      },
      received: (n: number): void => {
        size = n;
      },
      done: (): void => {
        finished = true;
        if (timer) clearTimeout(timer);
        if (countedPastGrace) this.pastGrace--;
        countedPastGrace = false;
      },
    };
  }
}

/**
 * The frame's hints from the upload headers (the upload's sidecar), each checked like a sidecar's
 * field (frame.ts): a header out of range or of the wrong form rejects the upload (`bad-sidecar`,
 * 400 with the reason), never a 503 that the camera would retry for ever, nor a value silently dropped.
 */
function headerHints(fileName: string, pattern: RegExp, h: (k: string) => string | undefined): FrameHints {
  const hints: FrameHints = { fileName, ...hintsFromName(fileName, pattern) };
  const bad = (header: string, problem: string): never => {
    throw new FrameRejected('bad-sidecar', `${fileName}: header ${header}: ${problem}`);
  };
  const build = h('x-layergate-build');
  const layer = h('x-layergate-layer');
  const phaseHeader = h('x-layergate-kind') === undefined ? 'x-layergate-phase' : 'x-layergate-kind';
  const phase = h(phaseHeader);
  const time = h('x-layergate-source-time-ms');
  if (build !== undefined) {
    const b = checkBuild(build);
    hints.build = typeof b === 'string' ? b : bad('x-layergate-build', b.problem);
  }
  if (layer !== undefined) {
    // digits only: Number() would also read "0x10", "1e3" or " 7"
    const l = /^\d+$/.test(layer) ? checkLayer(Number(layer)) : { problem: `layer must be a non-negative integer, got ${JSON.stringify(layer.slice(0, 60))}` };
    hints.layer = typeof l === 'number' ? l : bad('x-layergate-layer', l.problem);
  }
  if (phase !== undefined) {
    const p = checkPhase(phase);
    hints.phase = typeof p === 'string' ? p : bad(phaseHeader, p.problem);
  }
  if (time !== undefined) {
    const t = checkTimeMs(time.trim() === '' ? Number.NaN : Number(time));
    hints.sourceTimeMs = typeof t === 'number' ? t : bad('x-layergate-source-time-ms', t.problem);
  }
  hints.sourceTimeMs ??= Date.now();
  return hints;
}

function reply(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
