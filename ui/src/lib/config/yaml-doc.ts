/**
 * The configuration being edited, as a `yaml` Document: the form changes single nodes of it
 * (`setIn`, `deleteIn`), so the comments, key order and flow style of everything else are kept, and
 * the YAML view shows `toString()` of the same document. Text typed into the YAML view is parsed
 * again into a new document.
 *
 * Secrets: the text the editor starts from is the newest version's (GET /config/versions/:n), whose
 * `${VAR}` references are kept and whose secrets written in plain text are `<redacted>`; a candidate
 * holding that placeholder would make it the secret, so `redactedPaths` names where it still is and
 * the page does not apply it.
 */
import { type Document, isCollection, isMap, isScalar, isSeq, parseDocument, visit } from 'yaml';
import type { Path } from './schema.js';
import { isRecord } from './schema.js';

/** what the gateway puts where a secret was (gateway/config/units.ts REDACTED) */
export const REDACTED = '<redacted>';

export const isReference = (v: unknown): v is string => typeof v === 'string' && /^\$\{[^}]+\}$/.test(v.trim());

export interface Parsed {
  doc: Document | null;
  /** the first syntax error, with its line, or null */
  error: string | null;
}

export function parseText(text: string): Parsed {
  const doc = parseDocument(text);
  const first = doc.errors[0];
  if (first) {
    const line = first.linePos?.[0];
    return { doc: null, error: `${line ? `line ${line.line}, column ${line.col}: ` : ''}${first.message.split('\n')[0]}` };
  }
  return { doc, error: null };
}

/** the document as plain data for the form (an empty document is an empty object) */
export function dataOf(doc: Document): Record<string, unknown> {
  const js: unknown = doc.toJS({ maxAliasCount: 100 });
  return isRecord(js) ? js : {};
}

function nest(rest: Path, value: unknown): unknown {
  let v = value;
  for (let i = rest.length - 1; i >= 0; i--) {
    const k = rest[i];
    v = typeof k === 'number' ? [v] : { [k as string]: v };
  }
  return v;
}

/**
 * Set `path` to `value` (undefined removes the key). Where a parent on the way is missing or not a
 * collection (`outputs:` left empty), it is made, so a field of an unset nested object can be typed in.
 */
export function setAt(doc: Document, path: Path, value: unknown): void {
  if (value === undefined) {
    if (doc.hasIn(path)) doc.deleteIn(path);
    pruneEmpty(doc, path.slice(0, -1));
    return;
  }
  for (let i = 0; i < path.length - 1; i++) {
    const prefix = path.slice(0, i + 1);
    const node = doc.getIn(prefix, true);
    if (!isCollection(node)) {
      doc.setIn(prefix, doc.createNode(nest(path.slice(i + 1), value)));
      return;
    }
  }
  const old = doc.getIn(path, true);
  if (isScalar(old) && !isRecord(value) && !Array.isArray(value)) {
    old.value = value;
    return;
  }
  doc.setIn(path, doc.createNode(value));
}

/** an object the form emptied (all its keys unset) goes too, rather than staying as `{}` */
function pruneEmpty(doc: Document, path: Path): void {
  if (path.length < 2) return;
  const node = doc.getIn(path, true);
  if (isMap(node) && node.items.length === 0) {
    doc.deleteIn(path);
    pruneEmpty(doc, path.slice(0, -1));
  }
}

/** append an item to the list at `path` (made when missing) */
export function appendAt(doc: Document, path: Path, item: unknown): void {
  const node = doc.getIn(path, true);
  if (isSeq(node)) node.add(doc.createNode(item));
  else setAt(doc, path, [item]);
}

/** the paths (`outputs.cloud.secretKey`) whose value is the redaction placeholder */
export function redactedPaths(doc: Document): string[] {
  const found: string[] = [];
  visit(doc, {
    Scalar(_key, node, ancestors) {
      if (node.value !== REDACTED) return;
      const keys: string[] = [];
      for (const a of ancestors) {
        if (a && typeof a === 'object' && 'key' in a && isScalar((a as { key: unknown }).key)) keys.push(String((a as { key: { value: unknown } }).key.value));
      }
      found.push(keys.join('.') || '(top level)');
    },
  });
  return found;
}
