/**
 * The context an output plugin is started with. The forwarder does not start or stop its output
 * plugin: the caller does, with this context, so that one place owns plugin life cycles.
 */
import type { Logger } from 'pino';
import type { RecordBuffer } from '../buffer/types.js';
import type { OutputContext } from '../plugin-api/contract.js';
import type { BlobRef } from '../plugin-api/record.js';

/** The context of output `name`: its logger, and blob access through the buffer's spool. */
export function outputContext(name: string, buffer: RecordBuffer, log: Logger): OutputContext {
  return {
    name,
    log: log.child({ sink: name }),
    blobs: {
      read: (ref: BlobRef) => buffer.readBlob(ref),
      path: (ref: BlobRef) => buffer.blobPath(ref),
    },
  };
}
