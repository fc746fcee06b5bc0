import { setTimeout as sleep } from 'node:timers/promises';
import { defineCommand } from '../define-command.js';
import { EXIT_CODES } from '../exit-codes.js';
import type { GotMessage } from '../management-client.js';
import { SERVER_FLAGS, VHOST_FLAG, managementClientOf } from '../management-flags.js';

/** Most messages one poll takes (the API allows up to 1,000). */
const BATCH_MAX = 100;
/** First wait after an empty poll; it doubles up to {@link POLL_BACKOFF_MS_MAX} and resets when a message comes. */
const POLL_BACKOFF_MS_MIN = 50;
const POLL_BACKOFF_MS_MAX = 1_000;

/**
 * `ferry consume`: takes messages from a queue and prints each as it comes.
 * There is no native client protocol yet, so it polls the management API's
 * `get` with ackmode `ack_requeue_false`, which removes what it returns.
 */
export const consumeCommand = defineCommand({
  name: 'consume',
  synopsis: 'QUEUE [flags]',
  description: `Takes messages from QUEUE and prints each as it comes: the body as text when
it is UTF-8, else base64, one message per line; with --json, one JSON object
per line (body, encoding, routing key, properties, headers, redelivered).

It consumes with HTTP polling of the management API (POST
/api/queues/{vhost}/{queue}/get, ackmode ack_requeue_false): each poll takes
up to ${BATCH_MAX} messages and removes them from the queue, and an empty queue is
polled again after ${POLL_BACKOFF_MS_MIN} ms, backing off to ${POLL_BACKOFF_MS_MAX} ms. Delivery is at most
once: a message taken by a poll whose answer is lost on the way is gone, and so
are the rest of a poll's messages when the reader of the output goes away
(ferry consume q | head -1): use --count to take exactly what you need.

Runs until --count messages were printed, or until Ctrl-C (SIGINT) or SIGTERM,
which let the poll in progress finish and print its messages, then exit 0.`,
  flags: {
    ...SERVER_FLAGS,
    vhost: VHOST_FLAG,
    count: { type: 'string', short: 'n', valueName: 'N', description: 'stop after N messages (never takes more than N)' },
    json: { type: 'boolean', description: 'print one JSON object per message and line' },
  },
  positionals: { min: 1, max: 1 },
  examples: ['ferry consume tasks', 'ferry consume tasks --count 10 --json | jq .payload'],
  async run(parsed, context) {
    const client = managementClientOf(parsed);
    const vhost = parsed.requiredString('vhost');
    const queue = parsed.positionals[0]!;
    const count = parsed.integer('count', 1, 1_000_000_000) ?? Number.POSITIVE_INFINITY;
    const json = parsed.boolean('json');
    const interrupted = context.interruption();
    let printed = 0;
    let backoffMs = 0;
    while (printed < count && !interrupted.aborted) {
      // Never aborted half-way: the messages of an answer are already off the queue, so they are printed.
      const messages = await client.get(vhost, queue, { count: Math.min(BATCH_MAX, count - printed), ackmode: 'ack_requeue_false' });
      for (const message of messages) context.streams.stdout(json ? `${JSON.stringify(jsonOf(message))}\n` : `${message.payload}\n`);
      printed += messages.length;
      if (messages.length > 0) {
        backoffMs = 0;
        continue;
      }
      backoffMs = Math.min(POLL_BACKOFF_MS_MAX, backoffMs === 0 ? POLL_BACKOFF_MS_MIN : backoffMs * 2);
      await sleep(backoffMs, undefined, { signal: interrupted }).catch(() => undefined);
    }
    return EXIT_CODES.success;
  },
});

/** The API's message without `message_count`, which is the queue's depth, not the message's. */
function jsonOf(message: GotMessage): Omit<GotMessage, 'message_count'> {
  const { message_count: _depth, ...rest } = message;
  return rest;
}
