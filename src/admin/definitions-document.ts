import type { BrokerCore } from '../core/broker/broker-core.js';
import type { ExchangeType } from '../core/routing/exchange.js';
import type { TopicDialect } from '../core/routing/topic-trie.js';
import { FerryError, isFerryError } from '../lib/ferry-error.js';
import { headerTableToJson, jsonToHeaderTable, type Json } from '../core/message/header-json.js';
import { configOf, policiesOf, QUEUE_POLICY_NAMES, type QueuePolicies } from './queue-policies.js';

/**
 * A broker's topology as one JSON document (`GET /api/definitions`), to keep
 * in version control and load with `POST /api/definitions` or
 * `ferry serve --definitions FILE`. Every list is optional on import.
 */
export interface DefinitionsDocument {
  readonly ferry_version?: string;
  readonly vhosts?: readonly VhostDefinition[];
  readonly users?: readonly UserDefinition[];
  readonly permissions?: readonly PermissionDefinition[];
  readonly exchanges?: readonly ExchangeDefinitionJson[];
  readonly queues?: readonly QueueDefinitionJson[];
  readonly streams?: readonly StreamDefinitionJson[];
  readonly bindings?: readonly BindingDefinitionJson[];
}

export interface VhostDefinition {
  readonly name: string;
}

/** A user: `password_hash` as exported, or a plain `password` to hash on import. */
export interface UserDefinition {
  readonly name: string;
  readonly password_hash?: string;
  readonly password?: string;
  readonly tags?: readonly string[];
  readonly loopback_only?: boolean;
}

export interface PermissionDefinition {
  readonly user: string;
  readonly vhost: string;
  readonly configure: string;
  readonly write: string;
  readonly read: string;
}

export interface ExchangeDefinitionJson {
  readonly vhost: string;
  readonly name: string;
  readonly type: ExchangeType;
  readonly durable?: boolean;
  readonly auto_delete?: boolean;
  readonly internal?: boolean;
  readonly alternate_exchange?: string;
  readonly topic_dialect?: TopicDialect;
}

export interface QueueDefinitionJson {
  readonly vhost: string;
  readonly name: string;
  readonly durable?: boolean;
  readonly auto_delete?: boolean;
  readonly policies?: QueuePolicies;
}

/** A stream (in-memory ones too: their definition is exported, not their messages). */
export interface StreamDefinitionJson {
  readonly vhost: string;
  readonly name: string;
  readonly partitions?: number;
  readonly durable?: boolean;
  readonly retention_ms?: number;
  readonly retention_bytes?: number;
  readonly retention_messages?: number;
  readonly segment_bytes_max?: number;
  readonly message_bytes_max?: number;
  readonly compaction?: 'key';
  readonly compaction_interval_ms?: number;
}

export interface BindingDefinitionJson {
  readonly vhost: string;
  readonly source: string;
  readonly destination: string;
  readonly destination_type: 'queue' | 'stream' | 'exchange';
  readonly routing_key?: string;
  readonly arguments?: { readonly [key: string]: Json };
}

/** What an import created or confirmed. */
export interface ImportSummary {
  readonly vhosts: number;
  readonly users: number;
  readonly permissions: number;
  readonly exchanges: number;
  readonly queues: number;
  readonly streams: number;
  readonly bindings: number;
}

/** Names of the exchanges every vhost has; never exported. */
function isBuiltInExchange(name: string): boolean {
  return name === '' || name.startsWith('amq.');
}

/**
 * The broker's definitions: vhosts, users (with password hashes),
 * permissions, exchanges other than the built-in ones, queues other than
 * exclusive ones (which belong to a connection), and the bindings between them.
 */
export function exportDefinitions(core: BrokerCore, version: string): DefinitionsDocument {
  const vhosts: VhostDefinition[] = [];
  const exchanges: ExchangeDefinitionJson[] = [];
  const queues: QueueDefinitionJson[] = [];
  const streams: StreamDefinitionJson[] = [];
  const bindings: BindingDefinitionJson[] = [];
  for (const name of core.vhostNames()) {
    const vhost = core.vhost(name);
    vhosts.push({ name });
    for (const exchange of vhost.router.listExchanges()) {
      if (isBuiltInExchange(exchange.name)) continue;
      const flags = vhost.exchangeFlags(exchange.name);
      exchanges.push({
        vhost: name,
        name: exchange.name,
        type: exchange.type,
        durable: flags?.durable ?? true,
        auto_delete: flags?.autoDelete ?? false,
        internal: exchange.internal,
        ...(exchange.alternateExchange !== undefined ? { alternate_exchange: exchange.alternateExchange } : {}),
        ...(exchange.topicDialect !== undefined ? { topic_dialect: exchange.topicDialect } : {}),
      });
    }
    const exported = new Set<string>();
    for (const queue of vhost.listQueues()) {
      if (queue.config.exclusiveOwner !== undefined) continue;
      exported.add(queue.name);
      queues.push({ vhost: name, name: queue.name, durable: queue.config.durable, auto_delete: queue.config.autoDelete, policies: policiesOf(queue.config) });
    }
    for (const stream of vhost.listStreams()) {
      const config = stream.config;
      streams.push({
        vhost: name,
        name: config.name,
        partitions: config.partitions,
        durable: config.durable,
        ...(config.retentionMs !== undefined ? { retention_ms: config.retentionMs } : {}),
        ...(config.retentionBytes !== undefined ? { retention_bytes: config.retentionBytes } : {}),
        ...(config.retentionMessages !== undefined ? { retention_messages: config.retentionMessages } : {}),
        ...(config.segmentBytesMax !== undefined ? { segment_bytes_max: config.segmentBytesMax } : {}),
        ...(config.messageBytesMax !== undefined ? { message_bytes_max: config.messageBytesMax } : {}),
        ...(config.compaction !== undefined ? { compaction: config.compaction } : {}),
        ...(config.compactionIntervalMs !== undefined ? { compaction_interval_ms: config.compactionIntervalMs } : {}),
      });
    }
    for (const binding of vhost.router.listBindings()) {
      if (binding.destination.kind === 'queue' && !exported.has(binding.destination.name)) continue;
      bindings.push({
        vhost: name,
        source: binding.source,
        destination: binding.destination.name,
        destination_type: binding.destination.kind,
        routing_key: binding.routingKey,
        arguments: headerTableToJson(binding.arguments),
      });
    }
  }
  const users = core.access.listUserRecords().map((user) => ({ name: user.name, password_hash: user.passwordHash, tags: [...user.tags], loopback_only: user.loopbackOnly }));
  const permissions = core.access.listPermissions().map((entry) => ({ user: entry.user, vhost: entry.vhost, configure: entry.configure, write: entry.write, read: entry.read }));
  return { ferry_version: version, vhosts, users, permissions, exchanges, queues, streams, bindings };
}

/**
 * Creates what the document defines, in dependency order (vhosts, users,
 * permissions, exchanges, queues, streams, bindings). Existing resources declared the
 * same way are left as they are; users are replaced. Not atomic: on the first
 * failure the error (with its own code) names the entry, and what came before stays.
 */
export async function importDefinitions(core: BrokerCore, document: DefinitionsDocument): Promise<ImportSummary> {
  const step = async (where: string, action: () => Promise<unknown>): Promise<void> => {
    try {
      await action();
    } catch (error) {
      if (isFerryError(error)) throw new FerryError(error.code, `definitions ${where}: ${error.message.replace(/^[A-Z_]+: /, '')}`, { cause: error });
      throw error;
    }
  };
  const vhosts = document.vhosts ?? [];
  const users = document.users ?? [];
  const permissions = document.permissions ?? [];
  const exchanges = document.exchanges ?? [];
  const queues = document.queues ?? [];
  const streams = document.streams ?? [];
  const bindings = document.bindings ?? [];
  for (const [index, vhost] of vhosts.entries()) await step(`vhosts[${index}] ${vhost.name}`, () => core.declareVhost(vhost.name));
  for (const [index, user] of users.entries()) {
    await step(`users[${index}] ${user.name}`, async () => {
      const tags = user.tags ?? [];
      const loopbackOnly = user.loopback_only ?? false;
      if (user.password_hash !== undefined) await core.access.putUserRecord({ name: user.name, passwordHash: user.password_hash, tags, loopbackOnly });
      else await core.access.putUser(user.name, user.password!, { tags, loopbackOnly });
    });
  }
  for (const [index, entry] of permissions.entries()) {
    await step(`permissions[${index}] ${entry.user}@${entry.vhost}`, async () => {
      core.vhost(entry.vhost);
      await core.access.setPermissions(entry.user, entry.vhost, { configure: entry.configure, write: entry.write, read: entry.read });
    });
  }
  for (const [index, exchange] of exchanges.entries()) {
    await step(`exchanges[${index}] ${exchange.name}`, () =>
      core.vhost(exchange.vhost).declareExchange(exchange.name, {
        type: exchange.type,
        durable: exchange.durable ?? true,
        autoDelete: exchange.auto_delete ?? false,
        internal: exchange.internal ?? false,
        ...(exchange.alternate_exchange !== undefined ? { alternateExchange: exchange.alternate_exchange } : {}),
        ...(exchange.topic_dialect !== undefined ? { topicDialect: exchange.topic_dialect } : {}),
      }),
    );
  }
  for (const [index, queue] of queues.entries()) {
    await step(`queues[${index}] ${queue.name}`, () =>
      core.vhost(queue.vhost).declareQueue({ ...configOf(queue.policies), name: queue.name, durable: queue.durable ?? true, autoDelete: queue.auto_delete ?? false }),
    );
  }
  for (const [index, stream] of streams.entries()) {
    await step(`streams[${index}] ${stream.name}`, () =>
      core.vhost(stream.vhost).declareStream({
        name: stream.name,
        ...(stream.partitions !== undefined ? { partitions: stream.partitions } : {}),
        ...(stream.durable !== undefined ? { durable: stream.durable } : {}),
        ...(stream.retention_ms !== undefined ? { retentionMs: stream.retention_ms } : {}),
        ...(stream.retention_bytes !== undefined ? { retentionBytes: stream.retention_bytes } : {}),
        ...(stream.retention_messages !== undefined ? { retentionMessages: stream.retention_messages } : {}),
        ...(stream.segment_bytes_max !== undefined ? { segmentBytesMax: stream.segment_bytes_max } : {}),
        ...(stream.message_bytes_max !== undefined ? { messageBytesMax: stream.message_bytes_max } : {}),
        ...(stream.compaction !== undefined ? { compaction: stream.compaction } : {}),
        ...(stream.compaction_interval_ms !== undefined ? { compactionIntervalMs: stream.compaction_interval_ms } : {}),
      }),
    );
  }
  for (const [index, binding] of bindings.entries()) {
    await step(`bindings[${index}] ${binding.source} -> ${binding.destination}`, () =>
      core.vhost(binding.vhost).bind(binding.source, { kind: binding.destination_type, name: binding.destination }, binding.routing_key ?? '', jsonToHeaderTable(binding.arguments)),
    );
  }
  return { vhosts: vhosts.length, users: users.length, permissions: permissions.length, exchanges: exchanges.length, queues: queues.length, streams: streams.length, bindings: bindings.length };
}

// ---------------------------------------------------------------- validation

type Check = (value: unknown, path: string) => void;

const isText: Check = (value, path) => {
  if (typeof value !== 'string') invalid(path, 'must be a string');
};
const isFlag: Check = (value, path) => {
  if (typeof value !== 'boolean') invalid(path, 'must be true or false');
};
const isTextList: Check = (value, path) => {
  if (!Array.isArray(value)) invalid(path, 'must be a list of strings');
  (value as unknown[]).forEach((item, index) => isText(item, `${path}[${index}]`));
};
const isObject: Check = (value, path) => {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) invalid(path, 'must be an object');
};
const oneOf =
  (...allowed: readonly unknown[]): Check =>
  (value, path) => {
    if (!allowed.includes(value)) invalid(path, `must be one of ${allowed.map((item) => JSON.stringify(item)).join(', ')}`);
  };
const isPositive: Check = (value, path) => {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) invalid(path, 'must be a whole number above 0');
};
const isPolicies: Check = (value, path) => {
  isObject(value, path);
  for (const [key, item] of Object.entries(value as object)) {
    if (!QUEUE_POLICY_NAMES.includes(key)) invalid(`${path}.${key}`, `is not a queue policy (known: ${QUEUE_POLICY_NAMES.join(', ')})`);
    if (key === 'overflow') oneOf('drop-head', 'reject-publish', 'reject-publish-dlx')(item, `${path}.${key}`);
    else if (key === 'single_active_consumer') isFlag(item, `${path}.${key}`);
    else if (key === 'queue_type') oneOf('quorum')(item, `${path}.${key}`);
    else if (key.startsWith('dead_letter_')) isText(item, `${path}.${key}`);
    else if (typeof item !== 'number' || !Number.isSafeInteger(item) || item < 0) invalid(`${path}.${key}`, 'must be a whole number of 0 or more');
  }
};

/** Each list's entries: field → [required, check]. */
const ENTRY_FIELDS: Record<string, Record<string, readonly [boolean, Check]>> = {
  vhosts: { name: [true, isText] },
  users: { name: [true, isText], password_hash: [false, isText], password: [false, isText], tags: [false, isTextList], loopback_only: [false, isFlag] },
  permissions: { user: [true, isText], vhost: [true, isText], configure: [true, isText], write: [true, isText], read: [true, isText] },
  exchanges: {
    vhost: [true, isText],
    name: [true, isText],
    type: [true, oneOf('direct', 'fanout', 'topic', 'headers')],
    durable: [false, isFlag],
    auto_delete: [false, isFlag],
    internal: [false, isFlag],
    alternate_exchange: [false, isText],
    topic_dialect: [false, oneOf('amqp', 'mqtt', 'nats')],
  },
  queues: { vhost: [true, isText], name: [true, isText], durable: [false, isFlag], auto_delete: [false, isFlag], policies: [false, isPolicies] },
  streams: {
    vhost: [true, isText],
    name: [true, isText],
    partitions: [false, isPositive],
    durable: [false, isFlag],
    retention_ms: [false, isPositive],
    retention_bytes: [false, isPositive],
    retention_messages: [false, isPositive],
    segment_bytes_max: [false, isPositive],
    message_bytes_max: [false, isPositive],
    compaction: [false, oneOf('key')],
    compaction_interval_ms: [false, isPositive],
  },
  bindings: {
    vhost: [true, isText],
    source: [true, isText],
    destination: [true, isText],
    destination_type: [true, oneOf('queue', 'stream', 'exchange')],
    routing_key: [false, isText],
    arguments: [false, isObject],
  },
};

/**
 * Checks that `value` (parsed JSON) is a definitions document; INVALID_DEFINITIONS
 * names the first offending path (`queues[2].policies.max_length`). Unknown keys are
 * refused, so a typo or a RabbitMQ-only field does not pass silently.
 */
export function parseDefinitions(value: unknown): DefinitionsDocument {
  isObject(value, 'document');
  for (const [key, list] of Object.entries(value as object)) {
    if (key === 'ferry_version') {
      isText(list, key);
      continue;
    }
    const fields = ENTRY_FIELDS[key];
    if (!fields) invalid(key, `is not a definitions list (known: ferry_version, ${Object.keys(ENTRY_FIELDS).join(', ')})`);
    if (!Array.isArray(list)) invalid(key, 'must be a list');
    (list as unknown[]).forEach((entry, index) => {
      const path = `${key}[${index}]`;
      isObject(entry, path);
      const record = entry as Record<string, unknown>;
      for (const field of Object.keys(record)) if (!(field in fields!)) invalid(`${path}.${field}`, `is not a field of ${key} (known: ${Object.keys(fields!).join(', ')})`);
      for (const [field, [required, check]] of Object.entries(fields!)) {
        if (record[field] === undefined) {
          if (required) invalid(`${path}.${field}`, 'is required');
        } else {
          check(record[field], `${path}.${field}`);
        }
      }
      if (key === 'users' && record['password'] === undefined && record['password_hash'] === undefined) invalid(path, 'needs password or password_hash');
    });
  }
  return value as DefinitionsDocument;
}

function invalid(path: string, reason: string): never {
  throw new FerryError('INVALID_DEFINITIONS', `${path} ${reason}`);
}
