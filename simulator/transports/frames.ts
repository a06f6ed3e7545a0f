/**
 * Delivers camera frames the way a powder-bed camera does: into a drop folder, written under a
 * temporary dot-name and renamed when complete (so a watcher never sees a partial file under the
 * final name), its modification time the capture time (what the frames input takes as the source time:
 * a frame rendered late on a busy machine still says when it was taken), and/or POSTed to an upload
 * endpoint with the capture time in a header. The image faults break exactly that contract:
 * "half-written-image" writes straight to the final name and stops halfway; "corrupt-image" writes
 * a complete file whose image data is damaged.
 */
import { mkdir, open, rename, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { CameraFrame } from '../camera.js';
import type { Switchboard } from '../faults.js';
import { hash32 } from '../prng.js';

export interface FrameSinkOptions {
  dropDir?: string;
  uploadUrl?: string;
  /** sent as `Authorization: Bearer <token>` (the gateway's upload route requires one) */
  uploadToken?: string;
}

export class FrameSink {
  written = 0;
  uploaded = 0;
  uploadFailures = 0;
  constructor(
    private readonly opts: FrameSinkOptions,
    private readonly faults: Switchboard,
    private readonly seed: number,
    private readonly log: Logger,
  ) {}

  async deliver(frame: CameraFrame): Promise<void> {
    const halfWritten = this.faults.isOn('half-written-image');
    let bytes = frame.png;
    if (this.faults.isOn('corrupt-image')) bytes = corruptImage(bytes, this.seed, frame.layer);
    if (halfWritten) bytes = bytes.subarray(0, Math.floor(bytes.length / 2));
    if (this.opts.dropDir) {
      await mkdir(this.opts.dropDir, { recursive: true });
      const final = path.join(this.opts.dropDir, frame.fileName);
      if (halfWritten) {
        // the camera died mid-write: the final name holds half the bytes, and nothing completes it
        const fh = await open(final, 'w');
        await fh.write(bytes);
        await fh.close();
      } else {
        const tmp = path.join(this.opts.dropDir, `.${frame.fileName}.part`);
        await writeFile(tmp, bytes);
        const taken = new Date(frame.timestampMs);
        await utimes(tmp, taken, taken);
        await rename(tmp, final);
      }
      this.written++;
    }
    if (this.opts.uploadUrl) {
      try {
        const res = await fetch(this.opts.uploadUrl, {
          method: 'POST',
          body: bytes,
          headers: {
            'content-type': 'image/png',
            'x-layergate-build': frame.build,
            'x-layergate-layer': String(frame.layer),
            'x-layergate-kind': frame.kind,
            'x-layergate-file-name': frame.fileName,
            'x-layergate-source-time-ms': String(frame.timestampMs),
            ...(this.opts.uploadToken ? { authorization: `Bearer ${this.opts.uploadToken}` } : {}),
          },
        });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        this.uploaded++;
      } catch (err) {
        this.uploadFailures++;
        this.log.warn({ err: (err as Error).message, url: this.opts.uploadUrl, file: frame.fileName }, 'frame upload failed');
      }
    }
  }
}

/** Overwrite 64 bytes in the middle of the file (inside the compressed image data); the PNG signature stays intact. */
export function corruptImage(png: Buffer, seed: number, layer: number): Buffer {
  const b = Buffer.from(png);
  const start = Math.floor(b.length / 2);
  for (let i = 0; i < 64 && start + i < b.length; i++) b[start + i] = hash32(seed, layer, i, 0xbad) & 0xff;
  return b;
}
