/**
 * The delivery thread: the outputs and their forwarders, on a thread of their own, so that ingest
 * (the inputs, classification and the buffer's appends on the main thread) and delivery (reading the
 * buffer, encoding for each sink, the sinks' clients) each have a core instead of sharing one event
 * loop. Started and driven by ./delivery-host.ts; the messages are in ./delivery-protocol.ts.
 *
 * Constraints:
 * - The guarantees are the forwarder's (gateway/forward/forwarder.ts), unchanged: it reads through a
 *   `BufferView` (gateway/forward/buffer-view.ts) on a read connection of this thread's own, and an
 *   ack is posted to the main thread, which moves the durable cursor. Nothing here writes the buffer.
 * - Plugins are created from the registry module the host names (the gateway's own by default), and
 *   started and stopped by the same code as on the main thread (./outputs.ts). Confidential bodies are opened
 *   here with the gateway's key ring, loaded again from the same configuration.
 * - Log lines go to the main thread, which writes them through the gateway's logger. So does a spooled
 *   blob found damaged (`blob-damaged`): the owner accounts it, the sink skips it and goes on.
 * - Starting: as ./outputs.ts starts them; the first failure is reported (`start-failed`) after the
 *   outputs started so far were stopped again.
 * - A configuration applied live (`reconfigure`) stops the outputs it names and starts new ones; the
 *   others run on untouched. A stopped forwarder's records not yet acked are read again by the next
 *   forwarder of that sink, from the cursor (at least once, as after a restart).
 */
import { Writable } from 'node:stream';
import { parentPort, workerData } from 'node:worker_threads';
import { BufferReader } from '../buffer/reader.js';
import { openSealer } from '../crypto/keys.js';
import { SealingBuffer } from '../crypto/sealing-buffer.js';
import { BufferView } from '../forward/buffer-view.js';
import type { OffPremisesRefusal } from '../forward/off-premises.js';
import type { PluginEnvironment } from '../plugin-api/contract.js';
import type { DeliverySetup, FromDelivery, ToDelivery } from './delivery-protocol.js';
import { createLogger } from './log.js';
import { type OutputsContext, type RunningOutput, replaceOutputs, startOutputs, stopOutputs } from './outputs.js';
import type { PluginRegistry } from './registry.js';

/** marks `workerData` of the thread the host starts, so that importing this module elsewhere does nothing */
export const DELIVERY_WORKER = 'layergate-delivery';
/** this module, as the host starts it (the .ts source under tsx, the .js of the built package) */
export const DELIVERY_WORKER_MODULE = import.meta.url;

const data = workerData as (DeliverySetup & { role?: string }) | null;
if (parentPort !== null && data?.role === DELIVERY_WORKER) run(data, parentPort);

function run(setup: DeliverySetup, port: NonNullable<typeof parentPort>): void {
  const post = (m: FromDelivery): void => port.postMessage(m);
  const log = createLogger({
    level: setup.logLevel,
    secrets: setup.logSecrets,
    destination: new Writable({
      write(chunk: Buffer | string, _enc, done) {
        post({ type: 'log', line: chunk.toString() });
        done();
      },
    }),
  }).child({ thread: 'delivery' });
  // a damaged blob is the owner's to account, now rather than at its next check (the sink skips it meanwhile)
  const reader = new BufferReader(setup.bufferDir, { onDamagedBlob: (ref) => post({ type: 'blob-damaged', ref }) });
  // posted once the forwarder has counted the batch (it does so right after its ack, synchronously),
  // so that the main thread's stats never trail the cursor it moves
  const view = new BufferView(reader, setup.sinks, setup.newestSeq, (sink, seq) =>
    queueMicrotask(() => {
      const stats = running.find((o) => o.name === sink)?.forwarder.stats();
      post({ type: 'ack', sink, seq, ...(stats ? { stats } : {}) });
    }),
  );
  const { sealer } = openSealer(setup.encryption, setup.dataDir);
  const buffer = new SealingBuffer(view, sealer);
  const running: RunningOutput[] = [];
  let statsTimer: NodeJS.Timeout | undefined;

  const postStats = (): void => {
    post({ type: 'stats', forwarders: running.map((o) => o.forwarder.stats()) });
  };

  let outputsContext: OutputsContext | undefined;
  const start = async (): Promise<void> => {
    const { registry } = (await import(setup.registryModule)) as { registry: PluginRegistry };
    const env: PluginEnvironment = { dataDir: setup.dataDir, machine: setup.machine, sealer };
    const onOffPremisesRefused = (refusal: OffPremisesRefusal): void => post({ type: 'off-premises-refused', refusal });
    const { dataDir, quarantineMaxBytes, stopTimeoutMs } = setup;
    outputsContext = { registry, env, buffer, log, dataDir, quarantineMaxBytes, stopTimeoutMs, sealer, onOffPremisesRefused };
    await startOutputs(setup.outputs, outputsContext, running);
  };

  /** a configuration applied live (see the protocol): the outputs named go, the new ones start */
  const reconfigure = async (m: Extract<ToDelivery, { type: 'reconfigure' }>): Promise<void> => {
    // the new sinks' cursors, before their forwarders read
    view.update(m.newestSeq, m.sinks);
    try {
      await replaceOutputs(running, m.stop, m.start, outputsContext!);
    } finally {
      postStats();
    }
  };

  const stop = async (): Promise<void> => {
    clearInterval(statsTimer);
    const stopped = [...running];
    await stopOutputs(running, log);
    post({ type: 'stats', forwarders: stopped.map((o) => o.forwarder.stats()) });
    view.close();
  };

  port.on('message', (m: ToDelivery) => {
    switch (m.type) {
      case 'buffer':
        view.update(m.newestSeq, m.sinks);
        break;
      case 'drain':
        for (const o of running) o.forwarder?.drain();
        break;
      case 'stop':
        void stop().then(() => post({ type: 'stopped' }));
        break;
      case 'reconfigure':
        reconfigure(m).then(
          () => post({ type: 'reconfigured', id: m.id }),
          (err: unknown) => post({ type: 'reconfigured', id: m.id, error: (err as Error).message ?? String(err) }),
        );
        break;
    }
  });

  start().then(
    () => {
      statsTimer = setInterval(postStats, STATS_EVERY_MS);
      postStats();
      post({ type: 'started' });
    },
    (err: unknown) => {
      view.close();
      post({ type: 'start-failed', message: (err as Error).message ?? String(err) });
    },
  );
}

/** how often the forwarders' stats are posted to the main thread */
const STATS_EVERY_MS = 250;
