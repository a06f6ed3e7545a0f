/** An audit log of n entries in a temp folder, written by the real AuditLog, with raw line access for tampering. */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AuditLog } from '../audit-log.js';

export function logWith(n: number): { file: string; lines: () => string[]; write: (lines: string[]) => void } {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'lg-audit-')), 'audit', 'audit.jsonl');
  const audit = new AuditLog(file);
  audit.append('config-loaded', { origin: '/etc/layergate/layergate.yaml', configHash: 'a'.repeat(64), changed: null });
  for (let i = 2; i <= n; i++) audit.append('route-refused', { sink: 'cloud', records: i, firstSeq: i * 10, lastSeq: i * 10 + 3, classes: { sensitive: i } });
  return {
    file,
    lines: () => readFileSync(file, 'utf8').trimEnd().split('\n'),
    write: (lines) => writeFileSync(file, `${lines.join('\n')}\n`),
  };
}

export const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
