/**
 * How fast the file lake's `send` takes the plant's ordinary workload: scalar batches from 5,000
 * signals (5,000 OPC-UA items at 10 Hz), written into a temp folder. Prints records/s of `send`, CPU
 * per million records, bytes on disk per record, files and folders, and (when the lake has one) what
 * its background compaction then costs. A quick measurement to run by hand, not a test:
 *
 *   npm run bench:lake-cost -- [--batch 100000] [--records 1000000] [--format arrow|parquet] [--seconds 60]
 *
 * It stops after `--records` or `--seconds`, whichever comes first (a slow lake would take hours).
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import type { StoredRecord } from '../../gateway/plugin-api/index.js';
import { CONTENT_TYPES } from '../../gateway/plugin-api/index.js';
import { definition } from '../../plugins/outputs/file-lake/index.js';

const { values: args } = parseArgs({
  options: {
    batch: { type: 'string', default: '100000' },
    records: { type: 'string', default: '1000000' },
    signals: { type: 'string', default: '5000' },
    format: { type: 'string', default: 'arrow' },
    seconds: { type: 'string', default: '60' },
  },
});
const batchSize = Number(args.batch);
const total = Number(args.records);
const signals = Number(args.signals);
const budgetMs = Number(args.seconds) * 1000;

const T0 = BigInt(Date.UTC(2026, 0, 12, 9, 0, 0)) * 1_000_000n;
const names = Array.from({ length: signals }, (_, i) => `ns=2;s=Machine.Process.Item${String(i).padStart(4, '0')}`);
let seq = 1;
/** one cycle every 100 ms: every signal once, as a 10 Hz OPC-UA subscription delivers them */
function batch(n: number): StoredRecord[] {
  const out: StoredRecord[] = [];
  for (let i = 0; i < n; i++, seq++) {
    const cycle = Math.floor((seq - 1) / signals);
    const t = T0 + BigInt(cycle) * 100_000_000n;
    out.push({
      seq,
      source: 'opcua',
      signal: names[(seq - 1) % signals]!,
      kind: 'scalar',
      class: 'internal',
      contentType: CONTENT_TYPES.scalar,
      sourceTimeNs: t - 3_000_000n,
      receiveTimeNs: t,
      build: 'B-0001',
      layer: 1 + Math.floor(cycle / 300),
      routes: ['lake'],
      body: Buffer.from(JSON.stringify({ v: Math.round(Math.sin(seq) * 1e6) / 1e3, unit: 'mm/s', quality: 'good' })),
    });
  }
  return out;
}

async function du(root: string): Promise<{ bytes: number; files: number; folders: number }> {
  let bytes = 0;
  let files = 0;
  let folders = 0;
  for (const e of await fs.readdir(root, { recursive: true, withFileTypes: true })) {
    if (e.isDirectory()) folders++;
    else if (e.isFile() && !e.parentPath.includes(`${path.sep}.tmp`)) {
      files++;
      bytes += (await fs.stat(path.join(e.parentPath, e.name))).size;
    }
  }
  return { bytes, files, folders };
}

const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'lg-lake-measure-'));
const log = pino({ level: 'silent' });
const out = definition.create(definition.configSchema.parse({ path: path.join(dir, 'lake'), format: args.format }), { dataDir: dir, machine: 'pbf-01' });
await out.start({ name: 'lake', log, blobs: { path: () => '', read: () => Promise.reject(new Error('no blobs')) } });
// the compactor would run in the background of a running gateway; here it is measured on its own, after
const compactor = (out as unknown as { compactNow?: () => Promise<unknown> }).compactNow;

let sent = 0;
let sendMs = 0;
let maxSendMs = 0;
const heapBefore = process.memoryUsage().heapUsed;
let heapPeak = 0;
let cpuMs = 0;
const start = performance.now();
while (sent < total && performance.now() - start < budgetMs) {
  const b = batch(Math.min(batchSize, total - sent));
  heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed - heapBefore);
  const t = performance.now();
  const c = process.cpuUsage();
  await out.send(b);
  const used = process.cpuUsage(c);
  cpuMs += (used.user + used.system) / 1000;
  const ms = performance.now() - t;
  sendMs += ms;
  maxSendMs = Math.max(maxSendMs, ms);
  sent += b.length;
}
const afterSend = await du(path.join(dir, 'lake'));
console.log(
  JSON.stringify({
    batch: batchSize,
    format: args.format,
    records: sent,
    sendRecordsPerSecond: Math.round(sent / (sendMs / 1000)),
    maxSendMs: Math.round(maxSendMs),
    // CPU of the sends alone (the machine this runs on may be shared: wall time is noisy, CPU is not)
    sendCpuSecondsPerMillionRecords: +((cpuMs / 1000) * (1e6 / sent)).toFixed(2),
    batchHeapMiB: +(heapPeak / 2 ** 20).toFixed(1),
    diskBytesPerRecord: +(afterSend.bytes / sent).toFixed(1),
    files: afterSend.files,
    folders: afterSend.folders,
  }),
);
if (compactor) {
  const c0 = process.cpuUsage();
  const t = performance.now();
  await compactor.call(out);
  const c = process.cpuUsage(c0);
  const after = await du(path.join(dir, 'lake'));
  console.log(
    JSON.stringify({
      compactionSeconds: +((performance.now() - t) / 1000).toFixed(2),
      compactionCpuSecondsPerMillionRecords: +(((c.user + c.system) / 1e6) * (1e6 / sent)).toFixed(2),
      diskBytesPerRecord: +(after.bytes / sent).toFixed(1),
      files: after.files,
      folders: after.folders,
    }),
  );
}
await out.stop();
await fs.rm(dir, { recursive: true, force: true });
