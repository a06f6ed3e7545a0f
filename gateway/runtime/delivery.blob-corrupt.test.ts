/**
 * A spooled body damaged on disk, found by the delivery thread: as an operator checks it, the loss
 * is in `buffer losses` as soon as the sink came to it (reason `blob-corrupt`, its seq, one record),
 * without anyone running `buffer check`; the file is in the buffer's quarantine; the sink never got
 * the damaged bytes; and it went on delivering the records after it.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../test/support/wait.js';
import { loadConfig } from '../config/load.js';
import { CONTENT_TYPES, type RecordInput } from '../plugin-api/record.js';
import { Gateway } from './gateway.js';
import { BLOB_JOURNAL_REGISTRY_MODULE, type BlobJournalLine, registry } from './test-support/blob-journal-registry.js';

const INLINE_MAX = 1024;

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** `count` records, bodies of `size` bytes distinct per record (so each spooled one is a blob of its own) */
function records(count: number, size: number, from: number): RecordInput[] {
  const now = BigInt(Date.now()) * 1_000_000n;
  return Array.from({ length: count }, (_, i) => {
    const body = Buffer.alloc(size, (from + i) % 251);
    body.write(`record ${from + i};`);
    return {
      source: 'test',
      signal: 'block',
      kind: 'samples',
      class: 'internal',
      routes: ['j'],
      contentType: CONTENT_TYPES.samplesF32,
      receiveTimeNs: now,
      body,
    } satisfies RecordInput;
  });
}

function journal(file: string): BlobJournalLine[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as BlobJournalLine);
}

describe('a damaged spooled blob found by the delivery thread', () => {
  it('is in the loss ledger as blob-corrupt and in quarantine at once, never delivered, and the sink goes on', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lg-blob-corrupt-'));
    const file = path.join(dir, 'journal.jsonl');
    const loaded = loadConfig({
      text: [
        `gateway: { dataDir: ${dir}/data, machine: m, deliveryThread: true }`,
        `buffer: { inlineMaxBytes: ${INLINE_MAX} }`,
        'inputs: {}',
        'outputs:',
        `  j: { type: blob-journal, path: ${file}, linger: 0 }`,
      ].join('\n'),
      env: {},
      registry,
    });
    const log = pino({ level: 'silent' });
    const gw = await Gateway.start(loaded, { log, registry, registryModule: BLOB_JOURNAL_REGISTRY_MODULE });
    try {
      // delivered before: spooled and inline bodies
      const before = [...records(3, 4 * INLINE_MAX, 0), ...records(3, 100, 3)];
      const { firstSeq: origin, lastSeq: first } = gw.buffer.append(before);
      await waitFor('the first records delivered', () => gw.buffer.cursor('j') === first, 30_000, 10);

      // a spooled body damaged in place (same size, bytes changed) before the delivery thread has
      // heard of its record: the news of an append goes out after this turn of the event loop
      const [bad] = records(1, 4 * INLINE_MAX, 6);
      const badSeq = gw.buffer.append([bad!]).lastSeq;
      const badSha = sha256(bad!.body!);
      const blobFile = gw.buffer.blobPath({ sha256: badSha, size: bad!.body!.length });
      const damaged = Buffer.from(readFileSync(blobFile));
      damaged[100] = damaged[100]! ^ 0xff;
      writeFileSync(blobFile, damaged);
      expect(gw.buffer.losses()).toEqual([]);

      const after = [...records(3, 4 * INLINE_MAX, 7), ...records(3, 100, 10)];
      const last = gw.buffer.append(after).lastSeq;
      await waitFor('the records after the damaged one delivered', () => gw.buffer.cursor('j') === last, 30_000, 10);

      // accounted without a check(): one record, its seq, the reason the operator reads
      const loss = await waitFor('the loss ledger entry', () => gw.buffer.losses().find((l) => l.reason === 'blob-corrupt'), 5_000, 10);
      expect(loss).toMatchObject({
        firstSeq: badSeq,
        lastSeq: badSeq,
        records: 1,
        bytes: 4 * INLINE_MAX,
        reason: 'blob-corrupt',
        source: 'test',
        sinks: ['j'],
      });
      expect(gw.buffer.losses().filter((l) => l.reason.startsWith('blob-'))).toHaveLength(1);

      // the damaged file is in the buffer's quarantine, not in the spool
      expect(existsSync(blobFile)).toBe(false);
      const qroot = path.join(dir, 'data', 'buffer', 'quarantine');
      const quarantined = readdirSync(qroot).map((q) => path.join(qroot, q, 'spool', badSha));
      expect(quarantined.filter((f) => existsSync(f)).map((f) => readFileSync(f).equals(damaged))).toEqual([true]);

      // the sink got every other record, intact, once and in order, and never the damaged one
      const got = journal(file);
      const expected = [...before, ...after].map((r) => ({ size: r.body!.length, sha256: sha256(r.body!) }));
      // the buffer's seqs start at the clock (seqOrigin()): the seventh record is the damaged one
      expect(got.map((l) => l.seq - origin + 1)).toEqual([1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13]);
      expect(badSeq).toBe(origin + 6);
      expect(got.map(({ size, sha256 }) => ({ size, sha256 }))).toEqual(expected);
      expect(got.some((l) => l.sha256 === sha256(damaged) || l.seq === badSeq)).toBe(false);
      expect(gw.buffer.stats().missingBlobs).toBe(1);
    } finally {
      await gw.stop();
    }
  });
});
