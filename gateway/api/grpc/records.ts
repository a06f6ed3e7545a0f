/**
 * StreamRecords, QueryRecords and GetBlob: the buffer's records for plant software, read on a
 * connection of their own (gateway/buffer/range-read.ts).
 *
 * Constraints:
 * - Memory is bounded per stream whatever the consumer does: records are read from the buffer only
 *   as fast as the consumer takes them (the next page is read once the transport took the last one:
 *   one page of at most 1 MiB in flight), so a slow consumer costs buffer lag, never gateway memory.
 *   Its lag (the newest seq less the last it was sent or skipped) is checked at least every
 *   `LAG_CHECK_MS`; above `api.grpc.maxStreamLag` the stream ends with RESOURCE_EXHAUSTED saying how
 *   far behind it was and from which seq to resume. HTTP/2 sends that status after the data already
 *   written, so a consumer that reads again gets it after at most one page; one that never reads
 *   again holds that page until its connection closes (keepalive ends dead ones).
 * - Resumable: `after_seq` replays what the buffer still holds after it, then follows new records;
 *   seqs the buffer no longer holds come as a `gap` message first (never silently skipped), so a
 *   consumer that resumes from the last seq it processed gets no duplicate and knows of every hole.
 * - A token's class ceiling limits every read server side; records above it are skipped (the gap is
 *   not reported for them: they exist, the caller may not see them). A revoked token ends a stream
 *   within a second.
 * - Streams at the head take their records from one shared feed (./live-feed.ts: read and encoded
 *   once for every stream); a stream behind it (a replay, a slow consumer) reads on a reader of its
 *   own until it reaches the feed. The lag is checked only while the stream waits for its consumer:
 *   a replay the consumer reads as fast as it comes is never cancelled, however old its start.
 * - Reads run on the main thread, between inputs' emits: a page is at most `max_batch` records and
 *   1 MiB, and a read walks at most 4,096 buffer rows.
 */
import { once } from 'node:events';
import type { ServerWritableStream } from '@grpc/grpc-js';
import { RangeReader } from '../../buffer/range-read.js';
import { ApiInvalidRequestError, ApiNotFoundError, ApiStreamLagError, ApiUnauthenticatedError } from '../../plugin-api/errors.js';
import type { StoredRecord } from '../../plugin-api/record.js';
import { mayRead } from '../identity/store.js';
import type { GetBlobRequest__Output } from '../../../wire/generated/grpc/layergate/v1/GetBlobRequest.js';
import type { GetBlobResponse } from '../../../wire/generated/grpc/layergate/v1/GetBlobResponse.js';
import type { QueryRecordsRequest__Output } from '../../../wire/generated/grpc/layergate/v1/QueryRecordsRequest.js';
import type { StreamRecordsRequest__Output } from '../../../wire/generated/grpc/layergate/v1/StreamRecordsRequest.js';
import type { StreamRecordsResponse } from '../../../wire/generated/grpc/layergate/v1/StreamRecordsResponse.js';
import type { CallContext } from './auth.js';
import type { LiveFeed } from './live-feed.js';
import type { GatewayData } from '../gateway-data.js';
import { compileFilter, queryRecordsResponse, recordBytes, streamRecordsResponse } from './record-messages.js';
import type { PreEncoded } from './service.js';

/** a page's payload: what one stream holds in memory at most, besides the transport's window */
const PAGE_BYTES = 1024 * 1024;
const DEFAULT_BATCH = 256;
const MAX_BATCH = 4_096;
/** how often a waiting stream looks at its lag and its token */
export const LAG_CHECK_MS = 500;
const GAP_REASON = 'not in the buffer: evicted (buffer bound or age) or never stored; the loss ledger says which';

function seqArg(v: string | undefined, field: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new ApiInvalidRequestError(`${field}: ${v} is not a seq`);
  return n;
}

export interface RecordReadOptions {
  data: GatewayData;
  /** the newest records, read and encoded once for every stream at the head (absent: each stream reads alone) */
  feed: LiveFeed | undefined;
  maxStreamLag: number;
}

export async function streamRecords(
  call: ServerWritableStream<StreamRecordsRequest__Output, StreamRecordsResponse | PreEncoded>,
  ctx: CallContext,
  opts: RecordReadOptions,
): Promise<void> {
  const req = call.request;
  const filter = compileFilter(req.filter, ctx.principal.maxClass);
  const batch = Math.min(req.maxBatch > 0 ? req.maxBatch : DEFAULT_BATCH, MAX_BATCH);
  const feed = opts.feed;
  const unsubscribe = feed?.subscribe();
  /** a reader of its own, for a stream behind what the feed holds (a replay, a slow consumer) */
  let own: RangeReader | undefined;
  const reader = (): RangeReader => (own ??= new RangeReader(opts.data.bufferDir));
  const headSeq = (): number => (feed ? feed.head() : reader().headSeq());
  const cancelled = new Promise<void>((resolve) => {
    call.once('cancelled', () => resolve());
    call.once('close', () => resolve());
  });
  try {
    let cursor = seqArg(req.afterSeq, 'after_seq') ?? headSeq();
    let tokenCheckedAt = Date.now();
    const checkToken = (): void => {
      if (Date.now() - tokenCheckedAt < LAG_CHECK_MS) return;
      tokenCheckedAt = Date.now();
      if (!ctx.stillValid()) throw new ApiUnauthenticatedError('the API token was revoked or expired while the stream ran');
    };
    /**
     * Write one message and wait until the transport took it. While it waits, the consumer is the one
     * holding the stream back: its token and its lag are checked (a replay the consumer reads as
     * fast as it comes is never "behind", however old its start).
     */
    const send = async (msg: StreamRecordsResponse | PreEncoded): Promise<boolean> => {
      const written = new Promise<'written'>((resolve) => call.write(msg, () => resolve('written')));
      for (;;) {
        const r = await Promise.race([written, cancelled.then(() => 'cancelled' as const), sleep(LAG_CHECK_MS).then(() => 'tick' as const)]);
        if (r === 'written') return true;
        if (r === 'cancelled') return false;
        checkToken();
        const head = headSeq();
        if (head - cursor > opts.maxStreamLag) {
          throw new ApiStreamLagError(
            `the stream was ${head - cursor} records behind the newest (seq ${cursor} sent, ${head} stored; api.grpc.maxStreamLag ${opts.maxStreamLag}): resume with after_seq ${cursor}`,
          );
        }
      }
    };
    for (;;) {
      if (call.cancelled || call.destroyed) return;
      checkToken();
      const head = headSeq();
      let gaps: { from: number; to: number }[];
      let encoded: Buffer[];
      let lastSeq: number;
      if (feed?.covers(cursor)) {
        const t = feed.take(cursor, filter.maxClass, filter.accept, batch, PAGE_BYTES);
        ({ gaps, lastSeq } = t);
        encoded = t.entries.map((e) => e.bytes);
      } else {
        const page = reader().read(cursor, { maxClass: filter.maxClass, accept: filter.accept }, batch, PAGE_BYTES);
        ({ gaps, lastSeq } = page);
        encoded = page.records.map((r) => recordBytes(r, opts.data.unseal));
      }
      for (const g of gaps) {
        if (!(await send({ gap: { fromSeq: String(g.from), toSeq: String(g.to), reason: GAP_REASON }, headSeq: String(head) }))) return;
      }
      // one page in flight at most: what the consumer has not taken stays in the buffer, not here
      if (encoded.length > 0 && !(await send({ encoded: streamRecordsResponse(encoded, head) }))) return;
      const moved = lastSeq > cursor;
      cursor = lastSeq;
      if (!moved) {
        // caught up: wait for the feed to read the next commit (or for the token check)
        await Promise.race([feed ? feed.next() : sleep(50), cancelled, sleep(LAG_CHECK_MS)]);
      } else if (own !== undefined && feed?.covers(cursor)) {
        // the replay reached what the feed holds: its own reader is no longer needed
        own.close();
        own = undefined;
      }
    }
  } finally {
    unsubscribe?.();
    own?.close();
  }
}

export function queryRecords(req: QueryRecordsRequest__Output, ctx: CallContext, data: GatewayData): PreEncoded {
  const filter = compileFilter(req.filter, ctx.principal.maxClass);
  const size = Math.min(req.pageSize > 0 ? req.pageSize : 500, 5_000);
  let from: number;
  if (req.pageToken !== '') {
    const t = /^s(\d+)$/.exec(req.pageToken);
    if (!t) throw new ApiInvalidRequestError('page_token: not a token this API gave');
    from = Number(t[1]);
  } else from = Math.max(0, (seqArg(req.fromSeq, 'from_seq') ?? 1) - 1);
  const toSeq = seqArg(req.toSeq, 'to_seq');
  const reader = new RangeReader(data.bufferDir);
  try {
    const head = reader.headSeq();
    const last = Math.min(toSeq ?? head, head);
    const page = reader.read(
      from,
      {
        maxClass: filter.maxClass,
        accept: filter.accept,
        toSeq: last,
        fromNs: req.fromTimeNs === undefined ? undefined : BigInt(req.fromTimeNs),
        toNs: req.toTimeNs === undefined ? undefined : BigInt(req.toTimeNs),
      },
      size,
      PAGE_BYTES,
    );
    const encoded = page.records.map((r) => recordBytes(r, data.unseal));
    const next = page.lastSeq < last ? `s${page.lastSeq}` : '';
    const gap = page.gaps[0] === undefined ? undefined : { from: page.gaps[0].from, to: page.gaps.at(-1)!.to, reason: GAP_REASON };
    return { encoded: queryRecordsResponse(encoded, next, gap) };
  } finally {
    reader.close();
  }
}

export async function getBlob(call: ServerWritableStream<GetBlobRequest__Output, GetBlobResponse>, ctx: CallContext, data: GatewayData): Promise<void> {
  const seq = seqArg(call.request.seq, 'seq');
  if (seq === undefined || seq === 0) throw new ApiInvalidRequestError('seq: required');
  const chunk = Math.min(call.request.chunkSize > 0 ? call.request.chunkSize : 1024 * 1024, 4 * 1024 * 1024);
  const reader = new RangeReader(data.bufferDir);
  let rec: StoredRecord | undefined;
  let bytes: Buffer;
  try {
    rec = reader.record(seq);
    // a record the caller may not see is answered like one that is not there
    if (rec === undefined || !mayRead(ctx.principal.maxClass, rec.class)) throw new ApiNotFoundError(`no record ${seq} in the buffer`);
    if (rec.blob === undefined) throw new ApiNotFoundError(`record ${seq} has its body inline (in the record), not spooled`);
    bytes = await reader.readBlob(rec.blob);
  } finally {
    reader.close();
  }
  if (rec.class === 'confidential') bytes = data.unseal(bytes);
  for (let off = 0; off < bytes.length || off === 0; off += chunk) {
    if (call.cancelled) return;
    const ok = call.write({ data: bytes.subarray(off, off + chunk), offset: off, size: bytes.length });
    if (!ok) await once(call, 'drain');
    if (bytes.length === 0) break;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
