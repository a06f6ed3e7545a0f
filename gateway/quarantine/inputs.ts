/**
 * Raw input an input could not parse, kept in <dataDir>/quarantine/inputs/<input>/: `<time>-<n>.bin`
 * (`.bin.sealed` when sealed) with the raw bytes and `<time>-<n>.json` with input, where, time, the
 * error (reason, name, code, message), file, size and SHA-256 of the raw bytes.
 *
 * Design constraints:
 * - `quarantine` never throws and never blocks the caller (an input's parsing path): it counts, logs
 *   at warn and writes in the background, one item after the other (`flush` waits for them).
 * - Each input's folder is capped in bytes (gateway/quarantine/folder.ts); what does not fit is
 *   counted, not kept.
 * - The caller passes a sealer when the raw bytes must stay sealed at rest (a confidential input or
 *   job): then the data file holds the sealed bytes, the sidecar's size and hash are the raw bytes'.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Sealer } from '../crypto/sealer.js';
import { LayerGateError } from '../plugin-api/errors.js';
import { QuarantineFolder, itemTime } from './folder.js';

/** The quarantine counters of one input (part of the pipeline's input counters). */
export interface InputQuarantineCounters {
  quarantined: number;
  /** `quarantined` by reason (the error's `reason`, else its code: `out-of-range`, `malformed`, ...) */
  quarantinedByReason: Record<string, number>;
  /** quarantined items whose bytes were kept on disk */
  quarantineKept: number;
  /** quarantined items not kept (folder cap reached, or the write failed) */
  quarantineNotKept: number;
  quarantineNotKeptBytes: number;
}

export class InputQuarantine {
  private readonly folders = new Map<string, QuarantineFolder>();
  /** numbers the items of every input of this gateway run */
  private seq = 0;
  private writes: Promise<void> = Promise.resolve();

  constructor(
    private readonly dataDir: string,
    /** cap of each input's folder */
    private readonly maxBytes: number,
  ) {}

  /** Count, log and (if it fits) keep one item; see the module header. */
  quarantine(
    input: string,
    log: Logger,
    counters: InputQuarantineCounters,
    where: string,
    error: Error,
    raw: Buffer | undefined,
    sealer: Sealer | undefined,
  ): void {
    try {
      const kept = raw !== undefined && sealer ? sealer.seal(raw) : raw;
      const reason = quarantineReason(error);
      counters.quarantined++;
      counters.quarantinedByReason[reason] = (counters.quarantinedByReason[reason] ?? 0) + 1;
      const folder = this.folder(input);
      const at = new Date();
      const base = `${itemTime(at)}-${++this.seq}`;
      const dataSuffix = `.bin${sealer ? '.sealed' : ''}`;
      const errorInfo = {
        reason,
        name: error?.name,
        ...(error instanceof LayerGateError ? { code: error.code } : {}),
        message: String(error?.message ?? error),
      };
      const sidecar = Buffer.from(
        JSON.stringify(
          {
            input,
            where,
            at: at.toISOString(),
            error: errorInfo,
            ...(raw ? { file: `${base}${dataSuffix}`, size: raw.length, sha256: createHash('sha256').update(raw).digest('hex') } : {}),
            ...(sealer ? { sealed: `AES-256-GCM, key ${sealer.keyId} of the gateway's key ring` } : {}),
          },
          null,
          2,
        ),
      );
      const need = sidecar.length + (kept?.length ?? 0);
      const keep = folder.reserve(need);
      log.warn(
        { where, err: error, bytes: raw?.length ?? 0, kept: keep, quarantined: counters.quarantined },
        keep ? 'input quarantined' : 'input quarantined but not kept: quarantine folder is full',
      );
      if (!keep) {
        counters.quarantineNotKept++;
        counters.quarantineNotKeptBytes += raw?.length ?? 0;
        return;
      }
      this.writes = this.writes.then(async () => {
        try {
          await folder.write({ base, dataSuffix, data: kept, sidecar }, need);
          counters.quarantineKept++;
        } catch (err) {
          counters.quarantineNotKept++;
          counters.quarantineNotKeptBytes += raw?.length ?? 0;
          log.error({ err, where }, 'could not write to the quarantine folder');
        }
      });
    } catch (err) {
      // never throw into an input's parsing path
      try {
        log.error({ err, where }, 'quarantine failed');
      } catch {
        /* nothing left to do */
      }
    }
  }

  /** Wait for the writes in progress. */
  async flush(): Promise<void> {
    await this.writes;
  }

  private folder(input: string): QuarantineFolder {
    let f = this.folders.get(input);
    if (!f) this.folders.set(input, (f = new QuarantineFolder(path.join(this.dataDir, 'quarantine', 'inputs', input), this.maxBytes)));
    return f;
  }
}

/**
 * Why an input quarantined something, as one short word for counting: the error's typed `reason`
 * (`LayerGateError`'s option; e.g. the frames input's `corrupt`, the MQTT input's `malformed`), else
 * its catalog code, else its name. An error without a reason whose message starts with a
 * `kebab-word: ` is counted under that word: the plugin contract promised it before `reason` was
 * typed, and plugins outside this tree may still rely on it.
 */
export function quarantineReason(error: Error): string {
  // inputs call quarantine from their parsing paths; tolerate whatever they pass, even nothing
  const own = (error as { reason?: unknown } | undefined)?.reason;
  if (typeof own === 'string' && own) return own;
  const lead = /^([a-z][a-z0-9-]{1,40}): /.exec(String(error?.message ?? ''))?.[1];
  if (lead) return lead;
  if (error instanceof LayerGateError) return error.code;
  return error?.name || 'error';
}
