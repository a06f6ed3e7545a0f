/**
 * What the output knows about each topic it writes: that it exists (created on first use, or checked),
 * its partitions, and the largest record batch per partition the cluster accepts. Learned once per
 * topic with the admin client, kept for `REFRESH_MS`, learned again sooner after the broker refused a
 * request for size.
 *
 * Design constraints:
 * - The size limit is the topic's `max.message.bytes` as the cluster reports it (it is the broker's
 *   `message.max.bytes` unless the topic overrides it); when describing the topic is not allowed, the
 *   broker's own `message.max.bytes`; when that is not allowed either, Kafka's default (1 MiB), logged once.
 *   `maxBatchBytes` in the config caps it lower.
 * - Partitions are chosen here with kafkajs's default partitioner (murmur2 of the key, as the Java
 *   client), once per signal, and set on each message: the output sizes each partition's batch, so it
 *   must know where every record goes, and a signal keeps its partition (order per signal).
 * - No hanging: every admin call is bounded by the admin client's short retries; a failure is
 *   retryable and surfaces from `send`.
 */
import kafkajs from 'kafkajs';
import type { Admin, ConfigResourceTypes, Kafka, PartitionMetadata } from 'kafkajs';
import type { Logger } from 'pino';
import { retryable, sinkConfig } from '../shared/sink.js';
import { BROKER_DEFAULT_MAX_MESSAGE_BYTES } from './batch-size.js';
import { authorisationFailure } from './errors.js';
import type { KafkaOperation } from './errors.js';
import type { KafkaConfig } from './schema.js';

// a CommonJS module whose enums Node's ESM loader does not see as named exports
const { ConfigResourceTypes: RESOURCE, Partitioners } = kafkajs;

/** how long a topic's partitions and limit are trusted (kafkajs's own metadata max age) */
export const REFRESH_MS = 300_000;
/** bounded memory: the signal -> partition cache of a topic is dropped when it grows past this */
const MAX_CACHED_KEYS = 200_000;

export interface TopicInfo {
  readonly topic: string;
  /** the largest record batch per partition the cluster accepts (after `maxBatchBytes`) */
  readonly limitBytes: number;
  /** where the limit came from, for logs: topic, broker, default */
  readonly limitSource: string;
  readonly partitions: PartitionMetadata[];
  /** when learned (ms since the epoch) */
  readonly learnedAt: number;
  /** partition of a key (the signal), cached */
  partitionOf(key: string): number;
}

export class TopicCatalog {
  private admin: Admin | undefined;
  private readonly known = new Map<string, TopicInfo>();
  private readonly created = new Set<string>();
  private readonly stale = new Set<string>();
  private warnedDefault = false;
  /** topics this process created */
  topicsCreated = 0;

  constructor(
    private readonly kafka: Kafka,
    private readonly config: KafkaConfig,
    private readonly log: () => Logger | undefined,
  ) {}

  /** The topic's info, creating or checking the topic first; learned again when old or marked stale. */
  async info(topic: string): Promise<TopicInfo> {
    const known = this.known.get(topic);
    if (known && !this.stale.has(topic) && Date.now() - known.learnedAt < REFRESH_MS) return known;
    const admin = await this.connectAdmin();
    // what is being done, for an authorisation refusal: it names the permission the user lacks
    const at: { op: KafkaOperation } = { op: 'describe' };
    let info: TopicInfo;
    try {
      if (!this.created.has(topic)) {
        await this.ensure(admin, topic, at);
        this.created.add(topic);
      }
      at.op = 'describe';
      info = await this.learn(admin, topic);
    } catch (err) {
      throw authorisationFailure(err, this.config, at.op, [topic]) ?? err;
    }
    this.stale.delete(topic);
    if (known && known.limitBytes !== info.limitBytes) {
      this.log()?.info({ topic, before: known.limitBytes, now: info.limitBytes, source: info.limitSource }, 'kafka topic size limit changed');
    }
    this.known.set(topic, info);
    return info;
  }

  /** After a refusal for size: learn the topic's limit again before the next request. */
  markStale(topic: string): void {
    this.stale.add(topic);
  }

  async close(): Promise<void> {
    await this.admin?.disconnect().catch(() => undefined);
    this.admin = undefined;
  }

  private async connectAdmin(): Promise<Admin> {
    if (!this.admin) {
      const admin = this.kafka.admin({ retry: { retries: 2, initialRetryTime: 200, maxRetryTime: 2000 } });
      await admin.connect();
      this.admin = admin;
    }
    return this.admin;
  }

  /**
   * Create (or, with `topics.create: false`, check) a topic once per process. A topic the user can
   * see is not created again: an existing topic needs Write and Describe, not Create.
   */
  private async ensure(admin: Admin, topic: string, at: { op: KafkaOperation }): Promise<void> {
    const { topics } = this.config;
    at.op = 'describe';
    const existing = await admin.listTopics();
    if (existing.includes(topic)) return;
    if (topics.create) {
      at.op = 'create';
      const created = await admin.createTopics({
        topics: [{ topic, numPartitions: topics.partitions, ...(topics.replicationFactor ? { replicationFactor: topics.replicationFactor } : {}) }],
        waitForLeaders: true,
      });
      if (created) {
        this.topicsCreated++;
        this.log()?.info({ topic, partitions: topics.partitions }, 'created kafka topic');
      }
    } else {
      // the sink's settings, not the records: a failing sink (logged at error), never a quarantine.
      // The broker lists only the topics the user may Describe: an existing one it may not is missing to it.
      const who = this.config.sasl ? `User:${this.config.sasl.username}` : "the output's principal";
      throw sinkConfig(
        'topic-missing',
        `kafka topic ${topic} does not exist (or ${who} has no Describe permission on it) and outputs.<kafka>.topics.create is false; create it (the forwarder retries)`,
        `create the topic and grant ${who} Write and Describe on it, or set outputs.<kafka>.topics.create: true`,
      );
    }
  }

  private async learn(admin: Admin, topic: string): Promise<TopicInfo> {
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    const partitions = meta.topics.find((t) => t.name === topic)?.partitions ?? [];
    if (partitions.length === 0) throw retryable('leader-change', `kafka topic ${topic} has no partition metadata yet`);
    partitions.sort((a, b) => a.partitionId - b.partitionId);
    const learned = await this.limit(admin, topic);
    const cap = this.config.maxBatchBytes;
    const limitBytes = cap === 'auto' ? learned.bytes : Math.min(cap, learned.bytes);
    const partitioner = Partitioners.DefaultPartitioner();
    const byKey = new Map<string, number>();
    return {
      topic,
      limitBytes,
      limitSource: cap !== 'auto' && cap < learned.bytes ? 'maxBatchBytes' : learned.source,
      partitions,
      learnedAt: Date.now(),
      partitionOf(key: string): number {
        let p = byKey.get(key);
        if (p === undefined) {
          if (byKey.size >= MAX_CACHED_KEYS) byKey.clear();
          p = partitioner({ topic, partitionMetadata: partitions, message: { key, value: null } });
          byKey.set(key, p);
        }
        return p;
      },
    };
  }

  /** The topic's `max.message.bytes`, else the broker's `message.max.bytes`, else Kafka's default. */
  private async limit(admin: Admin, topic: string): Promise<{ bytes: number; source: string }> {
    const read = async (type: ConfigResourceTypes, name: string, key: string): Promise<number | undefined> => {
      try {
        const res = await admin.describeConfigs({ resources: [{ type, name, configNames: [key] }], includeSynonyms: false });
        const value = Number(res.resources[0]?.configEntries.find((e) => e.configName === key)?.configValue);
        return Number.isFinite(value) && value > 0 ? value : undefined;
      } catch (err) {
        this.log()?.debug({ err, topic, resource: name }, 'kafka describeConfigs failed');
        return undefined;
      }
    };
    const topicLimit = await read(RESOURCE.TOPIC, topic, 'max.message.bytes');
    if (topicLimit !== undefined) return { bytes: topicLimit, source: 'topic' };
    const cluster = await admin.describeCluster().catch(() => undefined);
    const broker = cluster?.brokers[0];
    const brokerLimit = broker ? await read(RESOURCE.BROKER, String(broker.nodeId), 'message.max.bytes') : undefined;
    if (brokerLimit !== undefined) return { bytes: brokerLimit, source: 'broker' };
    if (!this.warnedDefault) {
      this.warnedDefault = true;
      this.log()?.warn(
        { topic },
        "kafka: could not read the topic's max.message.bytes nor the broker's message.max.bytes; assuming Kafka's default (1 MiB); grant the user DescribeConfigs on the topic to learn it",
      );
    }
    return { bytes: BROKER_DEFAULT_MAX_MESSAGE_BYTES, source: 'default' };
  }
}
