/**
 * The partition of a keyed stream message, computed as the broker does
 * (src/core/stream/partitioner.ts, which the client may not import): 32-bit
 * MurmurHash2 of the key with seed 0x9747b28c, Kafka's default partitioner,
 * partition = (hash & 0x7fffffff) % partitionCount. A test checks both agree.
 * The client picks partitions itself because idempotent appends are per
 * partition.
 */
export function partitionForKey(key: Uint8Array, partitionCount: number): number {
  return (murmur2(key) & 0x7fffffff) % partitionCount;
}

const SEED = 0x9747b28c;
const MULTIPLIER = 0x5bd1e995;

function murmur2(bytes: Uint8Array): number {
  const length = bytes.byteLength;
  let hash = (SEED ^ length) | 0;
  const whole = length - (length % 4);
  for (let at = 0; at < whole; at += 4) {
    let k = bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24);
    k = Math.imul(k, MULTIPLIER);
    k ^= k >>> 24;
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
