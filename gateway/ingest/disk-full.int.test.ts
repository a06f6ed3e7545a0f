/**
 * Issue 15, item 2: the buffer's filesystem fills up (ENOSPC / SQLITE_FULL) while inputs emit. The
 * filesystem is a real 20 MiB tmpfs mounted by the test (the test runs as root; it fails, never skips,
 * when it cannot mount). Real buffer, real pipeline, the real gateway-health input (cannot wait) and
 * an input that waits (what MQTT does: its ack is held until the emit resolves).
 */
import { closeSync, mkdirSync, openSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { DISK_FULL_REASON, isStorageFull, openBuffer } from '../buffer/index.js';
import type { RecordBuffer } from '../buffer/types.js';
import { CONTENT_TYPES } from '../plugin-api/record.js';
import type { InputContext, RecordDraft } from '../plugin-api/contract.js';
import { definition as healthInput } from '../../plugins/inputs/gateway-health/index.js';
import { gatewayHealthConfigSchema } from '../../plugins/inputs/gateway-health/schema.js';
import { Pipeline } from './pipeline.js';
import { fillToEnospc, tmpfsForFile } from '../../test/support/tmpfs.js';
import { sleep, waitFor } from '../../test/support/wait.js';

const log = pino({ level: process.env.LG_TEST_LOG ?? 'silent' });
const tmpfs = tmpfsForFile('lg-diskfull-', '20m');

/** Fill the filesystem of `file` until ENOSPC; returns the open descriptor to keep topping it up. */
function fill(file: string): number {
  const fd = openSync(file, 'w');
  fillToEnospc(fd);
  return fd;
}

function draft(i: number): RecordDraft {
  return {
    signal: 'line.power',
    kind: 'scalar',
    contentType: CONTENT_TYPES.scalar,
    body: Buffer.from(JSON.stringify({ type: 'float64', v: i, pad: 'x'.repeat(2000) })),
    sourceTimeNs: BigInt(Date.now()) * 1_000_000n,
    class: 'internal',
  };
}

describe('buffer filesystem full', () => {
  it('ingest resumes by itself within seconds once space is freed; samples that could not wait are in the ledger, exactly', async () => {
    const dataDir = path.join(tmpfs.root, 'data');
    mkdirSync(dataDir, { recursive: true });
    // the bound is far above the filesystem: the disk, not the bound, is what runs out
    const buffer: RecordBuffer = openBuffer({ dir: path.join(tmpfs.mnt, 'buffer'), maxBytes: 1 << 30, sinks: ['lake'] }, log);
    tmpfs.onUnmount(() => buffer.close());
    const pipeline = new Pipeline({
      buffer,
      outputs: [{ name: 'lake', plugin: { premises: 'on' } }],
      dataDir,
      quarantineMaxBytes: 1 << 20,
      log,
      blockedRetryMs: 250,
    });

    // the health input through its real context; the wrapper only counts what was refused for a full disk
    const healthCtx = pipeline.contextFor('health');
    let healthDropped = 0;
    let healthOtherErrors = 0;
    const counted: InputContext = {
      ...healthCtx,
      emit: async (drafts, opts) => {
        try {
          return await healthCtx.emit(drafts, opts);
        } catch (err) {
          if (isStorageFull(err)) healthDropped += drafts.length;
          else healthOtherErrors++;
          throw err;
        }
      },
    };
    const health = healthInput.create(gatewayHealthConfigSchema.parse({ interval: '100ms' }), { dataDir, machine: 'm', bufferStats: () => buffer.stats() });
    await health.start(counted);
    tmpfs.onUnmount(() => health.stop());

    // the waiting input: one emit at a time, like MQTT holding its acks
    const producer = pipeline.contextFor('producer');
    let stored = 0;
    let lastStoredAt = Date.now();
    let producerError: unknown;
    let running = true;
    tmpfs.onUnmount(() => {
      running = false;
      pipeline.abortBlocked();
    });
    const loop = (async () => {
      for (let i = 0; running; i++) {
        try {
          await producer.emit([draft(i)]);
        } catch (err) {
          producerError = err;
          return;
        }
        stored++;
        lastStoredAt = Date.now();
        await sleep(2);
      }
    })();

    await waitFor('the producer to store records', () => stored > 20, 10_000);
    const filler = path.join(tmpfs.mnt, 'filler');
    const fd = fill(filler);
    tmpfs.onUnmount(() => closeSync(fd));
    // keep taking whatever space a checkpoint frees until appends fail for good
    await waitFor(
      'ingest to stall on the full filesystem',
      () => {
        fillToEnospc(fd);
        return Date.now() - lastStoredAt > 1500;
      },
      30_000,
    );
    await waitFor('health samples to be dropped', () => healthDropped > 0, 10_000);
    const storedWhenFull = stored;
    await sleep(1000);
    expect(stored, 'nothing stored while the disk is full').toBe(storedWhenFull);
    expect(producerError, 'the waiting input never fails on a full disk').toBeUndefined();

    closeSync(fd);
    unlinkSync(filler);
    const freedAt = Date.now();
    await waitFor('ingest to resume after space was freed', () => stored > storedWhenFull + 10, 10_000);
    const resumeSeconds = (Date.now() - freedAt) / 1000;
    console.log(`disk-full test: ingest resumed ${resumeSeconds.toFixed(2)} s after space was freed; health records dropped: ${healthDropped}`);
    expect(resumeSeconds).toBeLessThan(5);

    await health.stop();
    running = false;
    await loop;
    expect(producerError).toBeUndefined();
    expect(healthOtherErrors).toBe(0);

    const losses = buffer.losses(1000).filter((l) => l.reason === DISK_FULL_REASON);
    expect(losses.length).toBeGreaterThan(0);
    for (const l of losses) {
      expect(l.source).toBe('health');
      expect(l.class).toBe('internal');
      expect(l.sinks).toEqual(['lake']);
      // the dropped samples got seqs of their own: the range names exactly them
      expect(l.lastSeq - l.firstSeq + 1).toBe(l.records);
    }
    expect(losses.reduce((n, l) => n + l.records, 0)).toBe(healthDropped);
    // nothing else was lost: every record of the waiting input is stored, none in a dropped range
    expect(buffer.losses(1000).filter((l) => l.reason !== DISK_FULL_REASON)).toEqual([]);
    const all = buffer.read('lake', 1_000_000);
    expect(all.filter((r) => r.source === 'producer').length).toBe(stored);
    for (const l of losses) expect(all.filter((r) => r.seq >= l.firstSeq && r.seq <= l.lastSeq)).toEqual([]);
    expect(buffer.check().ok).toBe(true);
    buffer.close();
  }, 120_000);
});
