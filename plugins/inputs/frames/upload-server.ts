/**
 * The frames input's upload route: `POST /frames` for cameras that push images instead of writing
 * files. Who may upload, how many at once, how large and how slowly is the plugin API's shared upload
 * route (gateway/plugin-api/upload-server.ts); this module reads a frame's hints from the headers and
 * answers.
 *
 * Design constraints:
 * - Build, layer, phase and source time come from headers (`x-layergate-*`), each checked like a
 *   sidecar's field: a header out of range rejects the upload (400, `bad-sidecar`).
 * - The answer comes after the commit: 201 stored, 200 duplicate of a recent frame, 400/413 rejected
 *   (a broken image, a bad header, or a frame whose record the pipeline quarantined, e.g. a layer out
 *   of range in the file name; the reason says which), 503 when the buffer did not take the frame or
 *   the gateway is stopping (the camera retries).
 */
import { UploadServer } from '../../../gateway/plugin-api/index.js';
import { FrameRejected, checkBuild, checkLayer, checkPhase, checkTimeMs, hintsFromName } from './frame.js';
import type { FrameHints } from './frame.js';
import type { IngestResult } from './ingest.js';
import type { FramesConfig } from './schema.js';

/** The frames upload route over the shared one. */
export function framesUploadServer(
  config: FramesConfig,
  cfg: NonNullable<FramesConfig['upload']>,
  pattern: RegExp,
  /** the shared ingest path (resolves undefined when the emit failed) */
  ingest: (bytes: Buffer, hints: FrameHints) => Promise<IngestResult | undefined>,
  /** counts and quarantines a rejected frame */
  reject: (err: FrameRejected, bytes: Buffer | undefined, where: string) => void,
  counters: { uploads: number; uploadsRefused: number },
): UploadServer<FrameRejected> {
  return new UploadServer<FrameRejected>(
    cfg,
    {
      label: 'frames',
      route: '/frames',
      maxFileBytes: config.maxFileBytes,
      isRejection: (err): err is FrameRejected => err instanceof FrameRejected,
      tooLarge: (fileName, what) => new FrameRejected('too-large', `${fileName}: ${what} is more than maxFileBytes (${config.maxFileBytes})`),
      handle: async (bytes, fileName, h) => {
        const r = await ingest(bytes, headerHints(fileName, pattern, h));
        if (!r) return { status: 503, body: { error: 'the buffer did not take the frame; retry later' } };
        return { status: r.duplicate ? 200 : 201, body: r };
      },
      reject,
    },
    counters,
  );
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
