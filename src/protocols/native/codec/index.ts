/**
 * The native protocol codec: the only part of src/protocols/native that the
 * client (src/client) imports. It knows frames and fields, not the broker.
 */
export * from './native-spec.js';
export * from './wire-types.js';
export * from './method-codec.js';
export * from './frame-decoder.js';
export * from './native-protocol-error.js';
export * from './in-process-transport.js';
