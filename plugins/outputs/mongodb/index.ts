/**
 * The `mongodb` output: documents for the plant's document store, a local MongoDB or MongoDB Atlas, with
 * the official driver. Per batch: each record's own document (events, files' metadata, frames'
 * metadata, optionally scalars) and the documents of the builds and layers the records belong to
 * (./documents.ts; shapes and queries in README.md).
 *
 * Design constraints:
 * - Ack = every write of the batch acknowledged with the configured write concern, journaled. Writes go
 *   as one unordered bulk write per collection (`ordered: false`: one refused document does not stop
 *   the others), all collections at once; the driver's retryable writes retry a write once across a
 *   failover, the forwarder retries the batch after anything else.
 * - Idempotent by deterministic `_id`s (./documents.ts): a replayed batch meets duplicate keys (11000),
 *   which count as delivered, and upserts that change nothing. At least once from the buffer is once in
 *   the collections.
 * - Refused for good, per record: a document larger than BSON's 16 MiB (found before sending, as the
 *   driver would refuse to serialise it) or a write error the server gives for that document alone
 *   (a key it refuses, validation): the rest of the batch lands, and `SinkPermanentError` names the
 *   refused seqs for the forwarder to quarantine. A build or layer write refused for good names the seqs
 *   it summarised (their own documents landed; a replay after the fix is harmless).
 * - Configuration, not the records: authentication and authorisation refusals are `SinkConfigError`
 *   (kept in the buffer, retried, logged with what to fix), never quarantined. Everything else
 *   (network, server selection, timeouts, a primary stepping down, write-concern errors) is retryable.
 * - Where the server is, is the definition's business (./premises.ts): the output itself never decides
 *   what may be sent; the routing and the forwarder do.
 */
import { MongoBulkWriteError, MongoClient, MongoServerError } from 'mongodb';
import type { AnyBulkWriteOperation, MongoClientOptions } from 'mongodb';
import type { Logger } from 'pino';
import type { BlobReader, OutputContext, OutputDefinition, OutputPlugin, StoredRecord } from '../../../gateway/plugin-api/index.js';
import { tlsConnectionOptions } from '../../../gateway/plugin-api/index.js';
import { causes, permanent, retryable, sinkConfig } from '../shared/sink.js';
import type { FailureKind } from '../shared/sink.js';
import { definition as lazyDefinition } from './definition.js';
import { batchWrites, isJsonContent, MAX_BSON_BYTES } from './documents.js';
import type { CollectionRole, IdDocument } from './documents.js';
import type { MongodbConfig } from './schema.js';

export { mongodbConfigSchema } from './schema.js';
export type { MongodbConfig } from './schema.js';
export { batchWrites, recordDocument, buildId, layerId, recordId, COLLECTIONS } from './documents.js';
export type { IdDocument } from './documents.js';
export { premisesOfUrl } from './premises.js';

/** duplicate key: the document is there already (a replay) */
const DUPLICATE_KEY = 11000;
/**
 * Write errors that refuse the document itself, whatever is retried: BadValue (a key or value the
 * server refuses), TypeMismatch, InvalidLength, DollarPrefixedFieldName, EmptyFieldName,
 * DottedFieldName, DocumentValidationFailure, BSONObjectTooLarge, InvalidBSON, InvalidIdField,
 * ConflictingUpdateOperators, Location17419/17420 (a document grown past the limit).
 */
const PERMANENT_CODES = new Set([2, 14, 22, 52, 56, 57, 121, 10334, 17419, 17420, 40, 53, 55]);
/** AuthenticationFailed, Unauthorized, and Atlas's own refusals (a quota, a paused cluster) */
const CONFIG_CODES = new Set([13, 18, 8000]);

export function classifyMongoError(err: unknown): FailureKind {
  for (const e of causes(err)) {
    const code = typeof e.code === 'number' ? e.code : undefined;
    if (code === 18 || /Authentication failed|auth(entication)? (error|mechanism)/i.test(String(e.message ?? ''))) {
      return {
        permanent: false,
        reason: 'not-authorized',
        config: "check outputs.<mongodb>.username, password and authSource against the server's users (Atlas: a database user)",
      };
    }
    if (code === 13) {
      return {
        permanent: false,
        reason: 'not-authorized',
        config: "grant the user readWrite on the output's database (Atlas: a database user with readWrite on it)",
      };
    }
    if (code === 8000)
      return {
        permanent: false,
        reason: 'atlas',
        config: 'Atlas refused the write (a quota, a paused or shared-tier limit): see the message and the cluster in Atlas',
      };
  }
  for (const e of causes(err)) {
    const name = String(e.name ?? '');
    const msg = String(e.message ?? '');
    if (/Timeout/i.test(name) || /timed? ?out/i.test(msg)) return { permanent: false, reason: 'timeout' };
    if (
      /MongoServerSelectionError|MongoNetwork|MongoTopologyClosed|MongoNotConnected|PoolCleared/.test(name) ||
      /ECONNREFUSED|ECONNRESET|EPIPE|closed|connect/i.test(msg)
    ) {
      return { permanent: false, reason: 'connection' };
    }
    if (/NotWritablePrimary|NotPrimary|PrimarySteppedDown|InterruptedDueToReplStateChange/.test(msg)) return { permanent: false, reason: 'leader-change' };
  }
  return { permanent: false, reason: 'mongodb' };
}

export interface MongodbOutputStats {
  documents: number;
  duplicates: number;
  refused: number;
  batches: number;
}

interface Outcome {
  refused: { seq: number; reason: string; message: string }[];
  retry?: Error;
  config?: Error;
}

export class MongodbOutput implements OutputPlugin {
  readonly type = 'mongodb';
  private readonly config: MongodbConfig;
  private readonly machine: string;
  private client: MongoClient | undefined;
  private log: Logger | undefined;
  private blobs: BlobReader | undefined;
  private readonly counters: MongodbOutputStats = { documents: 0, duplicates: 0, refused: 0, batches: 0 };

  constructor(config: MongodbConfig, env: { machine: string }) {
    this.config = config;
    this.machine = env.machine;
  }

  collectionName(role: CollectionRole): string {
    return `${this.config.collectionPrefix}${role}`;
  }

  /** the driver's options from the config: TLS, credentials, timeouts, retryable writes, journaled write concern */
  clientOptions(): MongoClientOptions {
    const c = this.config;
    const tls = tlsConnectionOptions(c.tls, 'outputs.<mongodb>.tls');
    return {
      retryWrites: true,
      writeConcern: { w: c.writeConcern === '1' ? 1 : 'majority', journal: true },
      serverSelectionTimeoutMS: c.connectTimeout,
      connectTimeoutMS: c.connectTimeout,
      // a write not answered in time fails the batch, which the forwarder sends again
      socketTimeoutMS: c.writeTimeout,
      appName: `layergate:${this.machine}`,
      ...(c.username ? { auth: { username: c.username, ...(c.password ? { password: c.password } : {}) } } : {}),
      ...(c.authSource ? { authSource: c.authSource } : {}),
      ...(tls ? { tls: true, ...tls } : c.tls === false ? { tls: false } : {}),
    };
  }

  async start(ctx: OutputContext): Promise<void> {
    this.log = ctx.log;
    this.blobs = ctx.blobs;
    const client = new MongoClient(this.config.url, this.clientOptions());
    this.client = client;
    try {
      await client.connect();
      ctx.log.info({ url: redactUrl(this.config.url), database: this.config.database }, 'mongodb output connected');
    } catch (err) {
      const kind = classifyMongoError(err);
      if (kind.config !== undefined) ctx.log.error({ err, action: kind.config }, 'mongodb refused the connection; records stay in the buffer and are retried');
      else ctx.log.warn({ err }, 'mongodb not reachable at start; the forwarder retries');
    }
  }

  async stop(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    if (c) await c.close().catch(() => undefined);
  }

  stats(): MongodbOutputStats {
    return { ...this.counters };
  }

  async send(batch: StoredRecord[]): Promise<void> {
    const client = this.client;
    if (!client) throw new Error('mongodb output: send before start');
    const read = await this.withBodies(batch);
    const w = batchWrites(read.records, this.machine);
    const db = client.db(this.config.database);
    const outcome: Outcome = {
      refused: [...read.tooLarge, ...w.tooLarge].map((t) => ({
        seq: t.seq,
        reason: 'too-large',
        message: `seq ${t.seq}: its document is ${t.bytes} bytes, over BSON's ${MAX_BSON_BYTES}`,
      })),
    };
    // per collection: the record documents (one unordered insertMany: the driver's cheapest path, as a
    // hand-written exporter would write them) or the build and layer upserts (one unordered bulk write),
    // and by index the seqs each one stands for
    interface Group {
      role: CollectionRole;
      docs: IdDocument[];
      ops: AnyBulkWriteOperation<IdDocument>[];
      seqs: number[][];
    }
    const groups = new Map<string, Group>();
    const group = (role: CollectionRole, key: string) => {
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { role, docs: [], ops: [], seqs: [] }));
      return g;
    };
    for (const r of w.records) {
      const g = group(r.role, r.role);
      g.docs.push(r.doc);
      g.seqs.push([r.seq]);
    }
    for (const a of w.aggregates) {
      const g = group(a.role, a.guarded ? `${a.role}:guarded` : `${a.role}:upserts`);
      g.ops.push(a.op);
      g.seqs.push(a.seqs);
    }
    let documents = 0;
    // one collection after the other: a server that serialises its writes (FerretDB on SQLite, a busy
    // primary) answers them no later than side by side, and sooner where side-by-side writes contend
    for (const g of groups.values()) {
      const name = this.collectionName(g.role);
      const collection = db.collection<IdDocument>(name);
      try {
        if (g.docs.length > 0) await collection.insertMany(g.docs, { ordered: false });
        else await collection.bulkWrite(g.ops, { ordered: false });
        documents += g.seqs.length;
      } catch (err) {
        this.account(err, name, g.seqs, outcome);
        // the server or the link is gone: the rest would only fail the same way
        if (outcome.retry && !(err instanceof MongoBulkWriteError)) break;
      }
    }
    if (outcome.config) throw outcome.config;
    if (outcome.retry) throw outcome.retry;
    this.counters.documents += documents;
    this.counters.batches++;
    if (outcome.refused.length > 0) {
      const seqs = [...new Set(outcome.refused.map((x) => x.seq))].sort((a, b) => a - b);
      this.counters.refused += seqs.length;
      const first = outcome.refused[0]!;
      throw permanent(
        first.reason,
        `mongodb: ${seqs.length} record(s) refused: ${outcome.refused
          .slice(0, 5)
          .map((x) => x.message)
          .join('; ')}${outcome.refused.length > 5 ? '; ...' : ''}`,
        undefined,
        seqs,
      );
    }
  }

  /**
   * The records whose document is made from their body (events, scalars, JSON documents) with that body:
   * one the buffer spooled for its size is read back, unless it is over BSON's limit anyway (then it is
   * refused without reading it). A file's or frame's bytes are never read: the catalog takes their
   * size and hash from the blob reference.
   */
  private async withBodies(batch: StoredRecord[]): Promise<{ records: StoredRecord[]; tooLarge: { seq: number; bytes: number }[] }> {
    const tooLarge: { seq: number; bytes: number }[] = [];
    const records: StoredRecord[] = [];
    for (const r of batch) {
      const needsBody = r.blob && !r.body && (r.kind === 'event' || r.kind === 'scalar' || (r.kind === 'document' && isJsonContent(r.contentType)));
      if (!needsBody) {
        records.push(r);
        continue;
      }
      if (r.blob!.size > MAX_BSON_BYTES) {
        tooLarge.push({ seq: r.seq, bytes: r.blob!.size });
        continue;
      }
      if (!this.blobs) throw new Error('mongodb output: send before start');
      records.push({ ...r, body: await this.blobs.read(r.blob!) });
    }
    return { records, tooLarge };
  }

  /** What a failed bulk write of one collection means for the batch: delivered, refused seqs, retry, or config. */
  private account(err: unknown, collection: string, seqsByIndex: number[][], outcome: Outcome): void {
    const where = `mongodb ${redactUrl(this.config.url)} ${this.config.database}.${collection}`;
    const writeErrors = err instanceof MongoBulkWriteError ? (Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors]) : [];
    // per-operation errors only when every operation is accounted for (applied or refused): the driver
    // also wraps a failure of the whole command (the connection lost mid-batch) in a bulk write error,
    // then with no write errors, or with some and the rest never answered
    const result = err instanceof MongoBulkWriteError ? err.result : undefined;
    const answered = result ? result.insertedCount + result.matchedCount + result.upsertedCount + writeErrors.length : 0;
    if (err instanceof MongoBulkWriteError && writeErrors.length > 0 && !err.writeConcernError && answered >= seqsByIndex.length) {
      for (const we of writeErrors) {
        const code = we.code;
        if (code === DUPLICATE_KEY) {
          this.counters.duplicates++;
          continue;
        }
        const seqs = seqsByIndex[we.index] ?? [];
        const message = `${collection} seq ${seqs.join(',')}: ${we.errmsg ?? 'write error'} (code ${code})`;
        if (CONFIG_CODES.has(code)) {
          const kind = classifyMongoError({ code, message: we.errmsg });
          outcome.config ??= sinkConfig(kind.reason, `${where}: ${message}`, kind.config ?? 'check the user and the database', err);
        } else if (PERMANENT_CODES.has(code)) {
          for (const seq of seqs)
            outcome.refused.push({ seq, reason: code === 10334 || code === 17419 || code === 17420 ? 'too-large' : 'refused-document', message });
        } else {
          outcome.retry ??= retryable('write-error', `${where}: ${message}`, err);
        }
      }
      return;
    }
    const kind = classifyMongoError(err);
    const message = `${where}: ${(err as Error)?.message ?? String(err)}`;
    if (kind.config !== undefined) outcome.config ??= sinkConfig(kind.reason, message, kind.config, err);
    else if (err instanceof MongoServerError && PERMANENT_CODES.has(Number(err.code)) && seqsByIndex.length === 1) {
      for (const seq of seqsByIndex[0]!) outcome.refused.push({ seq, reason: 'refused-document', message });
    } else outcome.retry ??= retryable(kind.reason, message, err);
  }
}

function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//<redacted>@');
}

/** The full definition: the lazy one of ./definition.ts, and how to create an instance. */
export const definition: OutputDefinition<MongodbConfig> = {
  ...lazyDefinition,
  create: (config, env) => new MongodbOutput(config, env),
};
