import type { Log, ProducerStamp } from '../ports.js';

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

/**
 * True when `log` holds a batch stamped `stamp` at or after `fromOffset`:
 * whether a transaction's write to that destination happened (recovery).
 */
export async function holdsStampedBatch(log: Log, fromOffset: number, stamp: ProducerStamp): Promise<boolean> {
  for (let offset = Math.max(fromOffset, log.startOffset()); offset < log.endOffset(); ) {
    const batches = await log.readBatches(offset, { bytesMax: 1024 * 1024 });
    if (batches.length === 0) break;
    for (const batch of batches) {
      const producer = batch.producer;
      if (producer && producer.producerId === stamp.producerId && producer.producerEpoch === stamp.producerEpoch && producer.baseSequence === stamp.baseSequence) return true;
      offset = batch.records[batch.records.length - 1]!.offset + 1;
    }
  }
  return false;
}
