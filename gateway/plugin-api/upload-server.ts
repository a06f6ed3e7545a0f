/**
 * The upload route every file-based input shares (the frames input's `POST /frames`, the files input's
 * `POST /files`): a raw node:http server for producers that push files instead of writing them into
 * the drop folder. Bearer token; the input reads its hints from the headers and decides what the
 * bytes mean; this module decides who may upload, how many at once, how large and how slowly.
 *
 * Design constraints:
 * - At most `maxConcurrent` uploads are handled at once; one more is answered 503 with Retry-After at
 *   once (its body unread), so a burst cannot hold unbounded files in memory.
 * - A body larger than `maxFileBytes` is refused (413) as soon as its declared length or its bytes
 *   pass the limit, and reported to the input as its `tooLarge` rejection.
 * - The answer is the input's (`handle`), which answers only after the commit; a rejection it throws
 *   (`isRejection`) is reported (`reject`) and answered 413 for reason `too-large`, else 400, with
 *   the error's message, reason and code.
 * - The token is compared in constant time.
 * - Slow bodies cannot hold the slots: after `bodyGrace` a body must keep arriving at
 *   `minBytesPerSecond` on average (counted from the end of the grace), else 408 and the connection
 *   is closed; one deadline per upload, moved forward by each chunk, so the check costs nothing per
 *   byte. And with maxConcurrent >= 2, at most maxConcurrent - 1 uploads may still be sending past
 *   their grace: the one that would take the last slot gets 408 at once, so a producer that sends
 *   its file in time always finds a slot within bodyGrace, whatever a few slow (or hostile) clients
 *   with a valid token do.
 */
import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { InputContext } from './contract.js';

/** The upload route's settings (the `upload` key of an input's config). */
export interface UploadSettings {
  host: string;
  port: number;
  token: string;
  maxConcurrent: number;
  minBytesPerSecond: number;
  bodyGrace: number;
}

/** An upload's answer: HTTP status and a JSON body. */
export interface UploadAnswer {
  status: number;
  body: unknown;
}

/** What an upload route asks of the input it serves. */
export interface UploadHooks<E extends Error & { reason: string; code: string }> {
  /** for log lines (`frames: ...`) */
  label: string;
  /** the route, e.g. `/frames` */
  route: string;
  /** the largest body taken */
  maxFileBytes: number;
  /** the input's own rejections (answered 400/413); anything else is a 500 */
  isRejection(err: unknown): err is E;
  /** the rejection of a body larger than `maxFileBytes` (`what`: "a body of N bytes", "the body") */
  tooLarge(fileName: string, what: string): E;
  /**
   * Handle one complete body; resolves after the commit with the answer (a status below 300 counts as
   * an upload). `header` reads a request header (undefined when absent or empty).
   */
  handle(bytes: Buffer, fileName: string, header: (name: string) => string | undefined): Promise<UploadAnswer>;
  /** count and report a rejected upload */
  reject(err: E, bytes: Buffer | undefined, where: string): void;
}

export class UploadServer<E extends Error & { reason: string; code: string }> {
  private server: http.Server | undefined;
  private stopped = true;
  private active = 0;
  private ctx: InputContext | undefined;
  /** uploads still sending their body after bodyGrace (at most maxConcurrent - 1 when maxConcurrent >= 2) */
  private pastGrace = 0;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly cfg: UploadSettings,
    private readonly hooks: UploadHooks<E>,
    private readonly counters: { uploads: number; uploadsRefused: number },
  ) {}

  /** Uploads being handled right now (at most `maxConcurrent`). */
  get inProgress(): number {
    return this.active;
  }

  /** The route's URL while listening. */
  get url(): string | undefined {
    const a = this.server?.address() as AddressInfo | null | undefined;
    if (!a) return undefined;
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return `http://${host}:${a.port}${this.hooks.route}`;
  }

  /** Listen on the configured host and port. */
  async start(ctx: InputContext): Promise<void> {
    const cfg = this.cfg;
    this.ctx = ctx;
    this.stopped = false;
    const token = Buffer.from(cfg.token);
    const server = http.createServer((req, res) => {
      const p = this.handleUpload(req, res, token).catch((err: unknown) => {
        ctx.log.error({ err }, `${this.hooks.label}: upload handler failed`);
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
    const route = this.hooks.route;
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== route) return reply(res, 404, { error: `no route ${url.pathname}; POST ${route}` });
    if (req.method !== 'POST') return reply(res, 405, { error: `use POST ${route}` });
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
    const { hooks } = this;
    const h = (k: string): string | undefined => {
      const v = req.headers[k];
      return typeof v === 'string' && v.length > 0 ? v : undefined;
    };
    const fileName = path.basename(h('x-layergate-file-name') ?? url.searchParams.get('name') ?? `upload-${Date.now()}`);
    const tooLarge = (what: string): void => {
      const err = hooks.tooLarge(fileName, what);
      hooks.reject(err, undefined, fileName);
      reply(res, 413, { error: err.message, reason: err.reason, code: err.code });
    };
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (declared > hooks.maxFileBytes) {
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
        if (size > hooks.maxFileBytes) {
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
      const answer = await hooks.handle(bytes, fileName, h);
      if (answer.status < 300) this.counters.uploads++;
      return reply(res, answer.status, answer.body);
    } catch (err) {
      if (hooks.isRejection(err)) {
        hooks.reject(err, bytes, fileName);
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
      this.ctx?.log.warn({ file: fileName, bytes: size, ms: Date.now() - start }, `${this.hooks.label}: upload body too slow (${why}); answered 408`);
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
          // check for size / rate (5 s at 500 B and 100 B/s), so a 408 and the producer's slot came 5 s late
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

/** Answer with a JSON body. */
function reply(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
