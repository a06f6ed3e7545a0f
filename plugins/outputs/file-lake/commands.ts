/**
 * The `layergate lake` commands, added to the program through the file lake's definition
 * (`commands`; gateway/cli/main.ts adds them through the registry):
 *
 *   layergate lake migrate [-c FILE] [--output NAME] [--json]   move a lake of the earlier one-folder-per-signal
 *                                                              layout into machine/build/date partitions
 *
 * Run it with the gateway stopped (the gateway warns at start while old folders exist). It is safe to
 * interrupt and run again (migrate.ts).
 */
import path from 'node:path';
import type { Command } from 'commander';
import type { CommandContext } from '../../../gateway/plugin-api/index.js';
import type { MigrationReport } from './migrate.js';
import type { FileLakeConfig } from './schema.js';

export function addLakeCommands(program: Command, h: CommandContext<FileLakeConfig>): void {
  const lake = program.command('lake').description('the file lake: migrate a lake of the earlier layout');
  lake
    .command('migrate')
    .description(
      'move folders of the earlier layout (<table>/machine=/build=/signal=) into machine=/build=/date= partitions, signal as a column; crash-safe, can be run again',
    )
    .option('-c, --config <file>', 'config file')
    .option('--output <name>', 'only this file-lake output')
    .option('--json', 'machine-readable output')
    .action(async (opts: { config?: string; output?: string; json?: boolean }) => {
      const loaded = h.load(opts.config);
      const instances = loaded.instances.filter((i) => !opts.output || i.name === opts.output);
      if (instances.length === 0)
        throw h.fail(h.exit.config, `layergate lake migrate: no file-lake output${opts.output ? ` named ${opts.output}` : ''} in ${loaded.origin}`);
      const reports: (MigrationReport & { output: string; root: string })[] = [];
      for (const { name, settings } of instances) {
        const root = path.resolve(settings.path ?? path.join(loaded.dataDir, 'lake'));
        const progress = (line: string) => process.stderr.write(`${name}: ${line}\n`);
        // the migration's code (Arrow, the merger) loads when the command runs, not with every `layergate` start
        const { LakeMigration } = await import('./migrate.js');
        const report = await new LakeMigration(root, settings, progress).run();
        reports.push({ output: name, root, ...report });
        if (!opts.json) {
          process.stdout.write(
            `${name} (${root}): ${report.folders} old folders, ${report.files} files, ${report.rows} rows, ${report.images} images migrated; ${report.merges} merged files\n`,
          );
        }
      }
      if (opts.json) process.stdout.write(h.json(reports));
    });
}
