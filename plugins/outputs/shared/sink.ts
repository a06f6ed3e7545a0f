/**
 * What the Kafka, Redis and MinIO outputs share: how a failure is reported to the forwarder (retryable
 * with a reason, or permanent), the record metadata every sink carries (class and seq under the names
 * agreed for all sinks), and the JSON form of a record for consumers that do not want protobuf.
 */
import { SinkConfigError, SinkPermanentError, SinkSendError } from '../../../gateway/plugin-api/index.js';
import type { StoredRecord } from '../../../gateway/plugin-api/index.js';

/** header / metadata / field names carried by every sink (Kafka header, S3 metadata `x-amz-meta-<name>`) */
export const CLASS_KEY = 'layergate-class';
export const SEQ_KEY = 'layergate-seq';

/** A failure the forwarder retries with backoff; `reason` is what it is counted under (`errorsByKind`). */
export function retryable(reason: string, message: string, cause?: unknown): Error {
  return new SinkSendError(message, { ...(cause === undefined ? {} : { cause }), reason });
}

/** A refusal no retry can fix: the forwarder quarantines the records (`seqs`, default the whole batch). */
export function permanent(reason: string, message: string, cause?: unknown, seqs?: readonly number[]): SinkPermanentError {
  return new SinkPermanentError(reason, message, { ...(cause === undefined ? {} : { cause }), ...(seqs ? { seqs } : {}) });
}

/**
 * The sink refuses everything because of its configuration (credentials, permissions, a missing bucket or
 * topic): the forwarder retries with backoff and logs at error with `action`, never quarantines the
 * records, since they are not at fault and a typo must not divert all data.
 */
export function sinkConfig(reason: string, message: string, action: string, cause?: unknown): SinkConfigError {
  return new SinkConfigError(reason, message, action, cause === undefined ? undefined : { cause });
}

/** An error an output already classified (`retryable`, `permanent` or `sinkConfig`): pass it on as it is. */
export function isClassified(err: unknown): err is Error {
  return err instanceof SinkPermanentError || err instanceof SinkConfigError || (err instanceof SinkSendError && typeof err.reason === 'string');
}

/**
 * How an output classifies a failure: `permanent` (the records, quarantined), `config` (the sink's
 * configuration: retried, logged with `action`), else retryable.
 */
export interface FailureKind {
  permanent: boolean;
  reason: string;
  /** set for a sink-wide configuration failure: what the operator should fix */
  config?: string;
}

/** The error for a classified failure. */
export function classified(kind: FailureKind, message: string, cause?: unknown): Error {
  if (kind.config !== undefined) return sinkConfig(kind.reason, message, kind.config, cause);
  return kind.permanent ? permanent(kind.reason, message, cause) : retryable(kind.reason, message, cause);
}

/** The record as JSON: ns timestamps as decimal strings (exact), body base64, blob as its reference. */
export function recordJson(r: StoredRecord): Record<string, unknown> {
  return {
    seq: r.seq,
    source: r.source,
    signal: r.signal,
    kind: r.kind,
    class: r.class,
    contentType: r.contentType,
    ...(r.sourceTimeNs !== undefined ? { sourceTimeNs: r.sourceTimeNs.toString() } : {}),
    receiveTimeNs: r.receiveTimeNs.toString(),
    ...(r.build !== undefined ? { build: r.build } : {}),
    ...(r.layer !== undefined ? { layer: r.layer } : {}),
    ...(r.attributes && Object.keys(r.attributes).length > 0 ? { attributes: r.attributes } : {}),
    ...(r.body ? { body: r.body.toString('base64') } : {}),
    ...(r.blob ? { blob: { sha256: r.blob.sha256, size: r.blob.size } } : {}),
  };
}

/** The chain of causes of an error (err, err.cause, originalError, ...), at most 8 deep. */
export function causes(err: unknown): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  let e: unknown = err;
  while (e && typeof e === 'object' && out.length < 8) {
    out.push(e as Record<string, unknown>);
    const o = e as { cause?: unknown; originalError?: unknown };
    e = o.originalError ?? o.cause;
  }
  return out;
}
