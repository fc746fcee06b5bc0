import { FerryError } from '../../lib/ferry-error.js';
import type { CommandArguments } from '../command-arguments.js';
import { defineCommand } from '../define-command.js';
import { EXIT_CODES } from '../exit-codes.js';
import type { PublishRequest } from '../management-client.js';
import { JSON_FLAG, SERVER_FLAGS, VHOST_FLAG, managementClientOf } from '../management-flags.js';
import { TerminalStyle } from '../terminal-style.js';

/** The most read from stdin: the API's request limit is 64 MiB by default, and bodies travel base64 at worst. */
const STDIN_BYTES_MAX = 48 * 1024 * 1024;

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** `ferry publish`: one message through `POST /api/exchanges/{vhost}/{exchange}/publish`. */
export const publishCommand = defineCommand({
  name: 'publish',
  synopsis: '[flags] [BODY]',
  description: `Publishes one message through the management API and waits until the server
has it (on disk, for a persistent message). The body is BODY, or standard
input when BODY is left out (binary is fine). --queue NAME publishes to the
default exchange with the queue's name as routing key.

A message that no queue takes is not an error: it prints a warning on stderr
(and "routed": false with --json), as do queues that refused it because
they are full (overflow reject-publish).`,
  flags: {
    ...SERVER_FLAGS,
    vhost: VHOST_FLAG,
    exchange: { type: 'string', short: 'e', valueName: 'NAME', description: 'exchange to publish to; default "", the default exchange' },
    'routing-key': { type: 'string', short: 'k', valueName: 'KEY', description: 'routing key; default ""' },
    queue: { type: 'string', short: 'q', valueName: 'NAME', description: 'publish straight to this queue (default exchange, routing key NAME)' },
    'content-type': { type: 'string', valueName: 'TYPE', description: 'content type property, such as application/json' },
    header: { type: 'string', multiple: true, valueName: 'KEY=VALUE', description: 'a header with a string value' },
    'message-id': { type: 'string', valueName: 'ID', description: 'message id property' },
    'correlation-id': { type: 'string', valueName: 'ID', description: 'correlation id property' },
    'reply-to': { type: 'string', valueName: 'NAME', description: 'reply-to property' },
    priority: { type: 'string', valueName: 'N', description: 'priority, 0 to 255' },
    'expiration-ms': { type: 'string', valueName: 'MS', description: 'message time to live in milliseconds' },
    transient: { type: 'boolean', description: 'delivery mode 1: the message need not survive a restart' },
    base64: { type: 'boolean', description: 'BODY is base64 and is decoded before sending' },
    json: { ...JSON_FLAG, description: 'print the outcome as JSON: {"routed": …, "rejected_by": […]}' },
  },
  positionals: { min: 0, max: 1 },
  examples: ['ferry publish --queue tasks \'{"job": 42}\' --content-type application/json', 'ferry publish -e events -k order.created < order.json'],
  async run(parsed, context) {
    const client = managementClientOf(parsed);
    const vhost = parsed.requiredString('vhost');
    const { exchange, routingKey } = destinationOf(parsed);
    const properties = propertiesOf(parsed);
    let payload: Pick<PublishRequest, 'payload' | 'payload_encoding'>;
    const body = parsed.positionals[0];
    if (body !== undefined) {
      if (parsed.boolean('base64') && !/^[A-Za-z0-9+/]*={0,2}$/.test(body)) throw new FerryError('INVALID_USAGE', 'BODY is not base64 (--base64 was given)');
      payload = { payload: body, payload_encoding: parsed.boolean('base64') ? 'base64' : 'string' };
    } else if (!context.stdinIsTerminal) {
      payload = payloadOf(await context.readStdin(STDIN_BYTES_MAX));
    } else {
      throw new FerryError('INVALID_USAGE', 'give the body as an argument or pipe it to standard input');
    }
    const outcome = await client.publish(vhost, exchange, { routing_key: routingKey, ...payload, properties });
    if (parsed.boolean('json')) {
      context.streams.stdout(`${JSON.stringify(outcome)}\n`);
    } else {
      const target = exchange === '' ? `queue ${JSON.stringify(routingKey)} (default exchange)` : `exchange ${JSON.stringify(exchange)} with routing key ${JSON.stringify(routingKey)}`;
      context.streams.stdout(`published to ${target}\n`);
    }
    const warn = TerminalStyle.for(context.stderrIsTerminal, context.environment);
    if (!outcome.routed) context.streams.stderr(warn.yellow(`ferry: warning: the message was not routed to any queue (no binding matched${exchange === '' ? ', or no such queue' : ''})`) + '\n');
    if (outcome.rejected_by.length > 0) context.streams.stderr(warn.yellow(`ferry: warning: refused by full queue(s) ${outcome.rejected_by.join(', ')}`) + '\n');
    return EXIT_CODES.success;
  },
});

function destinationOf(parsed: CommandArguments): { exchange: string; routingKey: string } {
  const queue = parsed.string('queue');
  const exchange = parsed.string('exchange');
  const routingKey = parsed.string('routing-key');
  if (queue === undefined) {
    // The default exchange routes by queue name, and no queue has the empty name.
    if ((exchange ?? '') === '' && (routingKey ?? '') === '') throw new FerryError('INVALID_USAGE', 'say where to publish: --queue NAME, or --exchange NAME (and --routing-key KEY)');
    return { exchange: exchange ?? '', routingKey: routingKey ?? '' };
  }
  if (exchange !== undefined || routingKey !== undefined) throw new FerryError('INVALID_USAGE', '--queue cannot be combined with --exchange or --routing-key');
  return { exchange: '', routingKey: queue };
}

function propertiesOf(parsed: CommandArguments): Record<string, unknown> {
  const properties: Record<string, unknown> = {};
  const text = (flag: string, property: string): void => {
    const value = parsed.string(flag);
    if (value !== undefined) properties[property] = value;
  };
  text('content-type', 'content_type');
  text('message-id', 'message_id');
  text('correlation-id', 'correlation_id');
  text('reply-to', 'reply_to');
  const priority = parsed.integer('priority', 0, 255);
  if (priority !== undefined) properties['priority'] = priority;
  const expirationMs = parsed.integer('expiration-ms', 0, Number.MAX_SAFE_INTEGER);
  if (expirationMs !== undefined) properties['expiration_ms'] = expirationMs;
  properties['delivery_mode'] = parsed.boolean('transient') ? 1 : 2;
  const headers: Record<string, string> = {};
  for (const header of parsed.strings('header')) {
    const equals = header.indexOf('=');
    if (equals <= 0) throw new FerryError('INVALID_USAGE', `--header ${JSON.stringify(header)} is not KEY=VALUE`);
    headers[header.slice(0, equals)] = header.slice(equals + 1);
  }
  if (Object.keys(headers).length > 0) properties['headers'] = headers;
  return properties;
}

/** Standard input as the API's payload: text when it is UTF-8, else base64. */
function payloadOf(bytes: Buffer): Pick<PublishRequest, 'payload' | 'payload_encoding'> {
  try {
    return { payload: strictUtf8.decode(bytes), payload_encoding: 'string' };
  } catch {
    return { payload: bytes.toString('base64'), payload_encoding: 'base64' };
  }
}
