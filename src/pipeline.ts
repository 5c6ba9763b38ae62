/**
 * Runs the collectors into one snapshot. Snapshots are taken on demand and coalesced: a
 * caller within `minIntervalMs` of the last collection gets that snapshot, and concurrent
 * callers share the collection in flight. A caller that cannot wait (a scraper with a
 * timeout) may name how long it waits: past that, it gets the previous snapshot while the
 * collection goes on for the next caller, as cAdvisor serves its cache, rather than a
 * scrape that fails and leaves a gap. A collector that fails, wholly or in part, never stops
 * the others; its errors are counted and logged with rate limiting.
 */
import type { Collector } from './component.js';
import { LookoutError } from './errors.js';
import type { Logger } from './log.js';
import { RateLimitedLog } from './log.js';
import { type MetricDef, type Snapshot, SnapshotBuilder } from './model.js';
import type { SelfMetrics } from './selfmetrics.js';

export interface RunningCollector {
  readonly type: string;
  readonly collector: Collector;
}

function describe(err: unknown): Record<string, unknown> {
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? err.cause.message : undefined;
    return { code: err instanceof LookoutError ? err.code : (err as { code?: unknown }).code, err: err.message, cause };
  }
  return { err: String(err) };
}

export class Pipeline {
  private last: Snapshot | undefined;
  private inflight: Promise<Snapshot> | undefined;
  /** How long the last collection took, wall clock, in milliseconds. */
  private lastCollectMs = 0;
  private readonly problems: RateLimitedLog;

  constructor(
    private readonly collectors: readonly RunningCollector[],
    private readonly catalogue: readonly MetricDef[],
    private readonly self: SelfMetrics,
    log: Logger,
    private readonly now: () => number,
    private readonly minIntervalMs: number,
    private readonly maxSeries = Infinity,
    /** A lower cap set meanwhile (the memory budget's, src/budget.ts), read at each collection. */
    private readonly shedCap: () => number = () => Infinity,
  ) {
    this.problems = new RateLimitedLog(log, now);
  }

  /** The collection in progress, if any. */
  get collecting(): Promise<Snapshot> | undefined {
    return this.inflight;
  }

  /** The last snapshot, if any collection has finished. */
  get latest(): Snapshot | undefined {
    return this.last;
  }

  /**
   * A snapshot no older than `minIntervalMs`, collecting anew if needed. With `maxWaitMs`, a
   * collection still running after that long gives way to the previous snapshot (counted in
   * `lookout_stale_snapshots_total`), when there is one; so does one that is not waited for at
   * all because the last collection took longer than `maxWaitMs`.
   */
  snapshot(maxWaitMs = Infinity): Promise<Snapshot> {
    const last = this.last;
    if (last && this.now() - last.time < this.minIntervalMs) return Promise.resolve(last);
    if (!this.inflight) {
      this.inflight = this.collect().finally(() => {
        this.inflight = undefined;
      });
    }
    const inflight = this.inflight;
    if (last === undefined || !Number.isFinite(maxWaitMs)) return inflight;
    // The last collection outlasted the wait: this one likely will too, so the caller gets the
    // previous snapshot now rather than at the end of the wait (on a node with no CPU to spare,
    // that wait is most of a scrape's timeout). The collection goes on for the next caller.
    if (this.lastCollectMs > maxWaitMs) {
      this.self.staleSnapshots.inc();
      return Promise.resolve(last);
    }
    return new Promise<Snapshot>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.self.staleSnapshots.inc();
        resolve(last);
      }, Math.max(0, maxWaitMs));
      inflight.then(
        (s) => {
          clearTimeout(timer);
          resolve(s);
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(err);
        },
      );
    });
  }

  private async collect(): Promise<Snapshot> {
    const time = this.now();
    const started = performance.now();
    let current = '';
    const cap = Math.min(this.maxSeries, this.shedCap());
    const builder = new SnapshotBuilder(time, (kind, err) => {
      this.self.collectorErrors.inc({ collector: current, kind });
      this.problems.warn(`${current}/${kind}`, { collector: current, kind, ...describe(err) }, 'collection problem (counted in lookout_collector_errors_total)');
    }, cap);
    for (const { type, collector } of this.collectors) {
      current = type;
      const t0 = performance.now();
      try {
        await collector.collect(builder);
      } catch (err) {
        builder.error('collect', err);
      }
      this.self.collectorDuration.set({ collector: type }, (performance.now() - t0) / 1000);
    }
    const snap = builder.build(this.catalogue);
    if (builder.dropped > 0) {
      this.self.seriesDropped.inc(builder.dropped);
      if (cap < this.maxSeries) this.problems.warn('shed_series', { series_cap: cap, dropped: builder.dropped }, 'collection reached the memory budget\'s series cap: series dropped (counted in lookout_series_dropped_total)');
      else this.problems.warn('max_series', { max_series: this.maxSeries, dropped: builder.dropped }, 'collection reached collect.max_series: series dropped (counted in lookout_series_dropped_total)');
    }
    this.lastCollectMs = performance.now() - started;
    this.self.collectionDuration.set(this.lastCollectMs / 1000);
    this.self.collections.inc();
    this.self.series.set(snap.seriesCount);
    this.self.lastCollection.set(time / 1000);
    this.last = snap;
    return snap;
  }
}
