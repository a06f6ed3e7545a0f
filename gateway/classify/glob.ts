/**
 * Globs of the classification and routing rules, compiled once to anchored regular expressions.
 *
 * Semantics (chosen for signal names like `camera.powder_bed` and MQTT-derived names like
 * `lpbf.m1.meltpool`, not for file paths): `*` matches any run of characters, including `.` and `/`;
 * `?` matches one character; `{a,b,c}` matches one of the alternatives (no nesting); every other
 * character is literal. A pattern with none of these is an exact match, tested without a regex.
 */
export interface Glob {
  readonly pattern: string;
  test(value: string): boolean;
}

export function compileGlob(pattern: string): Glob {
  if (!/[*?{]/.test(pattern)) return { pattern, test: (v) => v === pattern };
  let re = '';
  let inAlt = false;
  for (const ch of pattern) {
    if (ch === '*') re += '.*';
    else if (ch === '?') re += '.';
    else if (ch === '{' && !inAlt) {
      re += '(?:';
      inAlt = true;
    } else if (ch === '}' && inAlt) {
      re += ')';
      inAlt = false;
    } else if (ch === ',' && inAlt) re += '|';
    else re += ch.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');
  }
  if (inAlt) throw new SyntaxError(`glob "${pattern}": "{" without a closing "}"`);
  const rx = new RegExp(`^${re}$`, 's');
  return { pattern, test: (v) => rx.test(v) };
}

/** One position of a glob without alternatives: a literal character, `?` or `*`. */
type GlobToken = { literal: string } | '?' | '*';

/** most alternative-free patterns a glob is expanded into before `globCovers` gives up (and answers false) */
const MAX_EXPANSIONS = 256;
/** most (inner, outer) state pairs `globCovers` explores before it gives up (and answers false) */
const MAX_STATE_PAIRS = 20_000;

/**
 * The glob as the alternative-free patterns it is the union of, tokenised exactly as `compileGlob`
 * reads it; undefined when that would be more than `MAX_EXPANSIONS` patterns.
 */
function expandGlob(pattern: string): GlobToken[][] | undefined {
  let patterns: GlobToken[][] = [[]];
  let alternatives: GlobToken[][] | undefined;
  const append = (token: GlobToken) => {
    if (alternatives) alternatives[alternatives.length - 1]!.push(token);
    else for (const p of patterns) p.push(token);
  };
  for (const ch of pattern) {
    if (ch === '*' || ch === '?') append(ch);
    else if (ch === '{' && !alternatives) alternatives = [[]];
    else if (ch === '}' && alternatives) {
      if (patterns.length * alternatives.length > MAX_EXPANSIONS) return undefined;
      patterns = patterns.flatMap((p) => alternatives!.map((a) => [...p, ...a]));
      alternatives = undefined;
    } else if (ch === ',' && alternatives) alternatives.push([]);
    else append({ literal: ch });
  }
  if (alternatives) throw new SyntaxError(`glob "${pattern}": "{" without a closing "}"`);
  return patterns;
}

/** A set of positions (pattern index, token index) of an expanded glob, closed over skipping `*`. */
function closure(patterns: GlobToken[][], states: Iterable<[number, number]>): [number, number][] {
  const out = new Map<string, [number, number]>();
  for (const [p, start] of states) {
    let i = start;
    out.set(`${p}:${i}`, [p, i]);
    // a `*` may match nothing: the position after it is reached too
    while (patterns[p]![i] === '*') out.set(`${p}:${++i}`, [p, i]);
  }
  return [...out.values()].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
}

/** The positions reached from `states` by one character (`other`: a character no pattern names). */
function step(patterns: GlobToken[][], states: [number, number][], ch: string | undefined): [number, number][] {
  const next: [number, number][] = [];
  for (const [p, i] of states) {
    const t = patterns[p]![i];
    if (t === undefined) continue;
    if (t === '*') next.push([p, i]);
    else if (t === '?' || (ch !== undefined && t.literal === ch)) next.push([p, i + 1]);
  }
  return closure(patterns, next);
}

const accepting = (patterns: GlobToken[][], states: [number, number][]) => states.some(([p, i]) => i === patterns[p]!.length);
const key = (states: [number, number][]) => states.map(([p, i]) => `${p}:${i}`).join(',');

/**
 * Whether every value `inner` matches, `outer` matches too. Exact for these globs: the two patterns'
 * automata are run side by side over the characters either names plus one that neither names (all
 * other characters behave alike), looking for a value `inner` accepts and `outer` does not. A glob
 * too large to decide within the bounds above answers false: callers use it to report rules that
 * never apply, and must not report one that might.
 */
export function globCovers(outer: string, inner: string): boolean {
  const o = expandGlob(outer);
  const n = expandGlob(inner);
  if (!o || !n) return false;
  const alphabet: (string | undefined)[] = [undefined];
  for (const t of [...o.flat(), ...n.flat()]) if (typeof t === 'object' && !alphabet.includes(t.literal)) alphabet.push(t.literal);
  const initial = (patterns: GlobToken[][]) =>
    closure(
      patterns,
      patterns.map((_, p): [number, number] => [p, 0]),
    );
  const start: [[number, number][], [number, number][]] = [initial(n), initial(o)];
  const seen = new Set<string>([`${key(start[0])}|${key(start[1])}`]);
  const queue = [start];
  while (queue.length > 0) {
    const [innerStates, outerStates] = queue.shift()!;
    if (accepting(n, innerStates) && !accepting(o, outerStates)) return false;
    for (const ch of alphabet) {
      const nextInner = step(n, innerStates, ch);
      if (nextInner.length === 0) continue;
      const nextOuter = step(o, outerStates, ch);
      const k = `${key(nextInner)}|${key(nextOuter)}`;
      if (seen.has(k)) continue;
      if (seen.size >= MAX_STATE_PAIRS) return false;
      seen.add(k);
      queue.push([nextInner, nextOuter]);
    }
  }
  return true;
}
