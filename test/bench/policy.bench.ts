/**
 * What classification, routing and encryption at rest cost on the ingest path, each against a raw
 * baseline measured in the same run:
 *   1. classify, per record: the rule engine (`Classifier.classOf`, the AM policy of the example
 *      config, 200 distinct signals, cache warm) against the former fixed rule (the stricter of the
 *      input's class and the record's proposal). Target: >= 2M records/s (the ingest target is 50k/s:
 *      the engine must stay a rounding error, < 3% of the budget).
 *   2. the whole emit path (pipeline + SQLite buffer, synchronous NORMAL, batches of 1000 scalars):
 *      with the AM policy, a build rule and a marked job against no rules. Target: >= 0.90.
 *   3. append of confidential 4 KiB bodies (a fresh buffer per record, as inputs hand them over)
 *      through the sealing buffer (AES-256-GCM per record) against the same bodies appended
 *      unsealed. Target: >= 0.70.
 * The bench reports PASS/MISS; it never fails a build. Medians of 3 rounds, ratios paired per round.
 *
 *   npm run bench:policy
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { openBuffer } from '../../gateway/buffer/index.js';
import { Classifier } from '../../gateway/classify/classifier.js';
import { classificationSchema } from '../../gateway/classify/schema.js';
import { AesGcmSealer, newKeyLine, parseKeyRing } from '../../gateway/crypto/sealer.js';
import { SealingBuffer } from '../../gateway/crypto/sealing-buffer.js';
import { Pipeline } from '../../gateway/ingest/pipeline.js';
import type { RecordDraft } from '../../gateway/plugin-api/contract.js';
import { CONTENT_TYPES, classRank } from '../../gateway/plugin-api/record.js';
import type { RecordInput, RecordKind, SensitivityClass } from '../../gateway/plugin-api/record.js';

const log = pino({ level: 'silent' });
const ROUNDS = 3;

const AM_POLICY = classificationSchema.parse({
  default: 'internal',
  rules: [
    { name: 'frames', kind: 'frame', class: 'sensitive' },
    { name: 'job-files', kind: 'document', class: 'confidential' },
    { name: 'scan-vectors', signal: '{scan,job.parameters}.*', class: 'confidential' },
    { name: 'job-names', signal: 'machine.{build,customer}', class: 'sensitive' },
    { name: 'kpis', signal: 'kpi.*', class: 'public' },
    { name: 'customer-x', build: 'CUSTX-*', class: 'confidential' },
  ],
});
const SIGNALS = Array.from({ length: 200 }, (_, i) => (i % 50 === 0 ? `kpi.k${i}` : `Chamber.Sensor${i}`));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
function rate(n: number, run: () => void): number {
  const t0 = process.hrtime.bigint();
  run();
  return n / (Number(process.hrtime.bigint() - t0) / 1e9);
}

// ---- 1. classify per record ------------------------------------------------------------------
function classifyRound(): { raw: number; engine: number } {
  const N = 2_000_000;
  const kind: RecordKind = 'scalar';
  let sink = 0;
  const raw = rate(N, () => {
    const inputClass: SensitivityClass = 'internal';
    for (let i = 0; i < N; i++) {
      const proposed: SensitivityClass | undefined = i % 7 === 0 ? 'sensitive' : undefined;
      const own = proposed ?? inputClass;
      const cls = own === inputClass || classRank(own) >= classRank(inputClass) ? own : inputClass;
      sink += cls.length + SIGNALS[i % 200]!.length;
    }
  });
  const c = new Classifier(AM_POLICY);
  const engine = rate(N, () => {
    for (let i = 0; i < N; i++) {
      const proposed: SensitivityClass | undefined = i % 7 === 0 ? 'sensitive' : undefined;
      const cls = c.classOf('opcua', SIGNALS[i % 200]!, kind, i % 3 === 0 ? 'CUSTX-1' : 'B-1', proposed, undefined, undefined, undefined);
      sink += cls.length;
    }
  });
  if (sink === 0) console.log('');
  return { raw, engine };
}

// ---- 2. the emit path ------------------------------------------------------------------------
async function emitRound(withPolicy: boolean): Promise<number> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lg-bench-policy-'));
  const buffer = openBuffer({ dir: path.join(dir, 'buffer'), maxBytes: 4 * 1024 ** 3, sinks: ['lake'], synchronous: 'NORMAL' }, log);
  const p = new Pipeline({
    buffer,
    outputs: [{ name: 'lake', plugin: { premises: 'on' } }],
    dataDir: dir,
    quarantineMaxBytes: 1 << 20,
    log,
    ...(withPolicy ? { classifier: new Classifier(AM_POLICY) } : {}),
  });
  const ctx = p.contextFor('opcua');
  if (withPolicy) ctx.setMachineContext({ build: 'CUSTX-1', jobClass: 'sensitive', material: 'Ti6Al4V' });
  const body = Buffer.from('{"v":21.5,"unit":"ppm","quality":"Good"}');
  const batches = 200;
  const batch: RecordDraft[] = Array.from({ length: 1000 }, (_, i) => ({ signal: SIGNALS[i % 200]!, kind: 'scalar', contentType: CONTENT_TYPES.scalar, body }));
  const t0 = process.hrtime.bigint();
  for (let b = 0; b < batches; b++) await ctx.emit(batch);
  const r = (batches * batch.length) / (Number(process.hrtime.bigint() - t0) / 1e9);
  buffer.close();
  rmSync(dir, { recursive: true, force: true });
  return r;
}

// ---- 3. sealed append ------------------------------------------------------------------------
function appendRound(sealed: boolean): number {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lg-bench-seal-'));
  const inner = openBuffer({ dir: path.join(dir, 'buffer'), maxBytes: 4 * 1024 ** 3, sinks: ['lake'], synchronous: 'NORMAL' }, log);
  const buffer = sealed ? new SealingBuffer(inner, new AesGcmSealer(parseKeyRing(newKeyLine('k1'), 'bench'))) : inner;
  const body = Buffer.alloc(4096, 7);
  const batches = 100;
  const records = (b: number): RecordInput[] =>
    Array.from({ length: 256 }, (_, i) => ({
      source: 'mes',
      signal: 'job.parameters',
      kind: 'document',
      class: 'confidential',
      contentType: 'application/octet-stream',
      // a fresh body per record, as an input hands them over
      receiveTimeNs: BigInt(b * 1000 + i),
      body: Buffer.from(body),
      routes: ['lake'],
    }));
  const r = rate(batches * 256, () => {
    for (let b = 0; b < batches; b++) buffer.append(records(b));
  });
  buffer.close();
  rmSync(dir, { recursive: true, force: true });
  return r;
}

const rounds: { raw: number; engine: number; emitBase: number; emitPolicy: number; plain: number; seal: number }[] = [];
for (let i = 0; i < ROUNDS; i++) {
  const c = classifyRound();
  // alternate the order so a warming disk or cache does not favour one side
  const emitBase = i % 2 === 0 ? await emitRound(false) : 0;
  const emitPolicy = await emitRound(true);
  const emitBase2 = i % 2 === 1 ? await emitRound(false) : emitBase;
  const plain = appendRound(false);
  const seal = appendRound(true);
  rounds.push({ raw: c.raw, engine: c.engine, emitBase: emitBase2, emitPolicy, plain, seal });
}

const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const m = (k: keyof (typeof rounds)[number]) => median(rounds.map((r) => r[k]));
const ratio = (a: keyof (typeof rounds)[number], b: keyof (typeof rounds)[number]) => median(rounds.map((r) => r[a] / r[b]));
const rows = [
  ['classify per record (records/s)', fmt(m('raw')), fmt(m('engine')), fmt(ratio('engine', 'raw'), 2)],
  ['emit: pipeline + buffer, 1000 scalars/batch (records/s)', fmt(m('emitBase')), fmt(m('emitPolicy')), fmt(ratio('emitPolicy', 'emitBase'), 2)],
  ['append confidential 4 KiB (records/s)', fmt(m('plain')), fmt(m('seal')), fmt(ratio('seal', 'plain'), 2)],
];
const header = ['case', 'baseline', 'with policy/sealing', 'ratio'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
console.log('classification, routing and sealing on the ingest path (baselines: fixed class rule; no rules; unsealed append)');
console.log(line(header));
console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
for (const r of rows) console.log(line(r));
console.log();
console.log(`classify: ${fmt(m('engine'))} records/s (target >= 2,000,000): ${m('engine') >= 2_000_000 ? 'PASS' : 'MISS'}`);
console.log(
  `emit with policy / without = ${fmt(ratio('emitPolicy', 'emitBase'), 2)} (target >= 0.90): ${ratio('emitPolicy', 'emitBase') >= 0.9 ? 'PASS' : 'MISS'}`,
);
console.log(`sealed / unsealed append = ${fmt(ratio('seal', 'plain'), 2)} (target >= 0.70): ${ratio('seal', 'plain') >= 0.7 ? 'PASS' : 'MISS'}`);
console.log('(medians of 3 rounds; ratios paired within a round; the machine is shared, figures are indicative)');
