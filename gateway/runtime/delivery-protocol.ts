/**
 * The messages between the gateway's main thread (the buffer's owner, ./delivery-host.ts) and its
 * delivery thread (./delivery-worker.ts). Plain data only: they cross a worker boundary by
 * structured clone.
 */
import type { EncryptionConfig } from '../crypto/schema.js';
import type { SinkPosition } from '../forward/buffer-view.js';
import type { ForwarderStats } from '../forward/forwarder.js';
import type { OffPremisesRefusal } from '../forward/off-premises.js';
import type { BlobRef } from '../plugin-api/record.js';
import type { OutputToRun } from './outputs.js';

/** One output as the delivery thread creates it: its plugin settings and its forwarder's. */
export type DeliveryOutput = OutputToRun;

/** `workerData` of the delivery thread. */
export interface DeliverySetup {
  /** the buffer's folder: the thread opens its own read connection there */
  bufferDir: string;
  dataDir: string;
  machine: string;
  quarantineMaxBytes: number;
  stopTimeoutMs: number;
  encryption: EncryptionConfig;
  /** the gateway's log level and the secret values every line is scrubbed of */
  logLevel: string;
  logSecrets: string[];
  /** URL of the module whose `registry` export the thread creates the outputs from */
  registryModule: string;
  outputs: DeliveryOutput[];
  /** every sink's cursor and lag when the thread starts */
  sinks: SinkPosition[];
  newestSeq: number;
}

/** main thread -> delivery thread */
export type ToDelivery =
  /** the buffer moved on: its newest seq and the sinks' lags (after appends, acks and evictions) */
  | { type: 'buffer'; newestSeq: number; sinks: SinkPosition[] }
  /** shutdown: send partial batches at once */
  | { type: 'drain' }
  /**
   * a configuration applied live: stop the outputs named in `stop` (forwarder, then plugin), then
   * start `start` (the buffer's positions include their sinks); answered by `reconfigured` with `id`
   */
  | { type: 'reconfigure'; id: number; stop: string[]; start: DeliveryOutput[]; newestSeq: number; sinks: SinkPosition[] }
  /** stop the forwarders, then the outputs, and answer `stopped` */
  | { type: 'stop' };

/** delivery thread -> main thread */
export type FromDelivery =
  | { type: 'started' }
  | { type: 'start-failed'; message: string }
  /** the sink acked every record up to `seq`: the owner moves its cursor */
  | { type: 'ack'; sink: string; seq: number; stats?: ForwarderStats }
  | { type: 'stats'; forwarders: ForwarderStats[] }
  | { type: 'off-premises-refused'; refusal: OffPremisesRefusal }
  /**
   * a spooled blob the thread read is damaged (its bytes do not hash to its name): the owner checks it
   * again, writes its records to the loss ledger ('blob-corrupt') and moves the file to quarantine
   */
  | { type: 'blob-damaged'; ref: BlobRef }
  /** one pino line of the thread's logger, relayed to the gateway's */
  | { type: 'log'; line: string }
  | { type: 'stopped' }
  /** a `reconfigure` done; `error`: an output of `start` could not start (those started were stopped again) */
  | { type: 'reconfigured'; id: number; error?: string };
