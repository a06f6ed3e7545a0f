/**
 * The one proto loader: finds proto/ and loads every schema LayerGate speaks (layergate.v1.Record,
 * layergate.v1.MeltPoolBlock, the Sparkplug B payload) into one protobufjs Root, once, on first use.
 * Also the TypeScript view of decoded messages, derived from the types generated from proto/ at
 * build time (`npm run gen:proto` -> wire/generated/, git-ignored), so no message shape is copied
 * by hand.
 *
 * Constraints:
 * - proto/ is found from the source tree (wire/ -> ../proto, under tsx and vitest) and from the
 *   build output (dist/wire/ -> ../../proto); nothing is copied into dist/.
 * - The codecs encode and decode through reflection on this Root (as before the generated types
 *   existed); the generated code is used for types only, so the build output needs no generated JS.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { ProtoNotFoundError } from './errors.js';

/** every schema file, relative to proto/ */
const SCHEMA_FILES = ['layergate/v1/record.proto', 'layergate/v1/meltpool.proto', 'sparkplug_b/sparkplug_b.proto'] as const;

const here = path.dirname(fileURLToPath(import.meta.url));
const PROTO_DIR_CANDIDATES = [path.resolve(here, '../proto'), path.resolve(here, '../../proto')];

/** proto/ from the source tree (wire/) or from the build output (dist/wire/); undefined when neither has it */
export const PROTO_DIR: string | undefined = PROTO_DIR_CANDIDATES.find((dir) => existsSync(path.join(dir, SCHEMA_FILES[0])));

let root: protobuf.Root | undefined;
/** The loaded proto/ schemas (layergate.v1.*, org.eclipse.tahu.protobuf.*), shared by every codec and the gRPC API. */
export function protoRoot(): protobuf.Root {
  if (!root) {
    if (!PROTO_DIR) throw new ProtoNotFoundError(`proto/ not found (looked in ${PROTO_DIR_CANDIDATES.join(' and ')})`);
    const dir = PROTO_DIR;
    root = protobuf.loadSync(SCHEMA_FILES.map((f) => path.join(dir, f)));
  }
  return root;
}

/**
 * A getter for one message type, looked up on its first call and then kept: `lookupType` walks the
 * namespace tree on every call, and the codecs call this per message on hot paths.
 */
export function protoTypeGetter(fullName: string): () => protobuf.Type {
  let type: protobuf.Type | undefined;
  return () => (type ??= protoRoot().lookupType(fullName));
}

/** protobufjs's 64-bit integer object, matched by shape (the generated types name the `long` package's class) */
interface LongLike {
  low: number;
  high: number;
  unsigned: boolean;
}

/**
 * A message as `Type.toObject` returns it (and `Type.fromObject` accepts it), derived from the
 * message's generated class `M`: 64-bit integers as `L` (the `longs` option), bytes as Buffers,
 * nested messages alike, methods and oneof discriminators left out. Fields without presence are
 * always there (with `defaults`, or repeated fields with `arrays`); fields with presence (proto2
 * `optional`, oneof members, proto3 `optional`) are there only when set.
 */
// biome-ignore-start lint/complexity/noBannedTypes: `{} extends Pick<M, K>` is how a type tells an optional key from a required one
export type PlainMessage<M, L = string> = {
  [K in keyof M as K extends `$${string}`
    ? never
    : M[K] extends (...args: never[]) => unknown
      ? never
      : {} extends Pick<M, K>
        ? never
        : null extends M[K]
          ? never
          : K]: PlainValue<M[K], L>;
} & {
  [K in keyof M as K extends `$${string}` ? never : {} extends Pick<M, K> ? never : null extends M[K] ? K : never]?: PlainValue<NonNullable<M[K]>, L>;
};
// biome-ignore-end lint/complexity/noBannedTypes: see above

type PlainValue<T, L> = [Extract<T, LongLike>] extends [never]
  ? T extends Uint8Array
    ? Buffer
    : T extends readonly (infer E)[]
      ? PlainValue<E, L>[]
      : T extends object
        ? string extends keyof T
          ? { [key: string]: PlainValue<T[keyof T & string], L> } // a proto map
          : PlainMessage<T, L>
        : T
  : L;
