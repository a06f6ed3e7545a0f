/**
 * The error reference, docs/errors.md: every code of the error catalog (./errors.ts) with its class
 * name, what it means and what to do, generated from the catalog so it cannot drift from what the
 * gateway raises. `npm run docs:errors` writes it; a test fails when the file is stale.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorCatalog } from './errors.js';

export const ERROR_REFERENCE_PATH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../docs/errors.md');

const cell = (s: string | undefined): string => (s ?? '').replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** docs/errors.md as it should be. */
export function errorReference(): string {
  return [
    '# Error reference',
    '',
    '<!-- generated from gateway/plugin-api/errors.ts by `npm run docs:errors`; do not edit by hand -->',
    '',
    'Every error LayerGate raises on purpose carries one of these codes: `code` in log lines (`err.code`),',
    'in `--json` output and in quarantine sidecars. Failures are also counted under a short `reason`',
    '(`corrupt`, `too-large`, `not-authorized`, ...) where one code covers several causes of the same kind.',
    '',
    '| code | class | meaning | what to do |',
    '| --- | --- | --- | --- |',
    ...errorCatalog().map((e) => `| \`${e.code}\` | \`${e.name}\` | ${cell(e.meaning)} | ${cell(e.action)} |`),
    '',
  ].join('\n');
}

const isMain = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  let before = '';
  try {
    before = readFileSync(ERROR_REFERENCE_PATH, 'utf8');
  } catch {
    // first run: the file does not exist yet
  }
  const after = errorReference();
  if (after !== before) writeFileSync(ERROR_REFERENCE_PATH, after);
  process.stdout.write(`${after === before ? 'up to date' : 'updated'}: ${ERROR_REFERENCE_PATH}\n`);
}
