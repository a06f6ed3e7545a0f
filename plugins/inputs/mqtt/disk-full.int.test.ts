/**
 * The mqtt input against the real Mosquitto of the test harness (MQTT.url) while the buffer's
 * filesystem fills up: a machine publishes QoS 1 messages at a steady rate, each numbered in its
 * payload; the buffer sits on a real 20 MiB tmpfs (mounted by the test, which runs as root; it fails,
 * never skips, when it cannot mount) and the disk fills until nothing more can be stored. As an
 * operator would check afterwards: once space is freed, ingest resumes within seconds without a
 * restart of the input, the session was never dropped, and every message is in the buffer exactly
 * once, none lost, none doubled.
 */
import { closeSync, mkdirSync, openSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import mqtt from 'mqtt';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { openBuffer } from '../../../gateway/buffer/index.js';
import { Pipeline } from '../../../gateway/ingest/pipeline.js';
import { MQTT } from '../../../test/services/endpoints.js';
import { fillToEnospc, tmpfsForFile } from '../../../test/support/tmpfs.js';
import { sleep, waitFor } from '../../../test/support/wait.js';
import { type MqttInput, definition } from './index.js';
import { mqttConfigSchema } from './schema.js';

const log = pino({ level: process.env.LG_TEST_LOG ?? 'silent' });
const tmpfs = tmpfsForFile('lg-mqttfull-', '20m');

describe('mqtt input, buffer filesystem full', () => {
  it('holds QoS 1 messages while the disk is full and stores every one exactly once after, on the same session', async () => {
    const dataDir = path.join(tmpfs.root, 'data');
    mkdirSync(dataDir, { recursive: true });
    // the bound is far above the filesystem: the disk, not the bound, is what runs out
    const buffer = openBuffer({ dir: path.join(tmpfs.mnt, 'buffer'), maxBytes: 1 << 30, sinks: ['lake'] }, log);
    tmpfs.onUnmount(() => buffer.close());
    const pipeline = new Pipeline({ buffer, outputs: [{ name: 'lake', plugin: { premises: 'on' } }], dataDir, quarantineMaxBytes: 1 << 20, log });
    tmpfs.onUnmount(() => pipeline.abortBlocked());

    const topic = `lg-mqttfull/${process.pid}/${Date.now()}`;
    const input = definition.create(
      mqttConfigSchema.parse({
        url: MQTT.url,
        username: MQTT.username,
        password: MQTT.password,
        clientId: `lg-mqttfull-${process.pid}`,
        // the persistent session is what keeps the unacked messages at the broker
        cleanSession: false,
        subscriptions: [{ topic: `${topic}/+`, decoder: 'json', qos: 1, signal: 'plc.{3}' }],
      }),
      { dataDir, machine: 'test-machine' },
    ) as MqttInput;
    await input.start(pipeline.contextFor('plc'));
    tmpfs.onUnmount(() => input.stop());
    await input.ready();

    // the machine: a QoS 1 message every 5 ms, numbered. It pauses while 900 are held: the test
    // broker keeps at most 1000 queued messages per session (Mosquitto's default) and drops the rest,
    // a limit of the broker's configuration, not of the gateway
    const pub = await mqtt.connectAsync(MQTT.url, {
      username: MQTT.username,
      password: MQTT.password,
      clientId: `lg-mqttfull-pub-${process.pid}`,
      clean: true,
    });
    tmpfs.onUnmount(() => pub.endAsync());
    const stored = (): number => buffer.stats().records;
    let published = 0;
    let publishing = true;
    let publishError: unknown;
    const publisher = (async () => {
      try {
        while (publishing) {
          if (published - stored() > 900) {
            await sleep(20);
            continue;
          }
          await pub.publishAsync(`${topic}/power`, JSON.stringify({ value: published, pad: 'p'.repeat(2000) }), { qos: 1 });
          published++;
          await sleep(5);
        }
      } catch (err) {
        publishError = err;
      }
    })();
    tmpfs.onUnmount(() => {
      publishing = false;
      return publisher;
    });

    await waitFor('messages stored', () => stored() > 50, 10_000);

    // fill the disk, and keep taking whatever space a checkpoint frees, until nothing more is stored
    const filler = path.join(tmpfs.mnt, 'filler');
    const fd = openSync(filler, 'w');
    let fdOpen = true;
    tmpfs.onUnmount(() => fdOpen && closeSync(fd));
    fillToEnospc(fd);
    let lastStored = stored();
    let lastStoredAt = Date.now();
    await waitFor(
      'ingest to stall on the full filesystem',
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
    await sleep(1000);
    expect(stored(), 'nothing stored while the disk is full').toBe(storedWhenFull);
    expect(published, 'the machine went on publishing: messages wait at the broker').toBeGreaterThan(storedWhenFull + 100);

    // an operator frees space: the running input stores again, within seconds
    closeSync(fd);
    fdOpen = false;
    unlinkSync(filler);
    const freedAt = Date.now();
    await waitFor('ingest to resume after space was freed', () => stored() > storedWhenFull + 10, 10_000);
    const resumeSeconds = (Date.now() - freedAt) / 1000;
    await sleep(500);
    publishing = false;
    await publisher;
    expect(publishError).toBeUndefined();
    const total = published;
    await waitFor('every published message stored', () => stored() >= total, 30_000);
    await sleep(500); // a redelivered duplicate would come now
    const st = input.stats();
    console.log(
      `mqtt disk-full test: ${total} messages, ${storedWhenFull} stored when the disk filled; ingest resumed ${resumeSeconds.toFixed(2)} s after space was freed; stats ${JSON.stringify(st)}`,
    );
    expect(resumeSeconds).toBeLessThan(5);

    // every message the broker delivered is in the buffer exactly once, in the order published
    const values = buffer.read('lake', 1_000_000, 1 << 30).map((r) => (JSON.parse(r.body!.toString()) as { v: number }).v);
    expect(values).toEqual(Array.from({ length: total }, (_, i) => i));
    expect(st.messages).toBe(total);
    expect(st.failedEmits).toBe(0);
    expect(st.quarantined).toEqual({});
    // the session held all along: one connection, no reconnect, still connected
    expect(st).toMatchObject({ connection: 'connected', connects: 1, reconnects: 0 });
    expect(buffer.losses()).toEqual([]);
    expect(buffer.check().ok).toBe(true);
  }, 120_000);
});
