import type { FrameName, RequestName, RequestOf, ResponseOf } from './codec/index.js';
import type { NativeChannel } from './native-channel.js';

/** Requests handled on a channel (connection frames and channel open / close are the connection's own). */
export type ChannelRequestName = Exclude<RequestName, 'hello' | 'authenticate' | 'close' | 'channelOpen' | 'channelClose'>;

/**
 * An answer already encoded as a whole frame (large answers: `pull`,
 * `streamRead`), built only when it is sent. `discard` runs instead when it
 * is not sent (the request had no correlation, or the channel closed).
 */
export class EncodedAnswer {
  constructor(
    readonly encode: (channel: number, correlation: number) => Uint8Array,
    readonly discard: () => void = () => undefined,
  ) {}
}

/** An answer with work to run right after it is queued (a subscription delivers only once its answer is out). */
export class AnswerThen<V> {
  constructor(
    readonly value: V,
    readonly next: () => void,
  ) {}
}

/** What a handler returns for request `N`. */
export type Answer<N extends RequestName> = ResponseOf<N> | EncodedAnswer | AnswerThen<ResponseOf<N>>;

/**
 * The handler of one request type. It runs when the frame's turn comes on its
 * channel; what it returns (or the promise it returns) is the answer, sent
 * when the request has a correlation. A thrown or rejected error becomes the
 * error answer (see error-map.ts).
 */
export interface RequestHandler<N extends ChannelRequestName> {
  /**
   * True when later frames of the same channel must wait until this one is
   * done, because what they do depends on it (a declaration, a subscription
   * starting, a transaction opening or committing). Others only wait for
   * durability, and frames behind them go on at once (pipelining).
   */
  readonly ordered?: boolean;
  /** True for publishing requests, held while a memory or disk alarm blocks publishers. */
  readonly publishes?: boolean;
  /** True for long polls (`pull`, `streamRead` with a wait): closing the channel does not wait for their answer. */
  readonly waits?: boolean;
  handle(channel: NativeChannel, request: RequestOf<N>): Answer<N> | Promise<Answer<N>>;
  /**
   * Optional fast path: handles the frame's payload undecoded (it reads in
   * place what it needs, such as `append` writing its messages straight
   * into a record batch). When present the connection calls it instead of
   * decoding the frame and calling `handle`; it must fail as decoding would
   * (NATIVE_MALFORMED_FRAME) on a payload that does not fit the frame's
   * fields, and otherwise behave as `handle` on the decoded request.
   */
  handlePayload?(channel: NativeChannel, payload: Uint8Array): Answer<N> | Promise<Answer<N>>;
}

/** The handler table's shape: one handler per channel request. */
export type RequestHandlers = { readonly [N in ChannelRequestName]: RequestHandler<N> };

/** Narrows a frame name to a channel request. */
export function isChannelRequest(name: FrameName, handlers: RequestHandlers): name is ChannelRequestName {
  return Object.prototype.hasOwnProperty.call(handlers, name);
}
