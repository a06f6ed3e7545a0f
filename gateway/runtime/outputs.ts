/**
 * Outputs and their forwarders, created, started and stopped in one place whichever thread runs them:
 * the main thread (./gateway.ts, `gateway.deliveryThread: false`) or the delivery thread
 * (./delivery-worker.ts).
 *
 * - Start: in config order, each output's plugin is created from its registry definition and started
 *   with its context (gateway/forward/output-context.ts), then its forwarder is started. The first
 *   failure stops what was started and rejects with a PluginStartError naming the output.
 * - Replace (a configuration applied live): the named outputs stop, the new ones start; the others
 *   run on untouched.
 * - Stop: every forwarder (each gives up on a send after its stop timeout), then every plugin. A
 *   failure is logged and the rest still stop.
 */
import type { Logger } from 'pino';
import type { RecordBuffer } from '../buffer/types.js';
import type { Sealer } from '../crypto/sealer.js';
import { Forwarder } from '../forward/forwarder.js';
import type { OffPremisesRefusal } from '../forward/off-premises.js';
import { outputContext } from '../forward/output-context.js';
import type { OutputPlugin, PluginEnvironment } from '../plugin-api/contract.js';
import { wrapStart, wrapStartAsync } from './plugin-start.js';
import { type PluginRegistry, loadDefinition } from './registry.js';

/** An output's forwarder settings (from its config entry and its capabilities). */
export interface ForwarderSettings {
  linger?: number;
  batchSize?: number;
  batchBytes?: number;
  sendTimeoutMs?: number | null;
}

/** One output to run: its plugin settings (the config entry without the envelope keys) and its forwarder's. */
export interface OutputToRun extends ForwarderSettings {
  name: string;
  type: string;
  settings: unknown;
  premises: 'on' | 'off';
}

/** What the outputs share: where plugins come from, what they get, and the forwarders' common options. */
export interface OutputsContext {
  registry: PluginRegistry;
  env: PluginEnvironment;
  buffer: RecordBuffer;
  log: Logger;
  dataDir: string;
  quarantineMaxBytes: number;
  stopTimeoutMs: number;
  sealer?: Sealer;
  onOffPremisesRefused: (refusal: OffPremisesRefusal) => void;
}

export interface RunningOutput {
  name: string;
  plugin: OutputPlugin;
  forwarder: Forwarder;
}

/**
 * Start `outputs` (see the header), each added to `running` as soon as its forwarder runs. On a failure
 * the ones started are stopped and removed from `running` again before the PluginStartError is thrown.
 */
export async function startOutputs(outputs: readonly OutputToRun[], ctx: OutputsContext, running: RunningOutput[]): Promise<void> {
  try {
    for (const o of outputs) {
      const lazy = ctx.registry.outputs.get(o.type);
      if (!lazy) throw new Error(`output ${o.name}: no output plugin "${o.type}" is registered`);
      const def = await loadDefinition(lazy);
      const plugin = wrapStart(`output ${o.name} (${o.type})`, () => def.create(o.settings, ctx.env));
      await wrapStartAsync(`output ${o.name}`, () => plugin.start(outputContext(o.name, ctx.buffer, ctx.log)));
      const forwarder = new Forwarder({
        buffer: ctx.buffer,
        output: plugin,
        name: o.name,
        log: ctx.log,
        dataDir: ctx.dataDir,
        quarantineMaxBytes: ctx.quarantineMaxBytes,
        premises: o.premises,
        onOffPremisesRefused: ctx.onOffPremisesRefused,
        ...(ctx.sealer ? { sealer: ctx.sealer } : {}),
        stopTimeoutMs: ctx.stopTimeoutMs,
        ...(o.linger !== undefined ? { linger: o.linger } : {}),
        ...(o.batchSize !== undefined ? { batchSize: o.batchSize } : {}),
        ...(o.batchBytes !== undefined ? { batchBytes: o.batchBytes } : {}),
        ...(o.sendTimeoutMs !== undefined ? { sendTimeoutMs: o.sendTimeoutMs } : {}),
      });
      running.push({ name: o.name, plugin, forwarder });
      forwarder.start();
    }
  } catch (err) {
    await stopOutputs(running, ctx.log);
    throw err;
  }
}

/**
 * A configuration applied live: the outputs of `running` named in `stop` are stopped and leave it,
 * then `start` are started into it. When one of `start` cannot start, those of `start` started so
 * far are stopped again and the PluginStartError is thrown; the others in `running` run on.
 */
export async function replaceOutputs(running: RunningOutput[], stop: readonly string[], start: readonly OutputToRun[], ctx: OutputsContext): Promise<void> {
  const leaving = running.filter((o) => stop.includes(o.name));
  const staying = running.filter((o) => !stop.includes(o.name));
  await stopOutputs(leaving, ctx.log);
  running.splice(0, running.length, ...staying);
  const started: RunningOutput[] = [];
  try {
    await startOutputs(start, ctx, started);
  } finally {
    running.push(...started);
  }
}

/** Stop every forwarder, then every plugin (see the header); `running` is empty afterwards. */
export async function stopOutputs(running: RunningOutput[], log: Logger): Promise<void> {
  await Promise.all(running.map((o) => o.forwarder.stop().catch((err: unknown) => log.error({ err, sink: o.name }, 'forwarder stop failed'))));
  await Promise.all(running.map((o) => o.plugin.stop().catch((err: unknown) => log.error({ err, sink: o.name }, 'output stop failed'))));
  running.length = 0;
}
