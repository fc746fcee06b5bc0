import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Queue } from '../../core/queue/queue.js';
import { FerryError } from '../../lib/ferry-error.js';

/** Bytes of the signature in a receipt (96 bits). */
const SIGNATURE_BYTES = 12;

/**
 * Receipts of pulled and subscribed deliveries: what an HTTP client hands
 * back to ack, nack or extend a delivery. A receipt names the delivery within
 * one queue object (its incarnation in this process: a queue deleted and
 * declared again starts a new one) and is signed with a key made at start,
 * so a client can settle only deliveries it was given, never another
 * consumer's by guessing numbers, and receipts die with the process (whose
 * restart returns every delivery to its queue anyway).
 *
 * ```
 *   <incarnation, base 36> . <delivery id, base 36> . <signature, base64url>
 * ```
 */
export class DeliveryReceipts {
  private readonly key = randomBytes(32);
  private readonly incarnations = new WeakMap<Queue, number>();
  private nextIncarnation = 1;

  /** The receipt of delivery `deliveryId` of `queue` in `vhost`. */
  issue(vhost: string, queue: Queue, deliveryId: number): string {
    const prefix = `${this.incarnationOf(queue).toString(36)}.${deliveryId.toString(36)}`;
    return `${prefix}.${this.sign(vhost, queue.name, prefix).toString('base64url')}`;
  }

  /**
   * The delivery ids of `receipts` for `queue`. INVALID_RECEIPT when one was not
   * issued for this queue by this process; UNKNOWN_DELIVERY when one belongs
   * to an earlier queue of the same name (deleted since).
   */
  deliveryIdsOf(vhost: string, queue: Queue, receipts: readonly string[]): number[] {
    const incarnation = this.incarnationOf(queue);
    return receipts.map((receipt) => {
      const match = /^([0-9a-z]{1,11})\.([0-9a-z]{1,11})\.([A-Za-z0-9_-]{16})$/.exec(receipt);
      const signature = match ? Buffer.from(match[3]!, 'base64url') : null;
      if (!match || signature?.length !== SIGNATURE_BYTES || !timingSafeEqual(signature, this.sign(vhost, queue.name, `${match[1]}.${match[2]}`))) {
        throw new FerryError('INVALID_RECEIPT', `${JSON.stringify(receipt.slice(0, 64))} is not a receipt of queue ${queue.name} in vhost ${vhost} (or it was issued before the broker restarted)`);
      }
      if (parseInt(match[1]!, 36) !== incarnation) {
        throw new FerryError('UNKNOWN_DELIVERY', `receipt ${receipt} is of an earlier queue ${queue.name}, deleted since`);
      }
      return parseInt(match[2]!, 36);
    });
  }

  private incarnationOf(queue: Queue): number {
    let incarnation = this.incarnations.get(queue);
    if (incarnation === undefined) {
      incarnation = this.nextIncarnation++;
      this.incarnations.set(queue, incarnation);
    }
    return incarnation;
  }

  private sign(vhost: string, queue: string, prefix: string): Buffer {
    return createHmac('sha256', this.key).update(`${vhost}\u0000${queue}\u0000${prefix}`).digest().subarray(0, SIGNATURE_BYTES);
  }
}
