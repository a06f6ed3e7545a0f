/**
 * The error catalog is complete and its reference current: one class per code, every entry with a
 * meaning and a what-to-do text, docs/errors.md equal to what the generator makes now.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_REFERENCE_PATH, errorReference } from './error-reference.js';
import * as errors from './errors.js';
import { LayerGateError, errorCatalog } from './errors.js';

describe('error catalog', () => {
  it('every entry has a meaning and a what-to-do text', () => {
    const undocumented = errorCatalog()
      .filter((e) => !e.meaning?.trim() || !e.action?.trim())
      .map((e) => e.code);
    expect(undocumented).toEqual([]);
  });

  it('every exported error class is in the catalog under its own code, and raises it', () => {
    const classes = Object.entries(errors).filter(
      (entry): entry is [string, typeof LayerGateError & { code: string }] =>
        typeof entry[1] === 'function' && (entry[1].prototype instanceof LayerGateError || entry[1].prototype instanceof errors.WireError),
    );
    expect(classes.map(([name, cls]) => ({ code: cls.code, name })).sort((a, b) => a.code.localeCompare(b.code))).toEqual(
      errorCatalog()
        .map(({ code, name }) => ({ code, name }))
        .sort((a, b) => a.code.localeCompare(b.code)),
    );
    const codes = errorCatalog().map((e) => e.code);
    expect(new Set(codes).size).toBe(codes.length);
  });

  it('a reason is a typed option, kept apart from the message', () => {
    const err = new errors.MalformedInputError('frame.png: truncated png', { reason: 'corrupt', cause: new Error('eof') });
    expect([err.reason, err.message, err.code, (err.cause as Error).message]).toEqual(['corrupt', 'frame.png: truncated png', 'LG_INPUT_MALFORMED', 'eof']);
    expect(new errors.MalformedInputError('x').reason).toBeUndefined();
    const refused = new errors.SinkPermanentError('too-large', 'seq 7: 2 MB > 1 MB', { seqs: [7] });
    expect([refused.reason, refused.code, refused.seqs]).toEqual(['too-large', 'LG_SINK_PERMANENT', [7]]);
  });

  it('docs/errors.md is up to date (run `npm run docs:errors` if not)', () => {
    expect(readFileSync(ERROR_REFERENCE_PATH, 'utf8')).toBe(errorReference());
  });
});
