import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { GATEWAY_NODE_FLAGS } from '../runtime/node-flags.js';

const here = path.dirname(fileURLToPath(import.meta.url));

describe('the layergate command', () => {
  it("starts node with the gateway's V8 options (its shebang; the systemd unit passes them itself)", () => {
    const first = readFileSync(path.join(here, 'main.ts'), 'utf8').split('\n')[0];
    expect(first).toBe(`#!/usr/bin/env -S node ${GATEWAY_NODE_FLAGS.join(' ')}`);
  });
});
