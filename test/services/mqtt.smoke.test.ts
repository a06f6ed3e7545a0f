/**
 * Mosquitto smoke test: the harness's broker relays messages through mqtt.js (the gateway's client) on the
 * plain listener with the password and on the TLS listener with the generated CA, and refuses anonymous
 * clients, a wrong password, and a TLS client that does not trust the test CA.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import mqtt from 'mqtt';
import { describe, expect, inject, it } from 'vitest';
import { MQTT } from './endpoints.js';

const endpoints = inject('services');

async function roundTrip(url: string, options: mqtt.IClientOptions): Promise<{ payload: Buffer; qos: number; retain: boolean }> {
  const client = await mqtt.connectAsync(url, { ...options, reconnectPeriod: 0, connectTimeout: 5000 });
  try {
    const topic = `layergate/smoke/${randomUUID()}/melt_pool`;
    const payload = Buffer.from(JSON.stringify({ layer: 17, temperatureK: 1923.5 }));
    await client.subscribeAsync(topic, { qos: 1 });
    const received = new Promise<{ payload: Buffer; qos: number; retain: boolean }>((resolve) =>
      client.once('message', (_topic, message, packet) => resolve({ payload: message, qos: packet.qos, retain: packet.retain })),
    );
    await client.publishAsync(topic, payload, { qos: 1 });
    const message = await received;
    expect(message.payload.equals(payload)).toBe(true);
    return message;
  } finally {
    await client.endAsync();
  }
}

/** The error a connection attempt ends with (mqtt.js rejects on CONNACK refusal and on TLS failure). */
async function connectError(url: string, options: mqtt.IClientOptions): Promise<Error & { code?: number | string }> {
  const client = mqtt.connect(url, { ...options, reconnectPeriod: 0, connectTimeout: 5000 });
  try {
    return await new Promise((resolve, reject) => {
      client.once('connect', () => reject(new Error(`${url} accepted a connection it should refuse`)));
      client.once('error', (error) => resolve(error as Error & { code?: number | string }));
    });
  } finally {
    client.end(true);
  }
}

const credentials = { username: MQTT.username, password: MQTT.password };

describe('mosquitto (real broker from the test harness)', () => {
  it('is provided to tests at the fixed endpoints', () => {
    expect(endpoints.mqtt).toEqual(MQTT);
  });

  it('relays a QoS 1 message on the plain listener with the password', async () => {
    const message = await roundTrip(endpoints.mqtt.url, credentials);
    expect(message.qos).toBe(1);
  });

  it('relays a QoS 1 message on the TLS listener, trusting the generated CA', async () => {
    const message = await roundTrip(endpoints.mqtt.tlsUrl, { ...credentials, ca: readFileSync(endpoints.mqtt.caFile), rejectUnauthorized: true });
    expect(message.qos).toBe(1);
  });

  it('refuses an anonymous client', async () => {
    const error = await connectError(endpoints.mqtt.url, {});
    // MQTT 3.1.1 CONNACK return code 5: not authorized
    expect(error.code).toBe(5);
  });

  it('refuses a wrong password', async () => {
    const error = await connectError(endpoints.mqtt.url, { username: MQTT.username, password: `${MQTT.password}-wrong` });
    expect([4, 5]).toContain(error.code);
  });

  it('TLS fails for a client that does not trust the test CA', async () => {
    const error = await connectError(endpoints.mqtt.tlsUrl, { ...credentials, rejectUnauthorized: true });
    expect(error.code).toMatch(/SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT/);
  });
});
