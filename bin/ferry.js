#!/usr/bin/env -S node --initial-old-space-size=128
// The `ferry` command: a shim over the compiled CLI (run `npm run build` first).
// --initial-old-space-size: V8 starts a heap small and raises the old generation's limit step
// by step, with a full (mark-compact) collection at each step; a broker's heap churns steadily,
// so it ran 17-18 of them in 25 s at 5,000 msgs/s, each a pause of several milliseconds. With 128 MiB
// it runs one (bench:amqp steady-5k, broker p99 4.1-5.0 ms -> 1.4 ms). bench/ferry-process.ts
// reads these flags from this line, so the benchmarks run the broker as `npx ferry serve` does.
import { main } from '../dist/src/cli/main.js';

const exitCode = await main(process.argv.slice(2));
process.exitCode = exitCode;
// Exit on our own if a stray handle would keep the process alive; the timer itself does not.
setTimeout(() => process.exit(exitCode), 2_000).unref();
