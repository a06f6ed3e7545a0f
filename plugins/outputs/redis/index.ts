/**
 * The `redis` output: time series for real-time dashboards. One Redis Stream per signal, trimmed with
 * `XADD ... MAXLEN ~` so memory stays bounded; the latest entry of every signal in a hash; the signal
 * names in a set; optionally a pub/sub notification per batch and signal.
 *
 *   <prefix>:<machine>:stream:<signal>   XADD entries (fields below)
 *   <prefix>:<machine>:latest:<signal>   HSET, the same fields as the signal's newest entry
 *   <prefix>:<machine>:signals           SADD, every signal seen
 *   <prefix>:<machine>:notify            PUBLISH {"signal","seq","count"} (with `notify: true`)
 *
 * Entry fields (all strings, `body` raw bytes): seq, class, kind, source, content_type, time_ns (source
 * time, else receive time), receive_time_ns, build, layer, attributes (JSON); scalars add v (exact text
 * of the value), type (its value type, wire/scalar-value.ts), unit, quality; sample blocks add channels, sample_rate_hz, first_sample with body = interleaved float32 LE;
 * frames (spooled) add blob_sha256, blob_size and carry no body. See README.md for a dashboard's view.
 *
 * Design constraints:
 * - Ack = Redis's reply to one MULTI/EXEC per batch, so a batch is applied whole or not at all. What
 *   Redis keeps across its own restart depends on its persistence (AOF with `appendfsync always`
 *   keeps every acknowledged write; README.md).
 * - Fail fast, retry in the forwarder: no offline queue (a command while disconnected fails at once)
 *   and one attempt per request; ioredis reconnects by itself in the background.
 * - Configuration, not the records: authentication/ACL refusals (NOAUTH, WRONGPASS, NOPERM) refuse every
 *   record alike, so they are a failing sink (`SinkConfigError`: kept in the buffer, retried, logged at
 *   error with what to fix), never quarantined. Permanent: a key of another type (WRONGTYPE: a name
 *   clash with something else in the database). Retryable: connection, timeout,
 *   LOADING, READONLY (failover), OOM (trimming or eviction can free memory).
 */
import { Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import type { OutputContext, OutputDefinition, OutputPlugin } from '../../../gateway/plugin-api/index.js';
import { CONTENT_TYPES, parseScalarBody, tlsConnectionOptions, valueJson } from '../../../gateway/plugin-api/index.js';
import type { StoredRecord, TypedValue } from '../../../gateway/plugin-api/index.js';
import { causes, classified, retryable } from '../shared/sink.js';
import type { FailureKind } from '../shared/sink.js';
import type { RedisConfig } from './schema.js';
import { definition as lazyDefinition } from './definition.js';

export { redisConfigSchema } from './schema.js';
export type { RedisConfig } from './schema.js';

export function classifyRedisError(err: unknown): FailureKind {
  for (const e of causes(err)) {
    const msg = String(e.message ?? '');
    if (/\b(NOAUTH|WRONGPASS)\b/.test(msg)) {
      return {
        permanent: false,
        reason: 'not-authorized',
        config: "check outputs.<redis>.username and password (or the URL's credentials) against the server's ACL users",
      };
    }
    if (/\bNOPERM\b/.test(msg)) {
      return {
        permanent: false,
        reason: 'not-authorized',
        config:
          "grant the Redis user the output's commands on its keys (ACL SETUSER <user> ~<keyPrefix>:* &<keyPrefix>:* +xadd +hset +del +sadd +publish +multi +exec)",
      };
    }
    if (/\bWRONGTYPE\b/.test(msg)) return { permanent: true, reason: 'wrong-type' };
  }
  for (const e of causes(err)) {
    const msg = String(e.message ?? '');
    if (/\bOOM\b/.test(msg)) return { permanent: false, reason: 'out-of-memory' };
    if (/\b(READONLY|LOADING|MASTERDOWN|TRYAGAIN)\b/.test(msg)) return { permanent: false, reason: 'leader-change' };
    if (/timed? ?out/i.test(msg)) return { permanent: false, reason: 'timeout' };
    // ioredis: "Stream isn't writeable" (no offline queue), "Command aborted due to connection close",
    // "Reached the max retries per request limit" (the connection dropped with the command in flight)
    if (
      /ECONNREFUSED|ECONNRESET|EPIPE|Connection is closed|connection close|isn't writeable|max retries per request|ETIMEDOUT|EHOSTUNREACH|connect/i.test(msg)
    ) {
      return { permanent: false, reason: 'connection' };
    }
  }
  return { permanent: false, reason: 'redis' };
}

/** The stream entry of a record as field/value pairs (dashboards read these names). */
export function entryFields(r: StoredRecord): (string | Buffer)[] {
  const f: (string | Buffer)[] = [
    'seq',
    String(r.seq),
    'class',
    r.class,
    'kind',
    r.kind,
    'source',
    r.source,
    'content_type',
    r.contentType,
    'time_ns',
    String(r.sourceTimeNs ?? r.receiveTimeNs),
    'receive_time_ns',
    String(r.receiveTimeNs),
  ];
  if (r.build !== undefined) f.push('build', r.build);
  if (r.layer !== undefined) f.push('layer', String(r.layer));
  const a = r.attributes ?? {};
  if (Object.keys(a).length > 0) f.push('attributes', JSON.stringify(a));
  if (r.contentType === CONTENT_TYPES.scalar && r.body) {
    try {
      const o = parseScalarBody(r.body);
      f.push('v', valueText(o), 'type', o.type);
      if (o.unit !== undefined) f.push('unit', o.unit);
      if (o.quality !== undefined) f.push('quality', o.quality);
    } catch {
      // not a scalar body of the value model: the body is still there, as is
    }
  }
  if (r.contentType === CONTENT_TYPES.samplesF32) {
    if (a.channels) f.push('channels', a.channels);
    if (a.sample_rate_hz) f.push('sample_rate_hz', a.sample_rate_hz);
    f.push('first_sample', a.first_sample ?? '0');
  }
  if (r.body) f.push('body', r.body);
  if (r.blob) f.push('blob_sha256', r.blob.sha256, 'blob_size', String(r.blob.size));
  return f;
}

/**
 * A scalar's value as the text of its `v` field, exact for its type (`type` says which): a string as
 * itself, 64-bit integers in decimal, floats as their shortest exact decimal (NaN, Infinity, -0 by
 * name), datetime as RFC 3339, bytes as base64, arrays as JSON: the body's JSON form without quotes.
 */
function valueText(t: TypedValue): string {
  if (typeof t.v === 'string') return t.v;
  const json = valueJson(t.type, t.v);
  return json.startsWith('"') ? (JSON.parse(json) as string) : json;
}

export interface RedisOutputStats {
  entries: number;
  bytes: number;
  batches: number;
}

export class RedisOutput implements OutputPlugin {
  readonly type = 'redis';
  private readonly config: RedisConfig;
  private readonly base: string;
  private client: Redis | undefined;
  private log: Logger | undefined;
  /** the last connection refused for its credentials (WRONGPASS, NOAUTH), until the client is ready again */
  private authFailure: Error | undefined;
  private readonly counters: RedisOutputStats = { entries: 0, bytes: 0, batches: 0 };

  constructor(config: RedisConfig, env: { machine: string }) {
    this.config = config;
    this.base = `${config.keyPrefix}:${env.machine}`;
  }

  streamKey(signal: string): string {
    return `${this.base}:stream:${signal}`;
  }
  latestKey(signal: string): string {
    return `${this.base}:latest:${signal}`;
  }
  get signalsKey(): string {
    return `${this.base}:signals`;
  }
  get notifyChannel(): string {
    return `${this.base}:notify`;
  }

  private options(): RedisOptions {
    const c = this.config;
    const tls = tlsConnectionOptions(c.tls ?? c.url.startsWith('rediss://'), 'outputs.<redis>.tls');
    return {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: c.connectTimeout,
      commandTimeout: c.commandTimeout,
      // reconnect in the background, at most every 2 s; the forwarder retries the batch meanwhile
      retryStrategy: (times: number) => Math.min(100 * times, 2000),
      ...(c.username ? { username: c.username } : {}),
      ...(c.password ? { password: c.password } : {}),
      ...(tls ? { tls } : {}),
    };
  }

  async start(ctx: OutputContext): Promise<void> {
    this.log = ctx.log;
    const client = new Redis(this.config.url, this.options());
    // errors surface through send(); the event only keeps ioredis from printing them. A refused AUTH
    // closes the connection, so send() only sees "Stream isn't writeable": the refusal is kept to tell
    // a wrong password (a configuration failure, logged at error by the forwarder) from a network blip.
    client.on('error', (err: Error) => {
      if (classifyRedisError(err).config !== undefined) this.authFailure = err;
      ctx.log.debug({ err }, 'redis connection error');
    });
    client.on('ready', () => {
      this.authFailure = undefined;
    });
    this.client = client;
    try {
      await client.connect();
      ctx.log.info({ url: redactUrl(this.config.url) }, 'redis output connected');
    } catch (err) {
      const kind = classifyRedisError(err);
      if (kind.config !== undefined) {
        this.authFailure = err as Error;
        ctx.log.error({ err, action: kind.config }, 'redis refused the connection (credentials or ACL); records stay in the buffer and are retried');
      } else ctx.log.warn({ err }, 'redis not reachable at start; the forwarder retries');
    }
  }

  async stop(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    if (!c) return;
    try {
      await c.quit();
    } catch {
      c.disconnect();
    }
  }

  stats(): RedisOutputStats {
    return { ...this.counters };
  }

  async send(batch: StoredRecord[]): Promise<void> {
    const client = this.client;
    if (!client) throw new Error('redis output: send before start');
    if (client.status === 'wait' || client.status === 'end') {
      try {
        await client.connect();
      } catch {
        /* reported by the command below */
      }
    }
    const tx = client.multi();
    const latest = new Map<string, (string | Buffer)[]>();
    const perSignal = new Map<string, { seq: number; count: number }>();
    let bytes = 0;
    for (const r of batch) {
      const fields = entryFields(r);
      tx.xadd(this.streamKey(r.signal), 'MAXLEN', '~', String(this.config.maxLen), '*', ...fields);
      latest.set(r.signal, fields);
      const s = perSignal.get(r.signal) ?? { seq: r.seq, count: 0 };
      s.seq = r.seq;
      s.count++;
      perSignal.set(r.signal, s);
      bytes += r.body?.length ?? 0;
    }
    if (this.config.latest && latest.size > 0) {
      // replace, not merge: a field the newest entry lacks must not linger from an older one. One DEL
      // of every latest key of the batch, not one per signal: at W1 (5,000 signals) a batch touches
      // hundreds of signals, and each command costs the client about as much as the XADD of a record
      const keys = [...latest.keys()].map((signal) => this.latestKey(signal));
      tx.del(...keys);
      let i = 0;
      for (const fields of latest.values()) tx.hset(keys[i++]!, ...(fields as [string, string]));
    }
    tx.sadd(this.signalsKey, ...perSignal.keys());
    if (this.config.notify) {
      for (const [signal, s] of perSignal) tx.publish(this.notifyChannel, JSON.stringify({ signal, seq: s.seq, count: s.count }));
    }
    let results: [Error | null, unknown][] | null;
    try {
      results = await tx.exec();
    } catch (err) {
      throw this.failure(err, batch);
    }
    if (!results) throw retryable('aborted', `redis ${redactUrl(this.config.url)}: transaction aborted`);
    const failed = results.find(([e]) => e);
    if (failed) throw this.failure(failed[0], batch);
    this.counters.entries += batch.length;
    this.counters.bytes += bytes;
    this.counters.batches++;
  }

  private failure(err: unknown, batch: StoredRecord[]): Error {
    let kind = classifyRedisError(err);
    let cause = err;
    // not connected because the server refused our credentials: say so, not "connection"
    if (kind.reason === 'connection' && this.authFailure) {
      kind = classifyRedisError(this.authFailure);
      cause = this.authFailure;
    }
    const message = `redis ${redactUrl(this.config.url)}: batch seq ${batch[0]!.seq}..${batch[batch.length - 1]!.seq}: ${(cause as Error)?.message ?? String(cause)}`;
    return classified(kind, message, cause);
  }
}

function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//<redacted>@');
}

/** The full definition: the lazy one of ./definition.ts, and how to create an instance. */
export const definition: OutputDefinition<RedisConfig> = {
  ...lazyDefinition,
  create: (config, env) => new RedisOutput(config, env),
};
