import { crc32c as nativeCrc32c } from '@node-rs/crc32';

/**
 * CRC-32C (Castagnoli) of `bytes`, continuing from `previous` when given so a
 * checksum can span several buffers. Hardware-accelerated through @node-rs/crc32.
 */
export function crc32c(bytes: Uint8Array, previous = 0): number {
  return nativeCrc32c(bytes, previous) >>> 0;
}
