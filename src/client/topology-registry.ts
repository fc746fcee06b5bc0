import type { RequestOf } from '../protocols/native/codec/index.js';
import type { ClientConnection } from './client-connection.js';
import { toClientError, type FerryClientError } from './ferry-client-error.js';

type TopologyRecord =
  | { readonly kind: 'exchangeDeclare'; readonly name: string; readonly values: RequestOf<'exchangeDeclare'> }
  | { readonly kind: 'queueDeclare'; readonly name: string; readonly values: RequestOf<'queueDeclare'> }
  | { readonly kind: 'streamDeclare'; readonly name: string; readonly values: RequestOf<'streamDeclare'> }
  | { readonly kind: 'bind'; readonly values: RequestOf<'bind'> };

/**
 * What was declared through one client (exchanges, queues, streams,
 * bindings), in declaration order, so a reconnect can declare it again:
 * exclusive queues die with their connection, and a restarted memory broker
 * has forgotten everything. Deletes and unbinds remove records; passive
 * declares are never recorded.
 */
export class TopologyRegistry {
  private readonly records = new Map<string, TopologyRecord>();

  exchangeDeclared(values: RequestOf<'exchangeDeclare'>): void {
    this.records.set(`exchange ${values.name}`, { kind: 'exchangeDeclare', name: values.name, values });
  }

  exchangeDeleted(name: string): void {
    this.records.delete(`exchange ${name}`);
    this.dropBindings((binding) => binding.source === name || (binding.destination === name && binding.destinationKind === 'exchange'));
  }

  queueDeclared(values: RequestOf<'queueDeclare'>): void {
    this.records.set(`queue ${values.name}`, { kind: 'queueDeclare', name: values.name, values });
  }

  queueDeleted(name: string): void {
    this.records.delete(`queue ${name}`);
    this.dropBindings((binding) => binding.destination === name && binding.destinationKind !== 'exchange');
  }

  streamDeclared(values: RequestOf<'streamDeclare'>): void {
    this.records.set(`stream ${values.name}`, { kind: 'streamDeclare', name: values.name, values });
  }

  streamDeleted(name: string): void {
    this.records.delete(`stream ${name}`);
    this.dropBindings((binding) => binding.destination === name && binding.destinationKind !== 'exchange');
  }

  bound(values: RequestOf<'bind'>): void {
    this.records.set(bindingKey(values), { kind: 'bind', values });
  }

  unbound(values: RequestOf<'bind'>): void {
    this.records.delete(bindingKey(values));
  }

  /** How many declarations would be replayed. */
  get size(): number {
    return this.records.size;
  }

  /**
   * Declares everything again on `connection`, in the original order. A
   * declaration the server refuses is reported and skipped; a lost
   * connection stops the replay (rejects with CONNECTION_LOST).
   */
  async replay(connection: ClientConnection, channel: number, report: (error: FerryClientError) => void): Promise<void> {
    for (const record of [...this.records.values()]) {
      try {
        switch (record.kind) {
          case 'exchangeDeclare':
            await connection.call('exchangeDeclare', channel, record.values);
            break;
          case 'queueDeclare':
            await connection.call('queueDeclare', channel, record.values);
            break;
          case 'streamDeclare':
            await connection.call('streamDeclare', channel, record.values);
            break;
          case 'bind':
            await connection.call('bind', channel, record.values);
            break;
        }
      } catch (error) {
        const failure = toClientError(error);
        if (failure.code === 'CONNECTION_LOST' || failure.code === 'CONNECTION_CLOSED') throw failure;
        report(failure);
      }
    }
  }

  private dropBindings(matches: (binding: RequestOf<'bind'>) => boolean): void {
    for (const [key, record] of this.records) if (record.kind === 'bind' && matches(record.values)) this.records.delete(key);
  }
}

function bindingKey(values: RequestOf<'bind'>): string {
  const argumentsText = JSON.stringify(values.arguments, (_key, value: unknown) =>
    typeof value === 'bigint' ? `${value}n` : value instanceof Uint8Array ? Buffer.from(value).toString('base64') : value,
  );
  return `bind ${JSON.stringify([values.source, values.destination, values.destinationKind, values.routingKey])} ${argumentsText}`;
}
