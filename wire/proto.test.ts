/**
 * The proto loader: finds proto/ from the source tree and loads every schema into one Root.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PROTO_DIR, protoRoot, protoTypeGetter } from './proto.js';

describe('proto loader', () => {
  it('finds proto/ next to wire/ in the source tree', () => {
    const repoProto = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../proto');
    expect(PROTO_DIR).toBe(repoProto);
    expect(existsSync(path.join(repoProto, 'layergate/v1/record.proto'))).toBe(true);
  });

  it('loads every schema into one root, once', () => {
    const root = protoRoot();
    expect(protoRoot()).toBe(root);
    for (const name of ['layergate.v1.Record', 'layergate.v1.RecordBatch', 'layergate.v1.MeltPoolBlock', 'org.eclipse.tahu.protobuf.Payload']) {
      expect(root.lookupType(name).fullName).toBe(`.${name}`);
    }
  });

  it('a type getter looks its type up once and returns the same type after', () => {
    const get = protoTypeGetter('layergate.v1.Record');
    expect(get()).toBe(get());
    expect(get()).toBe(protoRoot().lookupType('layergate.v1.Record'));
  });
});
