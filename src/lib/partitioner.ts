/**
 * Which partition a stream message goes to.
 *
 * Keyed messages hash their key with 32-bit MurmurHash2 (seed 0x9747b28c),
 * the hash Kafka clients use for their default partitioner, so a key lands
 * in the same partition whether a Kafka client or Ferry picks it:
 * partition = (hash & 0x7fffffff) % partitionCount. Unkeyed messages are
 * spread round-robin by the caller. The broker (src/core/stream) and the
 * client (src/client, which picks partitions for idempotent appends) share it.
 */

const SEED = 0x9747b28c;
const MULTIPLIER = 0x5bd1e995;
const SHIFT = 24;

/** MurmurHash2 of `bytes`, as a signed 32-bit integer (Kafka's `Utils.murmur2`). */
export function murmur2(bytes: Uint8Array): number {
  const length = bytes.byteLength;
  let hash = (SEED ^ length) | 0;
  const whole = length - (length % 4);
  for (let at = 0; at < whole; at += 4) {
    let k = bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24);
    k = Math.imul(k, MULTIPLIER);
    k ^= k >>> SHIFT;
    k = Math.imul(k, MULTIPLIER);
    hash = Math.imul(hash, MULTIPLIER);
    hash ^= k;
  }
  const tail = length % 4;
  if (tail === 3) hash ^= bytes[whole + 2]! << 16;
  if (tail >= 2) hash ^= bytes[whole + 1]! << 8;
  if (tail >= 1) {
    hash ^= bytes[whole]!;
    hash = Math.imul(hash, MULTIPLIER);
  }
  hash ^= hash >>> 13;
  hash = Math.imul(hash, MULTIPLIER);
  hash ^= hash >>> 15;
  return hash | 0;
}

/** The partition of a message with `key` in a stream of `partitionCount` partitions. */
export function partitionForKey(key: Uint8Array, partitionCount: number): number {
  return (murmur2(key) & 0x7fffffff) % partitionCount;
}
