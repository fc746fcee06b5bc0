/**
 * amqplib's callback API (`amqplib/callback_api`) against Ferry, written the
 * way callback-style applications are: hello world, a work queue with acks,
 * confirms with per-message callbacks and waitForConfirms, get, recover,
 * declare errors reported to the callback, and the connection error event.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Channel, ConfirmChannel, Connection, ConsumeMessage } from 'amqplib/callback_api';
import { AmqpTestServer } from './amqp-test-server.js';

let ferry: AmqpTestServer;
let connection: Connection;

before(async () => {
  ferry = await AmqpTestServer.start();
  connection = await ferry.connectCallback();
});

after(async () => {
  await ferry.close();
});

/** Runs `body` and hands anything it throws to `done`, so assertion failures inside callbacks fail the right test. */
function guard(done: (error?: unknown) => void, body: () => void): void {
  try {
    body();
  } catch (error) {
    done(error);
  }
}

type Done = (error?: unknown) => void;

/** Wraps a callback-style test so that `done(error)` fails it. */
function callbackTest(name: string, body: (done: Done) => void): void {
  test(name, () => new Promise<void>((resolve, reject) => body((error) => (error ? reject(error) : resolve()))));
}

callbackTest('hello world with callbacks', (done) => {
  connection.createChannel((error: Error | null, channel: Channel) => {
    if (error) return done(error);
    channel.assertQueue('cb-hello', { durable: false }, (declareError) => {
      if (declareError) return done(declareError);
      channel.consume(
        'cb-hello',
        (message: ConsumeMessage | null) =>
          guard(done, () => {
            assert.ok(message);
            assert.equal(message.content.toString(), 'Hello World!');
            channel.close(() => done());
          }),
        { noAck: true },
        (consumeError) => {
          if (consumeError) return done(consumeError);
          channel.sendToQueue('cb-hello', Buffer.from('Hello World!'));
        },
      );
    });
  });
});

callbackTest('a work queue: each task acknowledged once, none left behind', (done) => {
  connection.createChannel((error: Error | null, channel: Channel) => {
    if (error) return done(error);
    channel.assertQueue('cb-tasks', { durable: true }, (declareError) => {
      if (declareError) return done(declareError);
      channel.prefetch(1);
      const seen: string[] = [];
      channel.consume('cb-tasks', (message: ConsumeMessage | null) =>
        guard(done, () => {
          if (!message) return;
          seen.push(message.content.toString());
          channel.ack(message);
          if (seen.length < 5) return;
          assert.deepEqual(seen, ['t0', 't1', 't2', 't3', 't4']);
          channel.checkQueue('cb-tasks', (checkError, ok) =>
            guard(done, () => {
              if (checkError) throw checkError;
              assert.equal(ok.messageCount, 0);
              channel.close(() => done());
            }),
          );
        }),
      );
      for (let index = 0; index < 5; index++) channel.sendToQueue('cb-tasks', Buffer.from(`t${index}`), { persistent: true });
    });
  });
});

callbackTest('confirms: every publish callback is called and waitForConfirms calls back without error', (done) => {
  connection.createConfirmChannel((error: Error | null, channel: ConfirmChannel) => {
    if (error) return done(error);
    channel.assertQueue('cb-confirms', {}, (declareError) => {
      if (declareError) return done(declareError);
      let acks = 0;
      for (let index = 0; index < 200; index++) {
        channel.sendToQueue('cb-confirms', Buffer.from(String(index)), { persistent: true }, (confirmError) => {
          if (!confirmError) acks++;
        });
      }
      channel.waitForConfirms((confirmsError) =>
        guard(done, () => {
          assert.equal(confirmsError, undefined);
          assert.equal(acks, 200);
          channel.close(() => done());
        }),
      );
    });
  });
});

callbackTest('confirms: a full reject-publish queue makes waitForConfirms call back with an error', (done) => {
  connection.createConfirmChannel((error: Error | null, channel: ConfirmChannel) => {
    if (error) return done(error);
    channel.assertQueue('cb-full', { maxLength: 1, arguments: { 'x-overflow': 'reject-publish' } }, (declareError) => {
      if (declareError) return done(declareError);
      const outcomes: string[] = [];
      channel.sendToQueue('cb-full', Buffer.from('fits'), {}, (confirmError) => outcomes.push(confirmError ? 'nack' : 'ack'));
      channel.sendToQueue('cb-full', Buffer.from('refused'), {}, (confirmError) => outcomes.push(confirmError ? 'nack' : 'ack'));
      channel.waitForConfirms((confirmsError) =>
        guard(done, () => {
          assert.ok(confirmsError, 'waitForConfirms reports the nack');
          assert.deepEqual(outcomes, ['ack', 'nack']);
          channel.close(() => done());
        }),
      );
    });
  });
});

callbackTest('get and recover: an unacknowledged message comes back redelivered', (done) => {
  connection.createChannel((error: Error | null, channel: Channel) => {
    if (error) return done(error);
    channel.assertQueue('cb-get', {}, (declareError) => {
      if (declareError) return done(declareError);
      channel.get('cb-get', {}, (emptyError, empty) =>
        guard(done, () => {
          if (emptyError) throw emptyError;
          assert.equal(empty, false);
          channel.sendToQueue('cb-get', Buffer.from('once'));
          channel.get('cb-get', {}, (getError, first) =>
            guard(done, () => {
              if (getError) throw getError;
              assert.ok(first);
              assert.equal(first.fields.redelivered, false);
              channel.recover((recoverError) =>
                guard(done, () => {
                  if (recoverError) throw recoverError;
                  channel.get('cb-get', { noAck: true }, (againError, again) =>
                    guard(done, () => {
                      if (againError) throw againError;
                      assert.ok(again);
                      assert.equal(again.content.toString(), 'once');
                      assert.equal(again.fields.redelivered, true);
                      channel.close(() => done());
                    }),
                  );
                }),
              );
            }),
          );
        }),
      );
    });
  });
});

callbackTest('a failed declare calls back with the 404 error and closes only the channel', (done) => {
  connection.createChannel((error: Error | null, channel: Channel) => {
    if (error) return done(error);
    channel.on('error', () => undefined);
    channel.checkQueue('cb-missing', (checkError) =>
      guard(done, () => {
        assert.ok(checkError);
        assert.equal((checkError as Error & { code?: number }).code, 404);
        connection.createChannel((nextError: Error | null, next: Channel) => {
          if (nextError) return done(nextError);
          next.assertQueue('cb-after-error', {}, (declareError) => {
            if (declareError) return done(declareError);
            next.close(() => done());
          });
        });
      }),
    );
  });
});

callbackTest('a connection error reaches the connection error event with its code', (done) => {
  ferry.connectCallback().then((doomed) => {
    doomed.on('error', (connectionError: Error & { code?: number }) =>
      guard(done, () => {
        assert.equal(connectionError.code, 503);
      }),
    );
    doomed.on('close', () => done());
    doomed.createChannel((error: Error | null, channel: Channel) => {
      if (error) return done(error);
      channel.on('error', () => undefined);
      channel.assertExchange('cb-odd', 'no-such-type', {});
    });
  }, done);
});

callbackTest('consume and cancel with callbacks', (done) => {
  connection.createChannel((error: Error | null, channel: Channel) => {
    if (error) return done(error);
    channel.assertQueue('cb-cancel', {}, (declareError) => {
      if (declareError) return done(declareError);
      const received: string[] = [];
      channel.consume(
        'cb-cancel',
        (message) => message && received.push(message.content.toString()),
        { noAck: true, consumerTag: 'cb-consumer' },
        (consumeError, ok) =>
          guard(done, () => {
            if (consumeError) throw consumeError;
            assert.equal(ok.consumerTag, 'cb-consumer');
            channel.cancel('cb-consumer', (cancelError, cancelled) =>
              guard(done, () => {
                if (cancelError) throw cancelError;
                assert.equal(cancelled.consumerTag, 'cb-consumer');
                channel.sendToQueue('cb-cancel', Buffer.from('after cancel'));
                channel.checkQueue('cb-cancel', (checkError, state) =>
                  guard(done, () => {
                    if (checkError) throw checkError;
                    assert.equal(state.messageCount, 1);
                    assert.equal(state.consumerCount, 0);
                    assert.deepEqual(received, []);
                    channel.close(() => done());
                  }),
                );
              }),
            );
          }),
      );
    });
  });
});
