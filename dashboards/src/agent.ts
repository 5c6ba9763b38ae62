/**
 * The agent's own health: is every lookout target up, how long collections take, whether
 * collectors fail, what scrapes cost, how its push exporters and log shipping keep up, and the
 * Node.js process.
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
/** Time since an exporter's last delivery; red where LookoutExporterNotDelivering fires (with data queued). */
const DELIVERY_AGE_STEPS = [[null, 'green'], [120, 'orange'], [LIMITS.notDeliveringSeconds, 'red']] as const;
/** Age of the newest delivered log record while more wait; red where LookoutLogShippingLagging fires. */
const LOG_LAG_STEPS = [[null, 'green'], [30, 'orange'], [LIMITS.logLagSeconds, 'red']] as const;

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

  b.row('Push exporters')
    .timeseries({
      title: 'Delivered per second',
      description: 'Samples (metrics exporters) or log records (log destinations) each exporter delivered per second.',
      unit: 'cps',
      thresholds: STEPS.none,
      min: 0,
      w: 8,
      requires: ['push-exporter'],
      queries: [{ expr: `sum by (instance, exporter) (rate(lookout_exporter_sent_total{${A}}[${RI}]))`, legend: '{{instance}} {{exporter}}' }],
    })
    .timeseries({
      title: 'Queued',
      description: 'Samples or log records waiting in each push exporter\'s queue (memory or disk buffer). A queue that only grows means the destination is slower than the agent, or down.',
      unit: 'short',
      thresholds: STEPS.none,
      min: 0,
      w: 8,
      requires: ['push-exporter'],
      queries: [{ expr: `lookout_exporter_queue_items{${A}}`, legend: '{{instance}} {{exporter}}' }],
    })
    .timeseries({
      title: 'Queued bytes',
      description: 'Encoded bytes waiting in each push exporter\'s queue; at max_buffer_bytes the oldest batches are dropped.',
      unit: 'bytes',
      thresholds: STEPS.none,
      min: 0,
      w: 8,
      requires: ['push-exporter'],
      queries: [{ expr: `lookout_exporter_queue_bytes{${A}}`, legend: '{{instance}} {{exporter}}' }],
    })
    .timeseries({
      title: 'Retries per second',
      description: 'Send attempts that failed in a way worth retrying (network errors, 408, 429, 5xx), per second: the destination is down or overloaded.',
      unit: 'reqps',
      thresholds: [[null, 'green'], [0.1, 'orange']],
      min: 0,
      w: 6,
      noValue: 'no retries',
      requires: ['exporter-retry'],
      queries: [{ expr: `sum by (instance, exporter) (rate(lookout_exporter_retries_total{${A}}[${RI}]))`, legend: '{{instance}} {{exporter}}' }],
    })
    .timeseries({
      title: 'Rejected per second',
      description: 'Samples or log records a destination rejected for good (4xx other than 408 and 429: a bad password, a field type conflict), per second; not retried. The agent\'s log has the destination\'s message.',
      unit: 'cps',
      thresholds: STEPS.anyIsBad,
      min: 0,
      w: 6,
      noValue: 'none rejected',
      requires: ['exporter-reject'],
      queries: [{ expr: `sum by (instance, exporter) (rate(lookout_exporter_failed_total{${A}}[${RI}]))`, legend: '{{instance}} {{exporter}}' }],
    })
    .timeseries({
      title: 'Dropped per second',
      description:
        'Samples or log records dropped before delivery, by reason (queue_full: the queue reached max_buffer_bytes and the oldest batch made room; shutdown: not delivered before the stop deadline). Dropping for 10 minutes fires LookoutExporterDropping.',
      unit: 'cps',
      thresholds: STEPS.anyIsBad,
      min: 0,
      w: 6,
      noValue: 'none dropped',
      requires: ['exporter-drop'],
      queries: [{ expr: `sum by (instance, exporter, reason) (rate(lookout_exporter_dropped_total{${A}}[${RI}]))`, legend: '{{instance}} {{exporter}} {{reason}}' }],
    })
    .timeseries({
      title: 'Since last delivery',
      description: `Time since each push exporter last delivered a batch. With data queued for more than ${LIMITS.notDeliveringSeconds / 60} minutes, LookoutExporterNotDelivering fires.`,
      unit: 's',
      thresholds: DELIVERY_AGE_STEPS,
      thresholdLines: true,
      min: 0,
      w: 6,
      requires: ['push-exporter'],
      queries: [
        { expr: `time() - lookout_exporter_last_success_timestamp_seconds{${A}}`, legend: '{{instance}} {{exporter}}' },
        { expr: `lookout_exporter_send_duration_seconds{${A}}`, legend: '{{instance}} {{exporter}} last send took' },
      ],
    });

  b.row('Log shipping')
    .timeseries({
      title: 'Log lines delivered',
      description: 'Log records delivered to the log destinations per second, by stream and level, over all containers of each node.',
      unit: 'cps',
      thresholds: STEPS.none,
      min: 0,
      w: 8,
      requires: ['logs'],
      queries: [{ expr: `sum by (instance, stream, level) (rate(lookout_log_lines_total{${A}}[${RI}]))`, legend: '{{instance}} {{stream}} {{level}}' }],
    })
    .timeseries({
      title: 'Log records read and delivered',
      description: 'Records read from the log files and records acknowledged by every destination, per second: delivery below reading for long means the destinations fall behind.',
      unit: 'cps',
      thresholds: STEPS.none,
      min: 0,
      w: 8,
      requires: ['logs'],
      queries: [
        { expr: `sum by (instance) (rate(lookout_log_records_read_total{${A}}[${RI}]))`, legend: '{{instance}} read' },
        { expr: `sum by (instance) (rate(lookout_log_records_delivered_total{${A}}[${RI}]))`, legend: '{{instance}} delivered' },
      ],
    })
    .timeseries({
      title: 'Log shipping lag',
      description: `Per container, the age of the newest delivered record while more wait in its files (0 when caught up). Above ${LIMITS.logLagSeconds / 60} minutes for 15 minutes, LookoutLogShippingLagging fires.`,
      unit: 's',
      thresholds: LOG_LAG_STEPS,
      thresholdLines: true,
      min: 0,
      w: 8,
      requires: ['logs'],
      queries: [{ expr: `max by (instance, name) (lookout_log_lag_seconds{${A}})`, legend: '{{instance}} {{name}}' }],
    })
    .timeseries({
      title: 'Log bytes behind',
      description: 'Bytes of the followed log files not yet acknowledged by the log destinations, per node.',
      unit: 'bytes',
      thresholds: STEPS.none,
      min: 0,
      w: 8,
      requires: ['logs'],
      queries: [{ expr: `sum by (instance) (lookout_log_lag_bytes{${A}})`, legend: '{{instance}}' }],
    })
    .timeseries({
      title: 'Log files followed',
      description: 'Container log files (current and rotated) each agent follows.',
      unit: 'short',
      thresholds: STEPS.none,
      min: 0,
      w: 8,
      requires: ['logs'],
      queries: [{ expr: `lookout_log_files{${A}}`, legend: '{{instance}}' }],
    })
    .timeseries({
      title: 'Log errors',
      description: 'Problems while following logs per second, by kind (read, parse, scan, watch, checkpoint_read, checkpoint_write, deliver; every kind is reported from the start, at 0). The agent\'s log names the files.',
      unit: 'cps',
      thresholds: STEPS.anyIsBad,
      min: 0,
      w: 8,
      noValue: 'no errors',
      queries: [{ expr: `sum by (instance, kind) (rate(lookout_log_errors_total{${A}}[${RI}]))`, legend: '{{instance}} {{kind}}' }],
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
