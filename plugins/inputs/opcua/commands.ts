/**
 * `layergate pki`: the OPC-UA trust list as an admin handles it, added to the `layergate` program
 * through this plugin's definition (`commands`). Each subcommand is a thin shell around ./pki.ts:
 *
 *   layergate pki list [-c FILE] [--pki DIR] [--json]          own, trusted and rejected certificates
 *   layergate pki trust|reject <thumbprint> [-c FILE] [--pki DIR]   move one between rejected/ and trusted/
 *
 * The folder is <dataDir>/pki/opcua of the config unless `--pki` names another.
 */
import path from 'node:path';
import type { Command } from 'commander';
import type { CommandContext } from '../../../gateway/plugin-api/index.js';
import { listCertificates, moveCertificate } from './pki.js';
import type { OpcuaConfig } from './schema.js';

export function addPkiCommands(program: Command, ctx: CommandContext<OpcuaConfig>): void {
  const pkiDirOf = (opts: { config?: string; pki?: string }): string =>
    opts.pki ? path.resolve(opts.pki) : path.join(ctx.load(opts.config).dataDir, 'pki', 'opcua');
  const pki = program.command('pki').description("the OPC-UA PKI folder: the gateway's certificate, trusted and rejected server certificates");
  pki
    .command('list')
    .description('list own, trusted and rejected certificates with their SHA-1 thumbprints')
    .option('-c, --config <file>', 'config file')
    .option('--pki <dir>', 'PKI folder (default <dataDir>/pki/opcua)')
    .option('--json', 'machine-readable output')
    .action((opts: { config?: string; pki?: string; json?: boolean }) => {
      const certs = listCertificates(pkiDirOf(opts));
      process.stdout.write(
        opts.json
          ? ctx.json(certs)
          : `${certs.map((c) => `${c.where.padEnd(8)} ${c.thumbprint}  ${c.subject}  (valid to ${c.validTo})\n    ${c.file}`).join('\n')}\n`,
      );
    });
  for (const [name, to] of [
    ['trust', 'trusted'],
    ['reject', 'rejected'],
  ] as const) {
    pki
      .command(name)
      .description(
        name === 'trust'
          ? 'move a rejected server certificate to trusted/ (by thumbprint or its first 8+ digits)'
          : 'move a trusted certificate back to rejected/',
      )
      .argument('<thumbprint>', 'SHA-1 thumbprint, as the error message or `pki list` shows it')
      .option('-c, --config <file>', 'config file')
      .option('--pki <dir>', 'PKI folder (default <dataDir>/pki/opcua)')
      .action((thumbprint: string, opts: { config?: string; pki?: string }) => {
        try {
          const c = moveCertificate(pkiDirOf(opts), thumbprint, to);
          process.stdout.write(`${to} ${c.thumbprint} ${c.subject}\n    ${c.file}\n`);
        } catch (err) {
          throw ctx.fail(ctx.exit.failure, `layergate pki ${name}: ${(err as Error).message}`);
        }
      });
  }
}
