import type { ExchangeType } from '../../../core/routing/exchange.js';
import type { TopicDialect } from '../../../core/routing/topic-trie.js';
import { readOptions } from '../options-table.js';
import type { RequestHandler } from '../request-handler.js';

const EXCHANGE_OPTIONS = { durable: 'boolean', autoDelete: 'boolean', internal: 'boolean', alternateExchange: 'string', topicDialect: 'string' } as const;

/** `exchangeDeclare`: creates an exchange, or checks that an existing one matches (EXCHANGE_DECLARATION_MISMATCH). */
export const exchangeDeclare: RequestHandler<'exchangeDeclare'> = {
  ordered: true,
  async handle(channel, { name, kind, options }) {
    channel.authorize('configure', name);
    const { topicDialect, ...flags } = readOptions(options, EXCHANGE_OPTIONS, `exchange ${name}`);
    await channel.vhost.declareExchange(name, { type: kind as ExchangeType, ...flags, ...(topicDialect !== undefined ? { topicDialect: topicDialect as TopicDialect } : {}) });
    return {};
  },
};

/** `exchangeDelete`: answers whether there was one to delete (with `ifUnused`, one with bindings stays: PRECONDITION_FAILED). */
export const exchangeDelete: RequestHandler<'exchangeDelete'> = {
  ordered: true,
  async handle(channel, { name, ifUnused }) {
    channel.authorize('configure', name);
    return { deleted: await channel.vhost.deleteExchange(name, { ifUnused }) };
  },
};
