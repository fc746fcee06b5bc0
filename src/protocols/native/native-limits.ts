import { FRAME_BYTES_MAX_DEFAULT } from './codec/index.js';

/**
 * Limits of native protocol connections; each has a default and (for the
 * ones operators tune) a config key of `ferry serve`.
 */
export interface NativeLimits {
  /** Largest frame accepted, header included, announced in the `hello` answer (`native-frame-max`). */
  readonly frameBytesMax: number;
  /** Most channels open at once on one connection (`native-channel-max`). */
  readonly channelsMax: number;
  /** Most queue consumers plus stream subscriptions on one channel (`native-consumers-max`). */
  readonly consumersPerChannelMax: number;
  /**
   * Most messages in one `publish` or `append`, tags in one `ack` or `nack`;
   * `pull` and `streamRead` return at most this many (`native-batch-messages-max`).
   */
  readonly batchMessagesMax: number;
  /** Heartbeat interval offered in the `hello` answer, in ms; 0 turns heartbeats off (`native-heartbeat-seconds`). */
  readonly heartbeatMs: number;
  /** A connection that has not authenticated this long after it opened is closed. */
  readonly handshakeTimeoutMs: number;
  /** Deliveries pause while this many bytes wait to be written to a connection's socket. */
  readonly outgoingBytesMax: number;
}

/** Defaults of {@link NativeLimits}. */
export const NATIVE_LIMIT_DEFAULTS: NativeLimits = {
  frameBytesMax: FRAME_BYTES_MAX_DEFAULT,
  channelsMax: 2047,
  consumersPerChannelMax: 1024,
  batchMessagesMax: 100_000,
  heartbeatMs: 60_000,
  handshakeTimeoutMs: 10_000,
  outgoingBytesMax: 4 * 1024 * 1024,
};
