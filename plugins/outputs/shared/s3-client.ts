/**
 * One way to build an S3 client (`@aws-sdk/client-s3`) for the outputs that talk to object storage,
 * AWS S3 or an S3-compatible store such as MinIO: the mapping from an output's settings (endpoint URL,
 * region, credentials, stall timeout) to the client's options, plus the small helpers every caller of
 * the client needs (credentials from config or the standard AWS_* variables, the S3 error code of a
 * failure, an ETag without its quotes). An output with host/port/TLS-flag settings (the `minio` output)
 * passes `http(s)://host:port` as the endpoint.
 *
 * Design constraints:
 * - Requests stay what they are on the wire: the SDK adds nothing a store might reject or that would
 *   read a streamed body a second time. Recent SDK versions compute a CRC32 "flexible checksum" for
 *   every upload by default, sent as an aws-chunked trailer: that wraps the body in a second stream
 *   (the caller's pacing would no longer see the bytes go out one chunk at a time as the socket takes
 *   them) and is not understood by every S3-compatible store or version. So checksums are computed and
 *   validated only where an operation requires them (`WHEN_REQUIRED`); callers send their own
 *   Content-MD5 and, over plain HTTP, the payload SHA-256 in the signature. `Expect: 100-continue` is
 *   off: the body is written at once anyway (our own agent), so it would only add a header.
 * - No retries inside the client (`maxAttempts: 1`): a streamed body cannot be replayed, and the
 *   callers own retries (the forwarder's back-off, the cloud uploader's persisted part list).
 * - A dead link fails fast: a connection not established, or a socket without progress, within
 *   `stallTimeoutMs` fails the request (the kernel's TCP timeouts run to minutes or hours).
 * - Credentials are static (config, else $AWS_ACCESS_KEY_ID / $AWS_SECRET_ACCESS_KEY /
 *   $AWS_SESSION_TOKEN): the SDK's default chain would also try profile files and the EC2 metadata
 *   service, which on a factory gateway only delays a clear "no credentials" error.
 * - The client logs nothing of its own: left with its default it writes warnings to the console
 *   ("An error was encountered in a non-retryable streaming request" for every failed upload), past
 *   the gateway's structured log; callers log their failures themselves.
 * - Path-style addressing (`host/bucket/key`) for every endpoint but AWS's own: MinIO and most
 *   on-premises stores have no per-bucket DNS names. TLS follows the endpoint's scheme; the server
 *   certificate is checked against the system CAs plus NODE_EXTRA_CA_CERTS.
 */
import http from 'node:http';
import https from 'node:https';
import { S3Client, S3ServiceException } from '@aws-sdk/client-s3';

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string | undefined;
}

export interface S3ClientSettings {
  /** e.g. https://s3.eu-central-1.amazonaws.com or http://minio.example:9000 */
  endpoint: string;
  region: string;
  credentials: S3Credentials;
  /** a request whose connection or socket makes no progress for this long fails (ms) */
  stallTimeoutMs: number;
  /** connections kept per client (default 4: one upload, a probe, a HEAD, one spare) */
  maxSockets?: number;
}

/** A client and what its callers need to know about how it was set up. */
export interface ConfiguredS3Client {
  client: S3Client;
  /** plain HTTP: a body's SHA-256 belongs in the signature (`x-amz-content-sha256`); over TLS it is not needed */
  signsPayload: boolean;
  /** close the client's connections (requests in flight fail) */
  destroy(): void;
}

/** Credentials from an output's config, else the standard AWS_* variables; undefined when neither has a key pair. */
export function s3Credentials(
  config: { accessKey?: string | undefined; secretKey?: string | undefined; sessionToken?: string | undefined },
  env: NodeJS.ProcessEnv = process.env,
): S3Credentials | undefined {
  const accessKeyId = config.accessKey ?? env.AWS_ACCESS_KEY_ID ?? '';
  const secretAccessKey = config.secretKey ?? env.AWS_SECRET_ACCESS_KEY ?? '';
  if (!accessKeyId || !secretAccessKey) return undefined;
  const sessionToken = config.sessionToken ?? env.AWS_SESSION_TOKEN;
  return { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
}

/** Whether an endpoint host is AWS S3 itself (virtual-hosted buckets) rather than an S3-compatible store. */
export function isAwsEndpoint(hostname: string): boolean {
  return /(^|\.)amazonaws\.com(\.cn)?$/i.test(hostname);
}

/** A logger in the shape the SDK expects that drops everything (see the header). */
const QUIET_LOGGER = { trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

export function createS3Client(s: S3ClientSettings): ConfiguredS3Client {
  const url = new URL(s.endpoint);
  const useTls = url.protocol === 'https:';
  const agentOptions = { keepAlive: true, maxSockets: s.maxSockets ?? 4 };
  const agent = useTls ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
  const client = new S3Client({
    endpoint: s.endpoint,
    region: s.region,
    credentials: s.credentials,
    forcePathStyle: !isAwsEndpoint(url.hostname),
    maxAttempts: 1,
    logger: QUIET_LOGGER,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    expectContinueHeader: false,
    requestHandler: {
      ...(useTls ? { httpsAgent: agent as https.Agent } : { httpAgent: agent }),
      connectionTimeout: s.stallTimeoutMs,
      socketTimeout: s.stallTimeoutMs,
    },
  });
  return {
    client,
    signsPayload: !useTls,
    destroy: () => {
      client.destroy();
      agent.destroy();
    },
  };
}

/**
 * The S3 error code of a failure (`NoSuchKey`, `NoSuchUpload`, `NoSuchBucket`, `NotFound` for a HEAD
 * without a body...), looked up along the `cause` chain; undefined when no S3 answer is behind it.
 */
export function s3ErrorCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof S3ServiceException) return e.name;
  }
  return undefined;
}

/**
 * A failure that is the output's settings, not the data (wrong keys, no permission, no such bucket):
 * the reason it is counted under and what to fix; undefined for anything else. Retrying alone never
 * heals it, so it is logged at error for someone to act.
 */
export function s3ConfigFailure(err: unknown, output: string): { reason: string; action: string } | undefined {
  const code = s3ErrorCode(err);
  const keys = `check outputs.<${output}>.accessKey and secretKey (and the endpoint they belong to)`;
  // a HEAD answered 403 has no body, so no code (the SDK says `Unknown`): the status is all there is
  if (httpStatus(err) === 403 && (code === undefined || code === 'Unknown' || code === 'UnknownError')) {
    return { reason: 'not-authorized', action: `${keys}; grant the key's policy s3:PutObject (and multipart, tagging, s3:ListBucket) on the bucket` };
  }
  if (code === 'InvalidAccessKeyId' || code === 'SignatureDoesNotMatch' || code === 'AccountProblem') return { reason: 'not-authorized', action: keys };
  if (code === 'AccessDenied' || code === 'AllAccessDisabled' || code === 'Forbidden') {
    return { reason: 'not-authorized', action: `${keys}; grant the key's policy s3:PutObject (and multipart, tagging, s3:ListBucket) on the bucket` };
  }
  if (code === 'NoSuchBucket') return { reason: 'bucket-missing', action: `create the bucket named in outputs.<${output}>.bucket` };
  return undefined;
}

/** The HTTP status of the S3 answer behind a failure, along the `cause` chain. */
function httpStatus(err: unknown): number | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof S3ServiceException) return e.$metadata?.httpStatusCode;
  }
  return undefined;
}

/** Whether a failure is the store saying "no such object" (404 on HEAD or GET). */
export function isNotFound(err: unknown): boolean {
  const code = s3ErrorCode(err);
  return code === 'NotFound' || code === 'NoSuchKey';
}

/** An ETag as S3 answers it (`"abc..."`, sometimes HTML-escaped), without its quotes. */
export function stripEtag(etag: string | undefined): string {
  return (etag ?? '').replace(/^"|"$/g, '').replace(/^&quot;|&quot;$/g, '');
}
