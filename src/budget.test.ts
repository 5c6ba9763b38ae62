import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { MIN_SERIES_CAP, MemoryBudget } from './budget.js';
import type { Sheddable } from './delivery.js';
import type { Collector } from './component.js';
import type { LogRecord, LogSink } from './logs.js';
import { Labels, metric } from './model.js';
import { Pipeline } from './pipeline.js';
import { SelfMetrics } from './selfmetrics.js';

const MiB = 2 ** 20;

class FakeQueue implements Sheddable {
  constructor(
    readonly name: string,
    /** Batches, oldest first: [bytes, items]. */
    public batches: Array<[number, number]>,
  ) {}
  queuedBytes(): number {
    return this.batches.reduce((a, [b]) => a + b, 0);
  }
  shed(keepBytes: number): number {
    let n = 0;
    while (this.batches.length > 0 && this.queuedBytes() > keepBytes) n += (this.batches.shift() as [number, number])[1];
    return n;
  }
}

function setup(rss: { v: number }, queues: FakeQueue[] = [], series = 100_000) {
  const self = new SelfMetrics('test');
  let t = 0;
  const budget = new MemoryBudget({
    maxRssBytes: 100 * MiB,
    softRatio: 0.8,
    intervalMs: 1000,
    self,
    log: pino({ level: 'silent' }),
    now: () => (t += 1000),
    rss: () => rss.v,
    queues: () => queues,
    series: () => series,
  });
  return { self, budget };
}

async function counter(self: SelfMetrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = self.registry.getSingleMetric(name);
  const v = (await m?.get())?.values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
  return v?.value ?? 0;
}

describe('memory budget', () => {
  it('serves the budget and does nothing under the soft mark', async () => {
    const rss = { v: 79 * MiB };
    const q = new FakeQueue('influxdb', [[MiB, 10]]);
    const { self, budget } = setup(rss, [q]);
    expect(await counter(self, 'lookout_memory_budget_bytes')).toBe(100 * MiB);
    for (let i = 0; i < 5; i++) budget.check();
    expect(budget.shedding).toBe(0);
    expect(q.batches).toHaveLength(1);
    expect(await counter(self, 'lookout_memory_shed_events_total', { action: 'queues' })).toBe(0);
  });

  it('sheds in order, one level per check over the soft mark: queues, then logs, then series', async () => {
    const rss = { v: 85 * MiB };
    const q = new FakeQueue('remotewrite', [[4 * MiB, 100], [4 * MiB, 200], [4 * MiB, 300], [4 * MiB, 400]]);
    const { self, budget } = setup(rss, [q], 40_000);

    budget.check();
    expect(budget.shedding).toBe(1);
    // The oldest half went, counted as dropped for memory.
    expect(q.batches.map(([, n]) => n)).toEqual([300, 400]);
    expect(await counter(self, 'lookout_exporter_dropped_total', { exporter: 'remotewrite', reason: 'memory' })).toBe(300);
    expect(budget.logsPaused).toBe(false);
    expect(budget.seriesCap).toBe(Infinity);

    budget.check();
    expect(budget.shedding).toBe(2);
    expect(budget.logsPaused).toBe(true);
    expect(q.batches.map(([, n]) => n)).toEqual([400]);
    expect(budget.seriesCap).toBe(Infinity);

    budget.check();
    expect(budget.shedding).toBe(3);
    expect(budget.seriesCap).toBe(30_000);
    budget.check();
    expect(budget.seriesCap).toBe(22_500);
    expect(await counter(self, 'lookout_memory_shed_events_total', { action: 'queues' })).toBe(4);
    expect(await counter(self, 'lookout_memory_shed_events_total', { action: 'logs' })).toBe(3);
    expect(await counter(self, 'lookout_memory_shed_events_total', { action: 'series' })).toBe(2);
    expect(await counter(self, 'lookout_memory_shed_level')).toBe(3);
  });

  it('goes straight to the last level over the budget itself, and never caps below the floor', () => {
    const rss = { v: 101 * MiB };
    const { budget } = setup(rss, [], 100);
    budget.check();
    expect(budget.shedding).toBe(3);
    expect(budget.seriesCap).toBe(MIN_SERIES_CAP);
  });

  it('keeps shedding between the resume and soft marks, undoes all under the resume mark', async () => {
    const rss = { v: 90 * MiB };
    const { self, budget } = setup(rss);
    budget.check();
    budget.check();
    budget.check();
    expect(budget.shedding).toBe(3);
    rss.v = 75 * MiB; // under soft (80), over resume (72)
    budget.check();
    expect(budget.shedding).toBe(3);
    rss.v = 70 * MiB;
    budget.check();
    expect(budget.shedding).toBe(0);
    expect(budget.logsPaused).toBe(false);
    expect(budget.seriesCap).toBe(Infinity);
    expect(await counter(self, 'lookout_memory_shed_level')).toBe(0);
  });

  it('holds log writes while paused and releases them when memory comes back', async () => {
    const rss = { v: 90 * MiB };
    const { budget } = setup(rss);
    const written: number[] = [];
    const sink: LogSink = { enabled: true, write: async (r) => void written.push(r.length) };
    const gated = budget.gate(sink);
    expect(gated.enabled).toBe(true);
    const rec = [{ time: '', stream: 'stdout', message: 'x', labels: Labels.EMPTY }] as LogRecord[];
    await gated.write(rec);
    expect(written).toEqual([1]);
    budget.check();
    budget.check();
    let done = false;
    const p = gated.write(rec).then(() => (done = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(done).toBe(false);
    expect(written).toEqual([1]);
    rss.v = 10 * MiB;
    budget.check();
    await p;
    expect(written).toEqual([1, 1]);
  });

  it('caps the series of one collection across collectors, counts the rest, and passes through without a cap', async () => {
    const rss = { v: 200 * MiB };
    const { self, budget } = setup(rss, [], 1000);
    const def = metric({ name: 'x_total', type: 'counter', unit: '', help: 'x', labels: [], source: 'test' });
    const adds = (n: number): Collector => ({
      start: async () => undefined,
      shutdown: async () => undefined,
      collect: async (acc) => {
        for (let i = 0; i < n; i++) acc.add(def, new Labels([['i', String(i)]]), i);
      },
    });
    // The pipeline reads the budget's cap at each collection; the cap spans its collectors.
    const pipeline = new Pipeline([{ type: 'a', collector: adds(1500) }, { type: 'b', collector: adds(1500) }], [def], self, pino({ level: 'silent' }), Date.now, 0, Infinity, () => budget.seriesCap);
    const collect = async (): Promise<number> => (await pipeline.snapshot()).seriesCount;
    expect(await collect()).toBe(3000);
    budget.check();
    expect(budget.seriesCap).toBe(MIN_SERIES_CAP);
    expect(await collect()).toBe(MIN_SERIES_CAP);
    expect(await collect()).toBe(MIN_SERIES_CAP);
    expect(await counter(self, 'lookout_series_dropped_total')).toBe(2000);
    rss.v = 0;
    budget.check();
    expect(await collect()).toBe(3000);
  });

  it('is off with a budget of 0: no checks, no shedding, budget served as 0', async () => {
    const self = new SelfMetrics('test');
    const budget = new MemoryBudget({ maxRssBytes: 0, softRatio: 0.8, intervalMs: 10, self, log: pino({ level: 'silent' }), rss: () => 10 ** 12 });
    budget.start();
    expect(budget.check()).toBe(0);
    expect(budget.shedding).toBe(0);
    expect(await counter(self, 'lookout_memory_budget_bytes')).toBe(0);
    budget.stop();
  });
});
