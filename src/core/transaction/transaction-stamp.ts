import type { ProducerStamp } from '../ports.js';

/**
 * Producer id stamped on the batches a committed transaction writes into
 * queues and streams. Client producer ids stay below it, so a stamped batch
 * is always a transaction's. Recovery finds whether a destination already
 * has a transaction's batch by looking for this stamp after the offset the
 * transaction recorded (see TransactionCoordinator).
 */
export const TRANSACTION_PRODUCER_ID = 2 ** 48;

/** The stamp of transaction `transactionId` (ids are below 2^32). */
export function transactionStamp(transactionId: number): ProducerStamp {
  return { producerId: TRANSACTION_PRODUCER_ID, producerEpoch: 0, baseSequence: transactionId };
}
