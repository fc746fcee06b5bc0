#!/usr/bin/env node
// The `ferry` command: a shim over the compiled CLI (run `npm run build` first).
import { main } from '../dist/src/cli/main.js';

const exitCode = await main(process.argv.slice(2));
process.exitCode = exitCode;
// Exit on our own if a stray handle would keep the process alive; the timer itself does not.
setTimeout(() => process.exit(exitCode), 2_000).unref();
