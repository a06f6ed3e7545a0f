/**
 * `layergate pki`: the OPC-UA trust list and the gateway's certificate as an admin handles them,
 * added to the `layergate` program through this plugin's definition (`commands`). Each subcommand is
 * a thin shell around ./pki.ts and ./certificate.ts:
 *
 *   layergate pki list [-c FILE] [--input NAME] [--pki DIR] [--json]        own, trusted and rejected certificates
 *   layergate pki trust|reject <thumbprint> [-c FILE] [--input NAME] [--pki DIR]   move one between rejected/ and trusted/
 *   layergate pki renew [-c FILE] [--input NAME] [--pki DIR]                a new own certificate with the configured subject
 *
 * The folder: `--pki DIR`; else the opcua input's of the config (its `pkiDir`, default
 * <dataDir>/pki/opcua): the one named by `--input`, or the one folder all opcua inputs share.
 *
 * Design constraints:
 * - The config is loaded without requiring its `${VAR}`s (unsetVariables: 'keep'): these commands read
 *   folders and the certificate subject, never a secret, and an admin trusting a certificate on the
 *   gateway host need not have the Kafka password in the shell. A folder setting that itself needs
 *   an unset variable is refused naming it.
 * - A folder that does not exist (or holds no PKI) is an error that says where it looked and why
 *   there, exit 1: an empty listing must never look like an empty trust list.
 * - `renew` loads node-opcua only when it runs: the definition (and so every `layergate` command)
 *   stays free of the OPC-UA stack.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { CommandContext } from '../../../gateway/plugin-api/index.js';
import { listCertificates, moveCertificate } from './pki.js';
import { certificateSchema, type OpcuaConfig } from './schema.js';

interface PkiOptions {
  config?: string;
  input?: string;
  pki?: string;
}

/** the PKI folder a command works on, why that one, and the settings its certificate is made with */
interface PkiTarget {
  dir: string;
  how: string;
  settings: Pick<OpcuaConfig, 'applicationName' | 'certificate'>;
}

const DEFAULT_SETTINGS: PkiTarget['settings'] = { applicationName: 'LayerGate', certificate: certificateSchema.parse({}) };

export function addPkiCommands(program: Command, ctx: CommandContext<OpcuaConfig>): void {
  const fail = (message: string, code: number = ctx.exit.failure) => ctx.fail(code, message);

  const target = (opts: PkiOptions): PkiTarget => {
    if (opts.pki !== undefined && opts.config === undefined) return { dir: path.resolve(opts.pki), how: '--pki', settings: DEFAULT_SETTINGS };
    const view = ctx.load(opts.config, { unsetVariables: 'keep' });
    const fromConfig = view.origin === '(defaults)' ? 'the built-in defaults (no -c FILE or $LAYERGATE_CONFIG given)' : view.origin;
    const inputs = view.instances.map((i) => ({
      name: i.name,
      settings: i.settings,
      dir: path.resolve(i.settings.pkiDir ?? path.join(view.dataDir, 'pki', 'opcua')),
      how:
        i.settings.pkiDir !== undefined ? `inputs.${i.name}.pkiDir of ${fromConfig}` : `<dataDir>/pki/opcua of ${fromConfig} (gateway.dataDir ${view.dataDir})`,
    }));
    let chosen: (typeof inputs)[number] | undefined;
    if (opts.input !== undefined) {
      chosen = inputs.find((i) => i.name === opts.input);
      if (!chosen)
        throw fail(`no opcua input "${opts.input}" in ${fromConfig} (opcua inputs: ${inputs.map((i) => i.name).join(', ') || 'none'})`, ctx.exit.config);
    } else if (inputs.length > 0) {
      const dirs = new Set(inputs.map((i) => i.dir));
      if (dirs.size > 1)
        throw fail(
          `the opcua inputs of ${fromConfig} use different PKI folders (${inputs.map((i) => `${i.name}: ${i.dir}`).join(', ')}): name one with --input NAME`,
          ctx.exit.config,
        );
      chosen = inputs[0];
    }
    const t: PkiTarget = chosen
      ? { dir: chosen.dir, how: chosen.how, settings: chosen.settings }
      : { dir: path.join(view.dataDir, 'pki', 'opcua'), how: `<dataDir>/pki/opcua of ${fromConfig} (no opcua input in it)`, settings: DEFAULT_SETTINGS };
    if (opts.pki !== undefined) {
      t.dir = path.resolve(opts.pki);
      t.how = '--pki';
    }
    const unset = /\$\{([A-Za-z_][A-Za-z0-9_]*)/.exec(t.dir);
    if (unset) throw fail(`the PKI folder ${t.dir} (${t.how}) needs the environment variable ${unset[1]}, which is not set`, ctx.exit.config);
    return t;
  };

  /** the folder, which must be a PKI folder the gateway made (own/, trusted/ or rejected/ in it) */
  const existing = (opts: PkiOptions): PkiTarget => {
    const t = target(opts);
    if (!['own', 'trusted', 'rejected'].some((d) => existsSync(path.join(t.dir, d))))
      throw fail(
        `no OPC-UA PKI folder at ${t.dir} (from ${t.how}); an opcua input makes it at its first start. ` +
          'Name the config the gateway runs with (-c FILE) or the folder (--pki DIR)',
      );
    return t;
  };

  const where = (c: typeof program) =>
    c
      .option('-c, --config <file>', 'config file (default: $LAYERGATE_CONFIG); its variables need not be set')
      .option('--input <name>', 'the opcua input whose PKI folder to use (when the inputs have different ones)')
      .option('--pki <dir>', "PKI folder (default: the opcua input's pkiDir, or <dataDir>/pki/opcua)");

  const pki = program.command('pki').description("the OPC-UA PKI folder: the gateway's certificate, trusted and rejected server certificates");
  where(pki.command('list').description('list own, trusted and rejected certificates with their SHA-1 thumbprints'))
    .option('--json', 'machine-readable output')
    .action((opts: PkiOptions & { json?: boolean }) => {
      const t = existing(opts);
      const certs = listCertificates(t.dir);
      process.stdout.write(
        opts.json
          ? ctx.json(certs)
          : `PKI folder ${t.dir}\n${certs.length === 0 ? '(no certificates)\n' : ''}${certs.map((c) => `${c.where.padEnd(8)} ${c.thumbprint}  ${c.subject}  (valid to ${c.validTo})\n    ${c.file}\n`).join('')}`,
      );
    });
  for (const [name, to] of [
    ['trust', 'trusted'],
    ['reject', 'rejected'],
  ] as const) {
    where(
      pki
        .command(name)
        .description(
          name === 'trust'
            ? 'move a rejected server certificate to trusted/ (by thumbprint or its first 8+ digits)'
            : 'move a trusted certificate back to rejected/',
        )
        .argument('<thumbprint>', 'SHA-1 thumbprint, as the log or `pki list` shows it'),
    ).action((thumbprint: string, opts: PkiOptions) => {
      // a typo is named before any folder is looked at
      if (!/^[0-9a-f]{8,40}$/i.test(thumbprint.replace(/:/g, '')))
        throw fail(`layergate pki ${name}: expected a SHA-1 thumbprint (8 to 40 hex digits), got "${thumbprint}"`);
      const t = existing(opts);
      try {
        const c = moveCertificate(t.dir, thumbprint, to);
        process.stdout.write(
          `${to} ${c.thumbprint} ${c.subject}\n    ${c.file}\n${to === 'trusted' ? 'a running gateway connects to that server at its next attempt\n' : ''}`,
        );
      } catch (err) {
        throw fail(`layergate pki ${name}: ${(err as Error).message}`);
      }
    });
  }
  where(
    pki
      .command('renew')
      .description("make a new certificate for the gateway with the config's `certificate` subject (same key pair); the old one is kept in own/backup/"),
  ).action(async (opts: PkiOptions) => {
    const t = target(opts);
    const { renewOwnCertificate } = await import('./certificate.js');
    let r: Awaited<ReturnType<typeof renewOwnCertificate>>;
    try {
      r = await renewOwnCertificate(t.dir, t.settings);
    } catch (err) {
      throw fail(`layergate pki renew: ${(err as Error).message}`);
    }
    const c = r.certificate;
    process.stdout.write(
      `own      ${c.thumbprint}  ${c.subject}  (valid to ${c.validTo})\n    ${c.file}\n` +
        `    application URI ${c.applicationUri ?? '(none)'}, DNS ${c.dnsNames.join(', ') || '(none)'}\n` +
        (r.backup ? `the previous certificate is kept as ${r.backup}\n` : '') +
        'Next: trust the new certificate on every OPC-UA server the gateway connects to (thumbprint above), then restart the gateway.\n',
    );
  });
}
