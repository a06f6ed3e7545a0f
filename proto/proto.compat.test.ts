/**
 * The gRPC API's breaking-change check (proto/README.md) can fail: `buf breaking` against the released
 * image proto/releases/v1.binpb passes for the tree as it is, and fails, naming the field, for a copy
 * of proto/ in which one field of gateway.proto is renumbered. Local files only: buf needs no network.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const buf = path.join(root, 'node_modules', '.bin', 'buf');
const image = path.join(root, 'proto', 'releases', 'v1.binpb');

interface Run {
  code: number;
  out: string;
}

function runBuf(args: string[], cwd: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(buf, args, { cwd, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, out: `${stdout}${stderr}` });
    });
  });
}

describe('proto compatibility (buf breaking against proto/releases/v1.binpb)', () => {
  const temps: string[] = [];
  afterAll(() => {
    for (const t of temps) rmSync(t, { recursive: true, force: true });
  });

  /** A copy of buf.yaml and proto/ (without the release image) in a temp dir. */
  function copyOfTree(): string {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'layergate-proto-'));
    temps.push(dir);
    cpSync(path.join(root, 'buf.yaml'), path.join(dir, 'buf.yaml'));
    cpSync(path.join(root, 'proto'), path.join(dir, 'proto'), { recursive: true, filter: (src) => !src.includes(`${path.sep}releases`) });
    return dir;
  }

  it('the proto as it is passes lint and the breaking check', async () => {
    const lint = await runBuf(['lint'], root);
    expect(lint.out).toBe('');
    expect(lint.code).toBe(0);
    const breaking = await runBuf(['breaking', '--against', image], root);
    expect(breaking.out).toBe('');
    expect(breaking.code).toBe(0);
  });

  it('a renumbered field fails the check, naming the field', async () => {
    const dir = copyOfTree();
    const file = path.join(dir, 'proto', 'layergate', 'v1', 'gateway.proto');
    const text = readFileSync(file, 'utf8');
    // StoreHeader.signal: 4 -> 40
    const changed = text.replace(/^(\s+string signal = )4;/m, '$140;');
    expect(changed).not.toBe(text);
    writeFileSync(file, changed);

    const breaking = await runBuf(['breaking', '--against', image], dir);
    expect(breaking.code).not.toBe(0);
    expect(breaking.out).toContain('layergate/v1/gateway.proto');
    expect(breaking.out).toMatch(/field "4" with name "signal" on message "StoreHeader"/);
  });

  it('a retyped field fails the check too', async () => {
    const dir = copyOfTree();
    const file = path.join(dir, 'proto', 'layergate', 'v1', 'gateway.proto');
    const text = readFileSync(file, 'utf8');
    // GetBlobRequest.chunk_size: uint32 -> string
    const changed = text.replace(/^(\s+)uint32 chunk_size = 2;/m, '$1string chunk_size = 2;');
    expect(changed).not.toBe(text);
    writeFileSync(file, changed);

    const breaking = await runBuf(['breaking', '--against', image], dir);
    expect(breaking.code).not.toBe(0);
    expect(breaking.out).toMatch(/"chunk_size"/);
  });
});
