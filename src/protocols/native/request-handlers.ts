import { ack, changeVisibility, nack } from './handlers/ack.js';
import { append } from './handlers/append.js';
import { bind, unbind } from './handlers/bind.js';
import { exchangeDeclare, exchangeDelete } from './handlers/exchange.js';
import { groupCommit, groupCommitted } from './handlers/group-commit.js';
import { groupHeartbeat, groupJoin, groupLeave, groupRevoked } from './handlers/group-membership.js';
import { publish } from './handlers/publish.js';
import { pull } from './handlers/pull.js';
import { queueDeclare, queueDelete, queuePurge } from './handlers/queue.js';
import { streamDeclare, streamDelete, streamInfo } from './handlers/stream.js';
import { streamRead } from './handlers/stream-read.js';
import { streamCredit, streamSubscribe, streamUnsubscribe } from './handlers/stream-subscribe.js';
import { cancel, subscribe } from './handlers/subscribe.js';
import { transactionAbort, transactionBegin, transactionCommit } from './handlers/transaction.js';
import type { RequestHandlers } from './request-handler.js';

/**
 * The request dispatcher: one handler per channel request type of
 * native-spec.ts (connection frames and channel open / close are the
 * connection's). Typed exhaustively: a frame type added to the spec does not
 * compile until it has a handler here.
 */
export const REQUEST_HANDLERS: RequestHandlers = {
  exchangeDeclare,
  exchangeDelete,
  queueDeclare,
  queueDelete,
  queuePurge,
  bind,
  unbind,
  streamDeclare,
  streamDelete,
  streamInfo,
  publish,
  append,
  subscribe,
  cancel,
  ack,
  nack,
  pull,
  changeVisibility,
  streamRead,
  streamSubscribe,
  streamCredit,
  streamUnsubscribe,
  groupJoin,
  groupRevoked,
  groupCommit,
  groupCommitted,
  groupLeave,
  groupHeartbeat,
  transactionBegin,
  transactionCommit,
  transactionAbort,
};
