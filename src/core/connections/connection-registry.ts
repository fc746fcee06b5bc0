/** A consumer attached through a channel, as its front end names it. */
export interface ChannelConsumerDescription {
  /** The tag the client knows (AMQP consumer tag). */
  readonly tag: string;
  readonly queue: string;
  /** The tag the core queue knows the consumer by (see `Queue.consumerDetails`). */
  readonly queueTag: string;
}

/** One channel (or session, or stream) multiplexed on a connection. */
export interface ChannelDescription {
  readonly number: number;
  readonly consumers: readonly ChannelConsumerDescription[];
  /** Deliveries sent on the channel and not yet settled. */
  readonly unacknowledged: number;
  /** Per-consumer prefetch; 0 means no limit. */
  readonly prefetch: number;
  /** Publisher confirms on. */
  readonly confirm: boolean;
  readonly transactional: boolean;
}

/** A client connection as every protocol front end describes it. */
export interface ConnectionDescription {
  readonly name: string;
  /** The front end: `amqp091`, later `mqtt`, `kafka`, … */
  readonly protocol: string;
  readonly peerAddress: string | undefined;
  readonly peerPort: number | undefined;
  /** The authenticated user; null before login. */
  readonly user: string | null;
  /** The vhost the connection works in; null before it chose one. */
  readonly vhost: string | null;
  /** Milliseconds since the epoch. */
  readonly connectedAtMs: number;
  /** Protocol-specific state name (`open`, `closing`, …). */
  readonly state: string;
  readonly channels: readonly ChannelDescription[];
}

/** What a front end registers for each connection it accepts. */
export interface RegisteredConnection {
  /** Unique among open connections of the broker. */
  readonly name: string;
  readonly protocol: string;
  /** The connection as it is now; called when listed, never on a hot path. */
  describe(): ConnectionDescription;
  /** Closes the connection from the server side (an operator's request), telling the client `reason`. */
  close(reason: string): void;
}

/**
 * The open client connections of every protocol, so operators can list and
 * close them without knowing any wire protocol. Front ends register a
 * connection when they accept it and unregister it when it closes.
 */
export class ConnectionRegistry {
  private readonly connections = new Map<string, RegisteredConnection>();

  /** Adds a connection; returns the function that removes it (call it once the connection closed). */
  register(connection: RegisteredConnection): () => void {
    this.connections.set(connection.name, connection);
    return () => {
      if (this.connections.get(connection.name) === connection) this.connections.delete(connection.name);
    };
  }

  /** The connection named `name`, or undefined. */
  get(name: string): RegisteredConnection | undefined {
    return this.connections.get(name);
  }

  /** Every open connection, in the order they were accepted. */
  list(): RegisteredConnection[] {
    return [...this.connections.values()];
  }

  /** How many connections are open. */
  count(): number {
    return this.connections.size;
  }
}
