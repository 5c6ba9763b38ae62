/**
 * Summarizes V8 CPU profiles (`BENCH_CPU_PROF=1 npm run bench` writes them to
 * $TMPDIR/lookout-bench/profiles): self time by function and by source file, and the
 * inclusive time of a few functions of interest.
 *
 *   node dist/bench/profile.js PROFILE.cpuprofile [TOP]
 */
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const file = process.argv[2];
const top = Number(process.argv[3] ?? 25);
if (!file) {
  console.error('usage: profile.js PROFILE.cpuprofile [TOP]');
  process.exit(2);
}
const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

/** Self time per node id, in microseconds. */
const self = new Map<number, number>();
for (let i = 0; i < p.samples.length; i++) {
  const id = p.samples[i] as number;
  self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i + 1] ?? 0));
}
const total = [...self.values()].reduce((a, b) => a + b, 0);

function where(n: Node): string {
  const url = n.callFrame.url.replace(/^file:\/\/.*?\/(dist\/)?/, '');
  return url ? `${url}:${n.callFrame.lineNumber + 1}` : '(native)';
}

function table(title: string, m: Map<string, number>): void {
  console.log(`\n${title} (of ${(total / 1000).toFixed(0)} ms sampled)`);
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${(v / 1000).toFixed(1).padStart(9)} ms ${((100 * v) / total).toFixed(1).padStart(5)}%  ${k}`);
  }
}

const fnSelf = new Map<string, number>();
const fileSelf = new Map<string, number>();
for (const [id, us] of self) {
  const n = byId.get(id);
  if (!n) continue;
  const fn = `${n.callFrame.functionName || '(anonymous)'} ${where(n)}`;
  fnSelf.set(fn, (fnSelf.get(fn) ?? 0) + us);
  const f = n.callFrame.url ? n.callFrame.url.replace(/^file:\/\/.*?\/(dist\/)?/, '').replace(/^node:.*/, 'node: (core modules)') : `(${n.callFrame.functionName || 'native'})`;
  fileSelf.set(f, (fileSelf.get(f) ?? 0) + us);
}

// Inclusive time: a sample counts once for every distinct function on its stack.
const incl = new Map<string, number>();
for (const [id, us] of self) {
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const n = byId.get(cur);
    if (!n) break;
    const fn = `${n.callFrame.functionName || '(anonymous)'} ${where(n)}`;
    if (seen.has(fn)) continue;
    seen.add(fn);
    incl.set(fn, (incl.get(fn) ?? 0) + us);
  }
}

table('Self time by function', fnSelf);
table('Self time by file', fileSelf);
table('Inclusive time by function', incl);
