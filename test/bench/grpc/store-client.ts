/**
 * The Store callers of `npm run bench:grpc`, a process of their own: the package's client (client/
 * `connectGateway`, TLS trusting exactly the API's certificate, an operator token).
 *   large <MiB> <count>              StoreStream of <count> payloads one after the other, each of random
 *                                    bytes (each different), header with size and SHA-256 (computed
 *                                    before the clock starts), 1 MiB data messages with the transport's
 *                                    backpressure; timed from the first message to the gateway's answer
 *   small <bytes> <concurrency> <ms> unary Store of JSON event documents of <bytes>, <concurrency> calls
 *                                    in flight for <ms> (after 1 s of warm-up); calls/s and latency
 * argv: <target> <certFile> <mode> ...; env LG_BENCH_GRPC_TOKEN. Waits for 'go' after 'ready'.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { connectGateway } from '../../../client/index.js';
import type { StoreHeader } from '../../../wire/generated/grpc/layergate/v1/StoreHeader.js';
import type { StoreStreamResponse__Output } from '../../../wire/generated/grpc/layergate/v1/StoreStreamResponse.js';
import { LogHistogram } from '../e2e/histogram.js';
import { smallDocument } from './documents.js';
import type { StoreCommand, StoreMessage } from './protocol.js';

const [target, certFile, mode, ...rest] = process.argv.slice(2);
const send = (m: StoreMessage): void => void process.send?.(m);
const client = connectGateway({ target: target!, token: process.env.LG_BENCH_GRPC_TOKEN ?? '', ca: readFileSync(certFile!) });
const CHUNK = 1024 * 1024;

const go = new Promise<void>((resolve) => process.on('message', (m: StoreCommand) => m.type === 'go' && resolve()));

function storeStream(header: StoreHeader, data: Buffer): Promise<StoreStreamResponse__Output> {
  return new Promise((resolve, reject) => {
    const call = client.raw.StoreStream(new grpc.Metadata(), (err, res) => (err || !res ? reject(err ?? new Error('no answer')) : resolve(res)));
    void (async () => {
      call.write({ header });
      for (let off = 0; off < data.length; off += CHUNK) {
        if (!call.write({ data: data.subarray(off, off + CHUNK) })) await new Promise((r) => call.once('drain', r));
      }
      call.end();
    })().catch(reject);
  });
}

async function large(mib: number, count: number): Promise<void> {
  const base = randomBytes(mib * 1024 * 1024);
  // warm the channel (TLS handshake, HTTP/2 settings) outside the timing
  await client.getStatus();
  send({ type: 'ready' });
  await go;
  const ms: number[] = [];
  const seqs: string[] = [];
  for (let i = 0; i < count; i++) {
    base.writeUInt32BE(i, 0);
    base.writeDoubleBE(Date.now(), 4);
    const sha256 = createHash('sha256').update(base).digest('hex');
    const header: StoreHeader = {
      dataType: 'DATA_TYPE_FILE',
      contentType: 'application/octet-stream',
      accessPattern: 'ACCESS_PATTERN_ARCHIVE',
      signal: `bench/large-${i}`,
      size: String(base.length),
      sha256,
    };
    const t0 = performance.now();
    const res = await storeStream(header, base);
    ms.push(performance.now() - t0);
    seqs.push(res.result?.seq ?? '?');
  }
  send({ type: 'large', result: { ms, bytes: base.length, seqs } });
}

async function small(size: number, concurrency: number, durationMs: number): Promise<void> {
  await client.getStatus();
  send({ type: 'ready' });
  await go;
  const latency = new LogHistogram();
  let i = 0;
  let calls = 0;
  let errors = 0;
  const errorSamples: string[] = [];
  let measuring = false;
  let stop = false;
  const header: StoreHeader = { dataType: 'DATA_TYPE_EVENT', contentType: 'application/json', signal: 'bench/doc', accessPattern: 'ACCESS_PATTERN_BATCH' };
  const loop = async (): Promise<void> => {
    while (!stop) {
      const data = smallDocument(i++, size);
      const t0 = performance.now();
      try {
        await client.store({ header, data });
        if (measuring) {
          calls++;
          latency.record(performance.now() - t0);
        }
      } catch (e) {
        errors++;
        if (errorSamples.length < 5) errorSamples.push((e as Error).message);
      }
    }
  };
  const loops = Array.from({ length: concurrency }, loop);
  await new Promise((r) => setTimeout(r, 1000));
  measuring = true;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, durationMs));
  measuring = false;
  const windowMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  stop = true;
  await Promise.all(loops);
  send({ type: 'small', result: { calls, errors, errorSamples, windowMs, latency: latency.toJSON(), cpuUs: cpu.user + cpu.system } });
}

try {
  if (mode === 'large') await large(Number(rest[0]), Number(rest[1]));
  else if (mode === 'small') await small(Number(rest[0]), Number(rest[1]), Number(rest[2]));
  else throw new Error(`unknown mode ${mode}`);
} catch (e) {
  send({ type: 'failed', message: (e as Error).stack ?? String(e) });
}
client.close();
// let the IPC message go out before leaving
setTimeout(() => process.exit(0), 200);
