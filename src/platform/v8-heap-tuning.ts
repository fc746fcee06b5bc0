import { setFlagsFromString } from 'node:v8';

let pretenuringOff = false;

/**
 * Turns off V8's allocation-site pretenuring for the whole process (the flag
 * `--no-allocation-site-pretenuring`), once; later calls do nothing.
 *
 * V8 allocates the objects of an allocation site straight in the old
 * generation once most of them survived a scavenge. A broker's per-message
 * objects (the message, its queue entry, its delivery) live for one publish
 * and delivery round, but a burst of them (1,000 publishes in flight across
 * 1,000 queues) is all alive when a scavenge happens early, while the young
 * generation is still small: the sites were then pretenured for good (an
 * old-space object leaves no memento, so no later feedback undoes it). Each
 * per-message object then cost an old-space allocation and a write barrier
 * slow path per young field, and died in the old generation, where it kept
 * the young objects it pointed to alive through every scavenge until the
 * next full collection (about 1,400 of the 2,700 bytes allocated per message
 * survived a scavenge, against 300 with pretenuring off).
 *
 * Only decisions taken after the call are affected: call it before the broker
 * carries traffic.
 */
export function turnOffAllocationSitePretenuring(): void {
  if (pretenuringOff) return;
  pretenuringOff = true;
  setFlagsFromString('--no-allocation-site-pretenuring');
}
