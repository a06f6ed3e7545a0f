/**
 * The loader's problem lines (validate's `problems`, apply's 422 `problems`) split into the path they
 * name and what is wrong, so the form shows each next to its field: `outputs.lake.linger: expected a
 * duration like 10s, 5m or 7d, got "-5s"`. A line without a path (a YAML syntax error, a file too
 * large) has `path: null` and is shown only in the list above the form.
 */
import { pathText, pathOf } from './schema.js';

export interface Problem {
  line: string;
  /** the path as the loader writes it (`classification.rules[0].class`), or null */
  path: string | null;
  message: string;
}

const PATH_LINE = /^([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+|\[\d+\])*): (.+)$/s;

export function parseProblem(line: string): Problem {
  const m = PATH_LINE.exec(line);
  if (!m || m[1] === undefined || m[2] === undefined) return { line, path: null, message: line };
  return { line, path: pathText(pathOf(m[1])), message: m[2] };
}

/** problems keyed by path text, for the fields to look up */
export function problemsByPath(problems: readonly Problem[]): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const p of problems) {
    if (p.path === null) continue;
    map.set(p.path, [...(map.get(p.path) ?? []), p.message]);
  }
  return map;
}
