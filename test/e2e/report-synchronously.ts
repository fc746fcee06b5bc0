/**
 * Output of crash-test children that the parent may rely on after a SIGKILL.
 *
 * `process.stdout.write` on a pipe is asynchronous on Linux: once the pipe's
 * buffer is full (a busy parent reads slowly), lines wait in the child's
 * memory and a kill loses them. A child that prints "about to ack X" and then
 * acks X would, under load, let the parent believe X was never acked. So
 * these writes go to the file descriptor with a blocking `writeSync`: when it
 * returns, the bytes are in the pipe and survive the child's death.
 */
import { writeSync } from 'node:fs';

const STDOUT_FD = 1;
const STDERR_FD = 2;
const pause = new Int32Array(new SharedArrayBuffer(4));

function writeAll(fd: number, text: string): void {
  const bytes = Buffer.from(text);
  let written = 0;
  while (written < bytes.byteLength) {
    try {
      written += writeSync(fd, bytes, written);
    } catch (error) {
      // A descriptor something else made non-blocking: wait for room rather than queue.
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
      Atomics.wait(pause, 0, 0, 1);
    }
  }
}

/** Writes `text` to stdout; returns once it is in the pipe. */
export function reportSynchronously(text: string): void {
  writeAll(STDOUT_FD, text);
}

/** Writes `text` to stderr; returns once it is in the pipe. */
export function reportErrorSynchronously(text: string): void {
  writeAll(STDERR_FD, text);
}
