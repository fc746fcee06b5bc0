/**
 * A Broker with the native protocol listener on 127.0.0.1 (a free port) for
 * the raw-protocol tests. Start one per test (or file), close it after.
 */
import { encodeEnvelope } from '../../../src/core/message/message-codec.js';
import type { MessageProperties } from '../../../src/core/message/message.js';
import type { HeaderTable } from '../../../src/core/routing/header-value.js';
import { testPasswordHasher } from '../../../src/core/test-broker.js';
import { SystemClock } from '../../../src/platform/clock.js';
import type { WireMessage } from '../../../src/protocols/native/codec/index.js';
import type { NativeLimits } from '../../../src/protocols/native/native-limits.js';
import { startNativeServer, type NativeServer } from '../../../src/protocols/native/native-server.js';
import { Broker, type BrokerStartOptions } from '../../../src/server/broker.js';
import { RawNativeClient } from './raw-native-client.js';

const encoder = new TextEncoder();

/** How to start a {@link NativeTestServer}. */
export interface NativeTestServerOptions {
  /** Default: in memory. */
  readonly broker?: BrokerStartOptions;
  readonly limits?: Partial<NativeLimits>;
  readonly messageBytesMax?: number;
  readonly inProcessName?: string;
}

/** A running broker and native listener, with the raw clients opened on it (closed by `close`). */
export class NativeTestServer {
  private readonly clients = new Set<RawNativeClient>();
  /** Unexpected failures the server logged (a test may assert there were none). */
  readonly internalErrors: unknown[] = [];

  private constructor(
    readonly broker: Broker,
    private server: NativeServer | null,
    private readonly options: NativeTestServerOptions,
  ) {}

  static async start(options: NativeTestServerOptions = {}): Promise<NativeTestServer> {
    const broker = await Broker.start(options.broker ?? { memory: true, passwordHasher: testPasswordHasher });
    const test = new NativeTestServer(broker, null, options);
    test.server = await test.listen();
    return test;
  }

  private listen(): Promise<NativeServer> {
    return startNativeServer(this.broker.core, {
      host: '127.0.0.1',
      port: 0,
      clock: new SystemClock(),
      messageBytesMax: this.options.messageBytesMax ?? 16 * 1024 * 1024,
      ...(this.options.limits ? { limits: this.options.limits } : {}),
      ...(this.options.inProcessName ? { inProcessName: this.options.inProcessName } : {}),
      logError: (_message, fields) => this.internalErrors.push(fields['error']),
    });
  }

  get port(): number {
    return this.server!.port!;
  }

  get listener(): NativeServer {
    return this.server!;
  }

  /** A raw client, logged in as guest (or as told). */
  async open(options: Parameters<typeof RawNativeClient.open>[1] = {}): Promise<RawNativeClient> {
    const client = await RawNativeClient.open(this.port, options);
    return this.track(client);
  }

  /** A raw TCP connection with nothing sent yet. */
  async connect(): Promise<RawNativeClient> {
    return this.track(await RawNativeClient.connect(this.port));
  }

  /** Keeps `client` to destroy it at close. */
  track(client: RawNativeClient): RawNativeClient {
    this.clients.add(client);
    return client;
  }

  async close(): Promise<void> {
    for (const client of this.clients) client.destroy();
    await this.server?.close();
    await this.broker.close();
  }
}

/** A wire message with a text body, as a client would build it. */
export function wireMessage(body: string | Uint8Array, options: { routingKey?: string; properties?: MessageProperties; headers?: HeaderTable; persistent?: boolean } = {}): WireMessage {
  return {
    routingKey: encoder.encode(options.routingKey ?? ''),
    envelope: encodeEnvelope({ exchange: '', properties: options.properties ?? {}, headers: options.headers ?? {}, persistent: options.persistent ?? true }),
    body: typeof body === 'string' ? encoder.encode(body) : body,
  };
}
