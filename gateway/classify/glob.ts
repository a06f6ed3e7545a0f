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
