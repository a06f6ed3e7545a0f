/**
 * Errors as gRPC statuses: the coded errors of the catalog (gateway/plugin-api/errors.ts) map to the
 * status a client can act on, with the message as the details. An error that is not ours is logged by
 * the caller and answered INTERNAL without its message (as the HTTPS API answers 500).
 */
import { Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { ConfigProblems } from '../../config/load.js';
import { LayerGateError } from '../../plugin-api/errors.js';

const BY_CODE: Readonly<Record<string, status>> = {
  LG_API_UNAUTHENTICATED: status.UNAUTHENTICATED,
  LG_API_FORBIDDEN: status.PERMISSION_DENIED,
  LG_API_NOT_FOUND: status.NOT_FOUND,
  LG_API_INVALID: status.INVALID_ARGUMENT,
  LG_API_CONFLICT: status.ALREADY_EXISTS,
  LG_API_STREAM_LAG: status.RESOURCE_EXHAUSTED,
  LG_API_PAYLOAD_TOO_LARGE: status.RESOURCE_EXHAUSTED,
  LG_CONFIG_INVALID: status.INVALID_ARGUMENT,
  LG_CONFIG_APPLY_FAILED: status.FAILED_PRECONDITION,
  // the buffer is full under the block policy: the client may try again once sinks drained it
  LG_BUFFER_FULL: status.FAILED_PRECONDITION,
  LG_GATEWAY_STOPPING: status.UNAVAILABLE,
  LG_BLOB_MISSING: status.NOT_FOUND,
  LG_BUFFER_INVALID_RECORD: status.INVALID_ARGUMENT,
  LG_INPUT_MALFORMED: status.INVALID_ARGUMENT,
};

/** A ServiceError for `err`; `known` false: not one of ours (the caller logs it; the client gets no detail). */
export function toServiceError(err: unknown): { error: Partial<ServiceError>; known: boolean } {
  if (err instanceof ConfigProblems) {
    const md = new Metadata();
    md.set('lg-error-code', err.code);
    return { error: { code: status.INVALID_ARGUMENT, details: err.problems.join('\n'), metadata: md }, known: true };
  }
  if (err instanceof LayerGateError) {
    const md = new Metadata();
    md.set('lg-error-code', err.code);
    return {
      error: { code: BY_CODE[err.code] ?? status.INTERNAL, details: `${err.code}: ${err.message}`, metadata: md },
      known: BY_CODE[err.code] !== undefined,
    };
  }
  if (err instanceof RangeError) return { error: { code: status.INVALID_ARGUMENT, details: err.message }, known: true };
  return { error: { code: status.INTERNAL, details: 'internal error (logged by the gateway)' }, known: false };
}
