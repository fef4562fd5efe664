/**
 * Public surface of @writeback/protocol: wire schemas, outcome vocabulary, envelope crypto. No I/O
 * but the stderr log sink an app installs (stderr-log.ts).
 */
export * from './outcomes.js';
export * from './operations.js';
export * from './sync.js';
export * from './codes.js';
export * from './errors.js';
export * from './canonical.js';
export * from './keys.js';
export * from './envelope.js';
export * from './frames.js';
export * from './log.js';
export * from './stderr-log.js';
export * from './backoff.js';
