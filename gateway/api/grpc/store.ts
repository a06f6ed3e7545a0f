/**
 * Store, StoreStream and UploadFrame: whatever plant software hands the gateway becomes a record of
 * the `api.grpc.input` input, classified, buffered and routed by the same policy as every record.
 *
 * Constraints:
 * - The answer comes after the buffer commit (the ack point, as for every input), with the seq, the
 *   class and the outputs the record is routed to. The calls of one turn of the event loop are
 *   committed together (./store-queue.ts). A buffer full under its `block` policy answers
 *   FAILED_PRECONDITION at once (the client retries later) instead of holding the call.
 * - The caller may ask for a class at least as strict as the policy's (a floor, as an input's own
 *   `class`), never a laxer one: the policy's class stands then.
 * - The data type decides the record kind: structured rows, documents and files are `document`
 *   records, events `event`, a time-series value `scalar` (its body checked as a scalar body,
 *   docs/values.md); the access pattern becomes the record's `access_pattern` attribute, which routing
 *   rules match.
 * - Bounded: a payload above `api.grpc.maxStoreBytes` is refused as its chunks arrive (nothing is
 *   kept); a StoreStream whose header states a size or a SHA-256 is checked against both before
 *   anything is stored.
 * - Bad input is refused with INVALID_ARGUMENT naming the field; a record the pipeline quarantines
 *   (a field out of range) is refused with the quarantine's reason, and kept in the input's quarantine.
 */
import { createHash } from 'node:crypto';
import type { ServerReadableStream } from '@grpc/grpc-js';
import { ApiInvalidRequestError, ApiPayloadTooLargeError } from '../../plugin-api/errors.js';
import type { InputContext, RecordDraft } from '../../plugin-api/contract.js';
import { ACCESS_PATTERN_ATTRIBUTE, CONTENT_TYPES, type RecordKind, classRank, parseScalarBody } from '../../plugin-api/record.js';
import type { FrameHeader__Output } from '../../../wire/generated/grpc/layergate/v1/FrameHeader.js';
import type { StoreHeader__Output } from '../../../wire/generated/grpc/layergate/v1/StoreHeader.js';
import type { StoreResult } from '../../../wire/generated/grpc/layergate/v1/StoreResult.js';
import type { GatewayData } from '../gateway-data.js';
import { accessPatternOfEnum, classEnum, classOfEnum, kindEnum } from './record-messages.js';
import type { StoreQueue } from './store-queue.js';

const MAX_METADATA = 64;
const MAX_KEY = 128;
const MAX_VALUE = 4_096;
const FRAME_TYPES: Readonly<Record<string, (b: Buffer) => boolean>> = {
  'image/png': (b) => b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])),
  'image/jpeg': (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff,
  'image/tiff': (b) => b.subarray(0, 4).equals(Buffer.from('II*\0', 'latin1')) || b.subarray(0, 4).equals(Buffer.from('MM\0*', 'latin1')),
};

export interface StoreOptions {
  input: InputContext;
  queue: StoreQueue;
  data: GatewayData;
  maxStoreBytes: number;
}

function kindOf(dataType: string, where: string): RecordKind {
  switch (dataType) {
    case 'DATA_TYPE_STRUCTURED':
    case 'DATA_TYPE_DOCUMENT':
    case 'DATA_TYPE_FILE':
      return 'document';
    case 'DATA_TYPE_EVENT':
      return 'event';
    case 'DATA_TYPE_TIME_SERIES':
      return 'scalar';
    default:
      throw new ApiInvalidRequestError(`${where}.data_type: required (structured, document, time series, file or event)`);
  }
}

function checkName(v: string, field: string): string {
  if (v.length === 0) throw new ApiInvalidRequestError(`${field}: required`);
  if (v.length > 1_024 || hasControlCharacter(v)) throw new ApiInvalidRequestError(`${field}: at most 1024 characters, no control characters`);
  return v;
}

function hasControlCharacter(v: string): boolean {
  for (let i = 0; i < v.length; i++) if (v.charCodeAt(i) < 0x20) return true;
  return false;
}

function timeOf(v: string, field: string): bigint | undefined {
  const t = BigInt(v || '0');
  if (t < 0n) throw new ApiInvalidRequestError(`${field}: negative`);
  return t === 0n ? undefined : t;
}

/** The draft of a Store header and its bytes. Throws ApiInvalidRequestError naming the field. */
export function storeDraft(h: StoreHeader__Output | null | undefined, data: Buffer): RecordDraft {
  if (!h) throw new ApiInvalidRequestError('header: required');
  const kind = kindOf(h.dataType, 'header');
  const signal = checkName(h.signal, 'header.signal');
  let contentType = h.contentType;
  if (kind === 'scalar') {
    contentType ||= CONTENT_TYPES.scalar;
    if (contentType !== CONTENT_TYPES.scalar) throw new ApiInvalidRequestError(`header.content_type: a time-series value is ${CONTENT_TYPES.scalar}`);
    try {
      parseScalarBody(data.toString('utf8'));
    } catch (err) {
      throw new ApiInvalidRequestError(`data: not a scalar body ({"v": ..., "type": ...}, docs/values.md): ${(err as Error).message}`);
    }
  }
  if (!contentType) throw new ApiInvalidRequestError('header.content_type: required (e.g. application/vnd.apache.parquet, application/json, model/3mf)');
  if (contentType.length > 255 || !/^[\w.+-]+\/[\w.+-]+(;.*)?$/.test(contentType))
    throw new ApiInvalidRequestError(`header.content_type: "${contentType.slice(0, 80)}" is not a media type`);
  const entries = Object.entries(h.metadata ?? {});
  if (entries.length > MAX_METADATA) throw new ApiInvalidRequestError(`header.metadata: at most ${MAX_METADATA} entries`);
  const attributes: Record<string, string> = {};
  for (const [k, v] of entries) {
    if (k.length === 0 || k.length > MAX_KEY || v.length > MAX_VALUE) {
      throw new ApiInvalidRequestError(`header.metadata["${k.slice(0, 40)}"]: keys of 1-${MAX_KEY} characters, values of at most ${MAX_VALUE}`);
    }
    if (k === ACCESS_PATTERN_ATTRIBUTE || k === 'data_type') throw new ApiInvalidRequestError(`header.metadata["${k}"]: set by the header's own field`);
    attributes[k] = v;
  }
  const access = accessPatternOfEnum(h.accessPattern, 'header.access_pattern');
  if (access !== undefined) attributes[ACCESS_PATTERN_ATTRIBUTE] = access;
  attributes.data_type = h.dataType.replace(/^DATA_TYPE_/, '').toLowerCase();
  const cls = classOfEnum(h.class);
  const sourceTimeNs = timeOf(h.sourceTimeNs, 'header.source_time_ns');
  return {
    signal,
    kind,
    contentType,
    body: data,
    attributes,
    ...(h.build ? { build: h.build } : {}),
    ...(h.layer !== undefined ? { layer: h.layer } : {}),
    ...(sourceTimeNs !== undefined ? { sourceTimeNs } : {}),
    ...(cls !== undefined ? { class: cls } : {}),
  };
}

/** The draft of an UploadFrame header and the image. */
export function frameDraft(h: FrameHeader__Output | null | undefined, data: Buffer): RecordDraft {
  if (!h) throw new ApiInvalidRequestError('header: required');
  const signal = checkName(h.camera, 'header.camera');
  const looksRight = FRAME_TYPES[h.contentType];
  if (!looksRight) throw new ApiInvalidRequestError(`header.content_type: "${h.contentType}" is not one of ${Object.keys(FRAME_TYPES).join(', ')}`);
  if (!looksRight(data)) throw new ApiInvalidRequestError(`data: the bytes are not a ${h.contentType} image (its signature is missing)`);
  const cls = classOfEnum(h.class);
  const sourceTimeNs = timeOf(h.sourceTimeNs, 'header.source_time_ns');
  return {
    signal,
    kind: 'frame',
    contentType: h.contentType,
    body: data,
    ...(h.phase ? { attributes: { phase: h.phase } } : {}),
    ...(h.build ? { build: h.build } : {}),
    ...(h.layer !== undefined ? { layer: h.layer } : {}),
    ...(sourceTimeNs !== undefined ? { sourceTimeNs } : {}),
    ...(cls !== undefined ? { class: cls } : {}),
  };
}

/**
 * Commit one draft (with the other Store calls of this turn, ./store-queue.ts); the StoreResult of
 * what was stored. `sha256`: the bytes' hash when the caller computed it already (a stream hashes as
 * the chunks arrive), so a large payload is not hashed twice on the gateway's thread.
 */
export async function storeOne(draft: RecordDraft, opts: StoreOptions, sha256?: string): Promise<StoreResult> {
  const stored = await opts.queue.store(draft);
  if (!stored.ok) {
    throw new ApiInvalidRequestError(`not stored (kept in the quarantine of input ${opts.input.name}): ${stored.quarantined.error}`);
  }
  const r = stored.record;
  const policy = opts.data.explain(opts.input.name, r.signal, r.kind);
  const rule = draft.class !== undefined && classRank(draft.class) > classRank(policy.class) ? 'asked by the caller (header.class)' : policy.rule;
  return {
    seq: String(stored.seq),
    class: classEnum(r.class),
    routes: [...r.routes],
    kind: kindEnum(r.kind),
    sha256: sha256 ?? createHash('sha256').update(draft.body).digest('hex'),
    size: draft.body.length,
    rule,
  };
}

/**
 * The header and the bytes of a client stream (StoreStream, UploadFrame): the header first, then data
 * chunks, at most `maxBytes` in all, checked against the header's `size` and `sha256` when it gives them.
 */
export async function readChunks<H extends { size: string }>(
  call: ServerReadableStream<{ header?: H | null; data?: Buffer; part?: string }, unknown>,
  maxBytes: number,
  sha256Of: (h: H) => string | undefined,
): Promise<{ header: H; data: Buffer; sha256: string }> {
  let header: H | undefined;
  const chunks: Buffer[] = [];
  /** when the header states the size, the bytes go straight into one buffer of that size (no second copy) */
  let whole: Buffer | undefined;
  let size = 0;
  const hash = createHash('sha256');
  for await (const msg of call as AsyncIterable<{ header?: H | null; data?: Buffer; part?: string }>) {
    if (msg.part === 'header') {
      if (header !== undefined || chunks.length > 0) throw new ApiInvalidRequestError('header: only once, as the first message');
      header = msg.header!;
      const stated = Number(header.size);
      if (stated > maxBytes) throw new ApiPayloadTooLargeError(`header.size: ${stated} bytes is above api.grpc.maxStoreBytes (${maxBytes})`);
      if (stated > 0) whole = Buffer.allocUnsafe(stated);
      continue;
    }
    if (header === undefined) throw new ApiInvalidRequestError('header: the first message must be the header');
    const d = msg.data ?? Buffer.alloc(0);
    size += d.length;
    if (size > maxBytes) throw new ApiPayloadTooLargeError(`the data passed api.grpc.maxStoreBytes (${maxBytes} bytes); nothing was stored`);
    hash.update(d);
    if (whole === undefined) chunks.push(d);
    else if (size <= whole.length) d.copy(whole, size - d.length);
  }
  if (header === undefined) throw new ApiInvalidRequestError('header: required (the first message)');
  const stated = Number(header.size);
  if (stated > 0 && stated !== size) throw new ApiInvalidRequestError(`header.size says ${stated} bytes, ${size} arrived; nothing was stored`);
  const want = sha256Of(header);
  const got = hash.digest('hex');
  if (want && got !== want.toLowerCase()) throw new ApiInvalidRequestError(`header.sha256 says ${want}, the data hashes to ${got}; nothing was stored`);
  return { header, data: whole ?? (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)), sha256: got };
}

export function checkSize(data: Buffer, maxBytes: number): void {
  if (data.length > maxBytes) throw new ApiPayloadTooLargeError(`${data.length} bytes is above api.grpc.maxStoreBytes (${maxBytes})`);
}
