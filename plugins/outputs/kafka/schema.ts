/**
 * Config schema of the `kafka` output (the plant's stream of record). Declared once here and validated
 * at load as part of the whole gateway config.
 */
import { z } from 'zod';
import { byteSize, duration, secret, tlsSetting } from '../../../gateway/plugin-api/index.js';

/** the broker's default `message.max.bytes` (1 MiB + record overhead), minus a margin for the batch header */
export const DEFAULT_MAX_MESSAGE_BYTES = 1_000_000;
/** the forwarder batch a grouping output asks for (its `batchRecords` key still wins) */
export const GROUPED_BATCH_RECORDS = 5000;

export const kafkaSaslSchema = z.strictObject({
  mechanism: z
    .enum(['plain', 'scram-sha-256', 'scram-sha-512'])
    .meta({ description: 'SASL mechanism; use it over TLS (`tls`), PLAIN sends the password as is' }),
  username: z.string().min(1).meta({ description: 'SASL user' }),
  password: secret('SASL password (e.g. ${KAFKA_PASSWORD})'),
});

export const kafkaConfigSchema = z.strictObject({
  brokers: z.array(z.string().min(1)).nonempty().meta({ description: 'bootstrap brokers, host:port' }),
  clientId: z.string().min(1).default('layergate').meta({ description: 'Kafka client id (quotas, broker logs)' }),
  topicPrefix: z
    .string()
    .regex(/^[A-Za-z0-9._-]+$/)
    .default('layergate')
    .meta({
      description: 'topics are `<topicPrefix>.<machine>.<kind>` (kind: samples, scalar, event, frame, document)',
    }),
  topics: z
    .strictObject({
      create: z.boolean().default(true).meta({
        description: 'create a missing topic with the settings below; `false`: topics must exist (a missing one is retried, with an error naming it)',
      }),
      partitions: z
        .number()
        .int()
        .positive()
        .default(3)
        .meta({ description: 'partitions of a created topic (records of one signal always go to one partition)' }),
      replicationFactor: z
        .number()
        .int()
        .positive()
        .optional()
        .meta({ description: "replication factor of a created topic (default: the broker's `default.replication.factor`)" }),
    })
    .prefault({})
    .meta({ description: 'topics the output creates when they are missing, and their settings' }),
  payload: z.enum(['protobuf', 'json']).default('protobuf').meta({
    description: 'message value: `protobuf` = `layergate.v1.Record` (proto/layergate/v1/record.proto); `json` = the same fields as JSON, body base64',
  }),
  grouping: z.enum(['auto', 'record', 'signal', 'partition']).default('auto').meta({
    description:
      'what one Kafka message carries: `record` = one record (key = signal); `signal` = the records of one signal in a request, `partition` = the records of one partition in a request, as one `layergate.v1.RecordBatch` (JSON array with `payload: json`), far cheaper per record; `auto` = `partition` on the scalar topic, `record` on the others; see the kafka output README',
  }),
  compression: z
    .enum(['none', 'gzip'])
    .default('none')
    .meta({ description: 'producer batch compression (gzip costs CPU on the gateway; batches are sized by uncompressed bytes either way)' }),
  idempotent: z.boolean().default(true).meta({
    description:
      'kafkajs idempotent producer (acks=all, one request in flight, broker-side dedup of producer retries); see README for what it does and does not guarantee',
  }),
  maxMessageBytes: byteSize().prefault(DEFAULT_MAX_MESSAGE_BYTES).meta({
    description:
      "largest message sent; a larger record is refused for good (quarantined) instead of blocking the sink. Keep it <= the topic's max.message.bytes",
  }),
  maxBatchBytes: z
    .union([z.literal('auto'), byteSize()])
    .default('auto')
    .meta({
      description:
        "largest record batch per partition in one produce request; `auto` = the limit the cluster reports (the topic's max.message.bytes, else the broker's message.max.bytes), learned per topic; a size caps it lower",
    }),
  tls: tlsSetting('TLS to the brokers (default: plain)'),
  sasl: kafkaSaslSchema.optional().meta({ description: 'SASL authentication (with `tls`); absent: none' }),
  connectionTimeout: duration().prefault('5s').meta({ description: 'TCP/TLS connect timeout per broker' }),
  requestTimeout: duration().prefault('30s').meta({ description: 'how long a produce request may take before it counts as failed' }),
});

export type KafkaConfig = z.infer<typeof kafkaConfigSchema>;
