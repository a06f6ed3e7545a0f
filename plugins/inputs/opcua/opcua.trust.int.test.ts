/**
 * Trust, both directions, as a plant's admin goes through it: the real gateway (`Gateway.start` with a
 * config file) against a strict node-opcua server (test-support/typed-server.ts: client certificates
 * only once its admin trusts them, a user and password required), the gateway's log read as the
 * admin reads it, and every command the log names run as printed: the `layergate` CLI as a child
 * process, from another working directory, without the config's secrets in its environment.
 */
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DataType, VariantArrayType } from 'node-opcua';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../gateway/config/load.js';
import { parseScalarBody } from '../../../gateway/plugin-api/record.js';
import { Gateway } from '../../../gateway/runtime/gateway.js';
import { capturingLog } from '../../../test/support/opcua-input.js';
import { freePort, waitFor } from '../../../test/support/wait.js';
import { type TypedServer, startTypedServer } from './test-support/typed-server.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const tsxLoader = createRequire(import.meta.url).resolve('tsx');

/** `layergate ...` as an admin runs it: a new process, in `cwd`, with the environment given and nothing of the gateway's */
function layergate(args: string[], cwd: string) {
  const env = { ...process.env };
  for (const k of ['LAYERGATE_CONFIG', 'LAYERGATE_DATA_DIR', 'TEST_OPCUA_PASSWORD', 'LAKE_SHARE']) delete env[k];
  const r = spawnSync(process.execPath, ['--import', tsxLoader, path.join(repo, 'gateway/cli/main.ts'), ...args], {
    cwd,
    env,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** the command between backticks in a log message, as its words */
const commandIn = (msg: string, verb: string): string => {
  const m = new RegExp(`\`(layergate pki ${verb} [^\`]+)\``).exec(msg);
  if (!m) throw new Error(`no \`layergate pki ${verb} ...\` in: ${msg}`);
  return m[1]!;
};

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

describe('opcua trust, both directions', () => {
  it("the gateway's certificate has the plant's subject; each refusal is logged at warn with the next command, which works as printed", async () => {
    const srv: TypedServer = await startTypedServer({ port: await freePort(), strict: { username: 'op', password: 'pw' } });
    cleanup.push(() => srv.stop());
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lg-opcua-trust-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const configFile = path.join(dir, 'layergate.yaml');
    writeFileSync(
      configFile,
      [
        `gateway: { dataDir: ${JSON.stringify(path.join(dir, 'data'))}, machine: m1, deliveryThread: false, shutdownGraceMs: 1s }`,
        'inputs:',
        '  machine:',
        '    type: opcua',
        `    endpoint: ${srv.endpoint}`,
        '    securityMode: SignAndEncrypt',
        '    username: op',
        '    password: ${TEST_OPCUA_PASSWORD}',
        '    reconnect: { initial: 100ms, max: 1s }',
        '    machine: { enabled: false }',
        '    samplingInterval: 0',
        '    items: [ { node: "ns=1;s=t.UInt64", signal: counter } ]',
        '    certificate:',
        '      organization: Plant A',
        '      organizationalUnit: AM line 2',
        '      locality: Augsburg',
        '      country: DE',
        '      applicationUri: urn:plant-a-gw1:LayerGate',
        '      dnsNames: [plant-a-gw1]',
        'outputs:',
        // lingers: what the buffer stored for it stays readable
        '  lake: { type: file-lake, linger: 1h, batchRecords: 100000 }',
        // a secret of another part of the config: the pki commands must not need it
        '  share: { type: file-lake, path: "${LAKE_SHARE}/share" }',
        '',
      ].join('\n'),
    );
    const { log, lines } = capturingLog();
    const gw = await Gateway.start(loadConfig({ file: configFile, env: { ...process.env, TEST_OPCUA_PASSWORD: 'pw', LAKE_SHARE: dir } }), { log });
    cleanup.push(() => gw.stop());
    const pkiDir = path.join(dir, 'data', 'pki', 'opcua');
    const warned = (text: string) =>
      waitFor(`a warning "${text}"`, () => lines.find((l) => l.level === 40 && l.msg.includes(text)), 45_000).catch((err: Error) => {
        throw new Error(`${err.message}; logged: ${lines.map((l) => `${l.level} ${l.msg} ${JSON.stringify(l.reason ?? '')}`).join(' | ')}`);
      });

    // the gateway's certificate: the plant's subject, URI and host name, none of the library's defaults
    const ownFile = path.join(pkiDir, 'own', 'certs', 'client_certificate.pem');
    await waitFor('the own certificate', () => existsSync(ownFile));
    const own = new X509Certificate(readFileSync(ownFile));
    const ownTp = own.fingerprint.replace(/:/g, '').toLowerCase();
    expect(own.subject.split('\n')).toEqual(expect.arrayContaining(['O=Plant A', 'OU=AM line 2', 'L=Augsburg', 'C=DE', `CN=LayerGate@${os.hostname()}`]));
    expect(own.subject).not.toMatch(/Sterfive|Orleans/);
    expect(own.subjectAltName).toContain('URI:urn:plant-a-gw1:LayerGate');
    expect(own.subjectAltName).toContain('DNS:plant-a-gw1');

    // 1. first (the client checks first) the gateway does not trust the server's certificate: the exact command, with -c
    const untrusted = await warned('not trusted by the gateway');
    const serverCert = new X509Certificate(readFileSync(path.join(srv.pkiDir, 'own', 'certs', readdirSync(path.join(srv.pkiDir, 'own', 'certs'))[0]!)));
    const serverTp = serverCert.fingerprint.replace(/:/g, '').toLowerCase();
    const trust = commandIn(untrusted.msg, 'trust');
    expect(trust).toBe(`layergate pki trust ${serverTp} -c ${configFile}`);
    const elsewhere = mkdtempSync(path.join(os.tmpdir(), 'lg-opcua-admin-'));
    cleanup.push(() => rmSync(elsewhere, { recursive: true, force: true }));
    const trusted = layergate(trust.split(' ').slice(1), elsewhere);
    expect(trusted.stderr).toBe('');
    expect(trusted.code).toBe(0);
    expect(trusted.stdout).toContain(`trusted ${serverTp}`);

    // 2. then the server refuses the gateway's certificate: what to trust on the server, by thumbprint and file
    const rejected = await warned("refused the gateway's certificate");
    expect(rejected.msg).toContain(ownTp);
    expect(rejected.msg).toContain(ownFile);
    expect(rejected.msg).toContain(`layergate pki list -c ${configFile}`);
    await srv.trustClient(own.raw);

    // 3. connected with the user's password: a counter above 2^53 arrives exact
    await waitFor('the input subscribed', () => lines.some((l) => l.msg === 'opcua: subscribed'), 30_000);
    srv.set('UInt64', DataType.UInt64, VariantArrayType.Scalar, [0x00200000, 1]);
    await waitFor('2^53 + 1 stored', () => gw.buffer.read('lake', 1000).some((r) => r.signal === 'counter' && parseScalarBody(r.body!).v === 2n ** 53n + 1n));

    // `pki list -c` from anywhere, without the config's secrets: the own and the trusted certificate
    const list = layergate(['pki', 'list', '-c', configFile], elsewhere);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain(`PKI folder ${pkiDir}`);
    expect(list.stdout).toMatch(new RegExp(`own\\s+${ownTp}`));
    expect(list.stdout).toMatch(new RegExp(`trusted\\s+${serverTp}`));
    // without a config, where the defaults point there is no PKI folder: said, with where it looked, exit 1
    const none = layergate(['pki', 'list'], elsewhere);
    expect(none.code).toBe(1);
    expect(none.stdout).toBe('');
    expect(none.stderr).toContain(`no OPC-UA PKI folder at ${path.join(elsewhere, 'var', 'pki', 'opcua')}`);
    expect(none.stderr).toContain('-c FILE');

    // renewal: a new certificate with the configured subject, the old one kept
    const renew = layergate(['pki', 'renew', '-c', configFile], elsewhere);
    expect(renew.stderr).toBe('');
    expect(renew.code).toBe(0);
    const renewed = new X509Certificate(readFileSync(ownFile));
    const renewedTp = renewed.fingerprint.replace(/:/g, '').toLowerCase();
    expect(renewedTp).not.toBe(ownTp);
    expect(renew.stdout).toContain(renewedTp);
    expect(renewed.subject.split('\n')).toEqual(expect.arrayContaining(['O=Plant A', 'L=Augsburg', 'C=DE']));
    expect(renewed.publicKey.export({ type: 'spki', format: 'der' })).toEqual(own.publicKey.export({ type: 'spki', format: 'der' }));
    const backups = readdirSync(path.join(pkiDir, 'own', 'backup'));
    expect(backups).toHaveLength(1);
    expect(new X509Certificate(readFileSync(path.join(pkiDir, 'own', 'backup', backups[0]!))).fingerprint).toBe(own.fingerprint);
    expect(renew.stdout).toContain(path.join(pkiDir, 'own', 'backup', backups[0]!));
  }, 180_000);
});
