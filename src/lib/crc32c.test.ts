import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32c as nativeCrc32c } from '@node-rs/crc32';
import { SeededRandom } from '../platform/random.js';
import { crc32c } from './crc32c.js';

test('crc32c matches the standard check value and the native implementation at every length, whole or continued', () => {
  // The CRC-32C check value (RFC 3720, appendix B.4): "123456789".
  assert.equal(crc32c(new TextEncoder().encode('123456789')), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa, 'RFC 3720 B.4: 32 bytes of zeros');
  const random = new SeededRandom(7);
  for (let length = 0; length <= 300; length++) {
    const bytes = Uint8Array.from({ length }, () => random.int(256));
    const expected = nativeCrc32c(Buffer.from(bytes)) >>> 0;
    assert.equal(crc32c(bytes), expected, `length ${length}`);
    const split = random.int(length + 1);
    assert.equal(crc32c(bytes.subarray(split), crc32c(bytes.subarray(0, split))), expected, `length ${length} split at ${split}`);
  }
});

test('crc32c of a span [start, end) equals that of the same bytes as a view, short (in place) and long (native)', () => {
  const random = new SeededRandom(11);
  const bytes = Uint8Array.from({ length: 600 }, () => random.int(256));
  for (let round = 0; round < 400; round++) {
    const start = random.int(bytes.length + 1);
    const end = start + random.int(bytes.length - start + 1);
    const previous = random.int(2) === 0 ? 0 : random.int(0x7fff_ffff);
    assert.equal(crc32c(bytes, previous, start, end), crc32c(bytes.subarray(start, end), previous), `span ${start}..${end}`);
  }
});
