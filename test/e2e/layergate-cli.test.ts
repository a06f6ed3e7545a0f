import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { openBuffer } from '../../gateway/buffer/index.js';
import { loadConfig } from '../../gateway/config/load.js';
import { MalformedInputError } from '../../gateway/plugin-api/errors.js';
import { bufferOptions } from '../../gateway/runtime/gateway.js';
import { Pipeline } from '../../gateway/ingest/pipeline.js';
import { CONTENT_TYPES } from '../../gateway/plugin-api/record.js';
import type { RecordInput } from '../../gateway/plugin-api/record.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const tsxLoader = createRequire(import.meta.url).resolve('tsx');

function cli(args: string[], cwd = repo, env: NodeJS.ProcessEnv = {}) {
  const childEnv = { ...process.env, ...env };
  delete childEnv.LAYERGATE_CONFIG;
  delete childEnv.LAYERGATE_DATA_DIR;
  const r = spawnSync(process.execPath, ['--import', tsxLoader, path.join(repo, 'gateway/cli/main.ts'), ...args], {
    cwd,
    env: childEnv,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function tmp(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'lg-cli-'));
}

function writeConfig(dir: string, lines: string[]): string {
  const file = path.join(dir, 'layergate.yaml');
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

function record(i: number, extra: Partial<RecordInput> = {}): RecordInput {
  return {
    source: 'opc',
    signal: `chamber.o2`,
    kind: 'scalar',
    class: 'internal',
    contentType: CONTENT_TYPES.scalar,
    receiveTimeNs: 1_795_000_000_000_000_000n + BigInt(i) * 1_000_000_000n,
    body: Buffer.from(`{"v":${i}}`),
    routes: ['lake'],
    ...extra,
  };
}

describe('check-config', () => {
  it('a good file: OK and a summary with defaults filled in, exit 0', () => {
    const r = cli(['check-config', 'config/layergate.example.yaml'], repo, { LAYERGATE_MACHINE: 'eos-m290-2' });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe('OK config/layergate.example.yaml');
    expect(r.stdout).toContain('machine: eos-m290-2');
    expect(r.stdout).toContain('maxBytes: 1073741824');
    expect(r.stdout).toContain('confidential: block');
  });

  it('a bad file: every problem on its own line on stderr, exit 2', () => {
    const dir = tmp();
    const file = writeConfig(dir, ['buffer: { maxBytes: huge, synchronous: off }', 'outputs:', '  s3: { type: s3-cloud }', 'inptus: {}']);
    const r = cli(['check-config', file]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toEqual([
      `${file}: invalid configuration`,
      '  buffer.maxBytes: expected a byte size like 512MiB or 8GiB, got "huge"',
      '  buffer.synchronous: expected one of "FULL", "NORMAL", got "off"',
      '  outputs.s3.type: unknown output type, expected one of "file-lake", "kafka", "redis", "minio", "cloud", "postgres", "mongodb", got "s3-cloud"',
      '  inptus: unknown key (allowed here: gateway, buffer, log, classification, routing, encryption, audit, api, inputs, outputs)',
    ]);
  });

  it('a YAML syntax error names line and column, exit 2', () => {
    const file = writeConfig(tmp(), ['gateway:', '  machine: m1', ' dataDir: /x']);
    const r = cli(['check-config', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${file}:3:1: YAML syntax error: All mapping items must start at the same column`);
  });

  it('a missing file, exit 2', () => {
    const r = cli(['check-config', '/nonexistent/layergate.yaml']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('/nonexistent/layergate.yaml: file not found');
  });
});

describe('run with a bad config', () => {
  it('exits 2 without creating or opening the buffer', () => {
    const dir = tmp();
    const dataDir = path.join(dir, 'data');
    const file = writeConfig(dir, [`gateway: { dataDir: ${dataDir} }`, 'buffer: { fullPolicy: { internal: wait } }']);
    const r = cli(['run', '-c', file], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('buffer.fullPolicy.internal: expected one of "drop-oldest", "block", got "wait"');
    expect(existsSync(dataDir)).toBe(false);
    expect(readdirSync(dir)).toEqual(['layergate.yaml']);
  });

  it('leaves an existing buffer untouched (not opened: its files keep their times)', () => {
    const dir = tmp();
    const dataDir = path.join(dir, 'data');
    const good = writeConfig(dir, [`gateway: { dataDir: ${dataDir} }`]);
    const { config } = loadConfig({ file: good, env: {} });
    const b = openBuffer(bufferOptions(config), pino({ level: 'silent' }));
    b.append([record(1)]);
    b.close();
    const before = readdirSync(path.join(dataDir, 'buffer')).sort();
    writeFileSync(good, `gateway: { dataDir: ${dataDir} }\nlog: { level: loud }\n`);
    const r = cli(['run', '-c', good], dir, { LAYERGATE_CONFIG: good });
    expect(r.code).toBe(2);
    // an open would leave -wal/-shm behind or rewrite the seq mark; none of that happened
    expect(readdirSync(path.join(dataDir, 'buffer')).sort()).toEqual(before);
    expect(existsSync(path.join(dataDir, 'lake'))).toBe(false);
  });
});

describe('buffer commands', () => {
  function withBuffer(opts: { maxBytes?: string; inline?: string } = {}) {
    const dir = tmp();
    const dataDir = path.join(dir, 'data');
    const file = writeConfig(dir, [
      `gateway: { dataDir: ${dataDir} }`,
      `buffer: { maxBytes: ${opts.maxBytes ?? '1GiB'}, inlineMaxBytes: ${opts.inline ?? '64KiB'} }`,
    ]);
    const { config } = loadConfig({ file, env: {} });
    const buffer = openBuffer(bufferOptions(config), pino({ level: 'silent' }));
    return { dir, dataDir, file, buffer };
  }

  it('stats: size, fill, oldest/newest with ISO times, per-sink lag; --json', () => {
    const { file, buffer } = withBuffer();
    // the gateway's buffer starts its seqs at the clock (seqOrigin()), the CLI reads them as they are
    const { firstSeq, lastSeq } = buffer.append([record(0), record(1), record(2)]);
    expect(lastSeq).toBe(firstSeq + 2);
    buffer.ack('lake', firstSeq);
    buffer.close();

    const text = cli(['buffer', 'stats', '-c', file]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^records {6}3$/m);
    expect(text.stdout).toContain(`oldest       seq ${firstSeq} received 2026-11-18T`);
    expect(text.stdout).toMatch(new RegExp(`^newest {7}seq ${lastSeq} received 2026-11-18T\\S+Z$`, 'm'));
    expect(text.stdout).toMatch(new RegExp(`^ {2}lake +cursor ${firstSeq} {2}lag 2 records \\(\\d+ B\\)$`, 'm'));
    expect(text.stdout).toMatch(/^evictions .*\n {2}none$/m);

    const json = cli(['buffer', 'stats', '-c', file, '--json']);
    expect(json.code).toBe(0);
    const s = JSON.parse(json.stdout);
    expect(s).toMatchObject({
      records: 3,
      oldestSeq: firstSeq,
      newestSeq: lastSeq,
      maxBytes: 1024 ** 3,
      oldestReceiveTime: new Date(1_795_000_000_000).toISOString(),
      newestReceiveTime: new Date(1_795_000_002_000).toISOString(),
      oldestReceiveTimeNs: '1795000000000000000',
      sinks: [{ sink: 'lake', cursor: firstSeq, lagRecords: 2 }],
      evictions: [],
    });
    // the records may take maxBytes less the WAL's and the reserve's share (1/8, at most 64 MiB)
    expect(s.recordBytesLimit).toBe(1024 ** 3 - 64 * 1024 ** 2);
    expect(s.fill).toBeCloseTo(s.bytes / s.recordBytesLimit, 12);
  });

  it('stats: quarantined input counted per input and reason (text and --json)', async () => {
    const { dataDir, file, buffer } = withBuffer();
    const pipeline = new Pipeline({ buffer, outputs: [{ name: 'lake', plugin: {} }], dataDir, quarantineMaxBytes: 1 << 20, log: pino({ level: 'silent' }) });
    const mqtt = pipeline.contextFor('meltpool');
    mqtt.quarantine('lpbf/m/meltpool/binary', new MalformedInputError('truncated: block of 40 bytes, header says 8016'), Buffer.alloc(40));
    mqtt.quarantine('lpbf/m/meltpool/binary', new MalformedInputError('truncated: block of 12 bytes'), Buffer.alloc(12));
    mqtt.quarantine('lpbf/m/events', new MalformedInputError('not JSON'), Buffer.alloc(5));
    await pipeline.flush();
    buffer.close();

    const text = cli(['buffer', 'stats', '-c', file]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^quarantine .*\n {2}meltpool \/ LG_INPUT_MALFORMED: 1 items \(5 B kept\)\n {2}meltpool \/ truncated: 2 items \(52 B kept\)$/m);
    const json = JSON.parse(cli(['buffer', 'stats', '-c', file, '--json']).stdout);
    expect(json.quarantine).toEqual([
      { input: 'meltpool', reason: 'LG_INPUT_MALFORMED', items: 1, bytes: 5 },
      { input: 'meltpool', reason: 'truncated', items: 2, bytes: 52 },
    ]);
  });

  it('check: OK on a sound buffer; a missing spooled blob is a problem, exit 3', () => {
    const { dataDir, file, buffer } = withBuffer({ inline: '1KiB' });
    buffer.append([record(0), record(1, { kind: 'frame', contentType: 'image/png', body: Buffer.alloc(4096, 7) })]);
    buffer.close();
    const ok = cli(['buffer', 'check', '-c', file]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^integrity {4}ok$/m);
    expect(ok.stdout.trim().split('\n').at(-1)).toBe('OK');

    const spool = path.join(dataDir, 'buffer', 'spool');
    const blobs = readdirSync(spool, { recursive: true, encoding: 'utf8' }).filter((f) => /^[0-9a-f]{2}\/[0-9a-f]+$/.test(f));
    expect(blobs).toHaveLength(1);
    rmSync(path.join(spool, blobs[0]!));
    const bad = cli(['buffer', 'check', '-c', file, '--json']);
    expect(bad.code).toBe(3);
    const report = JSON.parse(bad.stdout);
    expect(report).toMatchObject({ ok: false, integrity: ['ok'] });
    expect(report.atOpen).toEqual([expect.objectContaining({ msg: expect.stringMatching(/spooled blobs missing/), records: 1 })]);
    // repaired: the row was dropped into the loss ledger, so the next check is clean again
    const after = cli(['buffer', 'check', '-c', file]);
    expect(after.code).toBe(0);
    const losses = JSON.parse(cli(['buffer', 'losses', '-c', file, '--json']).stdout);
    expect(losses).toEqual([expect.objectContaining({ reason: 'blob-missing', records: 1 })]);
  });

  it('losses: the ledger, newest first, with --limit and --json', () => {
    const { file, buffer } = withBuffer({ maxBytes: '2KiB' });
    // undelivered records pushed out by newer ones (drop-oldest): each batch evicts older ones
    for (let i = 0; i < 40; i++) buffer.append([record(i, { signal: i % 2 ? 'laser.power' : 'chamber.o2', body: Buffer.alloc(200, i) })]);
    const ledger = buffer.losses();
    buffer.close();
    expect(ledger.length).toBeGreaterThan(1);

    const text = cli(['buffer', 'losses', '-c', file]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(
      /^\d{4}-\d\d-\d\dT\S+Z {2}buffer-full +opc\/(chamber\.o2|laser\.power) \[internal\] seq \d+\.\.\d+: \d+ records \(\d+ B\) not delivered to lake$/m,
    );
    expect(text.stdout.trim().split('\n')).toHaveLength(ledger.length);

    const json = cli(['buffer', 'losses', '-c', file, '--limit', '1', '--json']);
    const entries = JSON.parse(json.stdout);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ reason: 'buffer-full', source: 'opc', class: 'internal', sinks: ['lake'], id: ledger[0]!.id });
    expect(entries[0].at).toBe(new Date(Number(ledger[0]!.atNs / 1_000_000n)).toISOString());

    const badLimit = cli(['buffer', 'losses', '-c', file, '--limit', 'ten']);
    expect(badLimit.code).toBe(2);
    expect(badLimit.stderr).toContain('expected a positive integer, got "ten"');
  });

  it('stats where no gateway has run: a clear message, exit 1, nothing created', () => {
    const dir = tmp();
    const file = writeConfig(dir, [`gateway: { dataDir: ${dir}/data }`]);
    const r = cli(['buffer', 'stats', '-c', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`no buffer at ${dir}/data/buffer`);
    expect(existsSync(path.join(dir, 'data'))).toBe(false);
  });

  it('stats while the buffer is open elsewhere: names the cause, exit 1', () => {
    const { file, buffer } = withBuffer();
    try {
      const r = cli(['buffer', 'stats', '-c', file]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('is in use by a running gateway');
    } finally {
      buffer.close();
    }
  });
});

it('an unknown command is a usage error (exit 2); --help lists the commands', () => {
  const r = cli(['start']);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain("unknown command 'start'");
  const help = cli(['--help']);
  expect(help.code).toBe(0);
  for (const c of ['run', 'check-config', 'buffer']) expect(help.stdout).toContain(c);
});
