/**
 * `globCovers`: whether every value one glob matches, another matches too (what tells a classification
 * rule shadowed). Checked against the globs' own matching on sample values, and on the cases a
 * token-by-token comparison gets wrong.
 */
import { describe, expect, it } from 'vitest';
import { compileGlob, globCovers } from './glob.js';

describe('globCovers(outer, inner)', () => {
  it.each([
    ['*', 'kpi.load'],
    ['kpi.*', 'kpi.load'],
    ['kpi.*', 'kpi.{load,temp}'],
    ['kpi.*', 'kpi.*.avg'],
    ['{scan,job.parameters}.*', 'scan.layer.*'],
    ['*.?', 'a.{b,c}'],
    // the same language written two ways: a token-by-token comparison says no
    ['*?', '?*'],
    ['?*', '*?'],
    ['a*b*', 'a*b*b'],
    ['machine.{build,customer}', 'machine.build'],
    ['lpbf.*.meltpool', 'lpbf.m{1,2}.meltpool'],
    ['x{,y}', 'x'],
  ])('%s covers %s', (outer, inner) => {
    expect(globCovers(outer, inner)).toBe(true);
  });

  it.each([
    ['kpi.*', 'kpi*'],
    ['kpi.load', 'kpi.*'],
    ['kpi.{load,temp}', 'kpi.*'],
    ['?', '*'],
    ['*.?', '*.??'],
    ['a*b', 'a*'],
    ['machine.{build,customer}', 'machine.{build,job}'],
    ['lpbf.m1.*', 'lpbf.m?.*'],
  ])('%s does not cover %s', (outer, inner) => {
    expect(globCovers(outer, inner)).toBe(false);
  });

  it('agrees with the globs themselves on sample values: a covered glob never matches what its cover does not', () => {
    const samples = ['', 'a', 'b', 'ab', 'ba', 'abb', 'a.b', 'kpi', 'kpi.', 'kpi.load', 'kpi.temp', 'kpi.load.avg', 'x', 'xy', '.', 'a*b', '?'];
    const globs = ['*', '?', '??', 'a*', '*b', 'a*b', '?*', '*?', 'a?b', 'kpi.*', 'kpi*', 'kpi.{load,temp}', '{a,b}*', 'x{,y}', '*.*', 'a\\*b'];
    for (const outer of globs) {
      for (const inner of globs) {
        if (!globCovers(outer, inner)) continue;
        const o = compileGlob(outer);
        const n = compileGlob(inner);
        for (const v of samples) if (n.test(v)) expect(o.test(v), `${outer} covers ${inner}, but not ${JSON.stringify(v)}`).toBe(true);
      }
    }
  });

  it('is exact on every pair of short globs: the same answer as trying every value up to 6 characters', () => {
    const tokens = ['a', 'b', '*', '?'];
    const globs = [...tokens];
    for (const g of [...globs]) for (const t of tokens) globs.push(g + t);
    for (const g of globs.filter((x) => x.length === 2)) for (const t of tokens) globs.push(g + t);
    const values = [''];
    for (let len = 1, level = ['']; len <= 6; len++) {
      level = level.flatMap((v) => ['a', 'b', 'c'].map((c) => v + c));
      values.push(...level);
    }
    const matched = new Map(globs.map((g) => [g, values.filter((v) => compileGlob(g).test(v))]));
    const wrong: string[] = [];
    for (const outer of globs) {
      const o = compileGlob(outer);
      for (const inner of globs) {
        const tried = matched.get(inner)!.every((v) => o.test(v));
        if (globCovers(outer, inner) !== tried) wrong.push(`${outer} / ${inner}`);
      }
    }
    expect(globs).toHaveLength(84);
    expect(wrong).toEqual([]);
  });
});
