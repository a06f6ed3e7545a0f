/**
 * The CLI commands of the policy and protection subsystems, added to the `layergate` program by
 * gateway/cli/main.ts:
 *
 *   layergate explain --input NAME --signal S [--kind K] [--build B] [--job-class C] [--class C] [--material M]
 *                     [--access-pattern P] [-c FILE] [--json]
 *   layergate audit verify [-c FILE] [--file PATH] [--json]    exit 3 and the first broken entry when the chain is broken
 *   layergate keys rotate [-c FILE] [--id ID]                  new active key first in the key file; old keys kept
 *   layergate keys generate [--id ID]                          print a new `id:base64` key ring entry (for the variable)
 *
 * `explain` asks the running gateway when one runs on the config's data folder (its API over loopback
 * with the local token, ./running-gateway.ts): the policy in force, and the job marking its pipeline
 * holds for the build, which the config file cannot tell; one line on stderr says the answer is the
 * running gateway's. Without one it builds the policy exactly as `check-config` does (from the plugin
 * definitions) and answers for the config file as it is. Both print through one formatter
 * (gateway/classify/explain-report.ts).
 */
import { recordSources } from '../config/sources.js';
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { AuditLog, defaultAuditPath, verifyAuditLog } from '../audit/audit-log.js';
import { policyFromDefinitions } from '../classify/index.js';
import { type ExplainAnswer, type ExplainQuery, explainAnswer, explainJson, explainText } from '../classify/explain-report.js';
import type { LoadedConfig } from '../config/load.js';
import { keyFileOf, rotateKeyFile } from '../crypto/keys.js';
import { newKeyLine } from '../crypto/sealer.js';
import { ACCESS_PATTERNS, RECORD_KINDS, SENSITIVITY_CLASSES } from '../plugin-api/record.js';
import type { AccessPattern, RecordKind, SensitivityClass } from '../plugin-api/record.js';
import { registry } from '../runtime/registry.js';
import { runningExplain } from './running-gateway.js';

export interface CommandHelpers {
  load(file: string | undefined): LoadedConfig;
  configFile(opt: string | undefined): string | undefined;
  /** an error that ends the command with this exit code and message */
  fail(exitCode: number, message: string): Error;
  exit: { ok: number; failure: number; config: number; checkFailed: number };
}

const oneOf =
  <T extends string>(what: string, values: readonly T[]) =>
  (v: string): T => {
    if (!(values as readonly string[]).includes(v)) throw new InvalidArgumentError(`expected ${what} ${values.join(' | ')}, got "${v}"`);
    return v as T;
  };

function json(v: unknown): string {
  return `${JSON.stringify(v, null, 2)}\n`;
}

export function addPolicyCommands(program: Command, h: CommandHelpers): void {
  program
    .command('explain')
    .description('which rule gives a record its class, and where it is routed')
    .requiredOption('--input <name>', 'input instance name (config key)')
    .requiredOption('--signal <signal>', 'signal name')
    .option('--kind <kind>', `record kind: ${RECORD_KINDS.join(' | ')}`, oneOf('kind', RECORD_KINDS), 'scalar' as RecordKind)
    .option('--build <id>', 'job / build id of the record')
    .option('--job-class <marking>', 'how the job is marked (machine context jobClass), e.g. confidential')
    .option('--class <class>', 'the class the input proposes for the record', oneOf('class', SENSITIVITY_CLASSES))
    .option('--material <material>', 'material of the running job')
    .option(
      '--access-pattern <pattern>',
      `the record's access pattern (its access_pattern attribute): ${ACCESS_PATTERNS.join(' | ')}; default: none`,
      oneOf('access pattern', ACCESS_PATTERNS),
    )
    .option('-c, --config <file>', 'config file')
    .option('--json', 'machine-readable output')
    .action(
      async (opts: {
        input: string;
        signal: string;
        kind: RecordKind;
        build?: string;
        jobClass?: string;
        class?: SensitivityClass;
        material?: string;
        accessPattern?: AccessPattern;
        config?: string;
        json?: boolean;
      }) => {
        const loaded = h.load(h.configFile(opts.config));
        const inputs = recordSources(loaded.config);
        if (!inputs.includes(opts.input)) {
          throw h.fail(h.exit.config, `layergate explain: no input named "${opts.input}" in ${loaded.origin} (inputs: ${inputs.join(', ') || 'none'})`);
        }
        const q: ExplainQuery = {
          input: opts.input,
          signal: opts.signal,
          kind: opts.kind,
          build: opts.build,
          jobClass: opts.jobClass,
          class: opts.class,
          material: opts.material,
          accessPattern: opts.accessPattern,
        };
        // a gateway runs on this data folder: its policy in force answers, with the markings it holds
        const running = await runningExplain(loaded, q, (message) => h.fail(h.exit.failure, message));
        let answer: ExplainAnswer;
        if (running) {
          answer = running.answer;
          const { pid, url } = running.endpoint;
          const held = running.jobMark === null ? 'none' : running.jobMark;
          process.stderr.write(
            `answered by the running gateway (pid ${pid}, API ${url}): its policy in force; job marking it holds for ${opts.build ? `build ${opts.build}` : 'records without a build'}: ${held}\n`,
          );
        } else {
          answer = explainAnswer(policyFromDefinitions(loaded.config, registry), q);
        }
        process.stdout.write(opts.json ? json(explainJson(answer)) : explainText(answer));
      },
    );

  const audit = program.command('audit').description('the hash-chained audit log');
  audit
    .command('verify')
    .description('check the hash chain; exit 3 and name the first broken entry')
    .option('-c, --config <file>', 'config file (finds the log: audit.path, else <dataDir>/audit/audit.jsonl)')
    .option('--file <path>', 'the audit log file itself')
    .option('--json', 'machine-readable output')
    .action((opts: { config?: string; file?: string; json?: boolean }) => {
      let file = opts.file;
      if (!file) {
        const { config } = h.load(h.configFile(opts.config));
        file = config.audit.path ?? defaultAuditPath(config.gateway.dataDir);
      }
      if (!existsSync(file)) throw h.fail(h.exit.failure, `layergate audit verify: no audit log at ${file}`);
      const r = verifyAuditLog(file);
      if (opts.json) process.stdout.write(json(r));
      else if (r.ok) process.stdout.write(`OK ${file}: ${r.entries} entries, chain intact; head ${r.head ?? '-'}\n`);
      else {
        process.stdout.write(
          `BROKEN ${file}: entry at line ${r.broken!.line}${r.broken!.seq !== null ? ` (seq ${r.broken!.seq})` : ''}: ${r.broken!.problem}\n` +
            `  ${r.entries} entries before it are intact; last intact hash ${r.head ?? '-'}\n`,
        );
      }
      if (!r.ok) process.exitCode = h.exit.checkFailed;
    });

  const keys = program.command('keys').description('the encryption key ring (confidential bodies at rest)');
  keys
    .command('rotate')
    .description('put a new active key first in the key file; old keys stay so sealed data still opens (restart the gateway to use it)')
    .option('-c, --config <file>', 'config file (encryption.keyFile, else the generated <dataDir>/keys/layergate.keys)')
    .option('--id <id>', 'id of the new key (default k<UTC date-time>)')
    .action((opts: { config?: string; id?: string }) => {
      const { config } = h.load(h.configFile(opts.config));
      const file = keyFileOf(config.encryption, config.gateway.dataDir);
      if (!file) {
        throw h.fail(
          h.exit.failure,
          `layergate keys rotate: the key ring comes from the environment variable ${config.encryption.keyEnv}; rotate it there: ` +
            `put the line of \`layergate keys generate\` first in the variable (comma-separated), keep the old entries, restart the gateway`,
        );
      }
      if (!existsSync(file)) throw h.fail(h.exit.failure, `layergate keys rotate: no key file at ${file} (the gateway creates it on first start)`);
      let r: { newId: string; ids: string[] };
      try {
        r = rotateKeyFile(file, ...(opts.id ? [opts.id] : []));
      } catch (err) {
        throw h.fail(h.exit.failure, `layergate keys rotate: ${(err as Error).message}`);
      }
      new AuditLog(config.audit.path ?? defaultAuditPath(config.gateway.dataDir)).append('key-rotated', { file, activeKey: r.newId, keys: r.ids });
      process.stdout.write(`rotated ${file}: active key ${r.newId}; kept ${r.ids.slice(1).join(', ')}\nrestart the gateway to seal with the new key\n`);
    });
  keys
    .command('generate')
    .description('print a new key ring entry (id:base64) for the key variable or a key file')
    .option('--id <id>', 'key id (default k<UTC date-time>)')
    .action((opts: { id?: string }) => {
      const id =
        opts.id ??
        `k${new Date()
          .toISOString()
          .replace(/[-:]/g, '')
          .replace(/\.\d+Z$/, 'Z')
          .toLowerCase()}`;
      try {
        process.stdout.write(`${newKeyLine(id)}\n`);
      } catch (err) {
        throw h.fail(h.exit.config, `layergate keys generate: ${(err as Error).message}`);
      }
    });
}
