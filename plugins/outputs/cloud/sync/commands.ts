/**
 * The `layergate sync` commands, added to the program through the cloud output's definition
 * (`commands`; gateway/cli/main.ts adds them through the registry). Each is a thin shell around
 * a function of ./control.ts (the web UI and the gRPC API call the same functions):
 *
 *   layergate sync status [-c FILE] [--output NAME] [--json]   progress, queue by priority, rate, ETA, refusals
 *   layergate sync pause  [-c FILE] [--output NAME]            uploads stop within a second (the gateway keeps queueing)
 *   layergate sync resume [-c FILE] [--output NAME]            uploads continue from the last confirmed part
 *   layergate sync verify BUILD [-c FILE] [--output NAME] [--deep] [--json]
 *                                                             the cloud against the build's manifest; exit 3 on a mismatch
 *
 * They work beside a running gateway (the sync store is shared through SQLite WAL).
 */
import type { Command } from 'commander';
import { LayerGateError } from '../../../../gateway/plugin-api/index.js';
import type { CommandContext } from '../../../../gateway/plugin-api/index.js';
import type { CloudConfig } from '../schema.js';
import type { VerifyReport } from './control.js';

/** The commands' code (the sync store, the S3 client) loads when one runs, not with every `layergate` start. */
const control = () => import('./control.js');

export function addSyncCommands(program: Command, h: CommandContext<CloudConfig>): void {
  const sync = program.command('sync').description('cloud sync: progress, pause/resume, verify a build against its manifest');
  const guarded = <T>(what: string, fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      if (err instanceof LayerGateError && err.code !== 'LG_CONFIG_INVALID') throw h.fail(h.exit.failure, `layergate sync ${what}: ${err.message}`);
      throw err;
    }
  };
  sync
    .command('status')
    .description('per cloud output: progress, what is queued per priority, measured rate and ETA, local copies, refused records, builds')
    .option('-c, --config <file>', 'config file')
    .option('--output <name>', 'only this cloud output')
    .option('--json', 'machine-readable output')
    .action(async (opts: { config?: string; output?: string; json?: boolean }) => {
      const loaded = h.load(opts.config);
      const { syncStatus, statusText } = await control();
      const rows = guarded('status', () => syncStatus(loaded, opts.output));
      process.stdout.write(opts.json ? h.json(rows) : statusText(rows));
    });
  for (const name of ['pause', 'resume'] as const) {
    sync
      .command(name)
      .description(name === 'pause' ? 'pause uploads (records keep being queued locally)' : 'resume uploads from the last confirmed part')
      .option('-c, --config <file>', 'config file')
      .option('--output <name>', 'only this cloud output')
      .action(async (opts: { config?: string; output?: string }) => {
        const loaded = h.load(opts.config);
        const { syncPause, syncResume } = await control();
        const fn = name === 'pause' ? syncPause : syncResume;
        const names = guarded(name, () => fn(loaded, opts.output));
        process.stdout.write(`${name === 'pause' ? 'paused' : 'resumed'} ${names.join(', ')}\n`);
      });
  }
  sync
    .command('verify')
    .description("check the cloud against a build's manifest (every object there, size and SHA-256 as listed); exit 3 on a mismatch")
    .argument('<build>', 'build (job) id')
    .option('-c, --config <file>', 'config file')
    .option('--output <name>', 'only this cloud output')
    .option('--deep', 'download every object and hash its bytes (default: HEAD, size and SHA-256 metadata)')
    .option('--json', 'machine-readable output')
    .action(async (build: string, opts: { config?: string; output?: string; deep?: boolean; json?: boolean }) => {
      const loaded = h.load(opts.config);
      let reports: VerifyReport[];
      try {
        const { syncVerify } = await control();
        reports = await syncVerify(loaded, build, { ...(opts.output ? { name: opts.output } : {}), ...(opts.deep ? { deep: true } : {}) });
      } catch (err) {
        if (err instanceof LayerGateError) throw h.fail(h.exit.checkFailed, `layergate sync verify: ${err.message}`);
        throw err;
      }
      if (opts.json) process.stdout.write(h.json(reports));
      else {
        for (const r of reports) {
          process.stdout.write(`${r.output}: build ${r.build}, manifest s3://.../${r.manifestKey}: ${r.objects} objects, ${r.bytes} bytes\n`);
          for (const p of r.problems) process.stdout.write(`  ${p.key}: ${p.problem}\n`);
          process.stdout.write(r.ok ? '  OK\n' : `  ${r.problems.length} PROBLEM(S)\n`);
        }
      }
      if (reports.some((r) => !r.ok)) process.exitCode = h.exit.checkFailed;
    });
}
