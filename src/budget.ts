/**
 * The memory budget: a watchdog that keeps the agent's resident memory under
 * `limits.max_rss_bytes` whatever the node does, by shedding work in a fixed order when the
 * RSS crosses the soft mark, and undoing it once the RSS is back under the resume mark.
 *
 * Every `limits.check_interval` the RSS is sampled. At or above the soft mark
 * (`soft_ratio` of the budget) the shedding level rises by one per check (straight to the
 * last level above the budget itself), and every level includes the ones before it:
 *
 *   1. `queues`: the push exporters' queues lose their oldest batches, down to half of what
 *      they hold, counted in `lookout_exporter_dropped_total{reason="memory"}`;
 *   2. `logs`: log reading pauses (the log sink holds `write` back: the same backpressure a
 *      slow destination exerts, so nothing is lost, only delayed; the files stay on disk);
 *   3. `series`: collections keep at most a share of the series of the last snapshot
 *      (three quarters, lowered by a quarter at each further check over the mark, never
 *      below `MIN_SERIES_CAP`); the series left out are counted in
 *      `lookout_series_dropped_total`.
 *
 * Under the resume mark (`RESUME_RATIO` of the soft mark) everything is undone at once.
 * Each action taken is counted in `lookout_memory_shed_events_total{action}` and logged
 * with rate limiting. The watchdog cannot make V8 give memory back: the agent's launcher
 * should also cap the V8 heap (`--max-old-space-size`, see docs/reliability.md).
 */
import { getHeapStatistics } from 'node:v8';
import type { Logger } from './log.js';
import { RateLimitedLog } from './log.js';
import type { LogRecord, LogSink } from './logs.js';
import type { Sheddable } from './delivery.js';
import type { SelfMetrics } from './selfmetrics.js';

export type ShedAction = 'queues' | 'logs' | 'series';
const ACTIONS: readonly ShedAction[] = ['queues', 'logs', 'series'];

/** The lowest series cap shedding sets: enough for the machine metrics and a few dozen containers. */
export const MIN_SERIES_CAP = 2000;
/** Shedding is undone under this share of the soft mark. */
export const RESUME_RATIO = 0.9;

export interface BudgetOptions {
  /** The budget in bytes; 0 turns the watchdog off (it still serves `lookout_memory_budget_bytes` 0). */
  readonly maxRssBytes: number;
  /** The share of the budget where shedding starts. */
  readonly softRatio: number;
  readonly intervalMs: number;
  readonly self: SelfMetrics;
  readonly log: Logger;
  readonly now?: () => number;
  /** Resident set size in bytes; injected by tests. */
  readonly rss?: () => number;
  /** The push exporters' queues, looked up at each check. */
  readonly queues?: () => readonly Sheddable[];
  /** Series in the last snapshot, from which a lowered cap is computed. */
  readonly series?: () => number;
}

export class MemoryBudget {
  private level = 0;
  private cap = Infinity;
  private timer: NodeJS.Timeout | undefined;
  private waiters: Array<() => void> = [];
  private readonly problems: RateLimitedLog;
  private readonly rss: () => number;
  readonly softBytes: number;
  readonly resumeBytes: number;

  constructor(private readonly opts: BudgetOptions) {
    this.rss = opts.rss ?? (() => process.memoryUsage.rss());
    this.problems = new RateLimitedLog(opts.log, opts.now ?? Date.now);
    this.softBytes = Math.floor(opts.maxRssBytes * opts.softRatio);
    this.resumeBytes = Math.floor(this.softBytes * RESUME_RATIO);
    opts.self.memoryBudget.set(opts.maxRssBytes);
    opts.self.memoryShedLevel.set(0);
  }

  get enabled(): boolean {
    return this.opts.maxRssBytes > 0;
  }

  /** The current shedding level: 0 (none) to 3 (queues, logs and series). */
  get shedding(): number {
    return this.level;
  }

  /** Whether log reading is paused. */
  get logsPaused(): boolean {
    return this.level >= 2;
  }

  /** The series cap shedding set, or Infinity. */
  get seriesCap(): number {
    return this.cap;
  }

  /** Starts the periodic check (no-op when off); says once when the V8 heap may outgrow the budget. */
  start(): void {
    if (!this.enabled || this.timer) return;
    const heapLimit = getHeapStatistics().heap_size_limit;
    if (heapLimit > this.opts.maxRssBytes) {
      this.opts.log.info(
        { max_rss_bytes: this.opts.maxRssBytes, v8_heap_limit_bytes: heapLimit, suggested_node_options: `--max-old-space-size=${Math.max(16, Math.floor((this.opts.maxRssBytes * 0.6) / 2 ** 20))}` },
        'the V8 heap limit is above limits.max_rss_bytes: start node with the suggested --max-old-space-size to cap the heap as well',
      );
    }
    this.timer = setInterval(() => this.check(), this.opts.intervalMs);
    this.timer.unref();
  }

  /** Stops checking and undoes any shedding (log writes held back are released). */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.restore();
  }

  /** One check: sample the RSS and shed or restore. Returns the RSS sampled. */
  check(): number {
    if (!this.enabled) return 0;
    const rss = this.rss();
    if (rss >= this.softBytes) {
      this.level = rss >= this.opts.maxRssBytes ? ACTIONS.length : Math.min(this.level + 1, ACTIONS.length);
      this.opts.self.memoryShedLevel.set(this.level);
      const actions = ACTIONS.slice(0, this.level);
      const done: Record<string, unknown> = {};
      for (const a of actions) {
        this.opts.self.memoryShedEvents.inc({ action: a });
        if (a === 'queues') done['queue_items_dropped'] = this.shedQueues();
        else if (a === 'series') done['series_cap'] = this.lowerCap();
        else done['logs_paused'] = true;
      }
      this.problems.warn(
        'shed',
        { rss_bytes: rss, max_rss_bytes: this.opts.maxRssBytes, soft_bytes: this.softBytes, level: this.level, actions, ...done },
        'memory over the soft mark of limits.max_rss_bytes: shedding (counted in lookout_memory_shed_events_total)',
      );
    } else if (rss < this.resumeBytes && this.level > 0) {
      this.opts.log.info({ rss_bytes: rss, resume_bytes: this.resumeBytes, level: this.level }, 'memory back under the resume mark: shedding undone');
      this.restore();
    }
    return rss;
  }

  private restore(): void {
    this.level = 0;
    this.cap = Infinity;
    this.opts.self.memoryShedLevel.set(0);
    const w = this.waiters;
    this.waiters = [];
    for (const resolve of w) resolve();
  }

  private shedQueues(): number {
    let dropped = 0;
    for (const q of this.opts.queues?.() ?? []) {
      const bytes = q.queuedBytes();
      if (bytes === 0) continue;
      const n = q.shed(Math.floor(bytes / 2));
      if (n > 0) this.opts.self.exporterDropped.inc({ exporter: q.name, reason: 'memory' }, n);
      dropped += n;
    }
    return dropped;
  }

  private lowerCap(): number {
    const base = Number.isFinite(this.cap) ? this.cap : (this.opts.series?.() ?? 0);
    this.cap = Math.max(MIN_SERIES_CAP, Math.floor(base * 0.75));
    return this.cap;
  }

  /** Resolves at once unless log reading is paused; then when shedding is undone. */
  private whenLogsAllowed(): Promise<void> {
    if (!this.logsPaused) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /**
   * The log sink the log sources see: `sink`, with `write` held back while log reading is
   * paused. A source waits for `write` before reading on, so holding it pauses reading.
   */
  gate(sink: LogSink): LogSink {
    return {
      get enabled(): boolean {
        return sink.enabled;
      },
      write: async (records: readonly LogRecord[]): Promise<void> => {
        await this.whenLogsAllowed();
        return sink.write(records);
      },
    };
  }
}
