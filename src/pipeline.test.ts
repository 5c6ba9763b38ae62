/** The pipeline's coalescing, and the previous snapshot for a caller that cannot wait for a slow collection. */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { Collector } from './component.js';
import { Labels, metric } from './model.js';
import { Pipeline } from './pipeline.js';
import { SelfMetrics } from './selfmetrics.js';

const def = metric({ name: 'x_total', type: 'counter', unit: '', help: 'x', labels: [], source: 'test' });

/** A collector whose collections finish only when the test says so; each adds its own number. */
function gated() {
  const gates: Array<() => void> = [];
  let n = 0;
  const collector: Collector = {
    start: async () => undefined,
    shutdown: async () => undefined,
    collect: async (acc) => {
      const mine = ++n;
      await new Promise<void>((resolve) => gates.push(resolve));
      acc.add(def, new Labels([['n', String(mine)]]), mine);
    },
  };
  return { collector, release: () => gates.shift()?.(), pending: () => gates.length };
}

const valueOf = (s: Awaited<ReturnType<Pipeline['snapshot']>>): number => s.families.find((f) => f.def === def)?.values[0] ?? NaN;

async function stale(self: SelfMetrics): Promise<number> {
  const m = (await self.registry.getMetricsAsJSON()).find((x) => x.name === 'lookout_stale_snapshots_total');
  return Number(m?.values[0]?.value ?? NaN);
}

const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('Pipeline.snapshot', () => {
  it('shares one collection among concurrent callers', async () => {
    const g = gated();
    const p = new Pipeline([{ type: 'g', collector: g.collector }], [def], new SelfMetrics('test'), pino({ level: 'silent' }), Date.now, 0);
    const a = p.snapshot();
    const b = p.snapshot();
    await tick(5);
    expect(g.pending()).toBe(1);
    g.release();
    expect(await a).toBe(await b);
  });

  it('gives a caller with a wait limit the previous snapshot when the new collection outlasts it, and the new one to the next caller', async () => {
    const g = gated();
    const self = new SelfMetrics('test');
    const p = new Pipeline([{ type: 'g', collector: g.collector }], [def], self, pino({ level: 'silent' }), Date.now, 0);

    // No previous snapshot: even a caller with a limit waits for the first collection.
    const first = p.snapshot(10);
    await tick(40);
    g.release();
    expect(valueOf(await first)).toBe(1);

    // The first collection took about 40 ms: a caller allowing 100 waits, and gets the previous snapshot after that.
    const t0 = performance.now();
    const second = await p.snapshot(100);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(95);
    expect(valueOf(second)).toBe(1);
    expect(await stale(self)).toBe(1);

    // The collection went on: a caller without a limit gets it once it ends, and it is counted once.
    const third = p.snapshot();
    expect(g.pending()).toBe(1);
    g.release();
    expect(valueOf(await third)).toBe(2);

    // That collection took over 100 ms: a caller allowing 50 is not kept waiting at all, and the collection goes on.
    const t1 = performance.now();
    const fourth = await p.snapshot(50);
    expect(performance.now() - t1).toBeLessThan(50);
    expect(valueOf(fourth)).toBe(2);
    expect(await stale(self)).toBe(2);
    expect(g.pending()).toBe(1);
    g.release();
    await tick(5);

    // A collection that ends within the limit is served, not the previous one.
    const fifth = p.snapshot(1000);
    await tick(5);
    g.release();
    expect(valueOf(await fifth)).toBe(4);
    expect(await stale(self)).toBe(2);
  });
});
