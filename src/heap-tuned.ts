/**
 * Imported first by entry points (src/cli.ts, bench/case.ts): ES modules are evaluated in the
 * order they are imported, so this runs before the agent's modules load and the young
 * generation has had a chance to grow (see src/heap.ts).
 */
import { tuneHeap } from './heap.js';

tuneHeap(process.execArgv, process.env['NODE_OPTIONS']);
