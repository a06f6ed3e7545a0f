/**
 * Powder-bed frames for the UI (viewer), as the frames input records them (plugins/inputs/frames:
 * one `frame` record per image with build, layer and attributes, and a thumbnail record,
 * `<signal>.thumbnail`, with `thumbnail_of` = the frame's sha256):
 *
 * - `GET /api/v1/frames?camera=&build=&layer=&limit=`: the frames still in the buffer, newest first
 *   (`camera` is the record's source, the input's name), each with its seq, build, layer, times,
 *   size, content type, class and the seq of its thumbnail when there is one. Thumbnails and
 *   lossless re-encoded copies (`thumbnail_of`, `reencoded_of`) are not listed as frames.
 * - `GET /api/v1/frames/latest?camera=`: the newest frame of each camera.
 * - `GET /api/v1/frames/:seq/image` and `/:seq/thumbnail` (the frame's seq): the bytes with their
 *   content type; 404 once evicted (or when the seq is no frame).
 *
 * Constraints:
 * - A caller limited to a class (`maxClass` of a token, gateway/api/identity/store.ts `mayRead`) is
 *   not shown a frame of a class above it: not listed, 404 on its bytes (as for one that is gone).
 * - Read on a connection of the API's own (gateway/buffer/stream-read.ts), bounded: at most MAX_ROWS
 *   rows with data and MAX_WALK rows walked per list (the read runs on the main thread, where the
 *   inputs append; see routes/signals.ts); a list the bound cut says `truncated` and how far back it
 *   got (`coveredFrom`).
 * - Bytes: a spooled body is read asynchronously and checked against its size and hash (./read.ts
 *   readBlob); a confidential body is opened with the gateway's sealer; a body whose record carries
 *   `sha256` (the frame's own) is checked against it too.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { readBlob } from '../../buffer/read.js';
import { Spool } from '../../buffer/spool.js';
import { type StreamRecord, withStreamReader } from '../../buffer/stream-read.js';
import type { Stream } from '../../buffer/streams.js';
import { ApiNotFoundError, BlobMissingError } from '../../plugin-api/errors.js';
import { SENSITIVITY_CLASSES, type SensitivityClass } from '../../plugin-api/record.js';
import { datetimeText } from '../../../wire/scalar-value.js';
import { type ApiDeps, typed } from '../deps.js';
import type { GatewayData } from '../gateway-data.js';
import { mayRead } from '../identity/store.js';

/** rows with data one list reads at most (as routes/signals.ts MAX_ROWS) */
const MAX_ROWS = 5_000;
/** rows one list walks at most (their heads only: a list has no time bound to stop at) */
const MAX_WALK = 200_000;
const FOREVER_NS = (1n << 63n) - 1n;
/** a frame's thumbnail is appended with it: within this many seqs after it */
const THUMBNAIL_WITHIN = 3;

const frameInfo = z.object({
  seq: z.number(),
  camera: z.string(),
  signal: z.string(),
  build: z.string().nullable(),
  layer: z.number().nullable(),
  receivedAt: z.string(),
  sourceTime: z.string().nullable(),
  size: z.number(),
  contentType: z.string(),
  class: z.enum(SENSITIVITY_CLASSES),
  width: z.number().nullable(),
  height: z.number().nullable(),
  phase: z.string().nullable(),
  thumbnailSeq: z.number().nullable(),
});
type FrameInfo = z.infer<typeof frameInfo>;

const frameList = z.object({
  frames: z.array(frameInfo),
  truncated: z.boolean(),
  /** when truncated: the oldest receive time the list covers */
  coveredFrom: z.string().nullable(),
});

/** streams that may hold frames: images, and raw frames (octet-stream); the record kind decides */
function frameStreams(streams: Stream[], camera: string | undefined): Map<number, Stream> {
  return new Map(
    streams
      .filter((s) => (s.contentType.startsWith('image/') || s.contentType === 'application/octet-stream') && (camera === undefined || s.source === camera))
      .map((s) => [s.id, s]),
  );
}

const isDerived = (r: Pick<StreamRecord, 'attributes'>) => r.attributes?.thumbnail_of !== undefined || r.attributes?.reencoded_of !== undefined;
const intAttr = (v: string | undefined) => (v !== undefined && /^\d+$/.test(v) ? Number(v) : null);

function infoOf(r: StreamRecord, s: Stream, thumbnailSeq: number | null): FrameInfo {
  return {
    seq: r.seq,
    camera: s.source,
    signal: s.signal,
    build: r.build ?? null,
    layer: r.layer ?? null,
    receivedAt: datetimeText(r.receiveNs),
    sourceTime: r.sourceNs === null ? null : datetimeText(r.sourceNs),
    size: intAttr(r.attributes?.size) ?? r.blob?.size ?? r.body.length,
    contentType: s.contentType,
    class: SENSITIVITY_CLASSES[r.cls] as SensitivityClass,
    width: intAttr(r.attributes?.width),
    height: intAttr(r.attributes?.height),
    phase: r.attributes?.phase ?? null,
    thumbnailSeq,
  };
}

/** the key a thumbnail names its frame by */
const thumbKey = (source: string, sha: string) => `${source}\n${sha}`;

/**
 * Frames (not thumbnails) of `camera` (all cameras: undefined), newest first, that `keep` accepts,
 * until `enough` says the list is complete (checked once a row is done: records of one row are
 * visited oldest first).
 */
function listFrames(
  data: GatewayData,
  maxClass: SensitivityClass,
  camera: string | undefined,
  keep: (r: StreamRecord, s: Stream) => boolean,
  enough: (frames: FrameInfo[]) => boolean,
): z.infer<typeof frameList> {
  return withStreamReader(data.bufferDir, (reader) => {
    const streams = frameStreams(reader.streams(), camera);
    const frames: FrameInfo[] = [];
    /** the hashes a thumbnail may name each frame by (its sha256, or its original's when re-encoded) */
    const names = new Map<FrameInfo, (string | undefined)[]>();
    const thumbs = new Map<string, number>();
    let doneAt: number | null = null;
    const scan = reader.scan(
      {
        streams: new Set(streams.keys()),
        fromNs: 0n,
        toNs: FOREVER_NS,
        maxClass: SENSITIVITY_CLASSES.indexOf(maxClass),
        maxRecords: Number.MAX_SAFE_INTEGER,
        maxRows: MAX_ROWS,
        maxWalk: MAX_WALK,
        spooled: true,
      },
      (r) => {
        // the list was complete at seq doneAt: finish its row (higher seqs), stop at the next one
        if (doneAt !== null && r.seq < doneAt) return false;
        if (r.kind !== 'frame') return;
        const s = streams.get(r.stream)!;
        const of = r.attributes?.thumbnail_of;
        if (of !== undefined) {
          if (!thumbs.has(thumbKey(s.source, of))) thumbs.set(thumbKey(s.source, of), r.seq);
          return;
        }
        if (isDerived(r) || !keep(r, s)) return;
        const info = infoOf(r, s, null);
        frames.push(info);
        names.set(info, [r.attributes?.sha256, r.attributes?.original_sha256]);
        if (doneAt === null && enough(frames)) doneAt = r.seq;
        return;
      },
    );
    frames.sort((a, b) => b.seq - a.seq);
    // a thumbnail is appended with its frame: in a newer row, or later in the frame's own row
    // (the scan finishes a row before it stops), so it was visited if it is still there
    for (const f of frames) {
      for (const h of names.get(f)!) {
        const seq = h === undefined ? undefined : thumbs.get(thumbKey(f.camera, h));
        if (seq !== undefined && f.thumbnailSeq === null) f.thumbnailSeq = seq;
      }
    }
    return {
      frames,
      truncated: scan.truncated,
      coveredFrom: scan.truncated && scan.oldestNs !== null ? datetimeText(scan.oldestNs) : null,
    };
  });
}

/** The frame `seq` (and its stream) when it is in the buffer and the caller may see it; else 404. */
function frameAt(data: GatewayData, maxClass: SensitivityClass, seq: number, thumbnail: boolean): { rec: StreamRecord; stream: Stream } {
  const gone = () => new ApiNotFoundError(`no frame ${seq} in the buffer (evicted, never stored, or not one you may see)`);
  return withStreamReader(data.bufferDir, (reader) => {
    const streams = new Map(reader.streams().map((s) => [s.id, s]));
    const visible = (r: StreamRecord | undefined): r is StreamRecord =>
      r !== undefined && r.kind === 'frame' && mayRead(maxClass, SENSITIVITY_CLASSES[r.cls] as SensitivityClass);
    const frame = reader.record(seq);
    if (!visible(frame) || frame.attributes?.thumbnail_of !== undefined) throw gone();
    const stream = streams.get(frame.stream)!;
    if (!thumbnail) return { rec: frame, stream };
    const names = [frame.attributes?.sha256, frame.attributes?.original_sha256].filter((h) => h !== undefined);
    for (let k = 1; k <= THUMBNAIL_WITHIN; k++) {
      const t = reader.record(seq + k);
      const of = t?.attributes?.thumbnail_of;
      if (visible(t) && of !== undefined && names.includes(of) && streams.get(t.stream)?.source === stream.source) {
        return { rec: t, stream: streams.get(t.stream)! };
      }
    }
    throw new ApiNotFoundError(`frame ${seq} has no thumbnail in the buffer`);
  });
}

/** The bytes of a record of frameAt: spooled ones read and hash-checked, confidential ones opened. */
async function bytesOf(data: GatewayData, rec: StreamRecord): Promise<Buffer> {
  let stored: Buffer;
  if (rec.blob === null) stored = rec.body;
  else {
    try {
      stored = await readBlob(new Spool(path.join(data.bufferDir, 'spool')), rec.blob);
    } catch (err) {
      if (err instanceof BlobMissingError) throw new ApiNotFoundError(`frame ${rec.seq}: its bytes are no longer in the buffer`, { cause: err });
      throw err;
    }
  }
  const body = SENSITIVITY_CLASSES[rec.cls] === 'confidential' ? data.unseal(stored) : stored;
  const sha = rec.attributes?.sha256;
  if (sha !== undefined && createHash('sha256').update(body).digest('hex') !== sha) {
    throw new Error(`frame ${rec.seq}: the stored bytes do not hash to the frame's sha256 ${sha}`);
  }
  return body;
}

export function frameRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const r = typed(app);
  const dataOf = () => {
    if (!deps.data) throw new ApiNotFoundError('this API is not attached to a running gateway');
    return deps.data;
  };

  r.get(
    '/api/v1/frames',
    {
      config: { access: 'viewer' },
      schema: {
        querystring: z.strictObject({
          camera: z.string().min(1).max(128).optional(),
          build: z.string().min(1).max(256).optional(),
          layer: z.coerce
            .number()
            .int()
            .min(0)
            .max(2 ** 31 - 1)
            .optional(),
          limit: z.coerce.number().int().min(1).max(500).default(100),
        }),
        response: { 200: frameList },
      },
    },
    async (req) => {
      const q = req.query;
      return listFrames(
        dataOf(),
        req.principal!.maxClass,
        q.camera,
        (rec) => (q.build === undefined || rec.build === q.build) && (q.layer === undefined || rec.layer === q.layer),
        (frames) => frames.length >= q.limit,
      );
    },
  );

  r.get(
    '/api/v1/frames/latest',
    {
      config: { access: 'viewer' },
      schema: {
        querystring: z.strictObject({ camera: z.string().min(1).max(128).optional() }),
        response: { 200: frameList },
      },
    },
    async (req) => {
      const data = dataOf();
      const cameras = new Set(
        [
          ...frameStreams(
            withStreamReader(data.bufferDir, (reader) => reader.streams()),
            req.query.camera,
          ).values(),
        ].map((s) => s.source),
      );
      const seen = new Set<string>();
      const list = listFrames(
        data,
        req.principal!.maxClass,
        req.query.camera,
        (_rec, s) => {
          seen.add(s.source);
          return true;
        },
        () => seen.size >= cameras.size,
      );
      const newest = new Map<string, FrameInfo>();
      for (const f of list.frames) if (!newest.has(f.camera)) newest.set(f.camera, f);
      return { ...list, frames: [...newest.values()] };
    },
  );

  for (const part of ['image', 'thumbnail'] as const) {
    r.get(
      `/api/v1/frames/:seq/${part}`,
      {
        config: { access: 'viewer' },
        schema: { params: z.strictObject({ seq: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER) }) },
      },
      async (req, reply) => {
        const data = dataOf();
        const { rec, stream } = frameAt(data, req.principal!.maxClass, req.params.seq, part === 'thumbnail');
        const bytes = await bytesOf(data, rec);
        return reply.header('content-type', stream.contentType).send(bytes);
      },
    );
  }
}
