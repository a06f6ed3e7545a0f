/**
 * Records a sink refused for good (`SinkPermanentError`), kept in <dataDir>/quarantine/outputs/<sink>/:
 * `<time>-<pid>-<n>.records` (length-delimited `layergate.v1.Record` messages; spooled bodies as their
 * blob reference) and `<time>-<pid>-<n>.json` (sink, time, error, record count, seqs, file, format,
 * SHA-256 of the records file).
 *
 * Design constraints:
 * - `keep` resolves true only once both files are written: only then may the forwarder move its
 *   cursor past the records. It resolves false when the folder is full (its cap, see
 *   gateway/quarantine/folder.ts) or the write failed; the records then stay in the buffer and are
 *   retried, so nothing is dropped unrecorded. Each case is logged at error here.
 * - Confidential bodies stay sealed at rest, in the quarantine as in the buffer (given a sealer).
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import protobuf from 'protobufjs';
import type { Logger } from 'pino';
import type { Sealer } from '../crypto/sealer.js';
import type { SinkPermanentError } from '../plugin-api/errors.js';
import { encodeRecord } from '../plugin-api/record.js';
import type { StoredRecord } from '../plugin-api/record.js';
import { QuarantineFolder, itemTime } from './folder.js';

export class SinkQuarantine {
  private readonly folder: QuarantineFolder;
  private seq = 0;

  constructor(
    dataDir: string,
    private readonly sink: string,
    maxBytes: number,
    private readonly log: Logger,
    private readonly sealer: Sealer | undefined,
  ) {
    this.folder = new QuarantineFolder(path.join(dataDir, 'quarantine', 'outputs', sink), maxBytes);
  }

  get dir(): string {
    return this.folder.dir;
  }

  /** Keep the records `err` refused; see the module header for what true and false mean. */
  async keep(refused: readonly StoredRecord[], err: SinkPermanentError): Promise<boolean> {
    const at = new Date();
    const base = `${itemTime(at)}-${process.pid}-${++this.seq}`;
    const sealer = this.sealer;
    try {
      const writer = protobuf.Writer.create();
      for (const r of refused) writer.bytes(encodeRecord(sealer && r.class === 'confidential' && r.body ? { ...r, body: sealer.seal(r.body) } : r));
      const records = Buffer.from(writer.finish());
      const sidecar = {
        sink: this.sink,
        at: at.toISOString(),
        error: { reason: err.reason, code: err.code, name: err.name, message: err.message },
        records: refused.length,
        seqs: refused.map((r) => r.seq),
        file: `${base}.records`,
        format: 'length-delimited layergate.v1.Record (proto/layergate/v1/record.proto)',
        ...(sealer && refused.some((r) => r.class === 'confidential')
          ? { sealed: `confidential bodies sealed (AES-256-GCM, key ring of the gateway; key ${sealer.keyId})` }
          : {}),
        sha256: createHash('sha256').update(records).digest('hex'),
      };
      const sidecarText = JSON.stringify(sidecar, null, 2);
      const need = records.length + Buffer.byteLength(sidecarText);
      if (!this.folder.reserve(need)) {
        this.log.error(
          { err, records: refused.length, bytes: need, used: this.folder.usedBytes(), quarantineMaxBytes: this.folder.maxBytes, dir: this.folder.dir },
          'sink refused records permanently but its quarantine folder is full; keeping them in the buffer and retrying (fix the sink, or clear the folder)',
        );
        return false;
      }
      await this.folder.write({ base, dataSuffix: '.records', data: records, sidecar: sidecarText }, need);
    } catch (writeErr) {
      this.log.error({ err: writeErr, refused: err }, 'could not write refused records to the sink quarantine folder; retrying the batch');
      return false;
    }
    return true;
  }
}
