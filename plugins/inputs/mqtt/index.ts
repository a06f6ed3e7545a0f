/**
 * The `mqtt` input (MQTT.js v5 client, MQTT 5 or 3.1.1): topic filters mapped to signals through a
 * decoder each (melt-pool blocks, JSON with a field mapping, machine events, Sparkplug B).
 *
 * Design constraints:
 * - The buffer commit is the acknowledgement. A QoS 1 PUBACK (QoS 2: PUBREC) leaves only after the
 *   message's records are committed (`ctx.emit` resolved). Together with a persistent session (clean
 *   start off, session expiry, fixed client id) a crash or kill loses nothing: the broker redelivers
 *   every unacknowledged message to the next session.
 * - How the ack is held back: MQTT.js handles one packet at a time and reads the next only after the
 *   previous ack was written, so holding the ack inside `customHandleAcks`/`handleMessage` would
 *   allow one message in flight and one SQLite transaction per message. Instead the client's packet
 *   writer is wrapped: a PUBACK/PUBREC whose message is waiting for its commit is parked (the parser
 *   is told to go on) and written when the commit resolves. Messages therefore batch into one emit
 *   (up to `maxBatch`; what arrives while a commit is under way goes in the next), and acks still leave
 *   in the order the messages came, after their own commit. The broker's in-flight window
 *   (`receiveMaximum` in MQTT 5) bounds how many unacked messages can pile up.
 *   (Wrapping `_sendPacket` relies on an MQTT.js internal, pinned by the version in package-lock;
 *   the test "acks only after the commit" fails if an upgrade breaks it.)
 * - Bad input (undecodable, NaN/wrong type, unknown topic, oversized) is quarantined with its topic
 *   and reason, counted per reason, and then acknowledged: the raw bytes are kept in the quarantine
 *   folder, and redelivering a message that can never decode would only block the session.
 * - An emit that fails (the gateway is stopping) leaves its messages unacknowledged: the broker
 *   redelivers them to the next session.
 * - Reconnects back off exponentially from `reconnect.initial` to `reconnect.max` (`exponentialDelay`).
 * - Group commit through the plugin API's `BatchingEmitter`: a message's promise resolves after the
 *   commit of its batch (true) or its failure (false), which decides whether its ack is written.
 * - Sparkplug 3.0 Primary Host Application (`sparkplug.primaryHostId`): edge nodes that name this host
 *   publish only while its STATE says online and store and forward otherwise, so the STATE must say
 *   online exactly while records can be taken. Every CONNECT carries the offline STATE as its will
 *   (retained, QoS 1) stamped with the time of that CONNECT; the online STATE with the same stamp
 *   follows the SUBACK of all subscriptions (the host's own STATE topic among them); a clean stop
 *   publishes the offline STATE before DISCONNECT (which discards the will). An offline STATE for this
 *   host delivered while it is online (an old connection's will arriving late) is answered with the
 *   online STATE again. The spec also requires a clean session of a Primary Host (the schema enforces it).
 */
import mqtt from 'mqtt';
import type { IClientOptions, IPublishPacket, MqttClient } from 'mqtt';
import { BatchingEmitter, MqttPayloadError, exponentialDelay, tlsConnectionOptions } from '../../../gateway/plugin-api/index.js';
import type { InputContext, InputDefinition, InputPlugin, PluginEnvironment, RecordDraft } from '../../../gateway/plugin-api/index.js';
import { NAMESPACE as SPARKPLUG_NAMESPACE, encodeSparkplug, topicMatches } from '../../../wire/index.js';
import { DecodeError, SparkplugState, decodeBlockMessage, decodeEvent, decodeJsonSamples, decodeJsonScalar, renderSignal } from './decoders.js';
import type { MqttInputConfig, SubscriptionConfig } from './schema.js';
import { definition as lazyDefinition } from './definition.js';

export const TYPE = 'mqtt';

export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'offline' | 'stopped';

export interface MqttInputStats {
  connection: ConnectionState;
  connects: number;
  reconnects: number;
  messages: number;
  records: number;
  batches: number;
  /** quarantined messages per reason (malformed, nan, wrong-type, unknown-topic, oversized, ...) */
  quarantined: Record<string, number>;
  failedEmits: number;
  rebirthRequests: number;
  sparkplugStaleMetrics: number;
  /** Sparkplug messages whose seq did not follow their node's previous one (logged at warn) */
  sparkplugSeqGaps: number;
  /** messages those seq jumps skipped */
  sparkplugLostMessages: number;
  /** NDEATHs ignored: their bdSeq was not the current birth's (the will of an older session) */
  sparkplugStaleDeaths: number;
  /** Primary Host: online STATEs published again after an offline STATE for this host was delivered while online */
  sparkplugStateRepublished: number;
  lastError?: string;
}

/** what a message that yields no records (quarantined, a job marking) is queued with; never modified */
const NO_DRAFTS: readonly RecordDraft[] = [];

/** A topic's subscription and the signal its records get (Sparkplug and job markings name theirs per message). */
interface TopicRoute {
  sub: SubscriptionConfig;
  signal: string;
}

/** Most topics whose subscription and signal are remembered (subscriptionOf). */
const TOPIC_MEMORY_MAX = 10_000;

function signalFor(sub: SubscriptionConfig, topic: string): string {
  switch (sub.decoder) {
    case 'binary-block':
    case 'protobuf-block':
    case 'json-block':
      return renderSignal(sub.signal, topic, {}, 'meltpool');
    case 'event':
      return renderSignal(sub.signal, topic, {}, 'machine.events');
    case 'json':
      return renderSignal(sub.signal, topic);
    default:
      return '';
  }
}

const noLog = (): void => undefined;

/** what every message is acked with that needs no commit (a Sparkplug host STATE) */
const ACK_NOW = Promise.resolve(true);

/** Sparkplug 3.0 host application STATE topics: spBv1.0/STATE/<host id> */
const HOST_STATE_PREFIX = `${SPARKPLUG_NAMESPACE}/STATE/`;

/** A Sparkplug 3.0 host application STATE payload (JSON, not a Sparkplug protobuf). */
function hostState(online: boolean, timestamp: number): Buffer {
  return Buffer.from(JSON.stringify({ online, timestamp }));
}

type PacketWriter = (packet: { cmd: string; messageId?: number }, cb?: (err?: Error) => void, ...rest: unknown[]) => void;

export class MqttInput implements InputPlugin {
  readonly type = TYPE;
  private client: MqttClient | undefined;
  private ctx: InputContext | undefined;
  /** group commit of the messages' records (see the module header); its counters span restarts */
  private readonly batcher: BatchingEmitter;
  private stopping = false;
  /** commit promises of QoS 1/2 messages whose ack is parked, by packet id */
  private readonly ackGates = new Map<number, Promise<boolean>>();
  /** bumped per connection: an ack parked on a connection that closed is not sent on the next one */
  private generation = 0;
  /** connections closed since the last connect: the exponent of the reconnect delay */
  private closesInARow = 0;
  private readonly sparkplug = new SparkplugState();
  /** per topic: its subscription and signal, or null when none matches (see subscriptionOf) */
  private readonly topicRoutes = new Map<string, TopicRoute | null>();
  private readonly lastRebirth = new Map<string, number>();
  private subscribed: Promise<void> | undefined;
  private resolveSubscribed: (() => void) | undefined;
  /** Primary Host: `spBv1.0/STATE/<primaryHostId>`, undefined when no primary host id is configured */
  private readonly hostStateTopic: string | undefined;
  /** Primary Host: the timestamp of the current (or next) connection's STATE: its will's and its online STATE's */
  private hostStateTimestamp = 0;
  /** Primary Host: the online STATE of the current connection was published (cleared when it closes and on stop) */
  private hostOnline = false;
  private readonly counters: MqttInputStats = {
    // records, batches and failedEmits are the batcher's (see stats())
    connection: 'offline',
    connects: 0,
    reconnects: 0,
    messages: 0,
    records: 0,
    batches: 0,
    quarantined: {},
    failedEmits: 0,
    rebirthRequests: 0,
    sparkplugStaleMetrics: 0,
    sparkplugSeqGaps: 0,
    sparkplugLostMessages: 0,
    sparkplugStaleDeaths: 0,
    sparkplugStateRepublished: 0,
  };

  constructor(
    private readonly config: MqttInputConfig,
    private readonly env: PluginEnvironment,
  ) {
    const hostId = config.sparkplug.primaryHostId;
    this.hostStateTopic = hostId === undefined ? undefined : `${HOST_STATE_PREFIX}${hostId}`;
    this.batcher = new BatchingEmitter({
      emit: (drafts) => this.ctx!.emit(drafts),
      maxBatch: config.maxBatch,
      onFailed: (err, _records, messages) => {
        this.counters.lastError = (err as Error).message;
        this.ctx!.log.error({ err, messages }, 'mqtt: records not stored; their messages stay unacknowledged for redelivery');
      },
    });
  }

  stats(): MqttInputStats {
    const sp = this.sparkplug;
    const b = this.batcher;
    return {
      ...this.counters,
      records: b.committedRecords,
      batches: b.committedBatches,
      failedEmits: b.failedBatches,
      quarantined: { ...this.counters.quarantined },
      sparkplugStaleMetrics: sp.staleMetrics,
      sparkplugSeqGaps: sp.seqGaps,
      sparkplugLostMessages: sp.lostMessages,
      sparkplugStaleDeaths: sp.staleDeaths,
    };
  }

  /** The MQTT.js client while started (diagnostics and tests: packet events). */
  get mqttClient(): MqttClient | undefined {
    return this.client;
  }

  /** Resolves once the first subscription was acknowledged by the broker (Primary Host: and its online STATE). */
  ready(): Promise<void> {
    return this.subscribed ?? Promise.reject(new Error('the mqtt input is not started'));
  }

  clientId(ctxName: string): string {
    return this.config.clientId ?? `layergate-${this.env.machine}-${ctxName}`;
  }

  async start(ctx: InputContext): Promise<void> {
    this.ctx = ctx;
    this.stopping = false;
    const c = this.config;
    const tls = tlsConnectionOptions(c.tls, `inputs.${ctx.name}.tls`);
    // a Primary Host starts clean (Sparkplug 3.0); the schema refuses an explicit cleanSession: false with it
    const cleanSession = c.cleanSession ?? this.hostStateTopic !== undefined;
    const opts: IClientOptions = {
      clientId: this.clientId(ctx.name),
      protocolVersion: c.protocolVersion,
      clean: cleanSession,
      keepalive: Math.max(1, Math.round(c.keepalive / 1000)),
      reconnectPeriod: c.reconnect.initial,
      connectTimeout: 10_000,
      resubscribe: false,
      // a refused login (wrong password, not authorized) is retried with backoff like a lost connection
      reconnectOnConnackError: true,
      ...(c.username ? { username: c.username } : {}),
      ...(c.password ? { password: c.password } : {}),
      ...tls,
      ...(c.protocolVersion === 5
        ? {
            properties: {
              sessionExpiryInterval: cleanSession ? 0 : Math.round(c.sessionExpiry / 1000),
              receiveMaximum: c.receiveMaximum,
              maximumPacketSize: Math.min(268_435_455, Math.max(c.maxMessageBytes + 65_536, 1 << 20)),
            },
          }
        : {}),
      customHandleAcks: (topic, message, packet, done) => {
        const gate = this.onMessage(topic, message, packet);
        if (packet.messageId !== undefined) this.ackGates.set(packet.messageId, gate);
        done(0);
      },
      manualConnect: true,
      // MQTT.js logs through `debug` about ten times per message; even switched off, those calls were
      // a twentieth of the input's CPU. Its log stays available with DEBUG=mqttjs*.
      ...(/mqttjs/.test(process.env.DEBUG ?? '') ? {} : { log: noLog }),
    };
    this.subscribed = new Promise((r) => (this.resolveSubscribed = r));
    const client = mqtt.connect(c.url, opts);
    this.client = client;
    this.armHostWill(client);
    this.wrapAckWriter(client);
    if (c.protocolVersion === 4) {
      // MQTT.js honours customHandleAcks only under MQTT 5; under 3.1.1 a QoS 1 message reaches
      // handleMessage right before its PUBACK is written, which parks it the same way
      client.handleMessage = (packet, callback) => {
        if (packet.cmd === 'publish' && packet.qos === 1 && packet.messageId !== undefined) {
          this.ackGates.set(packet.messageId, this.onMessage(packet.topic, packet.payload as Buffer, packet));
        }
        callback();
      };
    }
    this.counters.connection = 'connecting';

    client.on('message', (topic, payload, packet) => {
      // QoS 1/2 went through customHandleAcks already
      if (packet.qos === 0) void this.onMessage(topic, payload, packet);
    });
    client.on('connect', (connack) => {
      this.generation++;
      this.counters.connects++;
      this.counters.connection = 'connected';
      this.closesInARow = 0;
      client.options.reconnectPeriod = this.reconnectDelay();
      ctx.log.info({ url: c.url, clientId: opts.clientId, sessionPresent: connack.sessionPresent }, 'mqtt: connected');
      const topics = Object.fromEntries(
        // under 3.1.1 MQTT.js writes a QoS 2 PUBREC before the application sees the message, so the
        // ack could not wait for the commit: such subscriptions run at QoS 1 (at least once) instead
        c.subscriptions.map((s) => [s.topic, { qos: (c.protocolVersion === 4 ? Math.min(s.qos, 1) : s.qos) as 0 | 1 | 2 }]),
      );
      // a Primary Host hears its own STATE (an offline one delivered while it is online must be answered);
      // not twice when a subscription covers it already (spBv1.0/#)
      const stateTopic = this.hostStateTopic;
      if (stateTopic && !c.subscriptions.some((s) => topicMatches(s.topic, stateTopic))) topics[stateTopic] = { qos: 1 };
      // subscribe on every connect: cheap, and right also when the broker lost the session
      client.subscribe(topics, (err, granted) => {
        if (err) {
          this.counters.lastError = err.message;
          ctx.log.error({ err }, 'mqtt: subscribe failed');
          return;
        }
        const refused = (granted ?? []).filter((g) => g.qos === 128);
        if (refused.length) ctx.log.error({ topics: refused.map((g) => g.topic) }, 'mqtt: the broker refused these subscriptions');
        ctx.log.info({ topics: Object.keys(topics) }, 'mqtt: subscribed');
        if (this.hostStateTopic) this.publishHostOnline(client, 'mqtt: Sparkplug Primary Host STATE online', () => this.resolveSubscribed?.());
        else this.resolveSubscribed?.();
      });
    });
    client.on('reconnect', () => {
      this.counters.reconnects++;
      this.counters.connection = 'reconnecting';
      // MQTT.js sends the next CONNECT right after this event: its will gets this attempt's time
      this.armHostWill(client);
    });
    client.on('close', () => {
      this.hostOnline = false;
      if (this.counters.connection === 'stopped') return;
      this.counters.connection = 'offline';
      this.generation++;
      this.ackGates.clear();
      this.closesInARow++;
      client.options.reconnectPeriod = this.reconnectDelay();
      ctx.log.warn({ url: c.url, retryInMs: client.options.reconnectPeriod }, 'mqtt: connection closed; reconnecting');
    });
    client.on('error', (err) => {
      this.counters.lastError = err.message;
      ctx.log.error({ err, url: c.url }, 'mqtt: client error');
    });
    client.connect();
  }

  async stop(): Promise<void> {
    const client = this.client;
    // first the offline STATE, while messages are still taken: edge nodes that see it store instead of sending
    if (client && this.hostStateTopic && client.connected) await this.publishHostOffline(client);
    // from here on messages are left unacknowledged: the broker redelivers them to the next session
    this.stopping = true;
    await this.batcher.drain();
    // parked acks are written in the commit's continuation; let them reach the socket
    await new Promise((r) => setImmediate(r));
    this.counters.connection = 'stopped';
    if (client) await client.endAsync(false).catch(() => client.end(true));
    this.client = undefined;
  }

  /**
   * Primary Host: stamp the next CONNECT's will, the offline STATE, with the time it is sent; the online
   * STATE of that connection repeats the stamp (Sparkplug 3.0), so an edge node can tell an old
   * connection's late will (an older stamp) from this one's.
   */
  private armHostWill(client: MqttClient): void {
    if (!this.hostStateTopic) return;
    this.hostStateTimestamp = Date.now();
    client.options.will = { topic: this.hostStateTopic, payload: hostState(false, this.hostStateTimestamp), qos: 1, retain: true };
  }

  /** Publish this connection's online STATE (retained, QoS 1); `then` runs once the broker has it. */
  private publishHostOnline(client: MqttClient, message: string, then?: () => void): void {
    const topic = this.hostStateTopic!;
    const timestamp = this.hostStateTimestamp;
    this.hostOnline = true;
    client.publish(topic, hostState(true, timestamp), { qos: 1, retain: true }, (err) => {
      if (err) {
        this.counters.lastError = err.message;
        this.ctx!.log.error({ err, topic }, 'mqtt: publishing the Sparkplug Primary Host STATE failed');
        return;
      }
      this.ctx!.log.info({ topic, timestamp }, message);
      then?.();
    });
  }

  /**
   * Clean stop of a Primary Host: the offline STATE (retained, QoS 1) before DISCONNECT, which makes the
   * broker drop the will; stamped with the time of the stop (Sparkplug 3.0). Bounded by the keepalive:
   * a broker that does not answer in that time sees the connection die and sends the will.
   */
  private async publishHostOffline(client: MqttClient): Promise<void> {
    const topic = this.hostStateTopic!;
    this.hostOnline = false;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no PUBACK within the keepalive of ${this.config.keepalive} ms`)), this.config.keepalive);
    });
    try {
      await Promise.race([client.publishAsync(topic, hostState(false, Date.now()), { qos: 1, retain: true }), timeout]);
      this.ctx?.log.info({ topic }, 'mqtt: Sparkplug Primary Host STATE offline');
    } catch (err) {
      this.ctx?.log.warn({ err, topic }, 'mqtt: the offline Sparkplug Primary Host STATE was not confirmed; the will says it when the connection ends');
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * A STATE on this host's own topic. An offline one delivered live while this connection's online STATE
   * stands (an older connection's will the broker sent late, or another client) is answered with the
   * online STATE again (Sparkplug 3.0). A retained copy, delivered on subscribing, is the state before
   * this connection's online STATE and needs no answer.
   */
  private onHostState(payload: Buffer, packet: IPublishPacket): void {
    if (!this.hostOnline || this.stopping || packet.retain || payload.length === 0) return;
    let online: unknown;
    try {
      online = (JSON.parse(payload.toString('utf8')) as { online?: unknown }).online;
    } catch {
      this.ctx!.log.warn({ topic: this.hostStateTopic }, 'mqtt: a STATE on the Primary Host topic is not JSON; ignored');
      return;
    }
    if (online !== false || !this.client) return;
    this.counters.sparkplugStateRepublished++;
    this.publishHostOnline(this.client, 'mqtt: an offline STATE for this Primary Host was delivered while online; STATE online again');
  }

  /** The reconnect delay after `closesInARow` closes: reconnect.initial doubling up to reconnect.max. */
  private reconnectDelay(): number {
    return exponentialDelay(this.closesInARow, { initialMs: this.config.reconnect.initial, maxMs: this.config.reconnect.max });
  }

  /**
   * Park the PUBACK/PUBREC of a message until its commit (see the module header). The parser's
   * callback runs at once so reading goes on.
   */
  private wrapAckWriter(client: MqttClient): void {
    const c = client as unknown as { _sendPacket: PacketWriter };
    const write = c._sendPacket.bind(client) as PacketWriter;
    c._sendPacket = (packet, cb, ...rest) => {
      if ((packet.cmd === 'puback' || packet.cmd === 'pubrec') && packet.messageId !== undefined) {
        const gate = this.ackGates.get(packet.messageId);
        if (gate !== undefined) {
          this.ackGates.delete(packet.messageId);
          const generation = this.generation;
          cb?.();
          void gate.then((committed) => {
            if (committed && generation === this.generation && client.connected) write(packet, undefined, ...rest);
          });
          return;
        }
      }
      write(packet, cb, ...rest);
    };
  }

  /** Decode and queue one message; resolves true when it may be acknowledged (committed or quarantined). */
  private onMessage(topic: string, payload: Buffer, packet: IPublishPacket): Promise<boolean> {
    if (topic === this.hostStateTopic) {
      this.onHostState(payload, packet);
      return ACK_NOW;
    }
    if (this.stopping) return Promise.resolve(false);
    this.counters.messages++;
    const drafts = this.decode(topic, payload);
    return this.batcher.enqueue(drafts ?? NO_DRAFTS);
  }

  private decode(topic: string, payload: Buffer): RecordDraft[] | undefined {
    const ctx = this.ctx!;
    if (payload.length > this.config.maxMessageBytes) {
      this.quarantine(
        topic,
        'oversized',
        `message of ${payload.length} bytes exceeds maxMessageBytes ${this.config.maxMessageBytes}`,
        payload.subarray(0, 4096),
      );
      return undefined;
    }
    const route = this.subscriptionOf(topic);
    if (!route) {
      this.quarantine(topic, 'unknown-topic', 'no subscription of this input matches the topic', payload);
      return undefined;
    }
    try {
      return this.decodeWith(route, topic, payload);
    } catch (err) {
      if (err instanceof DecodeError) this.quarantine(topic, err.reason, err.message, payload);
      else {
        ctx.log.error({ err, topic }, 'mqtt: decoder failed unexpectedly');
        this.quarantine(topic, 'decoder-error', (err as Error).message, payload);
      }
      return undefined;
    }
  }

  /**
   * The first subscription whose filter matches `topic`, and the signal its template names for the
   * topic, remembered per topic: a plant's topics repeat, and matching every filter and rendering the
   * template per message cost more than decoding a small JSON value. Bounded: the memory is cleared
   * when it holds TOPIC_MEMORY_MAX topics.
   */
  private subscriptionOf(topic: string): TopicRoute | undefined {
    let route = this.topicRoutes.get(topic);
    if (route === undefined) {
      const sub = this.config.subscriptions.find((s) => topicMatches(s.topic, topic));
      route = sub ? { sub, signal: signalFor(sub, topic) } : null;
      if (this.topicRoutes.size >= TOPIC_MEMORY_MAX) this.topicRoutes.clear();
      this.topicRoutes.set(topic, route);
    }
    return route ?? undefined;
  }

  private decodeWith({ sub, signal }: TopicRoute, topic: string, payload: Buffer): RecordDraft[] {
    switch (sub.decoder) {
      case 'binary-block':
      case 'protobuf-block':
      case 'json-block':
        return [decodeBlockMessage(sub.decoder, payload, signal, sub.class)];
      case 'json':
        return [(sub.json.shape === 'samples' ? decodeJsonSamples : decodeJsonScalar)(payload, sub.json, signal, sub.class)];
      case 'event':
        return [decodeEvent(payload, signal, sub.class)];
      case 'job-class':
        // the job marking (classification floor for every record of the job); not a record itself
        this.ctx!.setMachineContext(jobMarking(payload));
        return [];
      case 'sparkplug': {
        // another host application's STATE (spBv1.0/# covers them): its online state, no data
        if (topic.startsWith(HOST_STATE_PREFIX)) return [];
        const r = this.sparkplug.decode(topic, payload, sub.signal, sub.class);
        if (r.seqGap) this.ctx!.log.warn({ topic, ...r.seqGap }, 'mqtt: Sparkplug seq gap: messages of this edge node were lost, duplicated or reordered');
        if (r.staleDeath)
          this.ctx!.log.warn({ topic, ...r.staleDeath }, "mqtt: Sparkplug NDEATH of an older session (bdSeq is not the current birth's): ignored");
        if (r.rebirth) this.requestRebirth(r.rebirth.group, r.rebirth.node, topic, payload);
        // a metric that cannot be read is quarantined with its message; the message's other metrics are stored
        for (const bad of r.badMetrics ?? []) this.quarantine(topic, bad.reason, bad.message, payload);
        return r.drafts;
      }
    }
  }

  /** NCMD "Node Control/Rebirth" = true, at most once per node per `rebirthInterval`. */
  private requestRebirth(group: string, node: string, topic: string, payload: Buffer): void {
    const key = `${group}/${node}`;
    const now = Date.now();
    const last = this.lastRebirth.get(key);
    this.counters.quarantined['unknown-alias'] = (this.counters.quarantined['unknown-alias'] ?? 0) + 1;
    this.ctx!.quarantine(
      topic,
      new MqttPayloadError(`unknown-alias: a Sparkplug metric alias of ${key} has no birth; rebirth requested`, { reason: 'unknown-alias' }),
      payload,
    );
    if (last !== undefined && now - last < this.config.rebirthInterval) return;
    this.lastRebirth.set(key, now);
    this.counters.rebirthRequests++;
    const cmd = encodeSparkplug({ timestamp: now, metrics: [{ name: 'Node Control/Rebirth', datatype: 11, booleanValue: true }] });
    this.ctx!.log.info({ group, node }, 'mqtt: Sparkplug DATA with an unknown alias; asking the node to rebirth');
    this.client?.publish(`spBv1.0/${group}/NCMD/${node}`, cmd, { qos: 0 }, (err) => {
      if (err) this.ctx!.log.warn({ err, group, node }, 'mqtt: rebirth request failed');
    });
  }

  private quarantine(topic: string, reason: string, message: string, raw: Buffer): void {
    this.counters.quarantined[reason] = (this.counters.quarantined[reason] ?? 0) + 1;
    this.ctx!.quarantine(topic, new MqttPayloadError(`${reason}: ${message}`, { reason }), raw);
  }
}

/** The full definition: the lazy one of ./definition.ts, and how to create an instance. */
export const definition: InputDefinition<MqttInputConfig> = {
  ...lazyDefinition,
  create: (config, env) => new MqttInput(config, env),
};

/**
 * The job marking of a `job-class` message: its text (a class name, true/false), or JSON
 * `{"class": ..., "build"?: ...}`; a build there also names the running job.
 */
export function jobMarking(payload: Buffer): { jobClass: string; build?: string } {
  const text = payload.toString('utf8').trim();
  if (text.startsWith('{') || text.startsWith('"')) {
    try {
      const v = JSON.parse(text) as unknown;
      if (typeof v === 'string') return { jobClass: v };
      if (v && typeof v === 'object' && 'class' in v) {
        const o = v as { class: unknown; build?: unknown };
        return { jobClass: String(o.class), ...(typeof o.build === 'string' && o.build ? { build: o.build } : {}) };
      }
    } catch {
      // not JSON: the text as it is (an unknown marking counts as confidential)
    }
  }
  return { jobClass: text };
}
