/**
 * The S3 calls the cloud sync makes, on the documented commands of `@aws-sdk/client-s3` (they speak
 * the S3 API to AWS S3 and every S3-compatible store): single PUT, multipart (create, upload part,
 * list parts, complete, abort), HEAD, GET and the bucket's HEAD/create. The client itself is built by
 * plugins/outputs/shared/s3-client.ts (no SDK checksums or retries, path-style for MinIO, timeouts).
 *
 * Design constraints:
 * - Every request has a stall timeout: a connection or socket with no progress for `stallTimeoutMs`
 *   (a cable pulled, a link dropping every packet) fails the request, so the uploader can back off and
 *   resume instead of hanging for the kernel's TCP timeout (minutes to hours).
 * - A body is a stream the caller paces (the bandwidth bucket); it is handed to the socket as it is,
 *   read once. When the caller ends it early (pause, stop) the request is aborted at once rather than
 *   left waiting for bytes that will not come.
 * - Integrity: every body is sent with Content-MD5 (the store rejects a part or object whose bytes do
 *   not match) and, on plain HTTP, with its SHA-256 in the signature (`x-amz-content-sha256`, set on
 *   the request before it is signed: the SDK would sign a stream as UNSIGNED-PAYLOAD). The object's own
 *   SHA-256 goes into its metadata, so HEAD and `sync verify` can compare it with the manifest.
 * - Every request in flight can be aborted (`abortAll`): a stopping uploader must not wait for answers.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListPartsCommand,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import type { S3Client, StorageClass } from '@aws-sdk/client-s3';
import { SyncUploadError } from '../../../../gateway/plugin-api/index.js';
import { createS3Client, isNotFound, s3Credentials, stripEtag } from '../../shared/s3-client.js';
import type { ConfiguredS3Client, S3Credentials } from '../../shared/s3-client.js';
import type { CloudConfig } from '../schema.js';

export interface S3Settings {
  /** e.g. https://s3.eu-central-1.amazonaws.com or http://minio.example:9000 */
  endpoint: string;
  region: string;
  bucket: string;
  credentials: S3Credentials;
  /** a request with no connection or socket progress for this long fails (ms) */
  stallTimeoutMs: number;
}

/**
 * The S3 settings of a cloud output's config. Credentials come from the config, else the standard
 * AWS_* variables; a config with neither is refused.
 */
export function cloudS3Settings(c: CloudConfig): S3Settings {
  const credentials = s3Credentials(c);
  if (!credentials) {
    throw new Error('cloud output: no credentials: set accessKey/secretKey or $AWS_ACCESS_KEY_ID/$AWS_SECRET_ACCESS_KEY');
  }
  return { endpoint: c.endpoint, region: c.region, bucket: c.bucket, credentials, stallTimeoutMs: c.stallTimeout };
}

/** What a new object carries besides its bytes. */
export interface ObjectAttributes {
  contentType: string;
  contentEncoding?: string | undefined;
  /** user metadata, names without the `x-amz-meta-` prefix */
  metadata: Record<string, string>;
  /** object tags as a URL query string (`k=v&k2=v2`) */
  tagging: string;
  storageClass?: string | undefined;
}

export interface HeadResult {
  size: number;
  etag: string;
  /** user metadata, names lowercased without the `x-amz-meta-` prefix */
  metadata: Record<string, string>;
  storageClass?: string | undefined;
}

/** A body and the digests it is sent with. */
export interface BodyDigests {
  length: number;
  md5Base64: string;
  sha256Hex: string;
}

export class S3Target {
  readonly bucket: string;
  private readonly region: string;
  private readonly s3: ConfiguredS3Client;
  private readonly stallMs: number;
  private readonly inFlight = new Set<AbortController>();

  constructor(s: S3Settings) {
    this.bucket = s.bucket;
    this.region = s.region;
    this.stallMs = s.stallTimeoutMs;
    this.s3 = createS3Client({ endpoint: s.endpoint, region: s.region, credentials: s.credentials, stallTimeoutMs: s.stallTimeoutMs });
  }

  private get client(): S3Client {
    return this.s3.client;
  }

  /** whether the SHA-256 of a body goes into the signature (plain HTTP) */
  get signsPayload(): boolean {
    return this.s3.signsPayload;
  }

  /**
   * Send one command, abortable by `abortAll` and by `body` failing (the caller destroyed it); a
   * timeout of the connection or socket becomes a SyncUploadError saying so.
   */
  private async send<T>(what: string, run: (client: S3Client, abortSignal: AbortSignal) => Promise<T>, body?: Readable): Promise<T> {
    const abort = new AbortController();
    // kept for the body's whole life, not just until the answer: a caller that cuts the body short
    // (pause, stop) and aborts at the same time gets its error emitted after this request settled,
    // and an error event without a listener would end the process
    body?.on('error', (err: Error) => abort.abort(err));
    this.inFlight.add(abort);
    try {
      return await run(this.client, abort.signal);
    } catch (err) {
      if ((err as Error).name === 'TimeoutError') {
        throw new SyncUploadError(`S3 ${what}: no progress for ${this.stallMs} ms (link down or stalled)`, { cause: err });
      }
      throw err;
    } finally {
      this.inFlight.delete(abort);
    }
  }

  /** Signs the body's SHA-256 on plain HTTP (see the header); over TLS the SDK's default applies. */
  private signPayload<C extends PutObjectCommand | UploadPartCommand>(command: C, sha256Hex: string): C {
    if (!this.signsPayload) return command;
    // set before the signer runs (build step), which then signs this hash instead of UNSIGNED-PAYLOAD
    const setHash =
      <A extends { request: unknown }, R>(next: (args: A) => Promise<R>) =>
      async (args: A): Promise<R> => {
        const request = args.request as { headers?: Record<string, string> };
        if (request.headers) request.headers['x-amz-content-sha256'] = sha256Hex;
        return next(args);
      };
    const options = { step: 'build', name: 'layergatePayloadSha256' } as const;
    if (command instanceof PutObjectCommand) command.middlewareStack.add(setHash, options);
    else command.middlewareStack.add(setHash, options);
    return command;
  }

  async bucketExists(): Promise<boolean> {
    try {
      await this.send(`HEAD bucket ${this.bucket}`, (c, abortSignal) => c.send(new HeadBucketCommand({ Bucket: this.bucket }), { abortSignal }));
      return true;
    } catch (err) {
      if (isNotFound(err) || (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false;
      throw err;
    }
  }

  async ensureBucket(): Promise<void> {
    if (await this.bucketExists()) return;
    try {
      await this.send(`create bucket ${this.bucket}`, (c, abortSignal) =>
        c.send(
          new CreateBucketCommand({
            Bucket: this.bucket,
            // us-east-1 is the default location; naming it is an error on AWS
            ...(this.region !== 'us-east-1' ? { CreateBucketConfiguration: { LocationConstraint: this.region as never } } : {}),
          }),
          { abortSignal },
        ),
      );
    } catch (err) {
      // another gateway (or a parallel start) made it first
      if (!(await this.bucketExists())) throw err;
    }
  }

  /**
   * PUT a body: a whole object (`attributes`) or one part of a multipart upload (`part`). Returns
   * the ETag and when the answer came (performance.now), for the latency after the last body byte.
   */
  async put(
    key: string,
    body: Readable | Buffer,
    digests: BodyDigests,
    target: { attributes: ObjectAttributes } | { part: { uploadId: string; partNumber: number } },
  ): Promise<{ etag: string; responseAt: number }> {
    const stream = Buffer.isBuffer(body) ? undefined : body;
    if ('part' in target) {
      const command = this.signPayload(
        new UploadPartCommand({
          Bucket: this.bucket,
          Key: key,
          UploadId: target.part.uploadId,
          PartNumber: target.part.partNumber,
          Body: body,
          ContentLength: digests.length,
          ContentMD5: digests.md5Base64,
        }),
        digests.sha256Hex,
      );
      const out = await this.send(`PUT ${key} part ${target.part.partNumber}`, (c, abortSignal) => c.send(command, { abortSignal }), stream);
      return { etag: stripEtag(out.ETag), responseAt: performance.now() };
    }
    const command = this.signPayload(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: body,
        ContentLength: digests.length,
        ContentMD5: digests.md5Base64,
        ...objectInput(target.attributes),
      }),
      digests.sha256Hex,
    );
    const out = await this.send(`PUT ${key}`, (c, abortSignal) => c.send(command, { abortSignal }), stream);
    return { etag: stripEtag(out.ETag), responseAt: performance.now() };
  }

  async createMultipart(key: string, attributes: ObjectAttributes): Promise<string> {
    const out = await this.send(`create multipart upload ${key}`, (c, abortSignal) =>
      c.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key, ...objectInput(attributes) }), { abortSignal }),
    );
    if (!out.UploadId) throw new SyncUploadError(`S3 create multipart upload ${key}: the store answered no upload id`);
    return out.UploadId;
  }

  /** The parts the store holds for an unfinished upload (to reconcile after a crash), every page of them. */
  async listParts(key: string, uploadId: string): Promise<{ part: number; etag: string; size: number }[]> {
    const parts: { part: number; etag: string; size: number }[] = [];
    let marker: string | undefined;
    for (;;) {
      const page = await this.send(`list parts ${key}`, (c, abortSignal) =>
        c.send(
          new ListPartsCommand({
            Bucket: this.bucket,
            Key: key,
            UploadId: uploadId,
            ...(marker !== undefined ? { PartNumberMarker: marker } : {}),
          }),
          { abortSignal },
        ),
      );
      for (const p of page.Parts ?? []) {
        if (p.PartNumber !== undefined) parts.push({ part: p.PartNumber, etag: stripEtag(p.ETag), size: p.Size ?? 0 });
      }
      if (!page.IsTruncated || page.NextPartNumberMarker === undefined) return parts;
      marker = page.NextPartNumberMarker;
    }
  }

  async completeMultipart(key: string, uploadId: string, parts: { part: number; etag: string }[]): Promise<string> {
    const out = await this.send(`complete multipart upload ${key}`, (c, abortSignal) =>
      c.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.part, ETag: `"${p.etag}"` })) },
        }),
        { abortSignal },
      ),
    );
    return stripEtag(out.ETag);
  }

  async abortMultipart(key: string, uploadId: string): Promise<void> {
    await this.send(`abort multipart upload ${key}`, (c, abortSignal) =>
      c.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }), { abortSignal }),
    );
  }

  /** HEAD; undefined when there is no such object. */
  async head(key: string): Promise<HeadResult | undefined> {
    try {
      const out = await this.send(`HEAD ${key}`, (c, abortSignal) => c.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }), { abortSignal }));
      const metadata: Record<string, string> = {};
      for (const [k, v] of Object.entries(out.Metadata ?? {})) metadata[k.toLowerCase()] = v;
      return { size: out.ContentLength ?? 0, etag: stripEtag(out.ETag), metadata, storageClass: out.StorageClass };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** The bytes of an object. */
  async getBytes(key: string): Promise<Buffer> {
    return this.send(`GET ${key}`, async (c, abortSignal) => {
      const out = await c.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }), { abortSignal });
      if (!out.Body) return Buffer.alloc(0);
      return Buffer.from(await out.Body.transformToByteArray());
    });
  }

  /** The SHA-256 (hex) of an object's bytes, hashed as they arrive (objects may be large). */
  async sha256(key: string): Promise<string> {
    return this.send(`GET ${key}`, async (c, abortSignal) => {
      const out = await c.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }), { abortSignal });
      const hash = createHash('sha256');
      if (out.Body) for await (const chunk of out.Body as Readable) hash.update(chunk as Buffer);
      return hash.digest('hex');
    });
  }

  /** Abort every request in flight (shutdown: a request waiting for its answer must not hold the stop). */
  abortAll(): void {
    for (const abort of this.inFlight) abort.abort(new SyncUploadError('S3 request aborted: the uploader is stopping'));
  }

  close(): void {
    this.abortAll();
    this.s3.destroy();
  }
}

/** The attributes of a new object as the SDK's input fields (PutObject, CreateMultipartUpload). */
function objectInput(a: ObjectAttributes): {
  ContentType: string;
  ContentEncoding?: string;
  Metadata: Record<string, string>;
  Tagging: string;
  StorageClass?: StorageClass;
} {
  return {
    ContentType: a.contentType,
    ...(a.contentEncoding ? { ContentEncoding: a.contentEncoding } : {}),
    Metadata: a.metadata,
    Tagging: a.tagging,
    ...(a.storageClass ? { StorageClass: a.storageClass as StorageClass } : {}),
  };
}
