/**
 * Entry point of a benchmark case's child process: tunes V8's heap as src/cli.ts does, before
 * the case's modules are even parsed, then runs bench/case.ts.
 */
import '../src/heap-tuned.js';

await import('./case.js');
