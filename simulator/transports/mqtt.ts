/**
 * The simulator's MQTT connection (mqtt.js): one client carries the melt-pool blocks, the machine
 * events and the Sparkplug B messages, so a dropped connection hits them all, as it would on a
 * real machine. When Sparkplug is on, the NDEATH for the current bdSeq is the MQTT will.
 *
 * Publishing waits while the connection is down (the machine buffers rather than loses), so a
 * disconnect shows on the wire as NDEATH, a silence, a new NBIRTH/DBIRTH, and then a catch-up burst
 * with the sequence numbers contiguous.
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { topicMatches } from '../../wire/index.js';
import type { OutMessage } from '../faults.js';

export interface MqttOptions {
  url: string;
  username?: string;
  password?: string;
  clientId: string;
}

export class MqttTransport {
  private client: MqttClient | null = null;
  private connectedWaiters: (() => void)[] = [];
  private closed = false;
  private dropping = false;
  published = 0;
  disconnects = 0;
  /** called on every (re)connect, before queued publishes resume: the Sparkplug births go here */
  onConnect: (() => Promise<void>) | null = null;
  /** the will for the next session (Sparkplug NDEATH); called before each connect */
  willFor: (() => OutMessage | null) | null = null;
  private readonly handlers = new Map<string, (topic: string, payload: Buffer) => void>();

  constructor(
    private readonly opts: MqttOptions,
    private readonly log: Logger,
  ) {}

  get connected(): boolean {
    return this.client?.connected === true && !this.dropping;
  }

  async connect(): Promise<void> {
    const will = this.willFor?.() ?? null;
    const options: IClientOptions = {
      clientId: this.opts.clientId,
      clean: true,
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
      ...(this.opts.username !== undefined ? { username: this.opts.username } : {}),
      ...(this.opts.password !== undefined ? { password: this.opts.password } : {}),
      ...(will ? { will: { topic: will.topic, payload: will.payload, qos: will.qos, retain: false } } : {}),
    };
    const client = mqtt.connect(this.opts.url, options);
    this.client = client;
    client.on('message', (topic, payload) => {
      for (const [filter, h] of this.handlers) if (topicMatches(filter, topic)) h(topic, payload);
    });
    client.on('error', (err) => this.log.warn({ err: err.message, url: this.opts.url }, 'MQTT error'));
    client.on('close', () => {
      if (!this.closed && !this.dropping) this.log.warn({ url: this.opts.url }, 'MQTT connection closed; reconnecting');
      // Sparkplug: mqtt.js reconnects by itself with client.options; the next session carries a new
      // will (willFor bumps bdSeq). A deliberate drop makes a new client instead, and close() ends it.
      if (this.closed || this.dropping || this.client !== client) return;
      const next = this.willFor?.() ?? null;
      if (next) client.options.will = { topic: next.topic, payload: next.payload, qos: next.qos, retain: false };
    });
    client.on('connect', () => {
      void (async () => {
        for (const topic of this.handlers.keys()) await client.subscribeAsync(topic, { qos: 1 });
        if (this.onConnect) await this.onConnect();
        const w = this.connectedWaiters;
        this.connectedWaiters = [];
        for (const r of w) r();
      })().catch((err: unknown) => this.log.error({ err }, 'MQTT on-connect handling failed'));
    });
    await new Promise<void>((resolve) => this.connectedWaiters.push(resolve));
    this.log.info({ url: this.opts.url, clientId: this.opts.clientId }, 'MQTT connected');
  }

  /** Subscribe (also after every reconnect). */
  async subscribe(filter: string, handler: (topic: string, payload: Buffer) => void): Promise<void> {
    this.handlers.set(filter, handler);
    if (this.client?.connected) await this.client.subscribeAsync(filter, { qos: 1 });
  }

  private async waitConnected(): Promise<MqttClient> {
    while (!this.closed && !(this.client?.connected && !this.dropping)) await new Promise<void>((r) => this.connectedWaiters.push(r));
    if (!this.client || this.closed) throw new Error('MQTT transport closed');
    return this.client;
  }

  /** Publish in order; waits while disconnected. */
  async publish(msgs: OutMessage[]): Promise<void> {
    for (const m of msgs) {
      const client = await this.waitConnected();
      await client.publishAsync(m.topic, m.payload, { qos: m.qos, retain: m.retain ?? false });
      this.published++;
    }
  }

  /** Publish while connected, for births from inside onConnect (must not wait on itself). */
  async publishNow(msgs: OutMessage[]): Promise<void> {
    const c = this.client;
    if (!c) return;
    for (const m of msgs) {
      await c.publishAsync(m.topic, m.payload, { qos: m.qos, retain: m.retain ?? false });
      this.published++;
    }
  }

  /** The disconnect fault: destroy the socket without DISCONNECT (so the broker sends the will), reconnect after downMs. */
  async drop(downMs: number): Promise<void> {
    const client = this.client;
    if (!client || this.dropping) return;
    this.dropping = true;
    this.disconnects++;
    this.log.warn({ downMs }, 'fault mqtt-disconnect: dropping the MQTT connection');
    client.options.reconnectPeriod = 0;
    const closed = new Promise<void>((r) => client.once('close', () => r()));
    client.stream.destroy();
    await closed;
    await client.endAsync(true);
    await new Promise((r) => setTimeout(r, downMs));
    this.dropping = false;
    if (this.closed) return;
    const waiters = this.connectedWaiters;
    this.connectedWaiters = [];
    await this.connect();
    for (const r of waiters) r();
  }

  async close(): Promise<void> {
    this.closed = true;
    const c = this.client;
    this.client = null;
    const w = this.connectedWaiters;
    this.connectedWaiters = [];
    for (const r of w) r();
    if (c) await c.endAsync();
  }
}
