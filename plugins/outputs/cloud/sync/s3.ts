/**
 * The S3 calls the cloud sync makes, through the `minio` client (it speaks the S3 API to AWS S3 and
 * every S3-compatible store): single PUT, multipart (create, upload part, list parts, complete) and
 * HEAD, each body streamed from a local file through the bandwidth bucket.
 *
 * Design constraints:
 * - Every request has a stall timeout: a socket with no progress for `stallTimeoutMs` (a cable pulled,
 *   a link dropping every packet) is destroyed and the request fails, so the uploader can back off and
 *   resume instead of hanging for the kernel's TCP timeout (minutes to hours). It is done in a
 *   transport wrapper handed to the client, since the client itself has no request timeout.
 * - The client's own retries are off: a streamed body cannot be replayed, and the uploader owns
 *   retries (with back-off and the persisted part list).
 * - Integrity: every body is sent with Content-MD5 (the store rejects a part or object whose bytes do
 *   not match) and, on plain HTTP, with its SHA-256 in the signature. The object's own SHA-256 goes
 *   into its metadata, so HEAD and `sync verify` can compare it with the manifest.
 * - The streaming request and the part listing are lower-level calls of the minio client
 *   (`makeRequestStreamAsync`, `listParts`); they are reached through one narrow interface below.
 */
import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import { Client } from 'minio';
import type { Readable } from 'node:stream';
import { SyncUploadError } from '../../../../gateway/plugin-api/index.js';

export interface S3Settings {
  endPoint: string;
  port?: number | undefined;
  useSSL: boolean;
  accessKey: string;
  secretKey: string;
  sessionToken?: string | undefined;
  region: string;
  bucket: string;
  /** a request with no socket progress for this long fails (ms) */
  stallTimeoutMs: number;
}

export interface HeadResult {
  size: number;
  etag: string;
  metadata: Record<string, string>;
  storageClass?: string | undefined;
}

/** The lower-level calls of the minio client this module uses (not in its public typings). */
interface MinioInternals {
  makeRequestStreamAsync(
    options: { method: string; bucketName: string; objectName: string; query?: string; headers: Record<string, string> },
    body: Readable | Buffer, sha256sum: string, statusCodes: number[], region: string,
  ): Promise<IncomingMessage>;
  listParts(bucket: string, key: string, uploadId: string): Promise<{ part: number; etag: string; size: number }[]>;
  enableSHA256: boolean;
}

/** Read a response to the end (so the socket goes back to the pool). */
async function drain(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export function stripEtag(etag: string | undefined): string {
  return (etag ?? '').replace(/^"|"$/g, '').replace(/^&quot;|&quot;$/g, '');
}

export class S3Target {
  readonly bucket: string;
  readonly client: Client;
  private readonly internals: MinioInternals;
  private readonly region: string;
  private readonly agent: http.Agent;
  private readonly inFlight = new Set<http.ClientRequest>();

  constructor(s: S3Settings) {
    this.bucket = s.bucket;
    this.region = s.region;
    const lib = s.useSSL ? https : http;
    this.agent = new lib.Agent({ keepAlive: true, maxSockets: 4 });
    const agent = this.agent;
    const stallMs = s.stallTimeoutMs;
    const inFlight = this.inFlight;
    const transport = {
      request(options: http.RequestOptions, callback?: (res: IncomingMessage) => void): http.ClientRequest {
        const req = lib.request({ ...options, agent }, callback);
        req.setTimeout(stallMs, () => {
          req.destroy(new SyncUploadError(`S3 ${options.method} ${options.path}: no progress for ${stallMs} ms (link down or stalled)`));
        });
        inFlight.add(req);
        req.once('close', () => inFlight.delete(req));
        return req;
      },
    };
    this.client = new Client({
      endPoint: s.endPoint,
      ...(s.port !== undefined ? { port: s.port } : {}),
      useSSL: s.useSSL,
      accessKey: s.accessKey,
      secretKey: s.secretKey,
      ...(s.sessionToken ? { sessionToken: s.sessionToken } : {}),
      region: s.region,
      transport: transport as unknown as typeof http,
      retryOptions: { disableRetry: true },
    });
    this.internals = this.client as unknown as MinioInternals;
  }

  /** whether the SHA-256 of a body must be computed for the signature (plain HTTP) */
  get signsPayload(): boolean {
    return this.internals.enableSHA256;
  }

  async ensureBucket(): Promise<void> {
    if (!(await this.client.bucketExists(this.bucket))) {
      try {
        await this.client.makeBucket(this.bucket, this.region);
      } catch (err) {
        // another gateway (or a parallel start) made it first
        if (!(await this.client.bucketExists(this.bucket))) throw err;
      }
    }
  }

  /**
   * PUT a body (an object, or one part when `uploadId` is given). Returns the ETag and the latency
   * from the end of the body to the response headers.
   */
  async put(
    key: string,
    body: Readable | Buffer,
    sizes: { length: number; md5Base64: string; sha256Hex: string },
    headers: Record<string, string>,
    part?: { uploadId: string; partNumber: number },
  ): Promise<{ etag: string; responseAt: number }> {
    const query = part ? `uploadId=${encodeURIComponent(part.uploadId)}&partNumber=${part.partNumber}` : '';
    const res = await this.internals.makeRequestStreamAsync(
      {
        method: 'PUT', bucketName: this.bucket, objectName: key, ...(query ? { query } : {}),
        headers: { ...headers, 'content-length': String(sizes.length), 'content-md5': sizes.md5Base64 },
      },
      body, this.signsPayload ? sizes.sha256Hex : '', [200], this.region,
    );
    const responseAt = performance.now();
    await drain(res);
    return { etag: stripEtag(res.headers.etag), responseAt };
  }

  async createMultipart(key: string, headers: Record<string, string>): Promise<string> {
    return this.client.initiateNewMultipartUpload(this.bucket, key, headers);
  }

  /** The parts the store holds for an unfinished upload (to reconcile after a crash). */
  async listParts(key: string, uploadId: string): Promise<{ part: number; etag: string; size: number }[]> {
    const parts = await this.internals.listParts(this.bucket, key, uploadId);
    return parts.map((p) => ({ part: p.part, etag: stripEtag(p.etag), size: p.size }));
  }

  async completeMultipart(key: string, uploadId: string, parts: { part: number; etag: string }[]): Promise<string> {
    const r = await this.client.completeMultipartUpload(this.bucket, key, uploadId, parts);
    return stripEtag(r.etag);
  }

  async abortMultipart(key: string, uploadId: string): Promise<void> {
    await this.client.abortMultipartUpload(this.bucket, key, uploadId);
  }

  /** HEAD; undefined when there is no such object. */
  async head(key: string): Promise<HeadResult | undefined> {
    try {
      const st = await this.client.statObject(this.bucket, key);
      const metadata: Record<string, string> = {};
      for (const [k, v] of Object.entries(st.metaData ?? {})) metadata[k.toLowerCase().replace(/^x-amz-meta-/, '')] = String(v);
      return { size: st.size, etag: stripEtag(st.etag), metadata, storageClass: metadata['x-amz-storage-class'] ?? metadata['storage-class'] };
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'NotFound' || code === 'NoSuchKey') return undefined;
      throw err;
    }
  }

  /** Abort every request in flight (shutdown: a request waiting for its answer must not hold the stop). */
  abortAll(): void {
    for (const req of this.inFlight) req.destroy(new SyncUploadError('S3 request aborted: the uploader is stopping'));
  }

  close(): void {
    this.abortAll();
    this.agent.destroy();
  }
}
