import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { heapFlags, HEAP_TUNING, relaxHeap, tuneHeap } from './heap.js';

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
});
