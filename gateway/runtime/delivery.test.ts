/**
 * The delivery thread as a user of a running gateway sees it: records appended on the main thread
 * reach the sink once and in order, the buffer's cursor follows the sink's acks, the thread's log
 * lines come out of the gateway's logger, and a thread that dies is started again with nothing lost.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../test/support/wait.js';
import { loadConfig } from '../config/load.js';
import { CONTENT_TYPES } from '../plugin-api/record.js';
import type { RecordInput } from '../plugin-api/record.js';
import { Gateway } from './gateway.js';
import { JOURNAL_REGISTRY_MODULE, type JournalLine, registry } from './test-support/journal-registry.js';

function records(count: number, from = 0): RecordInput[] {
  const now = BigInt(Date.now()) * 1_000_000n;
  return Array.from({ length: count }, (_, i) => ({
    source: 'test',
    signal: `s${(from + i) % 17}`,
    kind: 'scalar',
    class: 'internal',
    routes: ['j'],
    contentType: CONTENT_TYPES.scalar,
    receiveTimeNs: now,
    body: Buffer.from(`{"v":${from + i}}`),
  }));
}

function journal(file: string): JournalLine[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as JournalLine);
}

async function start(extra: string, deliveryThread = true): Promise<{ gw: Gateway; file: string; lines: Record<string, unknown>[]; dir: string }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lg-delivery-'));
  const file = path.join(dir, 'journal.jsonl');
  const loaded = loadConfig({
    text: [
      `gateway: { dataDir: ${dir}/data, machine: m, deliveryThread: ${deliveryThread} }`,
      'inputs: {}',
      'outputs:',
      `  j: { type: journal, path: ${file}${extra} }`,
    ].join('\n'),
    env: {},
    registry,
  });
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
  const gw = await Gateway.start(loaded, { log, registry, registryModule: JOURNAL_REGISTRY_MODULE });
  return { gw, file, lines, dir };
}

/** n consecutive seqs from `first` (the gateway's buffer starts at the clock, seqOrigin()) */
const seqsFrom = (first: number, n: number): number[] => Array.from({ length: n }, (_, i) => first + i);

describe('the delivery thread', () => {
  it('delivers what the main thread appends once and in order, moves the cursor, and logs through the gateway', async () => {
    const { gw, file, lines } = await start('');
    try {
      const first = gw.buffer.append(records(300)).firstSeq;
      let last = 0;
      for (let i = 1; i < 10; i++) last = gw.buffer.append(records(300, i * 300)).lastSeq;
      await waitFor('all acked', () => gw.buffer.cursor('j') === last, 30_000, 20);
      const got = journal(file);
      expect(got.map((l) => l.seq)).toEqual(seqsFrom(first, 3000));
      expect(got[2999]).toEqual({ seq: first + 2999, signal: `s${2999 % 17}`, body: '{"v":2999}' });
      expect(gw.stats().forwarders).toEqual([expect.objectContaining({ sink: 'j', sentRecords: 3000, cursor: last, lagRecords: 0 })]);
      // the output's own log line, written in the thread, with the sink it belongs to
      expect(lines).toContainEqual(expect.objectContaining({ level: 30, msg: 'journal output started', sink: 'j', thread: 'delivery' }));
    } finally {
      await gw.stop();
    }
  });

  it('a thread that dies is started again and delivers from the cursor the buffer holds: nothing is lost', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lg-crash-'));
    const marker = path.join(dir, 'crashed');
    const { gw, file, lines } = await start(`, crashMarker: ${marker}`);
    try {
      const { firstSeq, lastSeq: last } = gw.buffer.append(records(500));
      await waitFor('delivered after the restart', () => gw.buffer.cursor('j') === last, 30_000, 20);
      expect(existsSync(marker)).toBe(true);
      expect(journal(file).map((l) => l.seq)).toEqual(seqsFrom(firstSeq, 500));
      expect(lines).toContainEqual(expect.objectContaining({ level: 50, msg: 'delivery thread ended unexpectedly; starting it again' }));
      // ingest went on meanwhile, and goes on
      const more = gw.buffer.append(records(10, 500)).lastSeq;
      await waitFor('delivered', () => gw.buffer.cursor('j') === more, 30_000, 20);
      expect(journal(file)).toHaveLength(510);
    } finally {
      await gw.stop();
    }
  });

  it('with deliveryThread: false the outputs run on the main thread, delivering the same', async () => {
    const { gw, file, lines } = await start('', false);
    try {
      const { firstSeq, lastSeq: last } = gw.buffer.append(records(50));
      await waitFor('all acked', () => gw.buffer.cursor('j') === last, 30_000, 20);
      expect(journal(file).map((l) => l.seq)).toEqual(seqsFrom(firstSeq, 50));
      expect(lines.find((l) => l.msg === 'journal output started')?.thread).toBeUndefined();
    } finally {
      await gw.stop();
    }
  });
});
