#!/usr/bin/env node
// First: V8's heap tuning must precede loading the agent's modules.
import './heap-tuned.js';
import { main } from './commands.js';

const code = await main(process.argv.slice(2));
// -1: the agent is running and exits on a signal.
if (code >= 0) process.exit(code);
