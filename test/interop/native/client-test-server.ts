/**
 * A broker serving the native protocol for the client suite: a listener on
 * 127.0.0.1 (a free port) for `ferry://`, or the embedded broker's
 * in-process endpoint for `ferry+mem://`.
 * `url(transport)` gives the address of either; `dropConnections()` closes
 * every native connection from the server side (NATIVE_CONNECTION_FORCED),
 * as an operator or a failing network would.
 */
import { testPasswordHasher } from '../../../src/core/test-broker.js';
import { SystemClock } from '../../../src/platform/clock.js';
import { startNativeServer, type NativeServer } from '../../../src/protocols/native/native-server.js';
import { Broker } from '../../../src/server/broker.js';

/** How the client reaches the server. */
export type ClientTransport = 'tcp' | 'in-process';

let serverSequence = 0;

export class ClientTestServer {
  private constructor(
    readonly broker: Broker,
    private readonly listener: NativeServer | null,
    readonly inProcessName: string,
  ) {}

  /**
   * Over `tcp`: a memory broker and the native listener on a free port (as
   * `ferry serve` wires it). Over `in-process`: the embedded broker with
   * `inProcessName`, no socket at all.
   */
  static async start(transport: ClientTransport): Promise<ClientTestServer> {
    const inProcessName = `client-suite-${process.pid}-${++serverSequence}`;
    if (transport === 'in-process') {
      const broker = await Broker.start({ memory: true, passwordHasher: testPasswordHasher, inProcessName });
      return new ClientTestServer(broker, null, inProcessName);
    }
    const broker = await Broker.start({ memory: true, passwordHasher: testPasswordHasher });
    const listener = await startNativeServer(broker.core, { host: '127.0.0.1', port: 0, clock: new SystemClock(), messageBytesMax: 1024 * 1024 });
    return new ClientTestServer(broker, listener, inProcessName);
  }

  /** The URL of the server over `transport`, with optional credentials and vhost. */
  url(transport: ClientTransport, login: { readonly user?: string; readonly password?: string; readonly vhost?: string } = {}): string {
    const credentials = login.user !== undefined ? `${encodeURIComponent(login.user)}:${encodeURIComponent(login.password ?? '')}@` : '';
    const vhost = login.vhost !== undefined ? `/${encodeURIComponent(login.vhost)}` : '';
    return transport === 'tcp' ? `ferry://${credentials}127.0.0.1:${this.listener!.port}${vhost}` : `ferry+mem://${credentials}${this.inProcessName}${vhost}`;
  }

  /** Closes every native connection from the server's side. */
  dropConnections(): number {
    const native = this.broker.core.connections.list().filter((connection) => connection.describe().protocol === 'native');
    for (const connection of native) connection.close('dropped by the test');
    return native.length;
  }

  async close(): Promise<void> {
    await this.listener?.close();
    await this.broker.close();
  }
}
