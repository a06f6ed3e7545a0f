/**
 * A whole gateway started on a 100 % full data disk, as after a power cycle of a machine whose sink
 * was down until the disk filled: the start succeeds, the records the buffer holds reach the sink,
 * and once an operator frees space the MQTT input's messages are stored and delivered again, with no
 * restart. Real parts: the gateway, its delivery thread, the mqtt input against the test Mosquitto
 * (MQTT), the journal output (./test-support/journal-registry.ts) writing to a file on a normal disk,
 * and a real 24 MiB tmpfs as the data disk (the test runs as root; it fails, never skips, when it
 * cannot mount).
 */
import { closeSync, existsSync, openSync, readFileSync, statSync, statfsSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import mqtt from 'mqtt';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { MQTT } from '../../test/services/endpoints.js';
import { fillToEnospc, tmpfsForFile } from '../../test/support/tmpfs.js';
import { sleep, waitFor } from '../../test/support/wait.js';
import { AuditLog, defaultAuditPath, verifyAuditLog } from '../audit/audit-log.js';
import { loadConfig } from '../config/load.js';
import { Gateway } from './gateway.js';
import { JOURNAL_REGISTRY_MODULE, type JournalLine, registry } from './test-support/journal-registry.js';

const BEFORE = 300;
/** the data disk's block (tmpfs: the page size) */
const BLOCK = 4096;

const tmpfs = tmpfsForFile('lg-gwfull-', '24m');

function journal(file: string): JournalLine[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as JournalLine);
}

/** the published values the journal holds, in the order delivered */
const values = (file: string): number[] => journal(file).map((l) => (JSON.parse(l.body) as { v: number }).v);

describe('Gateway.start on a 100 % full data disk', () => {
  it('starts, delivers what the buffer holds, and ingests again once space is freed, with no restart', async () => {
    const root = tmpfs.root;
    const dataDir = path.join(tmpfs.mnt, 'data');
    const topic = `lg-gwfull/${process.pid}/${Date.now()}`;
    const lines: Record<string, unknown>[] = [];
    const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
    const config = (journalFile: string) =>
      loadConfig({
        // JSON is YAML: the config as an object, free of quoting
        text: JSON.stringify({
          gateway: { dataDir, machine: 'm', shutdownGraceMs: 1000 },
          buffer: { maxBytes: '1GiB' },
          inputs: {
            plc: {
              type: 'mqtt',
              url: MQTT.url,
              username: MQTT.username,
              password: MQTT.password,
              clientId: `lg-gwfull-${process.pid}`,
              subscriptions: [{ topic: `${topic}/+`, decoder: 'json', qos: 1, signal: 'plc.{3}' }],
            },
          },
          outputs: { j: { type: 'journal', path: journalFile } },
        }),
        env: {},
        registry,
      });
    const pub = await mqtt.connectAsync(MQTT.url, { username: MQTT.username, password: MQTT.password, clientId: `lg-gwfull-pub-${process.pid}`, clean: true });
    tmpfs.onUnmount(() => pub.endAsync());
    const publish = async (from: number, count: number): Promise<void> => {
      for (let i = from; i < from + count; i++) await pub.publishAsync(`${topic}/power`, JSON.stringify({ value: i, pad: 'p'.repeat(1000) }), { qos: 1 });
    };

    // 1. the sink is down (its folder does not exist): records pile up in the buffer
    const down = await Gateway.start(config(path.join(root, 'no-such-folder', 'journal.jsonl')), { log, registry, registryModule: JOURNAL_REGISTRY_MODULE });
    tmpfs.onUnmount(() => down.stop());
    // the first session's subscription must be in place before anything is published to it
    await waitFor('the input subscribed', () => lines.some((l) => l.msg === 'mqtt: subscribed'), 10_000);
    await publish(0, BEFORE);
    await waitFor('the first messages stored', () => down.buffer.stats().records === BEFORE, 30_000).catch((err: unknown) => {
      console.log(lines.map((l) => JSON.stringify(l)).join('\n'));
      throw err;
    });
    await down.stop();

    // 2. a gateway that has run a while: its audit log's last block has less room left than the
    //    entry the next start appends (padded here with small entries of its own); then the data
    //    disk fills to the last block
    const auditFile = defaultAuditPath(dataDir);
    const audit = new AuditLog(auditFile);
    for (let i = 0; i < 1000 && BLOCK - (statSync(auditFile).size % BLOCK) > 128; i++) audit.append('login', { user: `operator-${i}` });
    expect(BLOCK - (statSync(auditFile).size % BLOCK)).toBeLessThanOrEqual(128);
    const auditEntries = verifyAuditLog(auditFile).entries;
    const filler = path.join(tmpfs.mnt, 'filler');
    const fd = openSync(filler, 'w');
    let fdOpen = true;
    tmpfs.onUnmount(() => fdOpen && closeSync(fd));
    fillToEnospc(fd);
    const fs0 = statfsSync(tmpfs.mnt);
    expect(fs0.bavail * fs0.bsize, 'the disk is full').toBeLessThan(64 * 1024);

    // 3. start on the full disk, the sink back: the start succeeds, what the buffer holds is delivered
    const file = path.join(root, 'journal.jsonl');
    const startedAt = Date.now();
    const gw = await Gateway.start(config(file), { log, registry, registryModule: JOURNAL_REGISTRY_MODULE });
    tmpfs.onUnmount(() => gw.stop());
    const startMs = Date.now() - startedAt;
    // the start's audit entry is there, whole, and the chain intact
    const verified = verifyAuditLog(auditFile);
    expect(verified).toMatchObject({ ok: true, entries: auditEntries + 1 });
    expect(new AuditLog(auditFile).lastOf('config-loaded')).toMatchObject({ seq: auditEntries + 1, data: { changed: true } });
    await waitFor('the buffered records delivered', () => values(file).length >= BEFORE, 30_000);
    expect(values(file)).toEqual(Array.from({ length: BEFORE }, (_, i) => i));
    await waitFor('the cursor at the newest record', () => gw.buffer.cursor('j') === gw.buffer.stats().newestSeq, 10_000);

    // 4. the machine goes on publishing, steadily; the space the reserve gave back is taken (by
    //    what else writes to this disk, here the filler) until the gateway cannot store anything
    //    more: QoS 1 messages wait at the broker until their commit
    //    (It pauses while 900 are held: the test broker keeps at most 1000 queued messages per
    //    session, Mosquitto's default, and drops the rest, a limit of its configuration.)
    // messages stored so far, counted by seqs (the buffer's seqs start at its origin, not at 1)
    const seqBase = gw.buffer.stats().newestSeq! - BEFORE;
    const stored = (): number => (gw.buffer.stats().newestSeq ?? seqBase) - seqBase;
    let next = BEFORE;
    let publishing = true;
    const publisher = (async () => {
      while (publishing) {
        if (next - stored() > 900) {
          await sleep(20);
          continue;
        }
        await pub.publishAsync(`${topic}/power`, JSON.stringify({ value: next, pad: 'p'.repeat(1000) }), { qos: 1 });
        next++;
        await sleep(5);
      }
    })();
    tmpfs.onUnmount(() => {
      publishing = false;
      return publisher;
    });
    let lastStored = stored();
    let lastStoredAt = Date.now();
    await waitFor(
      'ingest to stall on the full disk',
      () => {
        fillToEnospc(fd);
        const now = stored();
        if (now !== lastStored) {
          lastStored = now;
          lastStoredAt = Date.now();
        }
        return Date.now() - lastStoredAt > 1500;
      },
      30_000,
    );
    const storedWhenFull = stored();
    expect(next, 'messages are waiting at the broker').toBeGreaterThan(storedWhenFull + 50);

    // 5. an operator frees space: ingest resumes in the running gateway, within seconds
    closeSync(fd);
    fdOpen = false;
    unlinkSync(filler);
    const freedAt = Date.now();
    await waitFor('ingest to resume after space was freed', () => stored() > storedWhenFull + 10, 10_000);
    const resumeSeconds = (Date.now() - freedAt) / 1000;
    await sleep(500);
    publishing = false;
    await publisher;
    const total = next;
    await waitFor('every message delivered', () => values(file).length >= total, 30_000);
    console.log(
      `gateway disk-full test: start on the full disk took ${startMs} ms; ingest resumed ${resumeSeconds.toFixed(2)} s after space was freed; ${total} messages`,
    );
    expect(resumeSeconds).toBeLessThan(5);
    // every message once, in order: none lost while the disk was full, none stored twice
    expect(values(file)).toEqual(Array.from({ length: total }, (_, i) => i));
    // nothing was lost on the way
    expect(gw.buffer.losses()).toEqual([]);
    expect(lines.filter((l) => l.msg === 'start failed; stopping what was started')).toEqual([]);
    await gw.stop();
  }, 120_000);

  it('an audit entry that does not fit on the full disk is refused whole: the log verifies, and takes the entry once there is room', () => {
    const dir = path.join(tmpfs.mnt, 'audit-only');
    const auditFile = path.join(dir, 'audit.jsonl');
    const audit = new AuditLog(auditFile);
    audit.append('login', { user: 'operator' });
    const filler = path.join(tmpfs.mnt, 'audit-filler');
    const fd = openSync(filler, 'w');
    try {
      // the last block of the log has room for only part of the next entry
      while (BLOCK - (statSync(auditFile).size % BLOCK) > 128) audit.append('login', { user: 'operator' });
      fillToEnospc(fd);
      const before = readFileSync(auditFile);
      expect(() => audit.append('config-loaded', { origin: 'x', configHash: 'h'.repeat(64), note: 'n'.repeat(300) })).toThrow(/ENOSPC/);
      expect(readFileSync(auditFile).equals(before), 'no part of the refused entry is in the file').toBe(true);
      expect(verifyAuditLog(auditFile).ok).toBe(true);
    } finally {
      closeSync(fd);
      unlinkSync(filler);
    }
    const entries = verifyAuditLog(auditFile).entries;
    audit.append('config-loaded', { origin: 'x' });
    expect(verifyAuditLog(auditFile)).toMatchObject({ ok: true, entries: entries + 1 });
  });
});
