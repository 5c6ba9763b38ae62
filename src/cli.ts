#!/usr/bin/env node
// Before anything else: V8's heap tuning must precede parsing the agent's modules, which
// static imports would do before this module's body runs (src/heap.ts).
import './heap-tuned.js';

const { main } = await import('./commands.js');
const code = await main(process.argv.slice(2));
// -1: the agent is running and exits on a signal.
if (code >= 0) process.exit(code);
