/**
 * The `kafka` output: every record as one Kafka message on `<topicPrefix>.<machine>.<kind>`, keyed by
 * signal, value = the `layergate.v1.Record` protobuf (or its JSON form), headers carrying class, seq,
 * content type, signal and source. The plant's stream of record.
 *
 * Design constraints:
 * - Ack = the broker's. `send` resolves only when every message of the batch was acknowledged with
 *   acks=all (every in-sync replica has it). Any failure rejects, and the forwarder sends the batch
 *   again: consumers may see a record twice across gateway restarts or failed sends and drop
 *   duplicates by the `layergate-seq` header (the idempotent producer only removes duplicates of its
 *   own internal retries within one producer session; see README.md).
 * - Order per signal. The key is the signal, so the default partitioner puts every record of a signal
 *   on one partition; with the idempotent producer (one request in flight) and the forwarder's
 *   in-order batches, a signal's records land in seq order (a redelivery may repeat a tail).
 * - Retryable vs permanent. kafkajs marks broker errors retriable or not. Authorisation and SASL
 *   failures, a record too large for the topic, an invalid record or a policy violation are permanent:
 *   the refused records go to the sink's quarantine (`SinkPermanentError`), the rest of the batch is
 *   delivered. A record larger than `maxMessageBytes` is refused before it is sent; a record the broker
 *   finds too large (a topic with a smaller `max.message.bytes`) is found by sending the batch's
 *   messages one by one. Everything else (connection, timeout, leader change) is retried.
 * - No hanging on a dead broker: the producer's own retries are few and short (`requestTimeout`), so
 *   a send fails in seconds and the forwarder's backoff takes over; the producer reconnects by itself.
 * - Connect lazily. A broker that is down at gateway start must not stop the gateway: `start` tries
 *   once and logs; `send` connects (again) when needed.
 */
import { Kafka, Partitioners, logLevel, CompressionTypes } from 'kafkajs';
import type { Admin, Message, Producer, SASLOptions, TopicMessages } from 'kafkajs';
import type { Logger } from 'pino';
import type { OutputContext, OutputDefinition, OutputPlugin } from '../../../gateway/plugin-api/index.js';
import { encodeRecord, tlsConnectionOptions } from '../../../gateway/plugin-api/index.js';
import type { StoredRecord } from '../../../gateway/plugin-api/index.js';
import { CLASS_KEY, SEQ_KEY, causes, isClassified, permanent, recordJson, retryable } from '../shared/sink.js';
import { kafkaConfigSchema } from './schema.js';
import type { KafkaConfig } from './schema.js';

export { kafkaConfigSchema } from './schema.js';
export type { KafkaConfig } from './schema.js';

export const CONTENT_TYPE_PROTOBUF = 'application/x-protobuf; messageType=layergate.v1.Record';
export const CONTENT_TYPE_JSON = 'application/json';

/** Broker error types a retry cannot fix (kafkajs `KafkaJSProtocolError.type`), with the reason they are counted under. */
const PERMANENT_TYPES: Record<string, string> = {
  MESSAGE_TOO_LARGE: 'too-large',
  RECORD_LIST_TOO_LARGE: 'too-large',
  INVALID_RECORD: 'invalid-record',
  CORRUPT_MESSAGE: 'invalid-record',
  TOPIC_AUTHORIZATION_FAILED: 'not-authorized',
  CLUSTER_AUTHORIZATION_FAILED: 'not-authorized',
  TRANSACTIONAL_ID_AUTHORIZATION_FAILED: 'not-authorized',
  SASL_AUTHENTICATION_FAILED: 'not-authorized',
  ILLEGAL_SASL_STATE: 'not-authorized',
  UNSUPPORTED_SASL_MECHANISM: 'not-authorized',
  POLICY_VIOLATION: 'policy',
  INVALID_TOPIC_EXCEPTION: 'invalid-topic',
  UNSUPPORTED_COMPRESSION_TYPE: 'unsupported',
  UNSUPPORTED_FOR_MESSAGE_FORMAT: 'unsupported',
};

/** How a kafkajs failure is classified: permanent with a reason, or retryable with a reason. */
export function classifyKafkaError(err: unknown): { permanent: boolean; reason: string } {
  for (const e of causes(err)) {
    const type = typeof e.type === 'string' ? e.type : undefined;
    if (type && PERMANENT_TYPES[type]) return { permanent: true, reason: PERMANENT_TYPES[type] };
    if (e.name === 'KafkaJSSASLAuthenticationError') return { permanent: true, reason: 'not-authorized' };
  }
  for (const e of causes(err)) {
    const type = typeof e.type === 'string' ? e.type : '';
    if (/LEADER|NOT_COORDINATOR|NOT_CONTROLLER|REPLICA|ISR|UNKNOWN_TOPIC_OR_PARTITION/.test(type)) return { permanent: false, reason: 'leader-change' };
    if (e.name === 'KafkaJSRequestTimeoutError' || type === 'REQUEST_TIMED_OUT') return { permanent: false, reason: 'timeout' };
    if (e.name === 'KafkaJSConnectionError' || e.name === 'KafkaJSBrokerNotFound' || e.name === 'KafkaJSConnectionClosedError') {
      return { permanent: false, reason: 'connection' };
    }
    if (type === 'OUT_OF_ORDER_SEQUENCE_NUMBER' || type === 'UNKNOWN_PRODUCER_ID' || type === 'INVALID_PRODUCER_EPOCH') {
      return { permanent: false, reason: 'producer-state' };
    }
  }
  return { permanent: false, reason: 'kafka' };
}

export interface KafkaOutputStats {
  messages: number;
  bytes: number;
  /** records refused for good (too large, not authorised, ...) */
  refused: number;
  topicsCreated: number;
  /** producers replaced after a producer-state error (fenced epoch, unknown producer id) */
  producerResets: number;
}

export class KafkaOutput implements OutputPlugin {
  readonly type = 'kafka';
  private readonly config: KafkaConfig;
  private readonly machine: string;
  private readonly kafka: Kafka;
  private producer: Producer;
  private admin: Admin | undefined;
  private connecting: Promise<void> | undefined;
  private log: Logger | undefined;
  private readonly topicsReady = new Set<string>();
  private readonly counters: KafkaOutputStats = { messages: 0, bytes: 0, refused: 0, topicsCreated: 0, producerResets: 0 };

  constructor(config: KafkaConfig, env: { machine: string }) {
    this.config = config;
    this.machine = env.machine;
    const ssl = config.tls === true ? true : tlsConnectionOptions(config.tls, 'outputs.<kafka>.tls');
    const sasl: SASLOptions | undefined = config.sasl
      ? ({ mechanism: config.sasl.mechanism, username: config.sasl.username, password: config.sasl.password } as SASLOptions)
      : undefined;
    this.kafka = new Kafka({
      clientId: config.clientId,
      brokers: [...config.brokers],
      ...(ssl !== undefined ? { ssl } : {}),
      ...(sasl ? { sasl } : {}),
      connectionTimeout: config.connectionTimeout,
      requestTimeout: config.requestTimeout,
      // few, short client retries: the forwarder owns the long-term retry with backoff
      retry: { retries: 2, initialRetryTime: 200, maxRetryTime: 2000 },
      logLevel: logLevel.NOTHING,
    });
    this.producer = this.newProducer();
  }

  private newProducer(): Producer {
    return this.kafka.producer({
      idempotent: this.config.idempotent,
      ...(this.config.idempotent ? { maxInFlightRequests: 1 } : {}),
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
      retry: { retries: 2, initialRetryTime: 200, maxRetryTime: 2000 },
    });
  }

  topicFor(r: Pick<StoredRecord, 'kind'>): string {
    return `${this.config.topicPrefix}.${this.machine}.${r.kind}`;
  }

  async start(ctx: OutputContext): Promise<void> {
    this.log = ctx.log;
    try {
      await this.connect();
      ctx.log.info({ brokers: this.config.brokers }, 'kafka output connected');
    } catch (err) {
      ctx.log.warn({ err, brokers: this.config.brokers }, 'kafka not reachable at start; the forwarder retries');
    }
  }

  async stop(): Promise<void> {
    await this.producer.disconnect().catch(() => undefined);
    await this.admin?.disconnect().catch(() => undefined);
    this.connecting = undefined;
    this.admin = undefined;
  }

  stats(): KafkaOutputStats {
    return { ...this.counters };
  }

  private connect(): Promise<void> {
    this.connecting ??= this.producer.connect().catch((err: unknown) => {
      this.connecting = undefined;
      throw err;
    });
    return this.connecting;
  }

  /** Create (or, with `topics.create: false`, check) a topic once per process. */
  private async ensureTopic(topic: string): Promise<void> {
    if (this.topicsReady.has(topic)) return;
    if (!this.admin) {
      const admin = this.kafka.admin({ retry: { retries: 2, initialRetryTime: 200, maxRetryTime: 2000 } });
      await admin.connect();
      this.admin = admin;
    }
    const { topics } = this.config;
    if (topics.create) {
      const created = await this.admin.createTopics({
        topics: [{ topic, numPartitions: topics.partitions, ...(topics.replicationFactor ? { replicationFactor: topics.replicationFactor } : {}) }],
        waitForLeaders: true,
      });
      if (created) {
        this.counters.topicsCreated++;
        this.log?.info({ topic, partitions: topics.partitions }, 'created kafka topic');
      }
    } else {
      const existing = await this.admin.listTopics();
      if (!existing.includes(topic)) {
        throw retryable('topic-missing', `kafka topic ${topic} does not exist and outputs.<kafka>.topics.create is false; create it (the forwarder retries)`);
      }
    }
    this.topicsReady.add(topic);
  }

  private message(r: StoredRecord): Message {
    const json = this.config.payload === 'json';
    const value = json ? Buffer.from(JSON.stringify(recordJson(r))) : asBuffer(encodeRecord(r));
    return {
      key: r.signal,
      value,
      headers: {
        'content-type': json ? CONTENT_TYPE_JSON : CONTENT_TYPE_PROTOBUF,
        [CLASS_KEY]: r.class,
        [SEQ_KEY]: String(r.seq),
        'layergate-signal': r.signal,
        'layergate-source': r.source,
        'layergate-content-type': r.contentType,
      },
    };
  }

  async send(batch: StoredRecord[]): Promise<void> {
    const refused: { seq: number; reason: string; message: string }[] = [];
    const byTopic = new Map<string, { records: StoredRecord[]; messages: Message[] }>();
    let bytes = 0;
    for (const r of batch) {
      const m = this.message(r);
      const size = (m.value as Buffer).length + Buffer.byteLength(m.key as string);
      if (size > this.config.maxMessageBytes) {
        refused.push({
          seq: r.seq,
          reason: 'too-large',
          message: `seq ${r.seq} (${r.signal}): ${size} bytes > maxMessageBytes ${this.config.maxMessageBytes}`,
        });
        continue;
      }
      const topic = this.topicFor(r);
      const entry = byTopic.get(topic) ?? { records: [], messages: [] };
      entry.records.push(r);
      entry.messages.push(m);
      byTopic.set(topic, entry);
      bytes += size;
    }
    try {
      await this.connect();
      for (const topic of byTopic.keys()) await this.ensureTopic(topic);
      await this.produce([...byTopic].map(([topic, e]) => ({ topic, messages: e.messages })));
    } catch (err) {
      if (isClassified(err)) throw err; // our own, already with its reason (e.g. topic-missing)
      const kind = classifyKafkaError(err);
      if (kind.reason === 'producer-state') await this.resetProducer(err);
      if (!kind.permanent) throw retryable(kind.reason, `kafka ${this.config.brokers.join(',')}: ${(err as Error).message}`, err);
      if (kind.reason !== 'too-large') {
        // not authorised, policy: nothing of the batch can go
        this.counters.refused += batch.length;
        throw permanent(kind.reason, `kafka refused the batch seq ${batch[0]!.seq}..${batch[batch.length - 1]!.seq}: ${(err as Error).message}`, err);
      }
      // the broker found a message too large for the topic: find which, one by one; deliver the others
      for (const [topic, e] of byTopic) {
        for (const [i, m] of e.messages.entries()) {
          try {
            await this.produce([{ topic, messages: [m] }]);
          } catch (one) {
            const k = classifyKafkaError(one);
            if (!k.permanent) throw retryable(k.reason, `kafka ${topic}: ${(one as Error).message}`, one);
            const r = e.records[i]!;
            refused.push({ seq: r.seq, reason: k.reason, message: `seq ${r.seq} (${topic}): ${(one as Error).message}` });
            bytes -= (m.value as Buffer).length + Buffer.byteLength(m.key as string);
          }
        }
      }
    }
    this.counters.messages += batch.length - refused.length;
    this.counters.bytes += bytes;
    if (refused.length > 0) {
      this.counters.refused += refused.length;
      throw permanent(
        refused[0]!.reason,
        `kafka: ${refused.length} record(s) refused: ${refused
          .slice(0, 3)
          .map((x) => x.message)
          .join('; ')}`,
        undefined,
        refused.map((x) => x.seq),
      );
    }
  }

  private async produce(topicMessages: TopicMessages[]): Promise<void> {
    if (topicMessages.length === 0) return;
    await this.producer.sendBatch({
      topicMessages,
      acks: -1,
      timeout: this.config.requestTimeout,
      compression: this.config.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None,
    });
  }

  /**
   * After a fenced epoch or an unknown producer id the idempotent producer's state is stale: start a new
   * producer (new id), so the retry can succeed. Duplicates across the two producers are possible and
   * dropped by consumers by `layergate-seq`.
   */
  private async resetProducer(err: unknown): Promise<void> {
    this.log?.warn({ err }, 'kafka producer state rejected by the broker; starting a new producer');
    const old = this.producer;
    this.producer = this.newProducer();
    this.connecting = undefined;
    this.counters.producerResets++;
    await old.disconnect().catch(() => undefined);
  }
}

/** The encoded message as a Buffer without copying it (protobufjs hands out a Buffer on Node already). */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export const definition: OutputDefinition<KafkaConfig> = {
  type: 'kafka',
  capabilities: () => ({ premises: 'on' }),
  configSchema: kafkaConfigSchema,
  create: (config, env) => new KafkaOutput(config, env),
};
