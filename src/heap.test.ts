import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { heapFlags, HEAP_TUNING, relaxHeap, tuneHeap } from './heap.js';

/** The main thread's young generation (MB) after brisk allocation, in a fresh process that tunes the heap and starts a worker thread; `reassert` calls reassertHeap() once the worker is up. */
function youngGenerationAfterWorker(reassert: boolean): number {
  const heap = JSON.stringify(new URL('./heap.ts', import.meta.url).href);
  const script = `
    import { tuneHeap, reassertHeap } from ${heap};
    import { getHeapSpaceStatistics } from 'node:v8';
    import { Worker } from 'node:worker_threads';
    tuneHeap([], undefined);
    const w = new Worker('setInterval(() => {}, 1000)', { eval: true });
    await new Promise((r) => w.once('online', r));
    ${reassert ? 'reassertHeap();' : ''}
    let keep = [];
    for (let i = 0; i < 3e6; i++) { keep.push({ a: i, b: 'x' + i }); if (keep.length > 1000) keep = []; }
    console.log(getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size / 1048576);
    process.exit(0);`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return Number(r.stdout.trim());
}

describe('heapFlags', () => {
  it('applies every tuning flag by default', () => {
    expect(heapFlags([])).toEqual(HEAP_TUNING.map((t) => t.flag));
  });

  it("leaves each setting to the user's own flag, in either spelling", () => {
    expect(heapFlags(['--max-semi-space-size=16'])).toEqual(['--heap-growing-percent=25']);
    expect(heapFlags(['--max_semi_space_size=16', '--heap_growing_percent=50'])).toEqual([]);
    expect(heapFlags(['--max-old-space-size=300'])).toEqual(HEAP_TUNING.map((t) => t.flag));
  });

  it('is accepted by this V8 at run time: node --v8-options knows both flags', () => {
    const out = spawnSync(process.execPath, ['--v8-options'], { encoding: 'utf8' }).stdout;
    for (const t of HEAP_TUNING) expect(out).toContain(t.flag.split('=')[0]);
    // And setting them after start neither throws nor leaves V8 complaining on stderr.
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', `import { setFlagsFromString } from 'node:v8'; ${HEAP_TUNING.map((t) => `setFlagsFromString('${t.flag}');`).join(' ')} console.log('ok')`], { encoding: 'utf8' });
    expect(r.stdout.trim()).toBe('ok');
    expect(r.stderr).toBe('');
  });

  it('is undone for push exporters: relaxHeap() gives V8 its defaults back, once, and only what tuneHeap() set', () => {
    expect(relaxHeap()).toBe(false);
    // A user's own young-generation flag: only the growth percent is ours to undo.
    expect(tuneHeap(['--max-semi-space-size=8'], undefined)).toEqual(['--heap-growing-percent=25']);
    expect(relaxHeap()).toBe(true);
    expect(relaxHeap()).toBe(false);
    expect(tuneHeap([], '--heap-growing-percent=40')).toEqual(['--semi-space-growth-factor=1']);
    expect(relaxHeap()).toBe(true);
    expect(relaxHeap()).toBe(false);
  });

  it('is set again after a worker thread starts, which puts run-time flags back to V8 defaults', () => {
    // The reset reassertHeap() works around: the young generation grows to V8's 16 MB semi-spaces.
    expect(youngGenerationAfterWorker(false)).toBeGreaterThanOrEqual(16);
    expect(youngGenerationAfterWorker(true)).toBeLessThanOrEqual(4);
  });
});
