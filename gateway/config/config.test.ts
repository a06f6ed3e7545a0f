import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError } from '../plugin-api/errors.js';
import { createLogger } from '../runtime/log.js';
import type { OutputDefinition } from '../plugin-api/contract.js';
import { createRegistry, registry } from '../runtime/registry.js';
import { definition as gatewayHealth } from '../../plugins/inputs/gateway-health/index.js';
import { definition as fileLake } from '../../plugins/outputs/file-lake/index.js';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { configReference, withReference } from './docs.js';
import { type ConfigProblems, loadConfig } from './load.js';
import { collectSecretValues, redactConfig } from './report.js';
import { configKeys, defOf, metaOf, objectShape } from './introspect.js';
import { buildConfigSchema, outputEnvelopeKeys, pluginSettings } from './schema.js';
import { parseBytes, parseDuration, secret } from './units.js';

/**
 * An output definition with the shapes the real network outputs will have (a list of host:port
 * brokers, a required topic, a marked secret and an unmarked `token`), so the error wording for
 * nested paths and secrets is tested before those plugins exist. Its factory is never called here.
 */
const brokerLike: OutputDefinition<{ brokers: string[]; topic: string; password?: string; token?: string }> = {
  type: 'broker-like',
  configSchema: z.strictObject({
    brokers: z.array(z.string().refine((s) => /^[^:\s]+:\d+$/.test(s), { message: 'expected host:port' })).min(1),
    topic: z.string(),
    password: secret('broker password')
      .refine((s) => s.length >= 8, {
        // a careless message that quotes the value: the report must still not show it
        error: (iss) => `password "${String(iss.input)}" is shorter than 8 characters`,
      })
      .optional(),
    token: z.string().optional(),
  }),
  capabilities: () => ({ premises: 'off' }),
  create: () => {
    throw new Error('not used in config tests');
  },
};
const testRegistry = createRegistry({ inputs: [gatewayHealth], outputs: [fileLake, brokerLike] });

function problems(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    loadConfig({ text, file: 'test.yaml', env, registry: testRegistry });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigProblems).code).toBe('LG_CONFIG_INVALID');
    return (err as ConfigProblems).problems;
  }
  throw new Error('expected the config to be rejected');
}

describe('defaults', () => {
  it('with no file: gateway-health feeding file-lake under ./var', () => {
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'lg-cfg-'));
    const { config, origin } = loadConfig({ env: {}, cwd });
    expect(origin).toBe('(defaults)');
    expect(config.gateway.dataDir).toBe(path.join(cwd, 'var'));
    expect(config.gateway.machine).toBe(os.hostname());
    expect(config.inputs).toEqual({ health: { type: 'gateway-health', interval: 10_000, signalPrefix: 'gateway' } });
    expect(Object.keys(config.outputs)).toEqual(['lake']);
    expect(config.classification).toEqual({ default: 'internal', rules: [] });
    expect(config.routing).toEqual({ rules: [], defaultAccessPatterns: {}, unmatched: 'all' });
    expect(config.outputs.lake!.type).toBe('file-lake');
    expect(config.buffer).toMatchObject({ maxBytes: 1024 ** 3, inlineMaxBytes: 64 * 1024, synchronous: 'FULL' });
    expect(config.buffer.fullPolicy).toEqual({ public: 'drop-oldest', internal: 'drop-oldest', sensitive: 'drop-oldest', confidential: 'drop-oldest' });
    expect(config.gateway.shutdownGraceMs).toBe(10_000);
    expect(config.log.level).toBe('info');
  });

  it('$LAYERGATE_DATA_DIR moves the data folder', () => {
    const { config } = loadConfig({ env: { LAYERGATE_DATA_DIR: '/srv/lg-data' } });
    expect(config.gateway.dataDir).toBe('/srv/lg-data');
  });

  it('an empty file is the defaults', () => {
    const { config } = loadConfig({ text: '# nothing yet\n', env: {}, cwd: '/tmp' });
    expect(Object.keys(config.inputs)).toEqual(['health']);
  });

  it('a full file parses sizes, durations and per-class policies', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lg-cfg-'));
    const file = path.join(dir, 'layergate.yaml');
    writeFileSync(
      file,
      [
        'gateway: { machine: m400-1, dataDir: /data/lg, shutdownGraceMs: 30s }',
        'buffer:',
        '  maxBytes: 8GiB',
        '  maxAge: 7d',
        '  inlineMaxBytes: 128 KiB',
        '  synchronous: NORMAL',
        '  fullPolicy: { confidential: block, sensitive: block }',
        'log: { level: debug }',
        'inputs:',
        '  health: { type: gateway-health, interval: 1m30s, class: sensitive }',
        'outputs:',
        '  lake: { type: file-lake, path: /data/lake, kinds: [scalar, event] }',
        '  bus: { type: broker-like, brokers: ["kafka-1:9092"], topic: layergate.records, classes: [public, internal] }',
      ].join('\n'),
    );
    const { config } = loadConfig({ file, env: {}, registry: testRegistry });
    expect(config.gateway).toEqual({
      machine: 'm400-1',
      dataDir: '/data/lg',
      shutdownGraceMs: 30_000,
      deliveryThread: true,
      quarantineMaxBytes: 64 * 1024 ** 2,
    });
    expect(config.buffer).toEqual({
      maxBytes: 8 * 1024 ** 3,
      maxAge: 7 * 86_400_000,
      inlineMaxBytes: 128 * 1024,
      synchronous: 'NORMAL',
      fullPolicy: { public: 'drop-oldest', internal: 'drop-oldest', sensitive: 'block', confidential: 'block' },
    });
    expect(config.inputs.health).toEqual({ type: 'gateway-health', class: 'sensitive', interval: 90_000, signalPrefix: 'gateway' });
    expect(config.outputs.lake).toMatchObject({ type: 'file-lake', path: '/data/lake', kinds: ['scalar', 'event'] });
    expect(config.outputs.bus).toEqual({
      type: 'broker-like',
      brokers: ['kafka-1:9092'],
      topic: 'layergate.records',
      classes: ['public', 'internal'],
    });
  });

  it("every output takes the forwarder keys linger, batchRecords, batchBytes; they are the gateway's, not the plugin's", () => {
    const { config } = loadConfig({
      text: 'outputs:\n  lake: { type: file-lake, linger: 30s, batchRecords: 2000, batchBytes: 16MiB, compactWindow: 15m }\n',
      env: {},
      registry: testRegistry,
    });
    const lake = config.outputs.lake!;
    expect([lake.linger, lake.batchRecords, lake.batchBytes]).toEqual([30_000, 2000, 16 * 1024 ** 2]);
    const settings = pluginSettings(lake, outputEnvelopeKeys(fileLake.configSchema));
    expect(Object.keys(settings).sort()).toEqual(['compactEvery', 'compactWindow', 'format', 'rollEvery']);
    expect(() => fileLake.configSchema.parse(settings)).not.toThrow(); // the plugin's strict schema accepts what it gets
    expect(problems('outputs:\n  lake: { type: file-lake, linger: soon, batchRecords: 0 }\n')).toEqual([
      'outputs.lake.linger: expected a duration like 10s, 5m or 7d, got "soon"',
      'outputs.lake.batchRecords: expected a whole number > 0, got number 0',
    ]);
  });

  it('every byte size and duration key takes units, and a plain number keeps its meaning', () => {
    const lake = (rollEvery: string) => loadConfig({ text: `outputs:\n  lake: { type: file-lake, rollEvery: ${rollEvery} }\n`, env: {} }).config.outputs.lake!;
    expect(lake('{ bytes: 64MiB }').rollEvery).toEqual({ records: 1_000_000, bytes: 64 * 1024 ** 2 });
    expect(lake('{ bytes: 1000, records: 5 }').rollEvery).toEqual({ records: 5, bytes: 1000 });
    expect(problems('outputs:\n  lake: { type: file-lake, rollEvery: { bytes: 0 } }\n')).toEqual([
      'outputs.lake.rollEvery.bytes: expected a byte size > 0, got number 0',
    ]);
    // every key named like a size or a duration, in every plugin: a unit field (the README says they all take units)
    const sizeOrDuration = /(Bytes|bytes|Size|size|Ms|Timeout|Interval|interval|linger|Age|Window|window|Every|After|Expiry|keepalive)$/;
    // counts, whatever their names say
    const counts = ['dedupWindow', 'thumbnail.size', 'queueSize', 'items[].queueSize', 'discover[].queueSize'];
    const withoutUnit = configKeys(buildConfigSchema(registry))
      .filter(({ path: key, field }) => sizeOrDuration.test(key) && !counts.includes(key) && !objectShape(field.inner))
      .filter(({ field }) => {
        const d = defOf(field.inner);
        const options = d.type === 'union' ? (d.options as z.ZodType[]) : [field.inner];
        return !options.some((o) => metaOf(o).unit === 'byte size' || metaOf(o).unit === 'duration');
      })
      .map(({ path: key, entry }) => (entry ? `${entry.map}.<${entry.type}>.${key}` : key));
    expect(withoutUnit).toEqual([]);
  });

  it('byte sizes and durations', () => {
    expect(parseBytes('8GiB')).toBe(8 * 1024 ** 3);
    expect(parseBytes('500MB')).toBe(500_000_000);
    expect(parseBytes('1.5 KiB')).toBe(1536);
    expect(parseBytes(4096)).toBe(4096);
    expect(parseBytes('8 GiBs')).toBeUndefined();
    expect(parseDuration('7d')).toBe(604_800_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('10 parsecs')).toBeUndefined();
  });
});

describe('one line per problem, naming path, expectation and what was found', () => {
  it('unknown key', () => {
    expect(problems('buffer:\n  maxbytes: 1GiB\n')).toEqual([
      'buffer.maxbytes: unknown key (allowed here: maxBytes, maxAge, inlineMaxBytes, synchronous, fullPolicy)',
    ]);
    expect(problems('inputs:\n  health: { type: gateway-health, intervall: 5s }\n')).toEqual([
      'inputs.health.intervall: unknown key (allowed here: interval, signalPrefix, type, class, accessPattern)',
    ]);
    expect(problems('outptus: {}\n')[0]).toMatch(
      /^outptus: unknown key \(allowed here: gateway, buffer, log, classification, routing, encryption, audit, api, inputs, outputs\)$/,
    );
  });

  it('wrong type', () => {
    expect(problems('gateway: { machine: 42 }\n')).toEqual(['gateway.machine: expected string, got number 42']);
    expect(problems('buffer: { maxBytes: lots }\n')).toEqual(['buffer.maxBytes: expected a byte size like 512MiB or 8GiB, got "lots"']);
    expect(problems('outputs:\n  bus: { type: broker-like, brokers: [kafka], topic: t }\n')).toEqual([
      'outputs.bus.brokers[0]: expected host:port, got "kafka"',
    ]);
    expect(problems('inputs: [health]\n')).toEqual(['inputs: expected record, got a list']);
  });

  it('missing required key', () => {
    expect(problems('outputs:\n  bus: { type: broker-like, brokers: ["k:9092"] }\n')).toEqual(['outputs.bus.topic: missing required key, expected string']);
    expect(problems('inputs:\n  health: { interval: 5s }\n')).toEqual([
      'inputs.health.type: missing required key, expected one of the input types "gateway-health"',
    ]);
  });

  it('bad enum value', () => {
    expect(problems('buffer: { synchronous: OFF }\n')).toEqual(['buffer.synchronous: expected one of "FULL", "NORMAL", got "OFF"']);
    expect(problems('buffer: { fullPolicy: { internal: wait } }\n')).toEqual([
      'buffer.fullPolicy.internal: expected one of "drop-oldest", "block", got "wait"',
    ]);
    expect(problems('inputs:\n  health: { type: gateway-health, class: secret }\n')).toEqual([
      'inputs.health.class: expected one of "public", "internal", "sensitive", "confidential", got "secret"',
    ]);
  });

  it('a value outside a union of literals lists every allowed value: numbers, strings, a literal beside a unit', () => {
    const refusedBy = (text: string): string[] => {
      try {
        loadConfig({ text, env: {} });
      } catch (err) {
        return (err as ConfigProblems).problems;
      }
      throw new Error('expected the config to be rejected');
    };
    const mqtt = (sub: string, extra = '') =>
      `inputs:\n  m: { type: mqtt, url: "mqtt://broker:1883"${extra}, subscriptions: [ { topic: a, decoder: json${sub} } ] }\n`;
    expect(refusedBy(mqtt(', qos: 3'))).toEqual(['inputs.m.subscriptions[0].qos: expected one of 0, 1, 2, got number 3']);
    expect(refusedBy(mqtt(', qos: "1"'))).toEqual(['inputs.m.subscriptions[0].qos: expected one of 0, 1, 2, got "1"']);
    expect(refusedBy(mqtt('', ', protocolVersion: 3'))).toEqual(['inputs.m.protocolVersion: expected one of 4, 5, got number 3']);
    expect(refusedBy('outputs:\n  k: { type: kafka, brokers: ["kafka-1:9092"], maxBatchBytes: fast }\n')).toEqual([
      'outputs.k.maxBatchBytes: expected "auto" or a byte size like 512MiB or 8GiB, got "fast"',
    ]);
    // one kind or a list of kinds: a bad item of a list is named in the list, a bad single value as the value
    const kinds = 'one of "samples", "scalar", "event", "frame", "document"';
    expect(refusedBy('classification: { rules: [ { name: a, kind: scalr, class: public } ] }\n')).toEqual([
      `classification.rules[0].kind: expected ${kinds}, got "scalr"`,
    ]);
    expect(refusedBy('classification: { rules: [ { name: a, kind: [scalar, frme], class: public } ] }\n')).toEqual([
      `classification.rules[0].kind[1]: expected ${kinds}, got "frme"`,
    ]);
  });

  it('bad plugin type', () => {
    expect(problems('outputs:\n  bus: { type: kafak }\n')).toEqual([
      'outputs.bus.type: unknown output type, expected one of "file-lake", "broker-like", got "kafak"',
    ]);
    expect(problems('inputs:\n  opc: { type: opcua }\n')).toEqual(['inputs.opc.type: unknown input type, expected "gateway-health", got "opcua"']);
  });

  it('bad instance name', () => {
    expect(problems('outputs:\n  "my lake": { type: file-lake }\n')[0]).toMatch(/^outputs\.my lake: invalid name: expected a name of letters, digits/);
  });

  it('YAML syntax error, with line:col', () => {
    expect(problems('buffer:\n  maxBytes: 1GiB\n synchronous: FULL\n')).toEqual([
      'test.yaml:3:1: YAML syntax error: All mapping items must start at the same column',
    ]);
    expect(problems('gateway: { machine: m400: x }\n')).toEqual([
      'test.yaml:1:21: YAML syntax error: Block collections are not allowed within flow collections',
    ]);
    // the library quotes the offending line; our message must not (it may hold a secret)
    const tab = problems('outputs:\n  bus:\n    password: hunter2hunter2\n\ttopic: x\n');
    expect(tab).toEqual(['test.yaml:4:1: YAML syntax error: Tabs are not allowed as indentation']);
    const dup = problems('buffer:\n  maxBytes: 1GiB\n  maxBytes: 2GiB\n');
    expect(dup).toHaveLength(1);
    expect(dup[0]).toMatch(/^test\.yaml:3:3: YAML syntax error: Map keys must be unique/);
  });

  it('several problems: every one on its own line, all reported at once', () => {
    const p = problems('gateway: { machine: 1 }\nbuffer: { synchronous: OFF, maxAge: forever }\nlog: { level: chatty }\n');
    expect(p).toEqual([
      'gateway.machine: expected string, got number 1',
      'buffer.maxAge: expected a duration like 10s, 5m or 7d, got "forever"',
      'buffer.synchronous: expected one of "FULL", "NORMAL", got "OFF"',
      'log.level: expected one of "trace", "debug", "info", "warn", "error", "fatal", "silent", got "chatty"',
    ]);
  });

  it('a missing file is named', () => {
    expect(() => loadConfig({ file: '/nonexistent/layergate.yaml', env: {} })).toThrow(/\/nonexistent\/layergate\.yaml: file not found/);
  });
});

describe('environment variables', () => {
  it('${VAR} and ${VAR:-default} substitute; a plain scalar takes the type of the value', () => {
    const { config } = loadConfig({
      text: 'gateway: { machine: "${MACHINE}-${LINE:-a}", dataDir: "${DATA:-/var/lib/layergate}" }\nbuffer:\n  maxBytes: ${MAXB}\n  inlineMaxBytes: ${INLINE}\n',
      env: { MACHINE: 'm400', MAXB: '2GiB', INLINE: '4096' },
    });
    expect(config.gateway.machine).toBe('m400-a');
    expect(config.gateway.dataDir).toBe('/var/lib/layergate');
    expect(config.buffer.maxBytes).toBe(2 * 1024 ** 3);
    expect(config.buffer.inlineMaxBytes).toBe(4096);
  });

  it('$${ is a literal ${', () => {
    const { config } = loadConfig({ text: 'gateway: { machine: "cost-$${x}" }\n', env: {} });
    expect(config.gateway.machine).toBe('cost-${x}');
  });

  it('a missing variable without default is an error naming path and variable', () => {
    expect(problems('gateway: { machine: "${MACHINE_NAME}" }\noutputs:\n  bus: { type: broker-like, brokers: ["${BROKER}"], topic: t }\n')).toEqual([
      'gateway.machine: environment variable MACHINE_NAME is not set (and no default: use ${MACHINE_NAME:-default})',
      'outputs.bus.brokers[0]: environment variable BROKER is not set (and no default: use ${BROKER:-default})',
    ]);
  });

  it('a secret from the environment is used but never reported', () => {
    const env = { BROKER_PASSWORD: 'tiny-pw' };
    const p = problems('outputs:\n  bus: { type: broker-like, brokers: ["k:1"], topic: t, password: "${BROKER_PASSWORD}" }\n', env);
    expect(p).toEqual(['outputs.bus.password: password "<redacted>" is shorter than 8 characters, got <redacted>']);
    expect(p.join('\n')).not.toContain('tiny-pw');
  });
});

describe('secrets', () => {
  const text = 'outputs:\n  bus: { type: broker-like, brokers: ["k:1"], topic: t, password: "correct-horse-battery", token: tok-123456 }\n';

  it('a bad value in a secret field is reported without the value', () => {
    const p = problems('outputs:\n  bus: { type: broker-like, brokers: ["k:1"], topic: t, password: 1234567890 }\n');
    expect(p).toEqual(['outputs.bus.password: expected string, got <redacted>']);
    expect(p.join('\n')).not.toContain('1234567890');
  });

  it('a key named like a credential counts as secret even unmarked', () => {
    const p = problems('outputs:\n  bus: { type: broker-like, brokers: ["k:1"], topic: t, token: 987654321 }\n');
    expect(p).toEqual(['outputs.bus.token: expected string, got <redacted>']);
  });

  it('a secret quoted by an unrelated error is scrubbed as well', () => {
    const p = problems('outputs:\n  bus: { type: broker-like, brokers: ["hunter2-secret-pw"], topic: t, password: "hunter2-secret-pw" }\n');
    expect(p).toEqual(['outputs.bus.brokers[0]: expected host:port, got "<redacted>"']);
  });

  it('config dumps redact secrets', () => {
    const loaded = loadConfig({ text, env: {}, registry: testRegistry });
    const dump = JSON.stringify(redactConfig(loaded.schema, loaded.config));
    expect(dump).not.toContain('correct-horse-battery');
    expect(dump).not.toContain('tok-123456');
    expect(redactConfig(loaded.schema, loaded.config).outputs.bus).toMatchObject({ password: '<redacted>', token: '<redacted>', topic: 't' });
    expect(collectSecretValues(loaded.schema, loaded.config).sort()).toEqual(['correct-horse-battery', 'tok-123456']);
  });

  it('log lines never carry a secret: neither by key nor inside a message', () => {
    const loaded = loadConfig({ text, env: {}, registry: testRegistry });
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    });
    const log = createLogger({ secrets: collectSecretValues(loaded.schema, loaded.config), destination: sink as never });
    log.info({ config: loaded.config }, 'starting');
    log.warn({ err: new Error('auth failed for correct-horse-battery') }, 'connect failed');
    log.info({ deep: { a: { b: { password: 'anything', secretKey: 'sk', accessToken: 'at' } } } }, 'nested');
    const out = lines.join('');
    expect(lines).toHaveLength(3);
    for (const s of ['correct-horse-battery', 'tok-123456', 'anything', '"sk"', '"at"']) expect(out).not.toContain(s);
    expect(out).toContain('<redacted>');
    expect(out).toContain('"topic":"t"');
  });
});

it('the shipped registry knows the built-in plugins', () => {
  expect([...registry.inputs.keys()]).toContain('gateway-health');
  expect([...registry.outputs.keys()]).toContain('file-lake');
});

describe('documentation', () => {
  const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

  /** heading text (`` `buffer` ``, ``output `type: cloud` ``) -> its table rows */
  function referenceSections(ref: string): Map<string, string[]> {
    const sections = new Map<string, string[]>();
    let rows: string[] = [];
    for (const line of ref.split('\n')) {
      const heading = /^#{4,5} (.+)$/.exec(line);
      if (heading) sections.set(heading[1]!, (rows = []));
      else if (line.startsWith('| `')) rows.push(line);
    }
    return sections;
  }

  it('the README configuration reference matches the schema (run `npm run docs:config` if not)', () => {
    const readme = readFileSync(path.join(repo, 'README.md'), 'utf8');
    expect(withReference(readme, configReference())).toBe(readme);
  });

  it('the reference lists every key with its type and default', () => {
    const ref = configReference();
    expect(ref).toContain('| `buffer.maxBytes` | byte size | `1GiB` |');
    expect(ref).toContain('| `buffer.synchronous` | `FULL` \\| `NORMAL` | `FULL` |');
    expect(ref).toContain('| `interval` | duration | `10s` |');
    expect(ref).toContain('##### output `type: file-lake`');
    // every key of the whole schema (core sections, the instance envelopes, every plugin's settings)
    // has its row in the section that documents it, with its own description
    const sections = referenceSections(ref);
    const notListed: string[] = [];
    const keys = configKeys(buildConfigSchema(registry));
    for (const { path: key, field, entry } of keys) {
      const where = entry
        ? [`${entry.map === 'inputs' ? 'input' : 'output'} \`type: ${entry.type}\``, `\`${entry.map}.<name>\``]
        : key.includes('.')
          ? [`\`${key.split('.')[0]}\``]
          : [];
      if (where.length === 0) {
        // a top-level section: its own heading (inputs/outputs: the instance map's)
        if (!sections.has(`\`${key}\``) && !sections.has(`\`${key}.<name>\``)) notListed.push(key);
        continue;
      }
      const description = field.description.replace(/\|/g, '\\|');
      const listed = where.some((h) => sections.get(h)?.some((row) => row.startsWith(`| \`${key}\` |`) && row.endsWith(`| ${description} |`)));
      if (!listed) notListed.push(entry ? `${entry.map}.<name>.${key} (type ${entry.type})` : key);
    }
    expect(keys.length).toBeGreaterThan(250);
    expect(notListed).toEqual([]);
  });

  it('the shipped example config is valid', () => {
    const { config } = loadConfig({ file: path.join(repo, 'config/layergate.example.yaml'), env: {} });
    expect(config.buffer.fullPolicy.confidential).toBe('block');
    expect(Object.keys(config.inputs)).toEqual(['health']);
  });
});
