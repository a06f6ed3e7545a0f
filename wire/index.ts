/**
 * The wire package: the formats LayerGate speaks with machines and sinks, neutral ground that the
 * gateway, the plugins and the machine simulator all import. It imports nothing of theirs (enforced
 * by the import rules in CI), only protobufjs, mqtt-match and proto/.
 */
export * from './content-types.js';
export * from './errors.js';
export * from './machine-event.js';
export * from './meltpool-block.js';
export * from './proto.js';
export * from './record.js';
export * from './record-codec.js';
export * from './scalar-value.js';
export * from './sparkplug.js';
export * from './topic-filter.js';
