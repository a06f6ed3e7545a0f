/**
 * The CLI's client of a running gateway (./running-gateway.ts) against a real gateway and API in this
 * process: HTTPS pinned to the certificate in the data folder, plain HTTP when the API serves it, the
 * figures turned back into the buffer's own types, and what it says when it cannot ask.
 */
import { copyFileSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readEndpoint, writeEndpoint } from '../api/endpoint.js';
import { localTokenPath } from '../api/local-credential.js';
import { apiDir } from '../api/server.js';
import { type ApiRig, startApiRig } from '../api/test-support/api-rig.js';
import { loadTls, tlsDir } from '../api/tls.js';
import { statsJson } from '../buffer/report.js';
import { loadConfig } from '../config/load.js';
import { localAddress, runningBufferStats, runningLosses } from './running-gateway.js';

const fail = (message: string): Error => new Error(message);

let rig: ApiRig;
beforeAll(async () => {
  rig = await startApiRig();
});
afterAll(async () => {
  await rig?.stop();
});

describe('asking a running gateway', () => {
  it("over HTTPS: the buffer's figures as the buffer's own types, keys in the buffer's order", async () => {
    const got = await runningBufferStats({ config: rig.gateway.config }, fail);
    const direct = rig.gateway.buffer.stats();
    expect(got).toBeDefined();
    expect(got!.s.path).toBe(direct.path);
    expect(typeof got!.s.oldestReceiveTimeNs).toBe('bigint');
    expect(Object.keys(statsJson(got!.s))).toEqual(Object.keys(statsJson(direct)));
    expect(got!.s.sinks.map((k) => k.sink)).toEqual(['lake']);
    expect(got!.quarantine).toEqual([]);
    expect(await runningLosses({ config: rig.gateway.config }, 10, fail)).toEqual([]);
  });

  it('no gateway on the data folder: undefined (the caller opens the buffer itself)', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lg-no-gateway-'));
    try {
      const { config } = loadConfig({ text: `gateway: { dataDir: ${dir}/data }\n`, env: {} });
      expect(await runningBufferStats({ config }, fail)).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the local token gone: a failure that says which file and what to do', async () => {
    const file = localTokenPath(apiDir(rig.gateway.config.gateway.dataDir));
    renameSync(file, `${file}.away`);
    try {
      await expect(runningBufferStats({ config: rig.gateway.config }, fail)).rejects.toThrow(
        new RegExp(
          `^a gateway is running \\(pid ${process.pid}, API https://127\\.0\\.0\\.1:\\d+\\), but its local credential ${file} cannot be read .*restarting the gateway writes it again$`,
        ),
      );
    } finally {
      renameSync(`${file}.away`, file);
    }
  });

  it('a certificate in the data folder that is not the one the gateway serves: refused before anything is sent', async () => {
    const dir = apiDir(rig.gateway.config.gateway.dataDir);
    const certFile = path.join(tlsDir(dir), 'cert.pem');
    const other = mkdtempSync(path.join(os.tmpdir(), 'lg-other-cert-'));
    copyFileSync(certFile, `${certFile}.kept`);
    try {
      const made = await loadTls(other, {});
      copyFileSync(made.certFile, certFile);
      await expect(runningBufferStats({ config: rig.gateway.config }, fail)).rejects.toThrow(
        `it serves the certificate ${rig.api.tls!.fingerprint}, not the one in ${certFile} (${made.fingerprint})`,
      );
    } finally {
      renameSync(`${certFile}.kept`, certFile);
      rmSync(other, { recursive: true, force: true });
    }
    // the right one again: asked and answered
    expect(await runningBufferStats({ config: rig.gateway.config }, fail)).toBeDefined();
  });

  it('another server on the port (with its own certificate): refused in the handshake, the token never sent', async () => {
    const dir = apiDir(rig.gateway.config.gateway.dataDir);
    const other = mkdtempSync(path.join(os.tmpdir(), 'lg-impostor-'));
    const made = await loadTls(other, {});
    let requests = 0;
    const impostor = https.createServer({ cert: made.cert, key: made.key }, (_req, res) => {
      requests++;
      res.end('{}');
    });
    await new Promise<void>((r) => impostor.listen(0, '127.0.0.1', () => r()));
    const endpoint = readEndpoint(dir)!;
    // the endpoint names a port another server now holds (the gateway's API gone, its pid alive)
    writeEndpoint(dir, { ...endpoint, port: (impostor.address() as AddressInfo).port });
    try {
      await expect(runningBufferStats({ config: rig.gateway.config }, fail)).rejects.toThrow(
        `but the server at 127.0.0.1:${(impostor.address() as AddressInfo).port} is not it: self-signed certificate (the certificate in ${path.join(tlsDir(dir), 'cert.pem')} is trusted, no other); nothing was sent to it`,
      );
      expect(requests).toBe(0);
    } finally {
      writeEndpoint(dir, endpoint);
      await new Promise((r) => impostor.close(r));
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('over plain HTTP when the API serves plain HTTP (loopback only)', async () => {
    const plain = await startApiRig('  tls: { enabled: false }');
    try {
      expect(plain.api.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const got = await runningBufferStats({ config: plain.gateway.config }, fail);
      expect(got!.s.path).toBe(plain.gateway.buffer.stats().path);
    } finally {
      await plain.stop();
    }
  });

  it('connects to this PC: 127.0.0.1 for every interface, a loopback or own address as it is', () => {
    expect(localAddress('0.0.0.0')).toBe('127.0.0.1');
    expect(localAddress('[::]')).toBe('::1');
    expect(localAddress('[::1]')).toBe('::1');
    expect(localAddress('127.0.0.2')).toBe('127.0.0.2');
  });
});
