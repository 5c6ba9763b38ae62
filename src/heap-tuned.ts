/**
 * Imported by entry points (src/cli.ts, bench/case-entry.ts) before they load the rest with a
 * dynamic import: the young generation must not have grown yet, and parsing a static import
 * graph (which precedes any module body) is enough to grow it: 91-93 MB of peak RSS on the
 * log benchmark that way against 76-80 MB (see src/heap.ts).
 */
import { tuneHeap } from './heap.js';

tuneHeap(process.execArgv, process.env['NODE_OPTIONS']);
