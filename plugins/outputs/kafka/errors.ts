/**
 * How the kafka output reads a kafkajs failure: permanent (the records), a configuration failure (the
 * sink's settings: SASL, ACLs) or retryable, and, for an authorisation refusal, which permission on
 * which resource is missing and what to grant.
 *
 * Design constraints:
 * - kafkajs wraps: `KafkaJSNonRetriableError` / `KafkaJSNumberOfRetriesExceeded` carry the broker's
 *   error as `cause` (older ones as `originalError`), and `createTopics` refuses with a
 *   `KafkaJSAggregateError` whose `errors` hold one `KafkaJSCreateTopicError` per topic. Every one of
 *   them is looked into (`kafkaCauses`): a refusal found only inside an aggregate is still a refusal.
 * - An authorisation refusal is named by what the output was doing when it came: starting the
 *   idempotent producer (InitProducerId: CLUSTER_AUTHORIZATION_FAILED), creating a topic (Create),
 *   reading a topic's metadata (Describe), producing (Write). The broker's error says neither the topic
 *   nor the operation, so the message and the action name both, with the principal when it is known.
 */
import { sinkConfig } from '../shared/sink.js';
import type { FailureKind } from '../shared/sink.js';
import type { SinkConfigError } from '../../../gateway/plugin-api/index.js';
import type { KafkaConfig } from './schema.js';

/** Broker error types a retry cannot fix (kafkajs `KafkaJSProtocolError.type`), with the reason they are counted under. */
const PERMANENT_TYPES: Record<string, string> = {
  MESSAGE_TOO_LARGE: 'too-large',
  RECORD_LIST_TOO_LARGE: 'too-large',
  INVALID_RECORD: 'invalid-record',
  CORRUPT_MESSAGE: 'invalid-record',
  POLICY_VIOLATION: 'policy',
  INVALID_TOPIC_EXCEPTION: 'invalid-topic',
  UNSUPPORTED_COMPRESSION_TYPE: 'unsupported',
  UNSUPPORTED_FOR_MESSAGE_FORMAT: 'unsupported',
};

const SASL = 'check outputs.<kafka>.sasl (mechanism, username, password) against the users the broker knows';
const ACL =
  "grant the user the ACLs to write the output's topics (Write, Describe; Create when topics.create is on; IdempotentWrite on the cluster for the idempotent producer)";
/** Broker error types that concern the sink's settings, not the records: what to fix. */
const CONFIG_TYPES: Record<string, string> = {
  TOPIC_AUTHORIZATION_FAILED: ACL,
  CLUSTER_AUTHORIZATION_FAILED: ACL,
  TRANSACTIONAL_ID_AUTHORIZATION_FAILED: ACL,
  SASL_AUTHENTICATION_FAILED: SASL,
  ILLEGAL_SASL_STATE: SASL,
  UNSUPPORTED_SASL_MECHANISM: SASL,
};

const AUTHORIZATION_TYPES = new Set(['TOPIC_AUTHORIZATION_FAILED', 'CLUSTER_AUTHORIZATION_FAILED', 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED']);

/**
 * An error and everything it wraps: `cause`, `originalError`, and the members of an aggregate
 * (`errors`), breadth first, each once, at most 16.
 */
export function kafkaCauses(err: unknown): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  const seen = new Set<unknown>();
  const queue: unknown[] = [err];
  while (queue.length > 0 && out.length < 16) {
    const e = queue.shift();
    if (!e || typeof e !== 'object' || seen.has(e)) continue;
    seen.add(e);
    out.push(e as Record<string, unknown>);
    const o = e as { cause?: unknown; originalError?: unknown; errors?: unknown };
    queue.push(o.originalError, o.cause);
    if (Array.isArray(o.errors)) queue.push(...(o.errors as unknown[]));
  }
  return out;
}

/** How a kafkajs failure is classified: permanent, a configuration failure, or retryable, with a reason. */
export function classifyKafkaError(err: unknown): FailureKind {
  const all = kafkaCauses(err);
  for (const e of all) {
    const type = typeof e.type === 'string' ? e.type : undefined;
    if (type && CONFIG_TYPES[type]) return { permanent: false, reason: 'not-authorized', config: CONFIG_TYPES[type] };
    if (e.name === 'KafkaJSSASLAuthenticationError') return { permanent: false, reason: 'not-authorized', config: SASL };
    if (type && PERMANENT_TYPES[type]) return { permanent: true, reason: PERMANENT_TYPES[type] };
  }
  for (const e of all) {
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

/** What the output was doing when the broker refused: names the permission it lacks. */
export type KafkaOperation = 'connect' | 'create' | 'describe' | 'produce';

/** `User:<sasl user>`, or what the broker calls the client when it is not a SASL user */
function principalOf(config: KafkaConfig): string {
  return config.sasl ? `User:${config.sasl.username}` : "the output's principal (TLS client certificate or ANONYMOUS)";
}

/**
 * The broker refused `op` on `topics` for lack of an ACL: a `SinkConfigError` (`not-authorized`) whose
 * message names the topic(s), the operation and the missing permission, and whose action says what to
 * grant to whom. Undefined when `err` is not an authorisation refusal.
 */
export function authorisationFailure(err: unknown, config: KafkaConfig, op: KafkaOperation, topics: readonly string[]): SinkConfigError | undefined {
  const refusal = kafkaCauses(err).find((e) => typeof e.type === 'string' && AUTHORIZATION_TYPES.has(e.type));
  if (!refusal) return undefined;
  const type = refusal.type as string;
  const who = principalOf(config);
  // a createTopics refusal names its topic; the others do not
  const named = typeof refusal.topic === 'string' ? [refusal.topic] : [...new Set(topics)];
  const list = named.length > 0 ? named.join(', ') : "the output's topics";
  const what = named.length === 1 ? `topic ${list}` : `topics ${list}`;
  const at = `kafka ${config.brokers.join(',')}`;
  const cli = config.sasl ? who : '<principal>';
  const grant = (ops: string[]) =>
    `grant ${who} ${ops.join(', ')} on ${what} (kafka-acls --add --allow-principal ${cli} ${ops.map((o) => `--operation ${o}`).join(' ')} --topic <topic>)`;
  let message: string;
  let action: string;
  if (type === 'TOPIC_AUTHORIZATION_FAILED' && op === 'produce') {
    message = `${at}: ${who} is not authorised to write to ${what}: missing Write permission (TOPIC_AUTHORIZATION_FAILED)`;
    action = grant(['Write', 'Describe']);
  } else if (type === 'TOPIC_AUTHORIZATION_FAILED' && op === 'create') {
    message = `${at}: ${who} is not authorised to create ${what} (outputs.<kafka>.topics.create is on and the topic is missing or not visible to the user): missing Create permission (TOPIC_AUTHORIZATION_FAILED)`;
    action = `${grant(['Create', 'Write', 'Describe'])}; or create the topic, grant Write and Describe on it and set outputs.<kafka>.topics.create: false`;
  } else if (type === 'TOPIC_AUTHORIZATION_FAILED' && op === 'describe') {
    message = `${at}: ${who} is not authorised to read the metadata of ${what}: missing Describe permission (TOPIC_AUTHORIZATION_FAILED)`;
    action = grant(['Describe', 'Write']);
  } else if (type === 'CLUSTER_AUTHORIZATION_FAILED' && op === 'connect' && config.idempotent) {
    message = `${at}: ${who} is not authorised to start the idempotent producer for ${what}: missing Write permission on a topic (IdempotentWrite on the cluster for brokers before Kafka 3.0) (CLUSTER_AUTHORIZATION_FAILED on InitProducerId)`;
    action = `${grant(['Write', 'Describe'])}; brokers before Kafka 3.0 also want IdempotentWrite on the cluster (--operation IdempotentWrite --cluster)`;
  } else {
    message = `${at}: ${who} is not authorised (${type}) for ${what} (${op}): ${String((refusal.message as string | undefined) ?? '')}`;
    action = `${ACL}; principal ${who}, ${what}`;
  }
  return sinkConfig('not-authorized', message, action, err);
}
