/**
 * The `kafka` output: records as Kafka messages on `<topicPrefix>.<machine>.<kind>`: one message per
 * record keyed by signal, value = the `layergate.v1.Record` protobuf (or its JSON form), headers
 * carrying class, seq, content type, signal and source; or one `layergate.v1.RecordBatch` message per
 * signal or per partition of a request (`grouping`; by default the scalar topic is grouped by
 * partition, every other kind goes one message per record). The plant's stream of record.
 *
 * Design constraints:
 * - Ack = the broker's. `send` resolves only when every message of the batch was acknowledged with
 *   acks=all (every in-sync replica has it). Any failure rejects, and the forwarder sends the batch
 *   again: consumers may see a record twice across gateway restarts or failed sends and drop
 *   duplicates by the `layergate-seq` header (the idempotent producer only removes duplicates of its
 *   own internal retries within one producer session; see README.md).
 * - Order per signal. Every record of a signal goes to one partition (murmur2 of the signal, as the
 *   default partitioner); a batch's requests go one after the other and each keeps a partition's
 *   records in order; with the idempotent producer (one request in flight) and the forwarder's
 *   in-order batches, a signal's records land in seq order (a redelivery may repeat a tail).
 * - Batches within the broker's limits. The broker caps one record batch per partition (the topic's
 *   `max.message.bytes`), not one message: a `send` is cut into produce requests whose batch per
 *   partition stays under the limit learned from the cluster (topics.ts, batch-size.ts), or under
 *   `maxBatchBytes`. A request still refused for size (the topic changed under us) is split in two,
 *   recursively only for the refused part, logged at warn once per topic per minute, counted
 *   (`sizeSplits`), and the limit learned again. Never a silent record-by-record mode.
 * - Retryable vs permanent vs configuration. kafkajs marks broker errors retriable or not. SASL and
 *   authorisation failures (and a missing topic that is not created, topics.ts) refuse every record
 *   alike: they are a failing sink (`SinkConfigError`: kept in the buffer, retried, logged at error with
 *   what to fix), never quarantined, so a wrong password does not divert all data. An authorisation
 *   refusal names the topic, the operation and the missing permission (errors.ts). A record too large
 *   for the topic, an invalid record or a policy violation are permanent: the refused records go to the
 *   sink's quarantine (`SinkPermanentError`), the rest of the batch is delivered. A record larger than
 *   `maxMessageBytes` or than its topic's limit is refused before it is sent; a single record the
 *   broker refuses for size is refused for good. Everything else
 *   (connection, timeout, leader change) is retried.
 * - Cheap per record (tens of thousands per second): each value is encoded once, repeated header
 *   values are made once, a signal's partition is cached (messages.ts). kafkajs's own encoding of a
 *   message stays the largest cost; `grouping` removes it for most records.
 * - No hanging on a dead broker: the producer's own retries are few and short (`requestTimeout`), so
 *   a send fails in seconds and the forwarder's backoff takes over; the producer reconnects by itself.
 * - Connect lazily. A broker that is down at gateway start must not stop the gateway: `start` tries
 *   once and logs; `send` connects (again) when needed.
 */
import { Kafka, Partitioners, logLevel, CompressionTypes } from 'kafkajs';
import type { Producer, SASLOptions, TopicMessages } from 'kafkajs';
import type { Logger } from 'pino';
import type { OutputContext, OutputDefinition, OutputPlugin } from '../../../gateway/plugin-api/index.js';
import { tlsConnectionOptions } from '../../../gateway/plugin-api/index.js';
import type { RecordKind, StoredRecord } from '../../../gateway/plugin-api/index.js';
import { isClassified, permanent, retryable, sinkConfig } from '../shared/sink.js';
import { batchBudget, packRequests, splitInTwo } from './batch-size.js';
import { GROUP_OVERHEAD_BYTES, MessageBuilder } from './messages.js';
import type { Outgoing } from './messages.js';
import type { KafkaConfig } from './schema.js';
import { TopicCatalog } from './topics.js';
import type { TopicInfo } from './topics.js';
import { definition as lazyDefinition } from './definition.js';
import { authorisationFailure, classifyKafkaError, kafkaCauses } from './errors.js';

export { kafkaConfigSchema } from './schema.js';
export { classifyKafkaError } from './errors.js';
export type { KafkaConfig } from './schema.js';
export {
  CONTENT_TYPE_JSON,
  CONTENT_TYPE_JSON_BATCH,
  CONTENT_TYPE_PROTOBUF,
  CONTENT_TYPE_PROTOBUF_BATCH,
  RECORDS_KEY,
  SEQ_LAST_KEY,
} from './messages.js';

export interface KafkaOutputStats {
  messages: number;
  bytes: number;
  /** records refused for good (too large, not authorised, ...) */
  refused: number;
  topicsCreated: number;
  /** producers replaced after a producer-state error (fenced epoch, unknown producer id) */
  producerResets: number;
  /** produce requests the broker acknowledged */
  requests: number;
  /** requests the broker refused for size and that were split in two (0 while the learned limits hold) */
  sizeSplits: number;
}

/** a size refusal is logged at most once per topic per this long */
const SIZE_WARN_INTERVAL_MS = 60_000;

function isSizeRefusal(err: unknown): boolean {
  return kafkaCauses(err).some((e) => e.type === 'MESSAGE_TOO_LARGE' || e.type === 'RECORD_LIST_TOO_LARGE');
}

interface Refusal {
  seq: number;
  reason: string;
  message: string;
}

export class KafkaOutput implements OutputPlugin {
  readonly type = 'kafka';
  private readonly config: KafkaConfig;
  private readonly machine: string;
  private readonly kafka: Kafka;
  private producer: Producer;
  private connecting: Promise<void> | undefined;
  private log: Logger | undefined;
  private readonly topics: TopicCatalog;
  private readonly builder: MessageBuilder;
  /** `<topicPrefix>.<machine>.<kind>` per kind, made once */
  private readonly topicNames = new Map<RecordKind, string>();
  private readonly compression: CompressionTypes;
  private readonly sizeWarned = new Map<string, number>();
  private readonly counters = { messages: 0, bytes: 0, refused: 0, producerResets: 0, requests: 0, sizeSplits: 0 };
  /** sends not settled yet: more than one when the forwarder gave up on one (its send timeout) */
  private sending = 0;

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
    this.topics = new TopicCatalog(this.kafka, config, () => this.log);
    this.builder = new MessageBuilder(config.payload, config.grouping);
    this.compression = config.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None;
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
    let topic = this.topicNames.get(r.kind);
    if (topic === undefined) {
      topic = `${this.config.topicPrefix}.${this.machine}.${r.kind}`;
      this.topicNames.set(r.kind, topic);
    }
    return topic;
  }

  /** the topics a batch goes to, for messages */
  private topicsOf(batch: readonly Pick<StoredRecord, 'kind'>[]): string[] {
    return [...new Set(batch.map((r) => this.topicFor(r)))];
  }

  async start(ctx: OutputContext): Promise<void> {
    this.log = ctx.log;
    try {
      await this.connect();
      ctx.log.info({ brokers: this.config.brokers }, 'kafka output connected');
    } catch (err) {
      const refused = authorisationFailure(err, this.config, 'connect', []) ?? (classifyKafkaError(err).config !== undefined ? err : undefined);
      if (refused)
        ctx.log.warn(
          { err: refused, brokers: this.config.brokers },
          'kafka refused the output at start (its settings or permissions); the forwarder retries and logs what to fix',
        );
      else ctx.log.warn({ err, brokers: this.config.brokers }, 'kafka not reachable at start; the forwarder retries');
    }
  }

  async stop(): Promise<void> {
    await this.producer.disconnect().catch(() => undefined);
    await this.topics.close();
    this.connecting = undefined;
  }

  stats(): KafkaOutputStats {
    return { ...this.counters, topicsCreated: this.topics.topicsCreated };
  }

  private connect(): Promise<void> {
    this.connecting ??= this.producer.connect().catch((err: unknown) => {
      this.connecting = undefined;
      throw err;
    });
    return this.connecting;
  }

  async send(batch: StoredRecord[]): Promise<void> {
    const refused: Refusal[] = [];
    let bytes = 0;
    // a send the forwarder gave up on (its timeout) may still be in flight with the sequence numbers
    // this one would take: the same loss as in the catch below, so a new producer for this one
    if (this.sending > 0 && this.config.idempotent) await this.resetProducer(undefined, 'a send given up on is still in flight');
    this.sending++;
    const attempt = { produced: false };
    try {
      try {
        await this.connect();
      } catch (err) {
        // the idempotent producer starts with InitProducerId, which needs a permission of its own
        throw authorisationFailure(err, this.config, 'connect', this.topicsOf(batch)) ?? err;
      }
      // per topic, not per record: its info, its lanes' names and its records' budget
      const infos = new Map<string, TopicInfo>();
      const lanes = new Map<string, string[]>();
      const budgets = new Map<string, number>();
      const items: Outgoing[] = [];
      for (const r of batch) {
        const value = this.builder.encode(r);
        const size = value.length + Buffer.byteLength(r.signal);
        if (size > this.config.maxMessageBytes) {
          refused.push({
            seq: r.seq,
            reason: 'too-large',
            message: `seq ${r.seq} (${r.signal}): ${size} bytes > maxMessageBytes ${this.config.maxMessageBytes}`,
          });
          continue;
        }
        const topic = this.topicFor(r);
        let info = infos.get(topic);
        if (!info) {
          info = await this.topics.info(topic);
          infos.set(topic, info);
          lanes.set(topic, []);
          // a topic holds one kind, so one grouping
          budgets.set(topic, batchBudget(info.limitBytes) - (this.builder.groupingOf(r) === 'record' ? 0 : GROUP_OVERHEAD_BYTES));
        }
        const partition = info.partitionOf(r.signal);
        const topicLanes = lanes.get(topic)!;
        const lane = (topicLanes[partition] ??= `${topic}/${partition}`);
        items.push({ lane, bytes: this.builder.size(r, value), budget: budgets.get(topic)!, record: r, topic, partition, value });
      }
      const { requests, oversized } = packRequests(items);
      for (const it of oversized) {
        const limit = infos.get(it.topic)!;
        refused.push({
          seq: it.record.seq,
          reason: 'too-large',
          message: `seq ${it.record.seq} (${it.record.signal}): ${it.bytes} bytes do not fit a record batch of ${it.topic} (max.message.bytes ${limit.limitBytes}, from ${limit.limitSource})`,
        });
      }
      for (const request of requests) bytes += await this.deliver(request, refused, attempt);
    } catch (err) {
      if (isClassified(err)) throw err; // our own, already with its reason (e.g. topic-missing)
      const kind = classifyKafkaError(err);
      if (kind.reason === 'producer-state') await this.resetProducer(err, 'producer state rejected by the broker');
      // A produce request that failed may have been written with its answer lost (a broker killed,
      // a timeout). The retry reuses its sequence numbers, and a grouped message is one Kafka record
      // whatever it holds: the broker would take a retry with more records in it for the same
      // sequence number as a duplicate, drop it and answer OK, losing the records new in it. A new
      // producer (new id) makes the retry a new write: a duplicate at worst, never a loss.
      else if (this.config.idempotent && !kind.permanent && attempt.produced) await this.resetProducer(err, 'a produce request failed');
      if (kind.config !== undefined) throw sinkConfig(kind.reason, `kafka ${this.config.brokers.join(',')}: ${(err as Error).message}`, kind.config, err);
      if (!kind.permanent) throw retryable(kind.reason, `kafka ${this.config.brokers.join(',')}: ${(err as Error).message}`, err);
      // not authorised, policy, invalid record: nothing of the batch can go
      this.counters.refused += batch.length;
      throw permanent(kind.reason, `kafka refused the batch seq ${batch[0]!.seq}..${batch[batch.length - 1]!.seq}: ${(err as Error).message}`, err);
    } finally {
      this.sending--;
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

  /**
   * Send one request; on a refusal for size, split it in two and send the halves (recursively, only
   * the refused part goes on being split). A single record refused for size is added to `refused`.
   * Resolves to the bytes delivered (keys and values).
   */
  private async deliver(request: Outgoing[], refused: Refusal[], attempt: { produced: boolean }): Promise<number> {
    try {
      await this.produce(this.builder.messages(request), attempt);
      this.counters.requests++;
      let bytes = 0;
      for (const it of request) bytes += it.value.length + Buffer.byteLength(it.record.signal);
      return bytes;
    } catch (err) {
      if (!isSizeRefusal(err)) throw err;
      const parts = splitInTwo(request);
      if (parts.length === 0) {
        const it = request[0]!;
        refused.push({ seq: it.record.seq, reason: 'too-large', message: `seq ${it.record.seq} (${it.topic}): ${(err as Error).message}` });
        this.topics.markStale(it.topic);
        return 0;
      }
      this.sizeRefused(request, err);
      let bytes = 0;
      for (const part of parts) bytes += await this.deliver(part, refused, attempt);
      return bytes;
    }
  }

  /** A request the learned limits said would fit was refused: count, warn (rate-limited), learn the limits again. */
  private sizeRefused(request: Outgoing[], err: unknown): void {
    this.counters.sizeSplits++;
    const now = Date.now();
    for (const topic of new Set(request.map((it) => it.topic))) {
      this.topics.markStale(topic);
      if (now - (this.sizeWarned.get(topic) ?? 0) < SIZE_WARN_INTERVAL_MS) continue;
      this.sizeWarned.set(topic, now);
      this.log?.warn(
        { topic, records: request.length, sizeSplits: this.counters.sizeSplits, err },
        "kafka refused a request for size (the topic's limit changed?); splitting it and learning the limit again",
      );
    }
  }

  /** `attempt.produced`: set once a request went to the producer (a failure after it may have been written) */
  private async produce(topicMessages: TopicMessages[], attempt: { produced: boolean }): Promise<void> {
    if (topicMessages.length === 0) return;
    attempt.produced = true;
    try {
      await this.producer.sendBatch({ topicMessages, acks: -1, timeout: this.config.requestTimeout, compression: this.compression });
    } catch (err) {
      // refused for lack of Write: named with the request's topics (the broker's error names none)
      throw authorisationFailure(err, this.config, 'produce', [...new Set(topicMessages.map((t) => t.topic))]) ?? err;
    }
  }

  /**
   * Start a new producer (new id): after a fenced epoch or an unknown producer id its state is stale,
   * and after a failed produce request its sequence numbers may be taken (see `send`). Duplicates
   * across the two producers are possible and dropped by consumers by `layergate-seq`.
   */
  private async resetProducer(err: unknown, why: string): Promise<void> {
    this.log?.warn({ err }, `kafka: ${why}; starting a new producer`);
    const old = this.producer;
    this.producer = this.newProducer();
    this.connecting = undefined;
    this.counters.producerResets++;
    await old.disconnect().catch(() => undefined);
  }
}

/** The full definition: the lazy one of ./definition.ts, and how to create an instance. */
export const definition: OutputDefinition<KafkaConfig> = {
  ...lazyDefinition,
  create: (config, env) => new KafkaOutput(config, env),
};
