/**
 * The forwarding loop against the real on-disk buffer (openBuffer in a temp folder) and the real
 * file-lake output, read back with pyarrow.
 *
 * Test doubles: a sink cannot be made to fail, hang or lose an ack on demand, so `FaultySink` wraps
 * the real file lake and injects exactly those faults (it says which in each test). Healthy sinks are
 * always the plain file lake.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import type { Logger } from 'pino';
import sharp from 'sharp';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { waitFor } from '../../test/support/wait.js';
import { readLakeWithPyarrow, setupPython } from '../../test/tools/pyarrow.js';
import { type FileLakeOutput, definition as fileLake } from '../../plugins/outputs/file-lake/index.js';
import { openBuffer } from '../buffer/index.js';
import type { RecordBuffer } from '../buffer/types.js';
import { Forwarder } from './forwarder.js';
import { outputContext } from './output-context.js';
import { fullJitterDelay } from '../plugin-api/retry.js';
import { SinkConfigError } from '../plugin-api/errors.js';
import type { OutputContext, OutputPlugin } from '../plugin-api/contract.js';
import { CONTENT_TYPES } from '../plugin-api/record.js';
import type { RecordInput, StoredRecord } from '../plugin-api/record.js';

const silent = pino({ level: 'silent' });
/** the timer vi.useFakeTimers() replaces, kept for yielding to real I/O while the fake clock stands still */
const realSetTimeout = globalThis.setTimeout;
let dir: string;
let buffer: RecordBuffer;
const forwarders: Forwarder[] = [];

beforeAll(async () => {
  await setupPython();
}, 300_000);

beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'lg-fwd-'));
});
afterEach(async () => {
  await Promise.all(forwarders.splice(0).map((f) => f.stop()));
  try {
    buffer?.close();
  } catch {
    /* closed by the test */
  }
  await fs.rm(dir, { recursive: true, force: true });
});

async function open(sinks: string[]): Promise<RecordBuffer> {
  buffer = await openBuffer({ dir: path.join(dir, 'buffer'), maxBytes: 256 * 1024 * 1024, sinks }, silent);
  return buffer;
}

async function startLake(name: string, lakeDir = path.join(dir, `lake-${name}`)): Promise<FileLakeOutput> {
  const out = fileLake.create(fileLake.configSchema.parse({ path: lakeDir }), { dataDir: dir, machine: 'pbf-01' }) as FileLakeOutput;
  await out.start(outputContext(name, buffer, silent));
  return out;
}

/** a forwarder in front of an on-premises sink (the file lake's declaration), as the gateway would start it */
function forward(output: OutputPlugin, name: string, extra: Partial<ConstructorParameters<typeof Forwarder>[0]> = {}): Forwarder {
  const f = new Forwarder({ buffer, output, name, log: silent, premises: 'on', backoff: { initialMs: 20, maxMs: 200 }, ...extra });
  forwarders.push(f);
  f.start();
  return f;
}

let value = 0;
function scalars(n: number, routes: string[], signal = 'chamber.o2'): RecordInput[] {
  return Array.from({ length: n }, () => ({
    source: 'opcua',
    signal,
    kind: 'scalar' as const,
    class: 'internal' as const,
    routes,
    build: 'JOB-42',
    contentType: CONTENT_TYPES.scalar,
    receiveTimeNs: 1_764_000_000_000_000_000n + BigInt(value),
    body: Buffer.from(JSON.stringify({ v: value++, unit: 'ppm' })),
  }));
}

/** Every scalar seq/value in a lake, in file order (file names sort by seq). */
async function lakeScalars(lakeDir: string): Promise<{ seq: number[]; value: number[] }> {
  const dump = await readLakeWithPyarrow(lakeDir);
  const seq: number[] = [];
  const values: number[] = [];
  for (const [file, d] of Object.entries(dump.files).sort(([a], [b]) => a.localeCompare(b))) {
    if (!file.startsWith('scalars/')) continue;
    seq.push(...(d.columns.seq as number[]));
    values.push(...(d.columns.value as number[]));
  }
  return { seq, value: values };
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** Fault injection around the real file lake (see the module header). */
class FaultySink implements OutputPlugin {
  readonly type = 'faulty';
  sends = 0;
  /** buffer cursor seen at each failed send: it must never have moved past an unacked batch */
  cursorsAtFailure: number[] = [];
  constructor(
    private readonly inner: OutputPlugin | null,
    private readonly fault: (attempt: number, batch: StoredRecord[]) => 'ok' | 'fail' | 'hang' | 'deliver-then-hang',
    private readonly name: string,
  ) {}
  start(ctx: OutputContext) {
    return this.inner?.start(ctx) ?? Promise.resolve();
  }
  stop() {
    return this.inner?.stop() ?? Promise.resolve();
  }
  async send(batch: StoredRecord[]): Promise<void> {
    const attempt = ++this.sends;
    switch (this.fault(attempt, batch)) {
      case 'ok':
        return this.inner!.send(batch);
      case 'fail':
        this.cursorsAtFailure.push(buffer.cursor(this.name));
        throw new Error(`injected failure #${attempt}`);
      case 'hang':
        return new Promise<void>(() => {});
      case 'deliver-then-hang': // the sink stores the batch but its ack never arrives
        await this.inner!.send(batch);
        return new Promise<void>(() => {});
    }
  }
}

/** The real file lake, with each send's size noted (an observer, not a fault). */
class CountingSink implements OutputPlugin {
  readonly type: string = 'counting';
  readonly batches: number[] = [];
  constructor(private readonly inner: OutputPlugin) {}
  start(ctx: OutputContext) {
    return this.inner.start(ctx);
  }
  stop() {
    return this.inner.stop();
  }
  async send(batch: StoredRecord[]): Promise<void> {
    this.batches.push(batch.length);
    await this.inner.send(batch);
  }
}

/**
 * The real file lake behind a gate: every send waits until the test opens it, then goes to the lake
 * (a send slowed down, as by a saturated CPU, that then succeeds).
 */
class HeldSink extends CountingSink {
  override readonly type = 'held';
  /** the seq range of each call of `send`, in call order */
  readonly sends: [number, number][] = [];
  private open!: () => void;
  private readonly opened = new Promise<void>((r) => {
    this.open = r;
  });
  override async send(batch: StoredRecord[]): Promise<void> {
    this.sends.push([batch[0]!.seq, batch[batch.length - 1]!.seq]);
    await this.opened;
    await super.send(batch);
  }
  release(): void {
    this.open();
  }
}

/** waitFor on the real clock, for while vi.useFakeTimers() holds setTimeout (Date stays real) */
async function waitForReal(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise<void>((r) => realSetTimeout(r, 10));
  }
}

describe('Forwarder', () => {
  it('moves scalars, sample blocks and frames into the file lake, woken by appends', async () => {
    await open(['lake']);
    const lakeDir = path.join(dir, 'lake-lake');
    const lake = await startLake('lake');
    // the idle fallback is one minute: anything that arrives promptly came through the 'append' event
    const f = forward(lake, 'lake', { idlePollMs: 60_000, batchSize: 25 });
    await waitFor('idle', () => f.stats().state === 'idle');

    const first = buffer.append(scalars(60, ['lake']));
    const samples = Buffer.alloc(1000 * 2 * 4);
    for (let i = 0; i < 2000; i++) samples.writeFloatLE(i / 8, i * 4);
    const image = await sharp(Buffer.alloc(640 * 480, 0x7f), { raw: { width: 640, height: 480, channels: 1 } })
      .png({ compressionLevel: 0 })
      .toBuffer();
    expect(image.length).toBeGreaterThan(64 * 1024); // large enough for the buffer's blob spool
    const second = buffer.append([
      {
        source: 'mqtt',
        signal: 'meltpool',
        kind: 'samples',
        class: 'internal',
        routes: ['lake'],
        build: 'JOB-42',
        contentType: CONTENT_TYPES.samplesF32,
        receiveTimeNs: 1_764_000_000_000_000_000n,
        sourceTimeNs: 1_764_000_000_000_000_000n,
        body: samples,
        attributes: { channels: 'pd_a,pd_b', sample_rate_hz: '50000', first_sample: '0' },
      },
      {
        source: 'frames',
        signal: 'camera',
        kind: 'frame',
        class: 'sensitive',
        routes: ['lake'],
        build: 'JOB-42',
        layer: 12,
        contentType: 'image/png',
        receiveTimeNs: 1_764_000_000_000_000_000n,
        body: image,
      },
    ]);
    expect(buffer.stats().spoolBlobs).toBe(1); // the frame travels as a spooled blob, through outputContext
    await waitFor('lake cursor', () => buffer.cursor('lake') === second.lastSeq, 30_000); // < idlePollMs

    const s = f.stats();
    expect(s).toMatchObject({ sink: 'lake', cursor: second.lastSeq, sentRecords: 62, failures: 0, consecutiveFailures: 0 });
    expect(s.batches).toBeGreaterThanOrEqual(3); // at most 25 records a batch
    expect(s.sentBytes).toBeGreaterThan(image.length + samples.length);

    const got = await lakeScalars(lakeDir);
    expect(got.seq).toEqual(range(first.firstSeq, first.lastSeq));
    const dump = await readLakeWithPyarrow(lakeDir);
    expect(dump.datasets.samples!.rows).toBe(1000);
    expect(dump.datasets.frames!.rows).toBe(1);
    const frame = Object.entries(dump.files).find(([p]) => p.startsWith('frames/'))![1];
    const imagePath = path.join(lakeDir, frame.columns.file![0] as string);
    expect((await fs.readFile(imagePath)).equals(image)).toBe(true); // byte for byte (toEqual is slow on 300 kB)
    const meta = await sharp(imagePath).metadata();
    expect([meta.width, meta.height]).toEqual([640, 480]);
  });

  it('a sink that fails N times then succeeds gets every record exactly once, in order; the cursor waits for acks', async () => {
    await open(['lake']);
    const lakeDir = path.join(dir, 'lake-lake');
    const lake = await startLake('lake');
    // fault injected: sends 2, 3 and 4 (the second batch and its first two retries) fail
    const sink = new FaultySink(lake, (n) => (n >= 2 && n <= 4 ? 'fail' : 'ok'), 'lake');
    const appended = buffer.append(scalars(35, ['lake']));
    const f = forward(sink, 'lake', { batchSize: 10 });
    await waitFor('all acked', () => buffer.cursor('lake') === appended.lastSeq);

    // during every failure the cursor stood at the end of the first (acked) batch
    expect(sink.cursorsAtFailure).toEqual([appended.firstSeq + 9, appended.firstSeq + 9, appended.firstSeq + 9]);
    expect(f.stats()).toMatchObject({ failures: 3, consecutiveFailures: 0, sentRecords: 35, batches: 4, backoffMs: 0 });
    expect(f.stats().lastError!.message).toBe('injected failure #4');
    const got = await lakeScalars(lakeDir);
    expect(got.seq).toEqual(range(appended.firstSeq, appended.lastSeq));
  });

  it('a failing and a hanging sink neither stall ingest nor a healthy sink; their lag grows', async () => {
    await open(['lake', 'broken', 'hung']);
    const lines: { level: number; msg: string; sink?: string }[] = [];
    const log: Logger = pino(
      { level: 'debug' },
      {
        write: (line: string) => {
          lines.push(JSON.parse(line));
        },
      },
    );
    const lake = await startLake('lake');
    // fault injected: 'broken' rejects every send, 'hung' never settles
    const broken = new FaultySink(null, () => 'fail', 'broken');
    const hung = new FaultySink(null, () => 'hang', 'hung');
    const fLake = forward(lake, 'lake', { log });
    const fBroken = forward(broken, 'broken', { log, backoff: { initialMs: 5, maxMs: 20 } });
    const fHung = forward(hung, 'hung', { log, sendTimeoutMs: 100, stopTimeoutMs: 100, backoff: { initialMs: 5, maxMs: 20 } });

    const all = ['lake', 'broken', 'hung'];
    let last = 0;
    const lags: number[] = [];
    for (let round = 0; round < 5; round++) {
      last = buffer.append(scalars(40, all)).lastSeq; // synchronous: ingest never waits for a sink
      await waitFor(`healthy sink, round ${round}`, () => buffer.cursor('lake') === last);
      const sinks = buffer.stats().sinks;
      lags.push(sinks.find((s) => s.sink === 'broken')!.lagRecords);
      expect(sinks.find((s) => s.sink === 'hung')!.lagRecords).toBe(40 * (round + 1));
      expect(sinks.find((s) => s.sink === 'lake')!.lagRecords).toBe(0);
    }
    expect(lags).toEqual([40, 80, 120, 160, 200]);
    expect((await lakeScalars(path.join(dir, 'lake-lake'))).seq).toHaveLength(200);

    await waitFor('hung send timed out', () => fHung.stats().failures >= 2);
    expect(fHung.stats().lastError!.message).toMatch(/did not settle within 100 ms/);
    expect(fHung.stats().abandonedSends).toBeGreaterThanOrEqual(1);
    expect(fHung.stats().abandonedSends).toBeLessThanOrEqual(4); // bounded: no pile-up of hung sends
    expect(fHung.stats().cursor).toBe(0);
    expect(fBroken.stats()).toMatchObject({ cursor: 0, sentRecords: 0 });
    expect(fBroken.stats().failures).toBeGreaterThan(5);
    expect(['backing-off', 'sending']).toContain(fBroken.stats().state);
    expect(fLake.stats().failures).toBe(0);

    // many failures, one warning per sink (then debug until the periodic reminder is due)
    const warns = lines.filter((l) => l.level === 40 && l.sink === 'broken');
    expect(warns).toHaveLength(1);
    expect(lines.filter((l) => l.level === 20 && l.sink === 'broken').length).toBe(fBroken.stats().failures - 1);

    await Promise.all([fLake.stop(), fBroken.stop(), fHung.stop()]);
    expect([fLake.stats().state, fBroken.stats().state, fHung.stats().state]).toEqual(['stopped', 'stopped', 'stopped']);
  });

  it('a sink that declares its send bounded (the file lake) is never timed out: a slow send goes once and is acked when it ends', async () => {
    await open(['lake', 'hung']);
    const lakeDir = path.join(dir, 'lake-lake');
    // fault injected: the lake's send is held (longer than any send timeout); 'hung' never settles
    const lake = new HeldSink(await startLake('lake'));
    const hung = new FaultySink(null, () => 'hang', 'hung');
    const appended = buffer.append(scalars(20, ['lake', 'hung']));
    // the clock the send timeouts and backoffs run on: ten minutes pass below with both sends in flight
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      // what the gateway passes the lake's forwarder: the lake's own declaration
      const { sendTimeoutMs } = fileLake.capabilities(fileLake.configSchema.parse({}));
      const fLake = forward(lake, 'lake', { sendTimeoutMs });
      // a sink that declares nothing, with a tiny timeout: the same ten minutes time its sends out
      const fHung = forward(hung, 'hung', { sendTimeoutMs: 50, stopTimeoutMs: 100 });
      await waitForReal('both sends in flight', () => lake.sends.length === 1 && hung.sends === 1);
      await vi.advanceTimersByTimeAsync(10 * 60_000);

      expect(hung.sends).toBeGreaterThan(1);
      expect(fHung.stats().lastError!.message).toMatch(/did not settle within 50 ms/);
      expect(lake.sends).toEqual([[appended.firstSeq, appended.lastSeq]]);
      expect(fLake.stats()).toMatchObject({ state: 'sending', cursor: 0, failures: 0, abandonedSends: 0, lastError: null });

      lake.release(); // the send ends: its records are acked, nothing was sent twice
      await waitForReal('lake acked', () => buffer.cursor('lake') === appended.lastSeq);
      expect(lake.sends).toEqual([[appended.firstSeq, appended.lastSeq]]);
      expect(fLake.stats()).toMatchObject({ sentRecords: 20, batches: 1, failures: 0, retries: 0 });
    } finally {
      vi.useRealTimers();
    }
    expect((await lakeScalars(lakeDir)).seq).toEqual(range(appended.firstSeq, appended.lastSeq));
  });

  it('stop() during a send that has not acked leaves the cursor on the last acked batch', async () => {
    await open(['lake']);
    const lake = await startLake('lake');
    let release!: () => void;
    const released = new Promise<void>((r) => {
      release = r;
    });
    let sends = 0;
    let lateSend: Promise<void> | undefined;
    // fault injected: the second send is held until the test releases it, after stop() gave up
    const held: OutputPlugin = {
      type: 'held',
      start: async () => {},
      stop: async () => {},
      send: (b) => {
        const sending = (async () => {
          if (++sends === 2) await released;
          await lake.send(b);
        })();
        if (sends === 2) lateSend = sending;
        return sending;
      },
    };
    const appended = buffer.append(scalars(20, ['lake']));
    const f = forward(held, 'lake', { batchSize: 10, stopTimeoutMs: 100, sendTimeoutMs: 60_000 });
    await waitFor('second send in flight', () => sends === 2 && buffer.cursor('lake') === appended.firstSeq + 9);

    await f.stop(); // gives up after 100 ms
    expect(f.stats().state).toBe('stopped');
    expect(buffer.cursor('lake')).toBe(appended.firstSeq + 9);
    release(); // the late send completes now, after the stop: it must not be acked
    await lateSend;
    expect(lake.stats().rows).toBe(20);
    // an ack would run in the forwarder's continuation of that send (SQLite, synchronous): one turn of
    // the event loop after it settled, every such continuation has run
    await new Promise<void>((r) => setImmediate(r));
    expect(buffer.cursor('lake')).toBe(appended.firstSeq + 9);

    // started again, it re-sends the unacked batch from the cursor
    f.start();
    await waitFor('all acked after restart', () => buffer.cursor('lake') === appended.lastSeq);
    expect(sends).toBe(3);
  });

  it('stop() lets an in-flight send finish and acks it', async () => {
    await open(['lake']);
    const lake = await startLake('lake');
    let release!: () => void;
    const released = new Promise<void>((r) => {
      release = r;
    });
    // fault injected: a slow sink (the send waits for the test), which then succeeds
    const slow: OutputPlugin = {
      type: 'slow',
      start: async () => {},
      stop: async () => {},
      send: async (b) => {
        await released;
        await lake.send(b);
      },
    };
    const appended = buffer.append(scalars(5, ['lake']));
    // the budget covers the lake's first batch, which may wait for its worker thread to boot on a busy machine
    const f = forward(slow, 'lake', { stopTimeoutMs: 30_000 });
    await waitFor('send in flight', () => f.stats().state === 'sending');
    const stopping = f.stop();
    setTimeout(release, 50);
    await stopping;
    expect(buffer.cursor('lake')).toBe(appended.lastSeq);
  });

  it('at least once across a restart: a batch delivered but not acked is sent again', async () => {
    await open(['lake']);
    const lakeDir = path.join(dir, 'lake-lake');
    const lake = await startLake('lake', lakeDir);
    // fault injected: the second batch reaches the lake, but its ack is lost (the process then stops)
    const sink = new FaultySink(lake, (n) => (n === 2 ? 'deliver-then-hang' : 'ok'), 'lake');
    const appended = buffer.append(scalars(30, ['lake']));
    const f = forward(sink, 'lake', { batchSize: 10, stopTimeoutMs: 100 });
    await waitFor('second batch in the lake', () => lake.stats().rows === 20);
    await f.stop();
    forwarders.splice(0);
    expect(buffer.cursor('lake')).toBe(appended.firstSeq + 9);
    buffer.close();

    // restart: same buffer folder, same lake folder, new processes' worth of objects
    await open(['lake']);
    expect(buffer.cursor('lake')).toBe(appended.firstSeq + 9);
    const lake2 = await startLake('lake', lakeDir);
    const f2 = forward(lake2, 'lake', { batchSize: 10 });
    await waitFor('all acked after restart', () => buffer.cursor('lake') === appended.lastSeq);
    expect(f2.stats().sentRecords).toBe(20); // the unacked batch again, then the rest
    expect(lake2.stats().duplicateFilesSkipped).toBe(1); // it was re-sent; the identical file was kept
    const got = await lakeScalars(lakeDir);
    expect(got.seq).toEqual(range(appended.firstSeq, appended.lastSeq));
  });

  it('a sink that refuses everything for its configuration (SinkConfigError) is failing, not quarantining: records stay, error logged at a bounded rate, delivered once fixed', async () => {
    // fault: the sink says its credentials are wrong until `fixed` (what a real sink says is tested
    // against real Kafka, MinIO and Redis in their output tests); then the real file lake takes the records
    await open(['lake']);
    const lake = await startLake('lake');
    let fixed = false;
    const sink: OutputPlugin = {
      type: 'misconfigured',
      start: () => Promise.resolve(),
      stop: () => Promise.resolve(),
      send: (batch) => (fixed ? lake.send(batch) : Promise.reject(new SinkConfigError('not-authorized', 'wrong password', 'check the password'))),
    };
    const lines: Record<string, unknown>[] = [];
    const log = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
    const appended = buffer.append(scalars(12, ['lake']));
    const started = Date.now();
    const f = forward(sink, 'lake', { log, dataDir: dir, backoff: { initialMs: 5, maxMs: 10 }, failureLogIntervalMs: 150 });
    await waitFor('failures', () => f.stats().failures >= 40 && Date.now() - started >= 500, 10_000, 5);
    const elapsed = Date.now() - started;
    const stats = f.stats();
    expect(stats).toMatchObject({ sentRecords: 0, quarantinedRecords: 0, permanentFailures: 0, lagRecords: 12, cursor: 0 });
    expect(stats.configFailure).toMatchObject({ reason: 'not-authorized', action: 'check the password', message: 'wrong password' });
    const errors = lines.filter((l) => l.level === 50);
    // repeated while it lasts, but at most once per failureLogIntervalMs, never once per retry
    expect(errors.length).toBeGreaterThanOrEqual(2);
    expect(errors.length).toBeLessThanOrEqual(Math.floor(elapsed / 150) + 2);
    expect(errors.length).toBeLessThan(stats.failures);
    expect(errors[0]).toMatchObject({ reason: 'not-authorized', action: 'check the password', lagRecords: 12 });
    await expect(fs.stat(path.join(dir, 'quarantine'))).rejects.toThrow();
    fixed = true;
    await waitFor('delivered', () => f.stats().cursor === appended.lastSeq, 10_000);
    expect(f.stats()).toMatchObject({ sentRecords: 12, quarantinedRecords: 0, configFailure: null, lagRecords: 0 });
    expect((await lakeScalars(path.join(dir, 'lake-lake'))).seq).toEqual(range(appended.firstSeq, appended.lastSeq));
  });
});

/** scalars received now (linger counts from a record's receive time) */
function freshScalars(n: number, routes: string[], signal = 'chamber.o2'): RecordInput[] {
  return scalars(n, routes, signal).map((r) => ({ ...r, receiveTimeNs: BigInt(Date.now()) * 1_000_000n }));
}

describe('Forwarder linger', () => {
  /** real I/O (SQLite, the lake's files) runs while the fake clock stands still: yield to it (a real
   * millisecond, not a busy spin of setImmediate, so waiting costs no CPU) */
  const ioTurn = () => new Promise<void>((r) => realSetTimeout(r, 1));
  /** the forwarder has done all it can at the current (fake) time: no send in flight, every read handled */
  async function settled(f: Forwarder): Promise<void> {
    for (let turns = 0; ; turns++) {
      await ioTurn();
      const { state } = f.stats();
      if (state === 'idle' || state === 'lingering') return;
      if (turns > 30_000) throw new Error(`forwarder still ${state}`);
    }
  }

  /**
   * 40 records, one every 25 ms of a controlled clock (Date and setTimeout faked, I/O real), into a lake
   * behind a forwarder with this linger; the batch sizes sent. After each record and each clock step the
   * test waits until the forwarder has settled, so the batches depend on the clock alone.
   */
  async function trickle(linger: number): Promise<{ batches: number[]; lakeDir: string; firstSeq: number; lastSeq: number }> {
    await open(['lake']);
    const lakeDir = path.join(dir, `lake-${linger}`);
    const sink = new CountingSink(await startLake('lake', lakeDir));
    vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout'] });
    try {
      const f = forward(sink, 'lake', { linger });
      let firstSeq = 0;
      let lastSeq = 0;
      for (let i = 0; i < 40; i++) {
        const a = buffer.append(freshScalars(1, ['lake']));
        firstSeq ||= a.firstSeq;
        lastSeq = a.lastSeq;
        await settled(f);
        await vi.advanceTimersByTimeAsync(25);
        await settled(f);
      }
      // the last partial batch goes once its oldest record is a linger old
      await vi.advanceTimersByTimeAsync(linger);
      await settled(f);
      expect(buffer.cursor('lake')).toBe(lastSeq);
      await f.stop();
      forwarders.splice(forwarders.indexOf(f), 1);
      buffer.close();
      return { batches: sink.batches, lakeDir, firstSeq, lastSeq };
    } finally {
      vi.useRealTimers();
    }
  }

  it('records trickling in one by one reach the sink in a few batches; without linger one batch each', async () => {
    const lingering = await trickle(300);
    const eager = await trickle(0);
    // records at 0, 25, ... 975 ms with a 300 ms linger: a send when the oldest waiting record is 300 ms
    // old, at 300, 600 and 900 ms (12 records each: the one arriving at that instant comes after the send),
    // and the last 4 (900..975 ms) at 1200 ms
    expect(lingering.batches).toEqual([12, 12, 12, 4]);
    expect(lingering.batches.reduce((a, b) => a + b, 0)).toBe(40);
    // the behaviour linger replaces: a send per record
    expect(eager.batches).toEqual(Array.from({ length: 40 }, () => 1));
    expect(eager.batches.length).toBeGreaterThan(2 * lingering.batches.length);
    // every record once, in order, in the lake
    const got = await lakeScalars(lingering.lakeDir);
    expect(got.seq).toEqual(range(lingering.firstSeq, lingering.lastSeq));
  });

  it('a full batch goes at once; the partial rest waits until a batch is full', async () => {
    await open(['lake']);
    const sink = new CountingSink(await startLake('lake'));
    const f = forward(sink, 'lake', { linger: 60_000, batchSize: 10 });
    const a = buffer.append(freshScalars(25, ['lake']));
    await waitFor('two full batches', () => buffer.cursor('lake') === a.firstSeq + 19, 10_000);
    // lingering is the decision not to send the partial rest before the linger ends (a minute)
    await waitFor('the partial rest lingering', () => f.stats().state === 'lingering', 10_000);
    expect(sink.batches).toEqual([10, 10]);
    expect(f.stats().state).toBe('lingering');
    expect(buffer.cursor('lake')).toBe(a.firstSeq + 19);

    // five more fill the lingering batch: it goes without waiting out the minute
    const b = buffer.append(freshScalars(5, ['lake']));
    await waitFor('the filled batch', () => buffer.cursor('lake') === b.lastSeq, 10_000);
    expect(sink.batches).toEqual([10, 10, 10]);
  });

  it('appends during a linger read nothing from the buffer; the batch is read once, when it is full', async () => {
    await open(['lake']);
    const sink = new CountingSink(await startLake('lake'));
    const f = forward(sink, 'lake', { linger: 60_000, batchSize: 1000 });
    buffer.append(freshScalars(1, ['lake']));
    await waitFor('lingering', () => f.stats().state === 'lingering');
    const reads = vi.spyOn(buffer, 'read');
    // 200 commits, each an 'append' event that wakes the lingering forwarder
    for (let i = 0; i < 200; i++) {
      buffer.append(freshScalars(1, ['lake']));
      await new Promise<void>((r) => setImmediate(r));
    }
    expect(reads).not.toHaveBeenCalled();
    expect(f.stats().state).toBe('lingering');
    // 799 more make 1,000 waiting: a full batch, read and sent without waiting out the minute
    const last = buffer.append(freshScalars(799, ['lake']));
    await waitFor('the full batch', () => buffer.cursor('lake') === last.lastSeq, 10_000);
    expect(sink.batches).toEqual([1000]);
    expect(reads.mock.calls.length).toBeGreaterThanOrEqual(1);
    reads.mockRestore();
  });

  it('a batch cut by batchBytes is full and goes at once', async () => {
    await open(['lake']);
    const sink = new CountingSink(await startLake('lake'));
    const a = buffer.append(freshScalars(10, ['lake']));
    const bodies = buffer.read('lake', 10).map((r) => r.body!.length);
    // room for three bodies a batch
    const batchBytes = bodies[0]! + bodies[1]! + bodies[2]!;
    const f = forward(sink, 'lake', { linger: 60_000, batchBytes });
    await waitFor('three full batches', () => buffer.cursor('lake') === a.firstSeq + 8, 10_000);
    await waitFor('the tenth record lingering', () => f.stats().state === 'lingering', 10_000);
    expect(sink.batches).toEqual([3, 3, 3]); // the tenth record lingers
  });

  it('records older than the linger (a backlog) go at once', async () => {
    await open(['lake']);
    const sink = new CountingSink(await startLake('lake'));
    const a = buffer.append(scalars(5, ['lake'])); // received in 2025
    forward(sink, 'lake', { linger: 60_000 });
    await waitFor('sent', () => buffer.cursor('lake') === a.lastSeq, 10_000);
    expect(sink.batches).toEqual([5]);
  });

  it('stop() during a linger returns at once and acks nothing; drain() sends the partial batch', async () => {
    await open(['lake']);
    const sink = new CountingSink(await startLake('lake'));
    const f = forward(sink, 'lake', { linger: 60_000, stopTimeoutMs: 20_000 });
    const a = buffer.append(freshScalars(3, ['lake']));
    await waitFor('lingering', () => f.stats().state === 'lingering');
    const t0 = Date.now();
    await f.stop();
    expect(Date.now() - t0).toBeLessThan(5_000); // not the linger (60 s), not the stop timeout (20 s)
    expect(f.stats().state).toBe('stopped');
    expect(sink.batches).toEqual([]);
    expect(buffer.cursor('lake')).toBe(0);

    f.start();
    await waitFor('lingering again', () => f.stats().state === 'lingering');
    f.drain(); // what the gateway does at shutdown
    await waitFor('drained', () => buffer.cursor('lake') === a.lastSeq, 10_000);
    expect(sink.batches).toEqual([3]);
  });
});

describe('fullJitterDelay', () => {
  it('is uniform below a doubling ceiling that stops at maxMs', () => {
    const b = { initialMs: 100, maxMs: 5_000 };
    expect([0, 1, 2, 3, 5, 6, 40, 2000].map((n) => fullJitterDelay(n, b, () => 0.999999))).toEqual([99, 199, 399, 799, 3199, 4999, 4999, 4999]);
    expect(fullJitterDelay(7, b, () => 0)).toBe(0);
    expect(fullJitterDelay(1, b, () => 0.5)).toBe(100);
  });
});
