/**
 * The agent's own health: is every lookout target up, how long collections take, whether
 * collectors fail, what scrapes cost, and the Node.js process.
 *
 * TODO(exporters, logs): when the exporter and log metrics land (the exporter ones are being
 * added to src/selfmetrics.ts as this is written), add a row "Exporters and logs":
 *   - queued per exporter: lookout_exporter_queue_items{exporter}, unit short, and
 *     lookout_exporter_queue_bytes{exporter}, unit bytes;
 *   - dropped per second: sum by (instance, exporter, reason) (rate(lookout_exporter_dropped_total[...])),
 *     unit cps, thresholds any > 0 red (matching a LookoutExporterDropping alert);
 *   - rejected and retried per second: lookout_exporter_failed_total, lookout_exporter_retries_total;
 *   - time since the last delivery: time() - lookout_exporter_last_success_timestamp_seconds, unit s;
 *   - log shipping lag (metric not designed yet, e.g. lookout_log_lag_seconds{source}), unit s,
 *     30 s orange, 300 s red.
 * No panel queries them before the agent exports them, so that every query can return data.
 */
import { LIMITS } from './alerts.js';
import { Board, STEPS, type BuiltDashboard } from './lib.js';
import { JOB, NODES, TARGET as A } from './variables.js';

const RI = '$__rate_interval';
/** The agent's CPU (cores) and memory (bytes) where a per-node agent starts to cost too much. */
const CPU_STEPS = [[null, 'green'], [0.25, 'orange'], [0.5, 'red']] as const;
const MEMORY_STEPS = [[null, 'green'], [256 * 1024 * 1024, 'orange'], [512 * 1024 * 1024, 'red']] as const;
/** Collection time; red where LookoutCollectionSlow fires (averaged over 10 minutes). */
const COLLECTION_STEPS = [[null, 'green'], [LIMITS.collectionSeconds / 2, 'orange'], [LIMITS.collectionSeconds, 'red']] as const;

export function agentDashboard(): BuiltDashboard {
  const b = new Board(
    'lookout-agent.json',
    'lookout-agent',
    'lookout / Agent health',
    'The lookout agents themselves: targets up, collection time and errors, scrapes, series, runtimes and the Node.js process.',
  )
    .variable(JOB)
    .variable(NODES);

  b.row('Targets')
    .stat({
      title: 'Agents up',
      description: 'lookout targets Prometheus scraped successfully at the last scrape.',
      unit: 'short',
      thresholds: STEPS.none,
      queries: [{ expr: `sum(up{${A}})` }],
    })
    .stat({
      title: 'Agents down',
      description: 'lookout targets whose last scrape failed (up == 0). LookoutAgentDown fires after 5 minutes.',
      unit: 'short',
      thresholds: STEPS.anyIsBad,
      queries: [{ expr: `count(up{${A}} == 0) or vector(0)` }],
    })
    .stat({
      title: 'Last collection',
      description: 'Age of each agent\'s last collection. Collections follow scrapes, so this stays near the scrape interval.',
      unit: 's',
      thresholds: [[null, 'green'], [120, 'orange'], [600, 'red']],
      w: 8,
      queries: [{ expr: `time() - lookout_last_collection_timestamp_seconds{${A}}`, legend: '{{instance}}' }],
    })
    .table({
      title: 'Agents',
      description: 'Each lookout target: up, version, Node.js version and uptime.',
      unit: 'none',
      thresholds: STEPS.none,
      w: 8,
      labels: [['instance', 'Node'], ['version', 'Version'], ['nodejs', 'Node.js']],
      queries: [
        { expr: `max by (instance) (up{${A}})`, column: { title: 'Up', unit: 'none', thresholds: [[null, 'red'], [1, 'green']], colored: true } },
        { expr: `max by (instance, version, nodejs) (lookout_build_info{${A}})`, column: { title: 'Build', unit: 'none', hidden: true } },
        { expr: `max by (instance) (time() - lookout_process_start_time_seconds{${A}})`, column: { title: 'Uptime', unit: 's' } },
      ],
    });

  b.row('Collection')
    .timeseries({
      title: 'Collection duration',
      description: 'Time the last full collection took (all collectors). It runs when scraped, so it must stay well under the scrape timeout.',
      unit: 's',
      thresholds: COLLECTION_STEPS,
      thresholdLines: true,
      min: 0,
      queries: [{ expr: `lookout_collection_duration_seconds{${A}}`, legend: '{{instance}}' }],
    })
    .timeseries({
      title: 'Collector duration',
      description: 'Time each collector took in the last collection.',
      unit: 's',
      thresholds: COLLECTION_STEPS,
      min: 0,
      queries: [{ expr: `lookout_collector_duration_seconds{${A}}`, legend: '{{instance}} {{collector}}' }],
    })
    .timeseries({
      title: 'Collector errors per collection',
      description:
        'Partial failures (unreadable or malformed files, runtime metadata) per collection, by collector and kind. A container vanishing mid-read gives an occasional one; above 0.5 for 15 minutes, LookoutCollectionFailing fires.',
      unit: 'short',
      thresholds: [[null, 'green'], [LIMITS.errorsPerCollection, 'red']],
      thresholdLines: true,
      min: 0,
      noValue: 'no errors',
      requires: ['collector-error'],
      queries: [
        {
          expr: `sum by (instance, collector, kind) (rate(lookout_collector_errors_total{${A}}[${RI}])) / on (instance) group_left () sum by (instance) (rate(lookout_collections_total{${A}}[${RI}]))`,
          legend: '{{instance}} {{collector}} {{kind}}',
        },
      ],
    })
    .timeseries({
      title: 'Series',
      description: 'Series in each agent\'s last snapshot (before its own metrics). Each container adds about a hundred.',
      unit: 'short',
      thresholds: [[null, 'green'], [100000, 'orange'], [500000, 'red']],
      min: 0,
      queries: [{ expr: `lookout_series{${A}}`, legend: '{{instance}}' }],
    });

  b.row('Scrapes')
    .timeseries({
      title: 'Scrapes',
      description: 'Requests served on the metrics endpoint per second, by format (text, OpenMetrics).',
      unit: 'reqps',
      thresholds: STEPS.none,
      min: 0,
      w: 6,
      queries: [{ expr: `sum by (instance, format) (rate(lookout_scrapes_total{${A}}[${RI}]))`, legend: '{{instance}} {{format}}' }],
    })
    .timeseries({
      title: 'Render duration',
      description: 'Time spent rendering the last metrics response (exposition text and compression).',
      unit: 's',
      thresholds: [[null, 'green'], [0.5, 'orange'], [1, 'red']],
      min: 0,
      w: 6,
      queries: [{ expr: `lookout_render_duration_seconds{${A}}`, legend: '{{instance}}' }],
    })
    .timeseries({
      title: 'Scrape duration',
      description: 'How long Prometheus took to scrape each agent (scrape_duration_seconds); the default scrape timeout is 10 s.',
      unit: 's',
      thresholds: [[null, 'green'], [5, 'orange'], [10, 'red']],
      min: 0,
      w: 6,
      queries: [{ expr: `scrape_duration_seconds{${A}}`, legend: '{{instance}}' }],
    })
    .stat({
      title: 'Runtimes connected',
      description: 'Whether each agent is connected to each container runtime (Docker, Podman): without it, names, images and lifecycle metrics are missing.',
      unit: 'none',
      thresholds: [[null, 'red'], [1, 'green']],
      w: 6,
      h: 8,
      valueText: { '0': 'disconnected', '1': 'connected' },
      queries: [{ expr: `lookout_runtime_connected{${A}}`, legend: '{{instance}} {{runtime}}' }],
    });

  b.row('Process')
    .timeseries({
      title: 'Agent CPU',
      description: 'CPU cores the agent process uses.',
      unit: 'short',
      thresholds: CPU_STEPS,
      thresholdLines: true,
      min: 0,
      w: 6,
      queries: [{ expr: `rate(lookout_process_cpu_seconds_total{${A}}[${RI}])`, legend: '{{instance}}' }],
    })
    .timeseries({
      title: 'Agent memory',
      description: 'Resident memory of the agent process, and the V8 heap in use.',
      unit: 'bytes',
      thresholds: MEMORY_STEPS,
      min: 0,
      w: 6,
      queries: [
        { expr: `lookout_process_resident_memory_bytes{${A}}`, legend: '{{instance}} resident' },
        { expr: `lookout_nodejs_heap_size_used_bytes{${A}}`, legend: '{{instance}} heap used' },
      ],
    })
    .timeseries({
      title: 'Event loop lag (p99)',
      description: '99th percentile of the Node.js event loop lag: time callbacks waited. High lag delays scrapes.',
      unit: 's',
      thresholds: [[null, 'green'], [0.1, 'orange'], [0.5, 'red']],
      thresholdLines: true,
      min: 0,
      w: 6,
      queries: [{ expr: `lookout_nodejs_eventloop_lag_p99_seconds{${A}}`, legend: '{{instance}}' }],
    })
    .timeseries({
      title: 'File descriptors',
      description: 'Open file descriptors as a share of the limit. The cgroup collector keeps cgroup files open between collections.',
      unit: 'percentunit',
      thresholds: STEPS.nearLimit,
      thresholdLines: true,
      min: 0,
      w: 6,
      queries: [{ expr: `lookout_process_open_fds{${A}} / lookout_process_max_fds{${A}}`, legend: '{{instance}}' }],
    });

  return b.build();
}
