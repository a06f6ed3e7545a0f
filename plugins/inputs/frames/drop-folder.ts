/**
 * The frames input's drop folder: a camera (or its PC) writes image files into a folder; each
 * complete file is ingested, then released (moved to processed/ or deleted). The stability, release,
 * quarantine and symbolic-link rules are the plugin API's shared drop folder
 * (gateway/plugin-api/drop-folder.ts); this module says what a frame file is.
 *
 * Design constraints:
 * - A sidecar `<stem>.json` travels with its frame; a raw frame (`.raw`) is taken only once its
 *   sidecar is there, and is rejected (`bad-sidecar`) when the sidecar lacks width, height and depth.
 * - Hints: the sidecar's fields override the file name's (configured pattern); the source time is the
 *   file's mtime unless the sidecar gives one.
 * - When the pipeline quarantined the frame's record (a layer out of range in the file name: the
 *   emit's result says so), the frame was not stored: the ingest rejects it and the file goes to
 *   quarantine/ like any bad frame.
 */
import path from 'node:path';
import { DropFolder } from '../../../gateway/plugin-api/index.js';
import type { DropFile } from '../../../gateway/plugin-api/index.js';
import { FrameRejected, hintsFromName, parseSidecar, sidecarName } from './frame.js';
import type { FrameHints } from './frame.js';
import type { IngestResult } from './ingest.js';
import type { FramesConfig } from './schema.js';

/** The frames drop folder over the shared one. */
export function framesDropFolder(
  config: FramesConfig,
  pattern: RegExp,
  processedDir: string,
  quarantineDir: string,
  /** the shared ingest path (resolves undefined when the emit failed) */
  ingest: (bytes: Buffer, hints: FrameHints) => Promise<IngestResult | undefined>,
  /** counts and quarantines a rejected frame */
  reject: (err: FrameRejected, bytes: Buffer | undefined, where: string) => void,
  counters: { released: number },
): DropFolder<FrameRejected> {
  return new DropFolder<FrameRejected>(
    config,
    processedDir,
    quarantineDir,
    {
      label: 'frames',
      sidecarName,
      isCompanion: (name) => path.extname(name).toLowerCase() === '.json',
      // raw frames need their sidecar before they can be read
      ready: (name, names) => path.extname(name).toLowerCase() !== '.raw' || names.has(sidecarName(name)),
      isRejection: (err): err is FrameRejected => err instanceof FrameRejected,
      tooLarge: (name, size) => new FrameRejected('too-large', `${name}: ${size} bytes is more than maxFileBytes (${config.maxFileBytes})`),
      badSidecar: (name, problem) => new FrameRejected('bad-sidecar', `${name}: ${problem}`),
      handle: async (file: DropFile) => {
        const { name } = file;
        const sidecarHints = file.sidecar ? parseSidecar(file.sidecar.toString('utf8'), sidecarName(name)) : {};
        if (path.extname(name).toLowerCase() === '.raw' && !sidecarHints.raw) {
          throw new FrameRejected('bad-sidecar', `${name}: a raw frame needs a sidecar ${sidecarName(name)} with width, height and depth`);
        }
        const hints: FrameHints = { fileName: name, sourceTimeMs: file.mtimeMs, ...hintsFromName(name, pattern), ...sidecarHints };
        return (await ingest(file.bytes, hints)) !== undefined;
      },
      reject,
    },
    counters,
  );
}
