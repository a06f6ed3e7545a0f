import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { QuarantineFolder, itemTime } from './folder.js';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'lg-quarantine-'));
  dirs.push(d);
  return d;
}

afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('QuarantineFolder', () => {
  it('writes the data file and then the sidecar, and counts the bytes already in the folder', async () => {
    const dir = path.join(tempDir(), 'q');
    const folder = new QuarantineFolder(dir, 1000);
    expect(folder.reserve(10)).toBe(true);
    await folder.write({ base: 'a', dataSuffix: '.bin', data: Buffer.from('0123456789'), sidecar: '{}' }, 10);
    expect(readdirSync(dir).sort()).toEqual(['a.bin', 'a.json']);
    expect(readFileSync(path.join(dir, 'a.bin'), 'utf8')).toBe('0123456789');
    // a new writer (a restart) reads what is there once
    expect(new QuarantineFolder(dir, 1000).usedBytes()).toBe(12);
  });

  it('refuses an item that would pass the cap, and reserves nothing for it', () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'old.bin'), Buffer.alloc(90));
    const folder = new QuarantineFolder(dir, 100);
    expect(folder.reserve(11)).toBe(false);
    expect(folder.usedBytes()).toBe(90);
    expect(folder.reserve(10)).toBe(true);
    expect(folder.usedBytes()).toBe(100);
    expect(folder.reserve(1)).toBe(false);
  });

  it('gives the reservation back when the write fails', async () => {
    const root = tempDir();
    const blocker = path.join(root, 'file');
    writeFileSync(blocker, 'not a folder');
    const folder = new QuarantineFolder(path.join(blocker, 'q'), 100);
    expect(folder.reserve(40)).toBe(true);
    await expect(folder.write({ base: 'a', dataSuffix: '.bin', data: Buffer.alloc(30), sidecar: '{}' }, 40)).rejects.toThrow();
    expect(folder.usedBytes()).toBe(0);
  });

  it('names items by their time without separators', () => {
    expect(itemTime(new Date('2026-01-02T03:04:05.678Z'))).toBe('20260102T030405.678Z');
  });
});
