/**
 * The gRPC API as plant software uses it, with the package's own client (client/) over TLS against a
 * running gateway (a `gateway-health` input, a file lake in a temp folder): who may call what, status,
 * live streams and their resumption, queries, Store and its answers, the class ceiling of tokens, and
 * the configuration calls. The standard health service and reflection are called as grpcurl or a
 * load balancer would.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LayerGateClient } from '../../../client/index.js';
import { waitFor } from '../../../test/support/wait.js';
import type { StreamRecordsResponse__Output } from '../../../wire/generated/grpc/layergate/v1/StreamRecordsResponse.js';
import { type GatewayApiRig, startGatewayApi } from '../test-support/gateway-api-rig.js';
import { grpcClient } from './test-support/grpc-rig.js';

let rig: GatewayApiRig;
let dir: string;
const clients: LayerGateClient[] = [];
const client = (who: Parameters<typeof grpcClient>[1]) => {
  const c = grpcClient(rig, who);
  clients.push(c);
  return c;
};

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'lg-grpc-'));
  rig = await startGatewayApi(path.join(dir, 'layergate.yaml'), {
    gateway: { dataDir: path.join(dir, 'data'), machine: 'm1', shutdownGraceMs: 1000 },
    inputs: { health: { type: 'gateway-health', interval: '20ms' } },
    outputs: { lake: { type: 'file-lake', path: path.join(dir, 'lake'), linger: '100ms', compactWindow: 0 } },
    classification: {
      rules: [{ name: 'secret-recipes', input: 'grpc', signal: 'recipe/*', class: 'confidential' }],
    },
    api: { grpc: { maxStreamLag: 50_000 } },
  });
});

afterAll(async () => {
  for (const c of clients) c.close();
  await rig?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const md = () => new grpc.Metadata();
/** a unary call of a raw client's method (grpc-js's overloads made one) as a promise */
// biome-ignore lint/suspicious/noExplicitAny: grpc-js methods are overloaded; the test names the answer's type
function unary<Res>(fn: (...args: any[]) => unknown, req: unknown): Promise<Res> {
  return new Promise((resolve, reject) => fn(req, md(), (e: grpc.ServiceError | null, r?: Res) => (e ? reject(e) : resolve(r as Res))));
}
const codeOf = async (p: Promise<unknown>): Promise<{ code: number; details: string }> => {
  try {
    await p;
  } catch (e) {
    const err = e as grpc.ServiceError;
    return { code: err.code, details: err.details };
  }
  throw new Error('the call succeeded');
};

/** Collect records of a stream until `until` holds; cancel; the records and gaps seen. */
async function follow(
  c: LayerGateClient,
  req: object,
  until: (records: { seq: number; signal: string; class: string }[]) => boolean,
): Promise<{ records: { seq: number; signal: string; class: string; body: Buffer }[]; gaps: { from: number; to: number }[] }> {
  const records: { seq: number; signal: string; class: string; body: Buffer }[] = [];
  const gaps: { from: number; to: number }[] = [];
  const call = c.raw.StreamRecords(req, md());
  await new Promise<void>((resolve, reject) => {
    call.on('data', (m: StreamRecordsResponse__Output) => {
      if (m.gap) gaps.push({ from: Number(m.gap.fromSeq), to: Number(m.gap.toSeq) });
      for (const r of (m.records?.records ?? []) as { seq: string; signal: string; class: string; body?: Buffer | null }[]) {
        records.push({ seq: Number(r.seq), signal: r.signal, class: r.class, body: r.body ?? Buffer.alloc(0) });
      }
      if (until(records)) {
        call.cancel();
        resolve();
      }
    });
    call.on('error', (e: grpc.ServiceError) => (e.code === grpc.status.CANCELLED ? resolve() : reject(e)));
    call.on('end', () => resolve());
  });
  return { records, gaps };
}

describe('access', () => {
  it('every RPC without a token is UNAUTHENTICATED; health and reflection answer without one', async () => {
    const { proto } = await import('../../../wire/gateway-service.js').then((m) => m.loadGatewayService());
    const bare = new proto.layergate.v1.Gateway(rig.api.grpc!.target, grpc.credentials.createSsl(Buffer.from(rig.api.tls!.cert)));
    try {
      for (const [name, req] of [
        ['GetStatus', {}],
        ['QueryRecords', {}],
        ['Store', { header: { dataType: 'DATA_TYPE_DOCUMENT', contentType: 'application/json', signal: 'x' }, data: Buffer.from('{}') }],
        ['GetConfig', {}],
        ['Explain', { input: 'health' }],
      ] as const) {
        const method = (bare as unknown as Record<string, (...args: unknown[]) => unknown>)[name]!;
        const r = await codeOf(unary(method.bind(bare), req));
        expect(r.code, name).toBe(grpc.status.UNAUTHENTICATED);
        expect(r.details, name).toMatch(/authorization: Bearer/);
      }
      const stream = bare.StreamRecords({}, md());
      const streamErr = await new Promise<grpc.ServiceError>((resolve) => stream.on('error', resolve));
      expect(streamErr.code).toBe(grpc.status.UNAUTHENTICATED);
      const wrong = new proto.layergate.v1.Gateway(rig.api.grpc!.target, grpc.credentials.createSsl(Buffer.from(rig.api.tls!.cert)));
      const withBadToken = new grpc.Metadata();
      withBadToken.set('authorization', 'Bearer lg_not_a_token');
      const bad = await codeOf(new Promise((resolve, reject) => wrong.GetStatus({}, withBadToken, (e, r) => (e ? reject(e) : resolve(r)))));
      expect(bad.code).toBe(grpc.status.UNAUTHENTICATED);
      wrong.close();

      // the standard health service, as a load balancer or grpc_health_probe calls it
      const health = grpc.loadPackageDefinition(
        (await import('@grpc/proto-loader')).loadSync('health/v1/health.proto', {
          enums: String,
          includeDirs: [path.join(path.dirname(createRequire(import.meta.url).resolve('grpc-health-check/package.json')), 'proto')],
        }),
      ) as unknown as { grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } } };
      const hc = new health.grpc.health.v1.Health(rig.api.grpc!.target, grpc.credentials.createSsl(Buffer.from(rig.api.tls!.cert)));
      const answer = await new Promise<{ status: string }>((resolve, reject) =>
        (hc as unknown as { Check: (r: unknown, cb: (e: Error | null, r: { status: string }) => void) => void }).Check(
          { service: 'layergate.v1.Gateway' },
          (e, r) => (e ? reject(e) : resolve(r)),
        ),
      );
      expect(answer.status).toBe('SERVING');
      hc.close();

      // server reflection (v1), as grpcurl lists services: the service is named without any token
      const reflectionDir = path.join(path.dirname(createRequire(import.meta.url).resolve('@grpc/reflection/package.json')), 'build', 'proto');
      const reflection = grpc.loadPackageDefinition(
        (await import('@grpc/proto-loader')).loadSync('grpc/reflection/v1/reflection.proto', { includeDirs: [reflectionDir] }),
      ) as unknown as { grpc: { reflection: { v1: { ServerReflection: grpc.ServiceClientConstructor } } } };
      const rc = new reflection.grpc.reflection.v1.ServerReflection(rig.api.grpc!.target, grpc.credentials.createSsl(Buffer.from(rig.api.tls!.cert)));
      const services = await new Promise<string[]>((resolve, reject) => {
        const call = (
          rc as unknown as { ServerReflectionInfo: () => grpc.ClientDuplexStream<unknown, { listServicesResponse?: { service: { name: string }[] } }> }
        ).ServerReflectionInfo();
        call.on('data', (m: { listServicesResponse?: { service: { name: string }[] } }) => {
          resolve((m.listServicesResponse?.service ?? []).map((x) => x.name));
          call.end();
        });
        call.on('error', reject);
        call.write({ listServices: '' });
      });
      expect(services).toContain('layergate.v1.Gateway');
      rc.close();
    } finally {
      bare.close();
    }
  });

  it('a viewer token may read but not Store (PERMISSION_DENIED naming the role); an operator may Store, not apply configuration', async () => {
    const viewer = client({ role: 'viewer' });
    const denied = await codeOf(
      viewer.store({ header: { dataType: 'DATA_TYPE_DOCUMENT', contentType: 'application/json', signal: 'v/doc' }, data: Buffer.from('{}') }),
    );
    expect(denied.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(denied.details).toMatch(/needs the role operator/);
    const operator = client({ role: 'operator' });
    const applyDenied = await codeOf(unary(operator.raw.ApplyConfig.bind(operator.raw), { yaml: 'x: 1' }));
    expect(applyDenied.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(applyDenied.details).toMatch(/needs the role admin/);
  });
});

describe('status', () => {
  it('GetStatus has the content of GET /api/v1/status', async () => {
    const viewer = client({ role: 'viewer' });
    await waitFor('health records', () => (rig.gateway.stats().inputs.health?.records ?? 0) > 5, 10_000);
    const { status } = await viewer.getStatus();
    const http = (await rig.request('GET', '/api/v1/status', { token: rig.tokenFor('viewer') })).json<{
      machine: string;
      inputs: { name: string }[];
      outputs: { name: string }[];
    }>();
    expect(status!.machine).toBe('m1');
    expect(status!.machine).toBe(http.machine);
    expect(status!.ready).toBe(true);
    expect(status!.inputs.map((i) => i.name)).toEqual(http.inputs.map((i) => i.name));
    expect(status!.outputs.map((o) => o.name)).toEqual(['lake']);
    expect(Number(status!.inputs.find((i) => i.name === 'health')!.records)).toBeGreaterThan(5);
    expect(Number(status!.buffer!.maxBytes)).toBeGreaterThan(0);
  });

  it('WatchStatus sends a status at every interval until cancelled', async () => {
    const viewer = client({ role: 'viewer' });
    const call = viewer.raw.WatchStatus({}, md());
    const seen: number[] = [];
    await new Promise<void>((resolve, reject) => {
      call.on('data', (m: { status: { uptimeSeconds: number } }) => {
        seen.push(m.status.uptimeSeconds);
        if (seen.length === 3) {
          call.cancel();
          resolve();
        }
      });
      call.on('error', (e: grpc.ServiceError) => (e.code === grpc.status.CANCELLED ? resolve() : reject(e)));
    });
    expect(seen).toHaveLength(3);
    expect(seen[2]!).toBeGreaterThan(seen[0]!);
  });
});

describe('StreamRecords', () => {
  it('live records arrive in seq order; a consumer that reconnects with after_seq gets the rest with no gap and no duplicate', async () => {
    const reader = client({ role: 'viewer' });
    const first = await follow(reader, { filter: { sources: ['health'] } }, (r) => r.length >= 30);
    const seqs = first.records.map((r) => r.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);
    const last = seqs.at(-1)!;
    // records keep coming while the consumer is away
    const away = rig.gateway.stats().inputs.health!.records;
    await waitFor('more records while away', () => rig.gateway.stats().inputs.health!.records > away + 40, 10_000);
    const resumed = await follow(reader, { filter: { sources: ['health'] }, afterSeq: String(last) }, (r) => r.length >= 60);
    expect(resumed.gaps).toEqual([]);
    // only the health input stores records in this part of the file: its seqs are every seq after `last`
    const upTo = resumed.records.at(-1)!.seq;
    expect(resumed.records.map((r) => r.seq)).toEqual(Array.from({ length: upTo - last }, (_, i) => last + 1 + i));
    expect(first.gaps).toEqual([]);
  });

  it('a viewer token limited to internal never sees a confidential record; an admin token sees it with its body opened', async () => {
    const op = client({ role: 'operator' });
    const secret = Buffer.from(JSON.stringify({ laserPowerW: 285, hatch: 0.11 }));
    const stored = await op.store({ header: { dataType: 'DATA_TYPE_DOCUMENT', contentType: 'application/json', signal: 'recipe/ti64-v3' }, data: secret });
    expect(stored.result!.class).toBe('SENSITIVITY_CLASS_CONFIDENTIAL');
    const seq = Number(stored.result!.seq);
    const limited = client({ role: 'viewer', maxClass: 'internal' });
    const seen = await follow(limited, { afterSeq: String(seq - 5) }, (r) => r.some((x) => x.seq > seq + 5));
    expect(seen.records.map((r) => r.seq)).not.toContain(seq);
    expect(seen.records.every((r) => r.class !== 'SENSITIVITY_CLASS_CONFIDENTIAL')).toBe(true);
    const query = await unary<{ records: { seq: string }[] }>(limited.raw.QueryRecords.bind(limited.raw), { fromSeq: String(seq), toSeq: String(seq) });
    expect(query.records).toEqual([]);
    const admin = client({ role: 'admin' });
    const full = await follow(admin, { afterSeq: String(seq - 1), filter: { signals: ['recipe/*'] } }, (r) => r.length >= 1);
    expect(full.records[0]!.seq).toBe(seq);
    expect(full.records[0]!.body.equals(secret)).toBe(true);
  });

  it('a revoked token ends its streams (UNAUTHENTICATED): records within a second, status at the next interval', async () => {
    const made = rig.api.identity.createToken({ label: 'grpc-revoked', role: 'viewer', maxClass: 'internal', expiresMs: null, createdBy: 'test' });
    const c = client({ token: made.token });
    const call = c.raw.StreamRecords({ filter: { sources: ['health'] } }, md());
    const status = c.raw.WatchStatus({}, md());
    let received = 0;
    let statuses = 0;
    call.on('data', () => received++);
    status.on('data', () => statuses++);
    const ended = new Promise<grpc.ServiceError>((resolve) => call.on('error', resolve));
    const statusEnded = new Promise<grpc.ServiceError>((resolve) => status.on('error', resolve));
    await waitFor('records and a status on the streams', () => received > 0 && statuses > 0, 10_000);
    const revokedAt = Date.now();
    rig.api.identity.revokeToken(made.info.id);
    const err = await ended;
    expect(err.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(err.details).toMatch(/revoked or expired/);
    expect(Date.now() - revokedAt).toBeLessThan(2_000);
    // the status stream checks at every status interval (1 s here)
    const statusErr = await statusEnded;
    expect(statusErr.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(Date.now() - revokedAt).toBeLessThan(3_000);
  });

  it('a consumer that falls behind is cancelled with RESOURCE_EXHAUSTED saying how far behind it was, and the gateway does not hold what it did not read', async () => {
    const slow = client({ role: 'viewer' });
    const call = slow.raw.StreamRecords({ maxBatch: 4096 }, md());
    let received = 0;
    let receivedRecords = 0;
    call.on('data', (m: StreamRecordsResponse__Output) => {
      received++;
      receivedRecords += m.records?.records.length ?? 0;
      // take the first message, then read nothing while the load runs: HTTP/2 flow control stops the server's writes
      if (received === 1) call.pause();
    });
    const ended = new Promise<grpc.ServiceError>((resolve) => call.on('error', resolve));
    await waitFor('the first message (the health input feeds the stream)', () => received === 1, 10_000);
    const load = rig.gateway.pipeline.contextFor('load');
    const body = randomBytes(200);
    // 150,000 records of 200 bytes (30 MB of bodies, three times maxStreamLag) while the consumer reads nothing
    for (let i = 0; i < 150; i++) {
      await load.emit(
        Array.from({ length: 1000 }, (_, j) => ({ signal: `load.v${j % 50}`, kind: 'event' as const, contentType: 'application/octet-stream', body })),
      );
      // an input yields to I/O between batches (its socket, its timer); so does this one, or the stream would never run
      await new Promise((r) => setImmediate(r));
    }
    // the stream is over the lag: the gateway ends it; the status follows the page already sent, so the consumer reads on to get it
    await new Promise((r) => setTimeout(r, 1500));
    call.resume();
    const err = await Promise.race([ended, new Promise<undefined>((r) => setTimeout(() => r(undefined), 15_000))]);
    expect(err, 'the stream was not cancelled').toBeDefined();
    expect(err!.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(err!.details).toMatch(/the stream was \d+ records behind the newest .* resume with after_seq \d+/);
    const behind = Number(/was (\d+) records behind/.exec(err!.details)![1]);
    expect(behind).toBeGreaterThan(50_000);
    // what the gateway sent reached the consumer once it read again (the transport's window and the client's
    // own read-ahead); the records it was behind by were never sent: they stayed in the buffer, not in flight
    expect(receivedRecords).toBeLessThan(150_000 - 50_000);

    // resumed from the seq the message names, a consumer that reads catches up: a replay is never "behind"
    const [, sent, stored] = /\(seq (\d+) sent, (\d+) stored/.exec(err!.details)!.map(Number);
    const resumed = await follow(slow, { afterSeq: String(sent), maxBatch: 4096 }, (r) => (r.at(-1)?.seq ?? 0) >= stored!);
    expect(resumed.gaps).toEqual([]);
    expect(resumed.records[0]!.seq).toBe(sent! + 1);
    const seqs = resumed.records.map((r) => r.seq);
    expect(seqs.every((q, i) => i === 0 || q === seqs[i - 1]! + 1)).toBe(true);
  });
});

describe('Store', () => {
  it('stores a document, answers with its seq, class and routes, and QueryRecords returns it byte for byte', async () => {
    const op = client({ role: 'operator' });
    const doc = Buffer.from(JSON.stringify({ job: 'J-1042', material: 'Ti-6Al-4V', lot: 'P-77' }));
    const { result } = await op.store({
      header: {
        dataType: 'DATA_TYPE_DOCUMENT',
        contentType: 'application/json',
        signal: 'mes/job',
        build: 'B-1042',
        layer: 0,
        accessPattern: 'ACCESS_PATTERN_BATCH',
        metadata: { station: 'mes-2' },
      },
      data: doc,
    });
    expect(result!.class).toBe('SENSITIVITY_CLASS_INTERNAL');
    expect(result!.routes).toEqual(['lake']);
    expect(result!.kind).toBe('RECORD_KIND_DOCUMENT');
    expect(result!.sha256).toBe(createHash('sha256').update(doc).digest('hex'));
    const viewer = client({ role: 'viewer' });
    const q = await unary<{
      records: { seq: string; signal: string; body: Buffer; build: string; layer: number; attributes: Record<string, string>; source: string }[];
    }>(viewer.raw.QueryRecords.bind(viewer.raw), { fromSeq: result!.seq, toSeq: result!.seq });
    expect(q.records).toHaveLength(1);
    const r = q.records[0]!;
    expect(r.source).toBe('grpc');
    expect(r.signal).toBe('mes/job');
    expect(r.build).toBe('B-1042');
    expect(r.layer).toBe(0);
    expect(Buffer.from(r.body).equals(doc)).toBe(true);
    expect(r.attributes).toMatchObject({ station: 'mes-2', access_pattern: 'batch', data_type: 'document' });
  });

  it('concurrent Store calls are committed together, and each answer names its own record', async () => {
    const op = client({ role: 'operator' });
    const docs = Array.from({ length: 200 }, (_, i) => Buffer.from(JSON.stringify({ i, pad: 'x'.repeat(i) })));
    const answers = await Promise.all(
      docs.map((d, i) => op.store({ header: { dataType: 'DATA_TYPE_DOCUMENT', contentType: 'application/json', signal: `batch/doc-${i}` }, data: d })),
    );
    const seqs = answers.map((a) => Number(a.result!.seq));
    expect(new Set(seqs).size).toBe(200);
    const viewer = client({ role: 'viewer' });
    const q = await unary<{ records: { seq: string; signal: string; body: Buffer }[] }>(viewer.raw.QueryRecords.bind(viewer.raw), {
      fromSeq: String(Math.min(...seqs)),
      toSeq: String(Math.max(...seqs)),
      filter: { signals: ['batch/doc-*'] },
      pageSize: 500,
    });
    const bySeq = new Map(q.records.map((r) => [Number(r.seq), r]));
    docs.forEach((d, i) => {
      const r = bySeq.get(seqs[i]!)!;
      expect(r.signal).toBe(`batch/doc-${i}`);
      expect(Buffer.from(r.body).equals(d)).toBe(true);
    });
  });

  it('a stricter class asked for is applied, a laxer one is not', async () => {
    const op = client({ role: 'operator' });
    const stricter = await op.store({
      header: { dataType: 'DATA_TYPE_DOCUMENT', contentType: 'application/json', signal: 'qa/report', class: 'SENSITIVITY_CLASS_SENSITIVE' },
      data: Buffer.from('{}'),
    });
    expect(stricter.result!.class).toBe('SENSITIVITY_CLASS_SENSITIVE');
    expect(stricter.result!.rule).toMatch(/asked by the caller/);
    const laxer = await op.store({
      header: { dataType: 'DATA_TYPE_DOCUMENT', contentType: 'application/json', signal: 'recipe/x', class: 'SENSITIVITY_CLASS_PUBLIC' },
      data: Buffer.from('{}'),
    });
    expect(laxer.result!.class).toBe('SENSITIVITY_CLASS_CONFIDENTIAL');
    expect(laxer.result!.rule).toBe('rule secret-recipes');
  });

  it('a large file through StoreStream is stored whole, spooled, and GetBlob streams it back (hash compared)', async () => {
    const op = client({ role: 'operator' });
    const file = randomBytes(9 * 1024 * 1024 + 123);
    const { result } = await op.store({ header: { dataType: 'DATA_TYPE_FILE', contentType: 'model/3mf', signal: 'mes/build-file' }, data: file });
    expect(Number(result!.size)).toBe(file.length);
    const viewer = client({ role: 'viewer' });
    const chunks: Buffer[] = [];
    await new Promise<void>((resolve, reject) => {
      const call = viewer.raw.GetBlob({ seq: result!.seq, chunkSize: 1024 * 1024 }, md());
      call.on('data', (c: { data: Buffer; offset: string; size: string }) => {
        expect(Number(c.size)).toBe(file.length);
        expect(Number(c.offset)).toBe(chunks.reduce((n, b) => n + b.length, 0));
        chunks.push(c.data);
      });
      call.on('end', () => resolve());
      call.on('error', reject);
    });
    expect(chunks.length).toBe(10);
    expect(createHash('sha256').update(Buffer.concat(chunks)).digest('hex')).toBe(createHash('sha256').update(file).digest('hex'));
  });

  it('refuses bad input naming the field (INVALID_ARGUMENT), a payload above the limit (RESOURCE_EXHAUSTED), a stream whose bytes do not match its header', async () => {
    const op = client({ role: 'operator' });
    const noType = await codeOf(op.store({ header: { contentType: 'application/json', signal: 's' }, data: Buffer.from('{}') }));
    expect(noType.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(noType.details).toMatch(/header\.data_type: required/);
    const noSignal = await codeOf(op.store({ header: { dataType: 'DATA_TYPE_DOCUMENT', contentType: 'application/json' }, data: Buffer.from('{}') }));
    expect(noSignal.details).toMatch(/header\.signal: required/);
    const badScalar = await codeOf(
      op.store({ header: { dataType: 'DATA_TYPE_TIME_SERIES', signal: 'lab/o2' }, data: Buffer.from('{"v": "abc", "type": "int32"}') }),
    );
    expect(badScalar.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(badScalar.details).toMatch(/data: not a scalar body/);
    const scalar = await op.store({
      header: { dataType: 'DATA_TYPE_TIME_SERIES', signal: 'lab/o2' },
      data: Buffer.from('{"v": -300, "type": "int16", "unit": "ppm"}'),
    });
    expect(scalar.result!.kind).toBe('RECORD_KIND_SCALAR');

    const lying = await codeOf(
      new Promise((resolve, reject) => {
        const c = op.raw.StoreStream(md(), (e, r) => (e ? reject(e) : resolve(r)));
        c.write({ header: { dataType: 'DATA_TYPE_FILE', contentType: 'application/octet-stream', signal: 'x/lying', size: '10', sha256: '0'.repeat(64) } });
        c.write({ data: Buffer.alloc(10, 1) });
        c.end();
      }),
    );
    expect(lying.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(lying.details).toMatch(/header\.sha256 says 0+, the data hashes to [0-9a-f]{64}; nothing was stored/);

    const before = rig.gateway.stats().inputs.grpc?.records ?? 0;
    const tooBig = await codeOf(
      new Promise((resolve, reject) => {
        const c = op.raw.StoreStream(md(), (e, r) => (e ? reject(e) : resolve(r)));
        c.write({ header: { dataType: 'DATA_TYPE_FILE', contentType: 'application/octet-stream', signal: 'x/big', size: String(2 * 1024 ** 3) } });
        c.end();
      }),
    );
    expect(tooBig.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(tooBig.details).toMatch(/maxStoreBytes/);
    expect(rig.gateway.stats().inputs.grpc?.records ?? 0).toBe(before);
  });

  it('UploadFrame stores a camera frame as a frame record; bytes that are not the image type are refused', async () => {
    const op = client({ role: 'operator' });
    const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), randomBytes(1000)]);
    const upload = (contentType: string, data: Buffer) =>
      new Promise<{ result: { kind: string; seq: string } }>((resolve, reject) => {
        const c = op.raw.UploadFrame(md(), (e, r) => (e ? reject(e) : resolve(r as never)));
        c.write({ header: { camera: 'powderbed', contentType, layer: 12, phase: 'after-recoat', size: String(data.length) } });
        c.write({ data });
        c.end();
      });
    const ok = await upload('image/png', png);
    expect(ok.result.kind).toBe('RECORD_KIND_FRAME');
    const bad = await codeOf(upload('image/jpeg', png));
    expect(bad.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(bad.details).toMatch(/not a image\/jpeg image/);
  });
});

describe('configuration and policy', () => {
  it('GetConfig, ValidateConfig (problems with their paths), ApplyConfig refusing a bad config with INVALID_ARGUMENT, ListVersions, Explain', async () => {
    const admin = client({ role: 'admin' });
    const cfg = await unary<{ yaml: string; origin: string }>(admin.raw.GetConfig.bind(admin.raw), {});
    expect(cfg.yaml).toMatch(/file-lake/);
    const invalid = await unary<{ ok: boolean; problems: string[] }>(admin.raw.ValidateConfig.bind(admin.raw), {
      yaml: 'gateway: { dataDir: /tmp/x }\noutputs:\n  lake: { type: file-lake, linger: forever }\n',
    });
    expect(invalid.ok).toBe(false);
    expect(invalid.problems.join('\n')).toMatch(/outputs\.lake/);
    const refused = await codeOf(unary(admin.raw.ApplyConfig.bind(admin.raw), { yaml: 'outputs:\n  lake: { type: no-such-output }\n' }));
    expect(refused.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(refused.details).toMatch(/outputs\.lake/);
    const versions = await unary<{ versions: unknown[] }>(admin.raw.ListVersions.bind(admin.raw), {});
    expect(Array.isArray(versions.versions)).toBe(true);
    const viewer = client({ role: 'viewer' });
    const e = await unary<{ class: string; rule: string; routes: string[] }>(viewer.raw.Explain.bind(viewer.raw), {
      input: 'grpc',
      signal: 'recipe/a',
      kind: 'RECORD_KIND_DOCUMENT',
    });
    expect(e.class).toBe('SENSITIVITY_CLASS_CONFIDENTIAL');
    expect(e.rule).toBe('rule secret-recipes');
    expect(e.routes).toEqual(['lake']);
  });
});

describe('a full buffer under the block policy', () => {
  let full: GatewayApiRig;
  let fullDir: string;
  afterAll(async () => {
    await full?.stop();
    if (fullDir) rmSync(fullDir, { recursive: true, force: true });
  });

  it('Store answers FAILED_PRECONDITION at once, naming the full buffer, instead of holding the call', async () => {
    fullDir = mkdtempSync(path.join(os.tmpdir(), 'lg-grpc-full-'));
    full = await startGatewayApi(path.join(fullDir, 'layergate.yaml'), {
      gateway: { dataDir: path.join(fullDir, 'data'), machine: 'm1', shutdownGraceMs: 500 },
      buffer: { maxBytes: '8MiB', fullPolicy: { internal: 'block' } },
      inputs: {},
      // a sink that never takes anything (nothing listens on the discard port): what is stored stays undelivered
      outputs: { kafka: { type: 'kafka', brokers: ['127.0.0.1:9'] } },
    });
    const op = grpcClient(full, { role: 'operator' });
    clients.push(op);
    let refused: { code: number; details: string } | undefined;
    for (let i = 0; i < 40 && refused === undefined; i++) {
      try {
        // a new body each time: spooled bodies are content-addressed, the same bytes twice take the room once
        await op.store({ header: { dataType: 'DATA_TYPE_FILE', contentType: 'application/octet-stream', signal: `fill/${i}` }, data: randomBytes(512 * 1024) });
      } catch (e) {
        const err = e as grpc.ServiceError;
        refused = { code: err.code, details: err.details };
      }
    }
    expect(refused, 'the buffer never filled').toBeDefined();
    expect(refused!.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(refused!.details).toMatch(/LG_BUFFER_FULL/);
    expect(full.gateway.stats().inputs.grpc?.failedEmits).toBeGreaterThan(0);
  });
});
