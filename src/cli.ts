#!/usr/bin/env node
import { main } from './commands.js';

const code = await main(process.argv.slice(2));
// -1: the agent is running and exits on a signal.
if (code >= 0) process.exit(code);
