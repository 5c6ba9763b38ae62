/**
 * The agent's own metrics, under the `lookout_` prefix, kept in a prom-client registry
 * (process CPU and memory come from its default metrics) and rendered by our writer.
 */
import { readdirSync, statSync } from 'node:fs';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { SampleFamily } from './exposition.js';
import { Labels } from './model.js';

/**
 * Linux 6.2 and later give the count of open descriptors as the size of /proc/self/fd (one
 * stat); earlier kernels say 0 there, and only they pay for listing the directory (less the
 * descriptor the listing itself holds open).
 */
function openFds(): number {
  const size = statSync('/proc/self/fd').size;
  return size > 0 ? size : readdirSync('/proc/self/fd').length - 1;
}

export class SelfMetrics {
  readonly registry = new Registry();
  readonly collectorDuration = new Gauge({
    name: 'lookout_collector_duration_seconds',
    help: 'Duration of the last collection of each collector, in seconds.',
    labelNames: ['collector'],
    registers: [this.registry],
  });
  readonly collectorErrors = new Counter({
    name: 'lookout_collector_errors_total',
    help: 'Partial failures of collectors (unreadable or malformed files, metadata), by collector and kind.',
    labelNames: ['collector', 'kind'],
    registers: [this.registry],
  });
  readonly collectionDuration = new Gauge({
    name: 'lookout_collection_duration_seconds',
    help: 'Duration of the last full collection (all collectors), in seconds.',
    registers: [this.registry],
  });
  readonly collections = new Counter({
    name: 'lookout_collections_total',
    help: 'Collections run since the agent started.',
    registers: [this.registry],
  });
  readonly series = new Gauge({
    name: 'lookout_series',
    help: 'Series in the last snapshot, before the agent\'s own metrics.',
    registers: [this.registry],
  });
  readonly seriesDropped = new Counter({
    name: 'lookout_series_dropped_total',
    help: 'Series left out of collections because a snapshot reached collect.max_series.',
    registers: [this.registry],
  });
  readonly lastCollection = new Gauge({
    name: 'lookout_last_collection_timestamp_seconds',
    help: 'When the last collection started, since the Unix epoch, in seconds.',
    registers: [this.registry],
  });
  readonly scrapes = new Counter({
    name: 'lookout_scrapes_total',
    help: 'Requests served on the metrics endpoint, by format.',
    labelNames: ['format'],
    registers: [this.registry],
  });
  readonly staleSnapshots = new Counter({
    name: 'lookout_stale_snapshots_total',
    help: 'Scrapes answered with an earlier collection: a new one would have outlasted 25% of the scraper\'s X-Prometheus-Scrape-Timeout-Seconds, its response was not rendered by 40% of it, or the server thread repeated the previous response at 60% of it.',
    registers: [this.registry],
  });
  readonly renderDuration = new Gauge({
    name: 'lookout_render_duration_seconds',
    help: 'Time spent rendering the last metrics response (exposition text and compression), in seconds.',
    registers: [this.registry],
  });

  readonly exporterSent = new Counter({
    name: 'lookout_exporter_sent_total',
    help: 'Samples or log records each push exporter delivered.',
    labelNames: ['exporter'],
    registers: [this.registry],
  });
  readonly exporterFailed = new Counter({
    name: 'lookout_exporter_failed_total',
    help: 'Samples or log records a destination rejected for good (4xx other than 408 and 429); not retried.',
    labelNames: ['exporter'],
    registers: [this.registry],
  });
  readonly exporterRetries = new Counter({
    name: 'lookout_exporter_retries_total',
    help: 'Send attempts that failed in a way worth retrying (network errors, 408, 429, 5xx).',
    labelNames: ['exporter'],
    registers: [this.registry],
  });
  readonly exporterDropped = new Counter({
    name: 'lookout_exporter_dropped_total',
    help: 'Samples or log records dropped before delivery, by reason (queue_full: the oldest batch made room; shutdown: not delivered before the stop deadline and not on disk; memory: shed by the memory budget, limits.max_rss_bytes).',
    labelNames: ['exporter', 'reason'],
    registers: [this.registry],
  });
  readonly exporterBufferErrors = new Counter({
    name: 'lookout_exporter_buffer_errors_total',
    help: 'Batches the on-disk buffer could not write (disk full, read-only); they were kept in memory instead.',
    labelNames: ['exporter'],
    registers: [this.registry],
  });
  readonly exporterQueueItems = new Gauge({
    name: 'lookout_exporter_queue_items',
    help: 'Samples or log records waiting in each exporter\'s queue.',
    labelNames: ['exporter'],
    registers: [this.registry],
  });
  readonly exporterQueueBytes = new Gauge({
    name: 'lookout_exporter_queue_bytes',
    help: 'Encoded bytes waiting in each exporter\'s queue.',
    labelNames: ['exporter'],
    registers: [this.registry],
  });
  readonly exporterLastSuccess = new Gauge({
    name: 'lookout_exporter_last_success_timestamp_seconds',
    help: 'When each exporter last delivered a batch, since the Unix epoch, in seconds.',
    labelNames: ['exporter'],
    registers: [this.registry],
  });
  readonly exporterSendDuration = new Gauge({
    name: 'lookout_exporter_send_duration_seconds',
    help: 'Duration of each exporter\'s last successful send, in seconds.',
    labelNames: ['exporter'],
    registers: [this.registry],
  });

  readonly memoryBudget = new Gauge({
    name: 'lookout_memory_budget_bytes',
    help: 'The resident memory budget (limits.max_rss_bytes), in bytes; 0 when off. Compare with lookout_process_resident_memory_bytes.',
    registers: [this.registry],
  });
  readonly memoryShedEvents = new Counter({
    name: 'lookout_memory_shed_events_total',
    help: 'Checks that found the resident memory over the soft mark of limits.max_rss_bytes, by action taken (queues: oldest push batches dropped; logs: log reading paused; series: collections capped).',
    labelNames: ['action'],
    registers: [this.registry],
  });
  readonly memoryShedLevel = new Gauge({
    name: 'lookout_memory_shed_level',
    help: 'How much the memory budget is shedding now: 0 nothing, 1 push queues, 2 and log reading paused, 3 and series capped.',
    registers: [this.registry],
  });

  constructor(version: string) {
    collectDefaultMetrics({ register: this.registry, prefix: 'lookout_' });
    if (process.platform === 'linux') {
      // prom-client lists /proc/self/fd at every render: with the cgroup files kept open that
      // is thousands of entries per scrape (7% of the agent's CPU in the 500-container soak).
      this.registry.removeSingleMetric('lookout_process_open_fds');
      new Gauge({
        name: 'lookout_process_open_fds',
        help: 'Number of open file descriptors.',
        registers: [this.registry],
        collect() {
          this.set(openFds());
        },
      });
    }
    new Gauge({
      name: 'lookout_build_info',
      help: 'Always 1; the version label says which lookout is running.',
      labelNames: ['version', 'nodejs'],
      registers: [this.registry],
    }).set({ version, nodejs: process.version }, 1);
  }

  async families(): Promise<SampleFamily[]> {
    const json = await this.registry.getMetricsAsJSON();
    const out: SampleFamily[] = [];
    for (const m of json) {
      const type = String(m.type) as SampleFamily['type'];
      // prom-client adds `nodejs_active_*_total` gauges (sums of the by-type gauges it also
      // serves); promtool rejects `_total` on a non-counter, so they are left out.
      if (type !== 'counter' && m.name.endsWith('_total')) continue;
      out.push({
        name: m.name,
        type,
        help: m.help,
        unit: m.name.includes('_seconds') ? 'seconds' : m.name.includes('_bytes') ? 'bytes' : '',
        samples: m.values.map((v) => ({
          name: (v as { metricName?: string }).metricName ?? m.name,
          labels: new Labels(Object.entries(v.labels).map(([k, val]) => [k, String(val)] as const)),
          value: v.value,
        })),
      });
    }
    return out;
  }
}
