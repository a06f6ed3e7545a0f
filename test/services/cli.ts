/**
 * `npm run services -- up|down|status`: install, start, stop and inspect the real servers the tests
 * talk to (see services.ts and the README section "Tests and services").
 */
import { Command } from 'commander';
import { clearTestMarks, down, formatStatus, status, up } from './services.js';

const program = new Command('services')
  .description('Kafka, MinIO (local + cloud), Redis and Mosquitto on fixed loopback ports for the LayerGate tests')
  .showHelpAfterError();

program
  .command('up')
  .description('install what is missing, start what is down, wait until every server answers')
  .action(async () => {
    const result = await up();
    // started by hand: a test run that finishes later must not stop these
    clearTestMarks();
    console.log(`up: ${result.seconds.toFixed(1)} s${result.started.length ? ` (started ${result.started.join(', ')})` : ' (all were running)'}`);
    console.log(formatStatus(await status()));
  });

program
  .command('down')
  .description('stop every server the harness started (by its pid files) and nothing else')
  .action(async () => {
    const stopped = await down();
    console.log(stopped.length ? `down: stopped ${stopped.join(', ')}` : 'down: nothing was running');
  });

program
  .command('status')
  .description('each service with its pid, ports and whether it answers')
  .action(async () => {
    const rows = await status();
    console.log(formatStatus(rows));
    process.exitCode = rows.every((row) => row.state === 'up') ? 0 : 3;
  });

try {
  await program.parseAsync(process.argv);
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
}
