#!/usr/bin/env -S node --max-old-space-size=768 --max-semi-space-size=32
/**
 * The `layergate` command.
 *
 *   layergate run [-c FILE]                       run the gateway (no file: built-in defaults)
 *   layergate demo [-c FILE]                      the simulator and the gateway: config/storage-strategy.yaml when the
 *                                                 test service harness is up, else config/demo.yaml (npm start)
 *   layergate check-config FILE                   validate; print OK + a redacted summary, or the problems; warnings on stderr
 *   layergate config schema                       the whole configuration as JSON Schema (every plugin's keys)
 *   layergate buffer stats [-c FILE] [--json]     size, fill, oldest/newest, per-sink lag, evictions
 *   layergate buffer check [-c FILE] [--json]     integrity check + spool reconcile
 *   layergate buffer losses [-c FILE] [--limit N] [--json]   the loss ledger
 *   layergate pki list|trust <thumbprint>|reject <thumbprint>|renew [-c FILE] [--input NAME] [--pki DIR] [--json]   OPC-UA trust list and certificate (plugins/inputs/opcua/commands.ts)
 *   layergate explain --input NAME --signal S [--kind K] [--build B] [--job-class C] [-c FILE] [--json]
 *   layergate audit verify [-c FILE] [--file PATH] [--json]   check the audit log's hash chain (exit 3 if broken)
 *   layergate keys rotate [-c FILE] | keys generate          the encryption key ring (gateway/cli/policy-commands.ts)
 *   layergate sync status|pause|resume [-c FILE] [--output NAME] | sync verify BUILD [--deep]   cloud sync (plugins/outputs/cloud/sync/commands.ts)
 *   layergate api info | admin setup | users list|add|passwd|remove   the control-plane API (gateway/cli/api-commands.ts)
 *   layergate lake migrate [-c FILE] [--output NAME]   a file lake of the per-signal layout into machine/build/date partitions (plugins/outputs/file-lake/commands.ts)
 *
 * `buffer stats` and `buffer losses` work beside a running gateway: the buffer admits one process at a
 * time, so when one runs on the config's data folder (<dataDir>/api/endpoint.json, pid alive) they ask
 * its API over loopback with the local token it writes at every start, trusting exactly the
 * certificate in the data folder (./running-gateway.ts, gateway/api/local-credential.ts), and print
 * what they print for a stopped gateway's buffer, which they open themselves. `buffer check` repairs,
 * so it needs the gateway stopped. `explain` asks it the same way (its policy in force and the job
 * markings it holds; ./policy-commands.ts).
 *
 * `pki`, `sync` and `lake` are the plugins' own commands: their definitions declare them (`commands`) and
 * they are added here through the registry, like any plugin's.
 *
 * The config file may also be given as $LAYERGATE_CONFIG. Exit codes: 0 ok, 1 runtime failure,
 * 2 invalid configuration or usage, 3 `buffer check` found problems, `audit verify` a broken chain or
 * `sync verify` a cloud that does not match the build's manifest.
 *
 * A bad config is reported before anything is opened or created: the buffer is only touched once
 * the whole config validated.
 */
import { once } from 'node:events';
import { existsSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import YAML from 'yaml';
import { openBuffer } from '../buffer/index.js';
import { lossJson, nsToIso, statsJson } from '../buffer/report.js';
import type { BufferStats, LossEntry, RecordBuffer } from '../buffer/types.js';
import { ConfigProblems, formatWarnings, loadConfig } from '../config/load.js';
import type { LoadedConfig } from '../config/load.js';
import { redactConfig, scrub } from '../config/report.js';
import { configJsonSchema } from '../config/json-schema.js';
import { chooseDemoConfig, demoBanner, demoSetup, startSimulator } from './demo.js';
import { ConfigError } from '../plugin-api/errors.js';
import { Gateway, bufferOptions, loggerFor } from '../runtime/gateway.js';
import { createLogger } from '../runtime/log.js';
import { quarantineSummary } from '../quarantine/summary.js';
import { addPolicyCommands } from './policy-commands.js';
import { addApiCommands } from './api-commands.js';
import { pluginConfigView } from '../config/plugin-config-view.js';
import { runningBufferStats, runningLosses } from './running-gateway.js';
import type { ControlPlane } from '../api/server.js';
import { startControlPlane } from '../api/gateway-view.js';
import type { Logger } from 'pino';
import type { QuarantineCount } from '../quarantine/summary.js';
import { INPUT_ENVELOPE_KEYS, outputEnvelopeKeys } from '../config/schema.js';
import type { CommandContext, ExitCodes } from '../plugin-api/commands.js';
import { registry } from '../runtime/registry.js';

export const EXIT: ExitCodes = { ok: 0, failure: 1, config: 2, checkFailed: 3 };

class ExitError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
  }
}

const failure = (message: string): Error => new ExitError(EXIT.failure, message);

function configFile(opt: string | undefined): string | undefined {
  return opt ?? (process.env.LAYERGATE_CONFIG || undefined);
}

function load(file: string | undefined, unsetVariables: 'error' | 'keep' = 'error'): LoadedConfig {
  try {
    return loadConfig({ file, unsetVariables });
  } catch (err) {
    if (err instanceof ConfigError) throw new ExitError(EXIT.config, err.message);
    throw err;
  }
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${units[i]}`;
}

/** what the buffer reported at error level while opening (recovery repaired something) */
interface OpenProblem {
  msg: string;
  [k: string]: unknown;
}

function withBuffer<T>(file: string | undefined, fn: (b: RecordBuffer, loaded: LoadedConfig, atOpen: OpenProblem[]) => T): T {
  const loaded = load(file);
  const atOpen: OpenProblem[] = [];
  // the buffer's diagnostics go to stderr so that --json output stays parseable; errors are also kept
  const destination = {
    write(line: string): void {
      process.stderr.write(line);
      try {
        const o = JSON.parse(line) as { level: number; msg: string; time?: unknown; pid?: unknown; component?: unknown };
        if (o.level >= 50) {
          const { level: _l, time: _t, pid: _p, component: _c, ...rest } = o;
          atOpen.push(rest);
        }
      } catch {
        /* not JSON: shown on stderr only */
      }
    },
  };
  const log = createLogger({ level: 'warn', destination }).child({ component: 'buffer' });
  const opts = bufferOptions(loaded.config);
  if (!existsSync(path.join(opts.dir, 'buffer.sqlite'))) {
    throw new ExitError(EXIT.failure, `no buffer at ${opts.dir}: no gateway has run with gateway.dataDir ${loaded.config.gateway.dataDir}`);
  }
  let buffer: RecordBuffer;
  try {
    buffer = openBuffer(opts, log);
  } catch (err) {
    const code = (err as { code?: string }).code ?? '';
    if (code.startsWith('SQLITE_BUSY') || /database is locked/.test((err as Error).message)) {
      throw new ExitError(
        EXIT.failure,
        `the buffer at ${opts.dir} is in use by a running gateway (one process per buffer) that serves no API to ask (api.enabled: false, or its API could not start: see its log); stop it first (systemctl stop layergate)`,
      );
    }
    throw err;
  }
  try {
    return fn(buffer, loaded, atOpen);
  } finally {
    buffer.close();
  }
}

export function statsText(s: BufferStats, quarantine: QuarantineCount[] = []): string {
  const lines = [
    `buffer       ${s.path}`,
    `records      ${s.records}`,
    `size         ${formatBytes(s.bytes)} of ${formatBytes(s.recordBytesLimit)} (${(s.fill * 100).toFixed(s.fill > 0 && s.fill < 0.0001 ? 6 : 2)}% full; maxBytes ${formatBytes(s.maxBytes)} less the WAL's and the reserve's share)`,
    `oldest       ${s.oldestSeq === null ? '-' : `seq ${s.oldestSeq} received ${nsToIso(s.oldestReceiveTimeNs)}`}`,
    `newest       ${s.newestSeq === null ? '-' : `seq ${s.newestSeq} received ${nsToIso(s.newestReceiveTimeNs)}`}`,
    `spool        ${s.spoolBlobs} blobs, ${formatBytes(s.spoolBytes)}`,
    `missing      ${s.missingBlobs} blobs`,
    'sinks',
    ...(s.sinks.length === 0
      ? ['  (none)']
      : s.sinks.map((k) => `  ${k.sink.padEnd(16)} cursor ${k.cursor}  lag ${k.lagRecords} records (${formatBytes(k.lagBytes)})`)),
    'evictions (undelivered records dropped)',
    ...(s.evictions.length === 0 ? ['  none'] : s.evictions.map((e) => `  ${e.source} / ${e.class}: ${e.records} records (${formatBytes(e.bytes)})`)),
    'quarantine (input that could not be turned into records)',
    ...(quarantine.length === 0 ? ['  none'] : quarantine.map((q) => `  ${q.input} / ${q.reason}: ${q.items} items (${formatBytes(q.bytes)} kept)`)),
  ];
  return `${lines.join('\n')}\n`;
}

export function lossesText(entries: LossEntry[]): string {
  if (entries.length === 0) return 'no losses recorded\n';
  const lines = entries.map(
    (e) =>
      `${nsToIso(e.atNs)}  ${e.reason.padEnd(12)} ${e.source}/${e.signal} [${e.class}] seq ${e.firstSeq}..${e.lastSeq}: ` +
      `${e.records} records (${formatBytes(e.bytes)}) not delivered to ${e.sinks.join(', ') || '-'}`,
  );
  return `${lines.join('\n')}\n`;
}

function toJson(v: unknown): string {
  return `${JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x), 2)}\n`;
}

async function runGateway(file: string | undefined, onRunning?: () => void): Promise<number> {
  const loaded = load(file);
  const log = loggerFor(loaded);
  for (const warning of loaded.warnings) log.warn({ origin: loaded.origin }, `config warning: ${warning}`);
  // handlers first: a SIGTERM that arrives while starting still gets the orderly stop
  let gateway: Gateway | undefined;
  let stopRequested: ((signal: NodeJS.Signals) => void) | undefined;
  const requested = new Promise<NodeJS.Signals>((resolve) => (stopRequested = resolve));
  let signals = 0;
  let forceExit: ((code: number) => void) | undefined;
  const forced = new Promise<number>((resolve) => (forceExit = resolve));
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      log.warn({ signal }, 'second signal: exiting without finishing the shutdown');
      forceExit!(EXIT.failure);
      return;
    }
    log.info({ signal }, 'signal received');
    stopRequested!(signal);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // SIGHUP (`systemctl reload`): the file again, applied as the API applies (gateway/runtime/reload.ts);
  // a file that does not load or apply is logged and the gateway runs on with what it had. Handled
  // from the start: Node's default for SIGHUP is to exit, and a reload while starting must not do that
  process.on('SIGHUP', () => {
    const running = gateway;
    if (!running) {
      log.warn({ file }, 'SIGHUP before the gateway is running: ignored (the file is read at the start under way)');
      return;
    }
    log.info({ file }, 'SIGHUP: reloading the configuration file');
    void Promise.resolve()
      .then(() => running.apply(loadConfig({ file }), { author: 'SIGHUP', comment: `reloaded from ${file ?? '(defaults)'}` }))
      .then(
        (r) => log.info({ version: r.version, inputs: r.inputs, outputs: r.outputs, policyChanged: r.policyChanged }, 'SIGHUP: configuration applied'),
        (err: unknown) => log.error({ err }, 'SIGHUP: the configuration was not applied; the gateway runs on with the one it had'),
      );
  });
  process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled rejection (kept running)'));
  try {
    gateway = await Gateway.start(loaded, { log });
  } catch (err) {
    log.fatal({ err }, 'layergate could not start');
    return EXIT.failure;
  }
  const api = await startApi(gateway, loaded, log);
  onRunning?.();
  const stopped = requested.then(() =>
    gateway!
      .stop()
      .then(
        () => EXIT.ok,
        (err: unknown) => {
          log.error({ err }, 'shutdown failed');
          return EXIT.failure;
        },
      )
      .finally(() => api?.close().catch((err: unknown) => log.error({ err }, 'api close failed'))),
  );
  return Promise.race([stopped, forced]);
}

/**
 * The control-plane API beside the running gateway. It never stops the data path: when it cannot
 * start (the port taken, an unreadable certificate), that is logged and the gateway runs on without it.
 */
async function startApi(gateway: Gateway, loaded: LoadedConfig, log: Logger): Promise<ControlPlane | undefined> {
  const c = gateway.config;
  if (!c.api.enabled) return undefined;
  try {
    return await startControlPlane(gateway, loaded, log);
  } catch (err) {
    log.error({ err, host: c.api.host, port: c.api.port }, 'api could not start; the gateway runs without it');
    return undefined;
  }
}

/** `layergate demo`: the simulator in a child process, then the gateway with the demo config. */
async function runDemo(file?: string): Promise<number> {
  const choice = file === undefined ? await chooseDemoConfig() : { file: path.resolve(file), why: '' };
  const { config, plan } = demoSetup(choice.file);
  const simLog = path.join(config.gateway.dataDir, 'simulator.log');
  process.stderr.write(`starting the machine simulator (log: ${simLog}) ...\n`);
  const simulator = await startSimulator(plan, simLog);
  // the simulator must not outlive the gateway, however the gateway ends
  const killSimulator = (): void => void simulator.kill('SIGTERM');
  process.on('exit', killSimulator);
  try {
    return await runGateway(choice.file, () => process.stderr.write(demoBanner(config, plan, simLog, choice)));
  } finally {
    killSimulator();
    if (simulator.exitCode === null) await once(simulator, 'exit');
    process.off('exit', killSimulator);
  }
}

export function buildProgram(): Command {
  const program = new Command('layergate')
    .description('Edge gateway for PBF-LB/M machines: ingest, classify, buffer on disk, forward.')
    .showHelpAfterError()
    .exitOverride() // inherited by the subcommands: usage errors become exit code 2 in main()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  program
    .command('run')
    .description('run the gateway until SIGTERM/SIGINT')
    .option('-c, --config <file>', 'config file (default: $LAYERGATE_CONFIG, else built-in defaults)')
    .action(async (opts: { config?: string }) => {
      process.exitCode = await runGateway(configFile(opts.config));
    });

  program
    .command('demo')
    .description(
      'run the machine simulator and the gateway side by side (config/storage-strategy.yaml when the test service harness is up, else config/demo.yaml); what `npm start` runs',
    )
    .option('-c, --config <file>', 'run this demo config instead of choosing (config/demo.yaml: the lake only)')
    .action(async (opts: { config?: string }) => {
      process.exitCode = await runDemo(opts.config);
    });

  program
    .command('check-config')
    .description(
      'validate a config file; print OK and a redacted summary, or every problem (exit 2); parts of a valid config that never take effect are warnings on stderr (exit 0)',
    )
    .argument('<file>', 'config file')
    .action((file: string) => {
      const loaded = load(file);
      // on stderr: stdout stays the summary alone, for a script that keeps it
      if (loaded.warnings.length > 0) process.stderr.write(`${formatWarnings(file, loaded.warnings)}\n`);
      const summary = YAML.stringify(redactConfig(loaded.schema, loaded.config, loaded.secrets));
      process.stdout.write(`OK ${file}\n${summary}`);
    });

  program
    .command('config')
    .description('the configuration format')
    .command('schema')
    .description(
      "print the whole configuration as JSON Schema: every plugin's keys with descriptions, defaults and enums, secrets marked (writeOnly, x-secret)",
    )
    .action(() => {
      process.stdout.write(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
    });

  const buffer = program.command('buffer').description('inspect the on-disk buffer');
  buffer
    .command('stats')
    .description('size, fill, oldest/newest records, per-sink lag, evictions, quarantined input per reason')
    .option('-c, --config <file>', 'config file')
    .option('--json', 'machine-readable output')
    .action(async (opts: { config?: string; json?: boolean }) => {
      const file = configFile(opts.config);
      // a running gateway holds the buffer: its API answers; else the buffer is opened here
      const { s, quarantine } =
        (await runningBufferStats(load(file), failure)) ??
        withBuffer(file, (b, loaded) => ({
          s: b.stats(),
          quarantine: quarantineSummary(loaded.config.gateway.dataDir),
        }));
      process.stdout.write(opts.json ? toJson({ ...statsJson(s), quarantine }) : statsText(s, quarantine));
    });
  buffer
    .command('check')
    .description('integrity check and spool reconcile; exit 3 on problems')
    .option('-c, --config <file>', 'config file')
    .option('--json', 'machine-readable output')
    .action((opts: { config?: string; json?: boolean }) => {
      // opening already recovers (drops rows whose blob is gone, moves a damaged file aside):
      // what it repaired counts as a problem found, as much as what check() itself finds
      const { r, atOpen } = withBuffer(configFile(opts.config), (b, _l, problems) => ({ r: b.check(), atOpen: [...problems] }));
      const ok = r.ok && atOpen.length === 0;
      if (opts.json) process.stdout.write(toJson({ ...r, ok, atOpen }));
      else {
        process.stdout.write(
          `${[
            ...atOpen.map((p) => `at open      ${p.msg} ${JSON.stringify({ ...p, msg: undefined })}`),
            `integrity    ${r.integrity.join('; ')}`,
            `orphan blobs removed  ${r.orphanBlobsRemoved}`,
            `missing blobs         ${r.missingBlobs}`,
            ...(r.quarantinedTo ? [`damaged file moved to ${r.quarantinedTo}`] : []),
            ok ? 'OK' : 'PROBLEMS FOUND',
          ].join('\n')}\n`,
        );
      }
      if (!ok) process.exitCode = EXIT.checkFailed;
    });
  buffer
    .command('losses')
    .description('the loss ledger: records dropped before delivery, newest first')
    .option('-c, --config <file>', 'config file')
    .option('--limit <n>', 'at most this many entries', parseLimit, 100)
    .option('--json', 'machine-readable output')
    .action(async (opts: { config?: string; limit: number; json?: boolean }) => {
      const file = configFile(opts.config);
      const entries = (await runningLosses(load(file), opts.limit, failure)) ?? withBuffer(file, (b) => b.losses(opts.limit));
      process.stdout.write(opts.json ? toJson(entries.map(lossJson)) : lossesText(entries));
    });
  // plugins' own commands, through the registry: the inputs' (opcua's `pki`) beside the buffer
  // commands, the outputs' (cloud's `sync`) last, the order `layergate --help` has always shown
  for (const def of registry.inputs.values()) def.commands?.(program, commandContext(def, 'input', INPUT_ENVELOPE_KEYS));
  addPolicyCommands(program, { load, configFile, fail: (code, message) => new ExitError(code, message), exit: EXIT });
  addApiCommands(program, { load, configFile, fail: (code, message) => new ExitError(code, message), exit: EXIT });
  for (const def of registry.outputs.values()) {
    def.commands?.(program, commandContext(def, 'output', outputEnvelopeKeys(def.configSchema)));
  }
  return program;
}

/**
 * What a plugin's commands get (gateway/plugin-api/commands.ts): the config loaded as every command
 * loads it, narrowed to the instances of that plugin with the settings its factory gets.
 */
function commandContext<C>(def: { type: string }, kind: 'input' | 'output', envelope: readonly string[]): CommandContext<C> {
  return {
    load: (file, options) => pluginConfigView<C>(load(configFile(file), options?.unsetVariables), kind, def.type, envelope),
    fail: (code, message) => new ExitError(code, message),
    exit: EXIT,
    json: toJson,
  };
}

function parseLimit(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected a positive integer, got "${v}"`);
  return n;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (err) {
    if (err instanceof ExitError) {
      // a command's failure may quote a URL from the config: its password is not shown
      process.stderr.write(`${scrub(err.message)}\n`);
      return err.exitCode;
    }
    if (err instanceof CommanderError) {
      // commander has printed its message already
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? EXIT.ok : EXIT.config;
    }
    if (err instanceof ConfigProblems) {
      process.stderr.write(`${err.message}\n`);
      return EXIT.config;
    }
    // scrubbed like a log line: an error quoting a URL must not print its password
    process.stderr.write(`layergate: ${scrub((err as Error).stack ?? String(err))}\n`);
    return EXIT.failure;
  }
}

function isMain(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(entry)).href;
  } catch {
    return false;
  }
}

if (isMain()) {
  void main(process.argv).then((code) => process.exit(code));
}
