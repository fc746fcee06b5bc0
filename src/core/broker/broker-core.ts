import { FerryError } from '../../lib/ferry-error.js';
import type { Clock } from '../../platform/clock.js';
import type { PasswordHasher } from '../../platform/password-hasher.js';
import type { ResourceProbe } from '../../platform/resource-probe.js';
import { AccessControl } from '../access/access-control.js';
import { ALARM_DEFAULTS, ResourceAlarms, type AlarmSettings } from '../alarms/resource-alarms.js';
import { ConnectionRegistry } from '../connections/connection-registry.js';
import type { CoreStorage } from '../ports.js';
import { VirtualHost, type VirtualHostLimits } from '../vhost/virtual-host.js';

/** Limits of a broker; each has a default. */
export interface BrokerLimits extends VirtualHostLimits {
  readonly vhostsMax: number;
}

/** Defaults of {@link BrokerLimits}. */
export const BROKER_LIMIT_DEFAULTS: BrokerLimits = { vhostsMax: 1_000, queuesMax: 100_000, messageBytesMax: 16 * 1024 * 1024 };

/** What the core is built from. */
export interface BrokerCoreOptions {
  readonly storage: CoreStorage;
  readonly clock: Clock;
  readonly limits?: Partial<BrokerLimits>;
  readonly passwordHasher: PasswordHasher;
  readonly resourceProbe: ResourceProbe;
  /** The data directory whose disk the disk alarm watches (null in memory mode). */
  readonly dataDirectory: string | null;
  readonly alarms?: Partial<AlarmSettings>;
}

/** The name of the vhost every broker has. */
export const DEFAULT_VHOST = '/';

/**
 * The protocol-neutral broker: vhosts over one storage. Front ends and the
 * embedded API call into the vhosts; nothing here knows a wire protocol.
 */
export class BrokerCore {
  private readonly vhosts = new Map<string, VirtualHost>();
  private readonly limits: BrokerLimits;
  private closed = false;
  /** Memory and disk alarms that block publishers. */
  readonly alarms: ResourceAlarms;
  /** The clock every vhost uses. */
  readonly clock: Clock;
  /** Users and permissions. */
  access!: AccessControl;
  /** Open client connections of every protocol front end. */
  readonly connections = new ConnectionRegistry();

  private constructor(private readonly options: BrokerCoreOptions) {
    this.clock = options.clock;
    this.limits = { ...BROKER_LIMIT_DEFAULTS, ...options.limits };
    this.alarms = new ResourceAlarms(options.resourceProbe, options.clock, options.dataDirectory, { ...ALARM_DEFAULTS, ...options.alarms });
  }

  /** Starts the core: restores every stored vhost (exchanges, queues, bindings) and makes sure "/" exists. */
  static async start(options: BrokerCoreOptions): Promise<BrokerCore> {
    const core = new BrokerCore(options);
    const stored = options.storage.definitions.list('vhost').map(([name]) => name);
    for (const name of new Set([DEFAULT_VHOST, ...stored])) {
      const vhost = core.createVhost(name);
      await vhost.restore();
    }
    if (!stored.includes(DEFAULT_VHOST)) await options.storage.definitions.put('vhost', DEFAULT_VHOST, { name: DEFAULT_VHOST });
    core.access = await AccessControl.open(options.storage.definitions, options.passwordHasher);
    await core.alarms.start();
    return core;
  }

  private createVhost(name: string): VirtualHost {
    const vhost = new VirtualHost(name, this.options.storage, this.options.clock, this.limits);
    this.vhosts.set(name, vhost);
    return vhost;
  }

  /** The vhost named `name`; VHOST_NOT_FOUND when absent. */
  vhost(name: string = DEFAULT_VHOST): VirtualHost {
    this.assertOpen();
    const vhost = this.vhosts.get(name);
    if (!vhost) throw new FerryError('VHOST_NOT_FOUND', `no vhost ${name}`);
    return vhost;
  }

  /** Names of all vhosts. */
  vhostNames(): string[] {
    return [...this.vhosts.keys()];
  }

  /** Creates a vhost (idempotent); durable before it resolves. */
  async declareVhost(name: string): Promise<VirtualHost> {
    this.assertOpen();
    const existing = this.vhosts.get(name);
    if (existing) return existing;
    if (name.length === 0 || name.length > 255) throw new FerryError('INVALID_ARGUMENT', 'a vhost name must have 1 to 255 characters');
    if (this.vhosts.size >= this.limits.vhostsMax) throw new FerryError('VHOST_LIMIT_REACHED', `the broker has ${this.limits.vhostsMax} vhosts, its limit`);
    const vhost = this.createVhost(name);
    await this.options.storage.definitions.put('vhost', name, { name });
    return vhost;
  }

  /** Deletes a vhost with all its queues and exchanges. */
  async deleteVhost(name: string): Promise<void> {
    const vhost = this.vhost(name);
    // Permissions go first: a vhost created later with the same name must not inherit them.
    for (const entry of this.access.listPermissions()) if (entry.vhost === name) await this.access.clearPermissions(entry.user, name);
    for (const queue of vhost.listQueues()) await vhost.deleteQueue(queue.name);
    for (const stream of vhost.listStreams()) await vhost.deleteStream(stream.name);
    for (const exchange of vhost.router.listExchanges()) if (exchange.name !== '') await vhost.deleteExchange(exchange.name);
    await vhost.deleteTransactionLog();
    this.vhosts.delete(name);
    await this.options.storage.definitions.delete('vhost', name);
  }

  /** Stops every queue and closes storage (flushing it). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.alarms.stop();
    for (const vhost of this.vhosts.values()) await vhost.close();
    await this.options.storage.close();
  }

  /** Stops at once without flushing or closing anything, as a kill -9 would (tests and simulation). */
  abandon(): void {
    if (this.closed) return;
    this.closed = true;
    this.alarms.stop();
    for (const vhost of this.vhosts.values()) vhost.shutdown();
    this.options.storage.abandon();
  }

  private assertOpen(): void {
    if (this.closed) throw new FerryError('BROKER_CLOSED', 'the broker is closed');
  }
}
