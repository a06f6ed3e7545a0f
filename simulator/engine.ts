/**
 * The running simulator: the network-free core (core.ts) paced by a simulated clock, with the
 * transports on top (MQTT for melt-pool blocks, events and Sparkplug B; OPC-UA for the machine
 * model; drop folder / upload for camera frames) and the control API.
 *
 * Pacing: simulated time = wall time since start x speed. Each tick advances the core to that time
 * (in steps of at most maxStepMs so that a lagging transport catches up in order) and hands the
 * output to the transports. Source timestamps come from the core's schedule, never from when a tick
 * ran, so transport lag never bends the timing a consumer sees.
 */
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pino, type Logger } from 'pino';
import { renderFrame, type CameraFrame } from './camera.js';
import type { SimConfig } from './config.js';
import { startControlApi, type ControlServer } from './control-api.js';
import { SimCore, type FrameRequest, type Step } from './core.js';
import { MessageFaults, type OutMessage, type ParamValues } from './faults.js';
import { decodeSparkplug, encodeBlock, encodeEvent, type BlockFormat } from '../wire/index.js';
import { SparkplugEdgeNode } from './sparkplug.js';
import { startEmbeddedBroker, type EmbeddedBroker } from './transports/broker.js';
import { FrameSink } from './transports/frames.js';
import { MqttTransport } from './transports/mqtt.js';
import { OpcuaMachineServer } from './transports/opcua.js';

export interface MqttSimOptions {
  /** broker URL; ignored when embeddedBroker is set (the embedded broker's URL is used) */
  url: string;
  username?: string;
  password?: string;
  clientId?: string;
  /** topics: <prefix>/meltpool/<format>, <prefix>/events */
  topicPrefix?: string;
  /** melt-pool block formats to publish (each on its own topic); empty = no melt-pool stream */
  formats: BlockFormat[];
  qos?: 0 | 1;
  /** Sparkplug B group id; null = no Sparkplug */
  sparkplugGroup?: string | null;
  /** Sparkplug DDATA rate, simulated Hz (every n-th process sample) */
  sparkplugRateHz?: number;
}

export interface SimulatorOptions {
  cfg: SimConfig;
  /** where the simulator keeps its own files (OPC-UA PKI) */
  dataDir: string;
  log?: Logger;
  tickMs?: number;
  maxStepMs?: number;
  mqtt?: MqttSimOptions | null;
  embeddedBroker?: { port: number; username?: string; password?: string } | null;
  opcua?: { port: number; host?: string; user?: { username: string; password: string } } | null;
  camera?: { dropDir?: string; uploadUrl?: string; uploadToken?: string } | null;
  controlPort?: number | null;
  /** stop advancing at this simulated time, s (default: never) */
  durationS?: number | null;
  faults?: { name: string; params: Record<string, unknown> }[];
  defects?: { name: string; params: Record<string, unknown> }[];
}

export class Simulator {
  readonly core: SimCore;
  readonly log: Logger;
  private mqtt: MqttTransport | null = null;
  private broker: EmbeddedBroker | null = null;
  private opcua: OpcuaMachineServer | null = null;
  private control: ControlServer | null = null;
  private sparkplug: SparkplugEdgeNode | null = null;
  private frameSink: FrameSink | null = null;
  private readonly messageFaults: MessageFaults;
  private stopped = false;
  private loopDone: Promise<void> | null = null;
  private frameQueue: Promise<void> = Promise.resolve();
  private wallStart = 0;
  private sparkplugEvery = 10;
  private lastSample: import('./process.js').ProcessSample | null = null;
  private resolveFinished!: () => void;
  /** resolves when the job has finished or aborted and every frame has been delivered */
  readonly finished: Promise<void>;
  readonly counters = { events: 0, blocks: 0, samples: 0, frames: 0, frameErrors: 0, sparkplugData: 0, rebirths: 0, badCommands: 0 };

  constructor(readonly opts: SimulatorOptions) {
    this.core = new SimCore(opts.cfg);
    this.log = opts.log ?? pino({ name: 'layergate-sim', level: process.env.LOG_LEVEL ?? 'info' });
    this.messageFaults = new MessageFaults(this.core.faults, opts.cfg.seed);
    this.finished = new Promise((r) => (this.resolveFinished = r));
    for (const f of opts.faults ?? []) this.core.faults.set(f.name, true, f.params);
    for (const d of opts.defects ?? []) this.core.defects.set(d.name, true, d.params);
    this.core.faults.onChange((name, on, params) => this.onFault(name, on, params));
  }

  get cfg(): SimConfig {
    return this.opts.cfg;
  }
  get topicPrefix(): string {
    return this.opts.mqtt?.topicPrefix ?? `lpbf/${this.cfg.machineId}`;
  }
  get opcuaEndpoint(): string | null {
    return this.opcua?.endpointUrl ?? null;
  }
  get controlUrl(): string | null {
    return this.control?.url ?? null;
  }
  get mqttUrl(): string | null {
    return this.broker?.url ?? this.opts.mqtt?.url ?? null;
  }

  async start(): Promise<void> {
    const o = this.opts;
    if (o.embeddedBroker) this.broker = await startEmbeddedBroker(o.embeddedBroker, this.log);
    if (o.opcua) {
      this.opcua = new OpcuaMachineServer(
        this.cfg,
        { port: o.opcua.port, host: o.opcua.host, pkiDir: path.join(o.dataDir, 'opcua'), user: o.opcua.user },
        this.log,
      );
      await this.opcua.start();
    }
    if (o.camera && (o.camera.dropDir || o.camera.uploadUrl)) this.frameSink = new FrameSink(o.camera, this.core.faults, this.cfg.seed, this.log);
    if (o.mqtt) {
      const url = this.broker?.url ?? o.mqtt.url;
      this.mqtt = new MqttTransport(
        { url, username: o.mqtt.username, password: o.mqtt.password, clientId: o.mqtt.clientId ?? `layergate-sim-${this.cfg.machineId}` },
        this.log,
      );
      if (o.mqtt.sparkplugGroup) {
        const sp = new SparkplugEdgeNode(this.cfg, o.mqtt.sparkplugGroup, this.cfg.machineId);
        this.sparkplug = sp;
        this.sparkplugEvery = Math.max(1, Math.round(this.cfg.process.rateHz / (o.mqtt.sparkplugRateHz ?? 1)));
        let sessions = 0;
        // a new session, a new bdSeq: the will registered for it carries the same bdSeq as its NBIRTH
        this.mqtt.willFor = () => {
          sp.bdSeq = sessions++;
          return sp.death(this.cfg.startTimeMs + Math.round(this.core.simMs));
        };
        this.mqtt.onConnect = async () => this.publishBirths();
        await this.mqtt.subscribe(sp.topic('NCMD'), (_t, payload) => this.onNodeCommand(payload));
      }
      await this.mqtt.connect();
    }
    if (o.controlPort !== null && o.controlPort !== undefined) this.control = await startControlApi(this, o.controlPort, this.log);
    this.wallStart = performance.now();
    this.loopDone = this.loop();
  }

  private currentSample() {
    return this.lastSample ?? this.core.process.sample(0);
  }

  private async publishBirths(): Promise<void> {
    if (!this.sparkplug || !this.mqtt) return;
    await this.mqtt.publishNow(this.sparkplug.births(this.currentSample()));
  }

  private onNodeCommand(payload: Buffer): void {
    try {
      const p = decodeSparkplug(payload);
      const rebirth = p.metrics.some(
        (m) => (m.name === 'Node Control/Rebirth' || m.alias === this.sparkplug?.aliases.get('Node Control/Rebirth')) && m.booleanValue === true,
      );
      if (rebirth) {
        this.counters.rebirths++;
        this.log.info('Sparkplug rebirth requested');
        void this.publishBirths().catch((err: unknown) => this.log.error({ err }, 'Sparkplug rebirth failed'));
      }
    } catch (err) {
      this.counters.badCommands++;
      this.log.warn(
        { err: (err as Error).message, topic: this.sparkplug?.topic('NCMD'), bytes: payload.length },
        'ignoring an NCMD that is not a Sparkplug B payload',
      );
    }
  }

  private onFault(name: string, on: boolean, params: ParamValues): void {
    if (!on) {
      if (name === 'out-of-order' && this.mqtt) void this.mqtt.publish(this.messageFaults.flush()).catch(() => undefined);
      return;
    }
    if (name === 'opcua-restart' && this.opcua)
      void this.opcua.restart(Number(params.downMs)).catch((err: unknown) => this.log.error({ err }, 'OPC-UA restart failed'));
    if (name === 'mqtt-disconnect' && this.mqtt)
      void this.mqtt.drop(Number(params.downMs)).catch((err: unknown) => this.log.error({ err }, 'MQTT drop failed'));
  }

  private async loop(): Promise<void> {
    const tickMs = this.opts.tickMs ?? 20;
    const maxStep = this.opts.maxStepMs ?? 250;
    const endMs = this.opts.durationS != null ? this.opts.durationS * 1000 : Infinity;
    while (!this.stopped) {
      const wallTarget = (performance.now() - this.wallStart) * this.cfg.timing.speed;
      const target = Math.min(wallTarget, endMs, this.core.simMs + maxStep);
      const step = this.core.advance(target);
      try {
        await this.emit(step);
      } catch (err) {
        if (this.stopped) break;
        this.log.error({ err }, 'publishing a step failed');
      }
      const snap = this.core.snapshot();
      if ((snap.state === 'finished' || snap.state === 'aborted' || this.core.simMs >= endMs) && !this.stopped) {
        await this.frameQueue;
        this.resolveFinished();
        if (this.core.simMs >= endMs || snap.state === 'finished' || snap.state === 'aborted') {
          // keep serving the final state (OPC-UA, control API) until stopped, but stop generating
          while (!this.stopped) await sleep(tickMs * 5);
          break;
        }
      }
      if (target >= wallTarget || target >= endMs) await sleep(tickMs);
    }
  }

  private async emit(step: Step): Promise<void> {
    const o = this.opts;
    const snap = this.core.snapshot(step.simMs);
    for (const s of step.samples) {
      this.lastSample = s;
      this.counters.samples++;
    }
    if (this.opcua) {
      for (const s of step.samples.slice(-10)) this.opcua.update(s, this.core.lifecycle.at(s.simMs));
      if (step.samples.length === 0 && step.events.length > 0 && this.lastSample) this.opcua.update(this.lastSample, snap);
    }
    for (const f of step.frames) this.enqueueFrame(f);
    if (!this.mqtt || !o.mqtt) return;
    const qos = o.mqtt.qos ?? 1;
    const out: OutMessage[] = [];
    for (const e of step.events) out.push({ topic: `${this.topicPrefix}/events`, payload: encodeEvent(e), seq: e.seq, qos: 1 });
    this.counters.events += step.events.length;
    await this.mqtt.publish(out);
    if (o.mqtt.formats.length > 0 && step.blocks.length > 0) {
      const msgs: OutMessage[] = [];
      for (const b of step.blocks)
        for (const f of o.mqtt.formats) msgs.push({ topic: `${this.topicPrefix}/meltpool/${f}`, payload: encodeBlock(b, f), seq: b.seq, qos });
      this.counters.blocks += step.blocks.length;
      await this.mqtt.publish(this.messageFaults.apply(msgs));
    }
    if (this.sparkplug) {
      const data: OutMessage[] = [];
      for (const s of step.samples) if (s.k % this.sparkplugEvery === 0) data.push(this.sparkplug.data(s));
      this.counters.sparkplugData += data.length;
      await this.mqtt.publish(data);
    }
  }

  private enqueueFrame(req: FrameRequest): void {
    if (!this.frameSink) return;
    const sink = this.frameSink;
    const defects = this.core.defects.snapshot();
    this.frameQueue = this.frameQueue.then(async () => {
      try {
        const frame: CameraFrame = await renderFrame(this.cfg, this.core.parts, req.layer, req.kind, defects, req.timestampMs);
        await sink.deliver(frame);
        this.counters.frames++;
      } catch (err) {
        this.counters.frameErrors++;
        this.log.error({ err, layer: req.layer, kind: req.kind }, 'camera frame failed');
      }
    });
  }

  /** Wait until the simulated clock reaches simMs (sim offset) and its output has been handed to the transports. */
  async waitForSimTime(simMs: number, pollMs = 10): Promise<void> {
    while (this.core.simMs < simMs && !this.stopped) await sleep(pollMs);
  }

  setCondition(kind: 'fault' | 'defect', name: string, on: boolean, params: Record<string, unknown>) {
    const board = kind === 'fault' ? this.core.faults : this.core.defects;
    const r = board.set(name, on, params);
    this.log.info({ kind, name, on, params: r.params }, `${kind} switched`);
    return r;
  }

  conditionList(kind: 'fault' | 'defect') {
    const board = kind === 'fault' ? this.core.faults : this.core.defects;
    return board.list().map((c) => ({
      ...c,
      description: board.specs[c.name]?.description,
      oneShot: board.specs[c.name]?.oneShot ?? false,
      parameters: board.specs[c.name]?.params,
    }));
  }

  jobControl(action: 'pause' | 'resume' | 'abort'): boolean {
    const t = this.core.simMs;
    const lc = this.core.lifecycle;
    const ok = action === 'pause' ? lc.pause(t) : action === 'resume' ? lc.resume(t) : lc.abort(t);
    if (ok) this.log.info({ action, simMs: t }, 'job control');
    return ok;
  }

  state() {
    const snap = this.core.snapshot();
    return {
      machineId: this.cfg.machineId,
      seed: this.cfg.seed,
      simMs: this.core.simMs,
      simTime: new Date(this.cfg.startTimeMs + Math.round(this.core.simMs)).toISOString(),
      speed: this.cfg.timing.speed,
      state: snap.state,
      jobState: snap.jobState,
      layer: snap.layer,
      job: this.cfg.job,
      meltPoolSeq: this.core.meltPool.seq,
      faults: this.core.faults.list().filter((f) => f.on),
      defects: this.core.defects.list().filter((d) => d.on),
      counters: {
        ...this.counters,
        blocksDroppedByDropout: this.core.meltPool.blocksDropped,
        mqttPublished: this.mqtt?.published ?? 0,
        mqttDisconnects: this.mqtt?.disconnects ?? 0,
        opcuaRestarts: this.opcua?.restarts ?? 0,
        framesWritten: this.frameSink?.written ?? 0,
        framesUploaded: this.frameSink?.uploaded ?? 0,
      },
      endpoints: { opcua: this.opcuaEndpoint, mqtt: this.mqttUrl, control: this.controlUrl },
    };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    // a publish waiting on a dropped connection would hold the loop: release it first
    if (this.mqtt && !this.mqtt.connected) await this.mqtt.close();
    await this.loopDone;
    await this.frameQueue;
    if (this.mqtt) {
      try {
        const held = this.messageFaults.flush();
        if (held.length && this.mqtt.connected) await this.mqtt.publish(held);
        // Sparkplug: a clean shutdown announces its own death (the will only fires on an unclean drop)
        if (this.sparkplug && this.mqtt.connected) await this.mqtt.publishNow([this.sparkplug.death(this.cfg.startTimeMs + Math.round(this.core.simMs))]);
      } catch {
        // shutting down: a held message that cannot go out is dropped
      }
      await this.mqtt.close();
    }
    await this.control?.close();
    await this.opcua?.stop();
    await this.broker?.close();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
