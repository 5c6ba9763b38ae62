/**
 * V8's heap sizing, tuned for an agent that must stay small beside the containers it watches.
 *
 * By default V8 grows the young generation to two 16 MB semi-spaces as soon as allocation is
 * brisk (a collection, a log backlog) and lets the old generation grow to about twice what
 * is live before collecting it: peak RSS at 1000 containers was 190 to 215 MB for about
 * 25 MB of live data. Keeping the young generation at its initial size and the old
 * generation within a quarter of what is live cut that to 115 MB (100 MB and 5000
 * containers: 118 to 95, 315 to 200), for about 5% more CPU per scrape at 1000 containers
 * and 8% at 5000, spent on GC threads (the scrape's wall time did not grow). See
 * docs/benchmarks.md.
 *
 * Both flags are read by V8 at each resize; they are set at start, before the agent's
 * modules load (src/heap-tuned.ts). Measured, that beat the same flags on the command line
 * (146 MB at 1000 containers): V8 then applies them while Node itself boots too. A setting
 * of the user's own, on the command line or in NODE_OPTIONS, wins. With a push exporter on,
 * the agent gives V8 its defaults back (relaxHeap, below): encoding every snapshot is what the
 * tuned heap handles worst.
 */
import { setFlagsFromString } from 'node:v8';

interface Tuning {
  readonly flag: string;
  /** The same setting at V8's own value, which relaxHeap() sets back. */
  readonly v8Default: string;
  /** Flags of the user's that decide the same thing. */
  readonly overriddenBy: readonly string[];
}

export const HEAP_TUNING: readonly Tuning[] = [
  { flag: '--semi-space-growth-factor=1', v8Default: '--semi-space-growth-factor=2', overriddenBy: ['--semi-space-growth-factor', '--max-semi-space-size', '--min-semi-space-size'] },
  { flag: '--heap-growing-percent=25', v8Default: '--heap-growing-percent=0', overriddenBy: ['--heap-growing-percent'] },
];

/** What tuneHeap() set, so that relaxHeap() undoes only that. */
const applied = new Set<Tuning>();

/** The tuning flags that `given` (command line and NODE_OPTIONS) leaves to us. */
export function heapFlags(given: readonly string[]): string[] {
  return leftToUs(given).map((t) => t.flag);
}

function leftToUs(given: readonly string[]): Tuning[] {
  // V8 takes both spellings: --max-semi-space-size and --max_semi_space_size.
  const names = given.map((a) => a.replace(/_/g, '-').split('=')[0]);
  return HEAP_TUNING.filter((t) => !t.overriddenBy.some((o) => names.includes(o)));
}

/** Applies the tuning to this process; returns what it set. */
export function tuneHeap(execArgv: readonly string[], nodeOptions: string | undefined): string[] {
  const tunings = leftToUs([...execArgv, ...(nodeOptions ?? '').split(/\s+/).filter((a) => a !== '')]);
  for (const t of tunings) {
    setFlagsFromString(t.flag);
    applied.add(t);
  }
  return tunings.map((t) => t.flag);
}

/**
 * Gives V8 back its default sizing, for the push exporters: each push encodes hundreds of
 * thousands of short-lived objects, which the tuned heap promotes and collects again; with
 * all three on, the exporters took 1.37x the collection's CPU instead of 1.02x, and the
 * collection itself 12% more (docs/benchmarks.md). Undoes only what tuneHeap() set; returns
 * whether it changed anything.
 */
export function relaxHeap(): boolean {
  const changed = applied.size > 0;
  for (const t of applied) setFlagsFromString(t.v8Default);
  applied.clear();
  return changed;
}

/**
 * Sets again what tuneHeap() set and relaxHeap() did not undo. Starting a worker thread puts
 * flags set at run time back to V8's defaults for the whole process: measured, the main
 * thread's young generation then grew to 32 MB again (2 MB tuned).
 */
export function reassertHeap(): void {
  for (const t of applied) setFlagsFromString(t.flag);
}
