/**
 * The agent's own health: is every lookout target up, how long collections take, whether
 * collectors fail, what scrapes cost, how its push exporters and log shipping keep up, and the
 * Node.js process.
 */
import { LIMITS } from './alerts.js';
import { Board, graph, legendOf, ofLimitGraph, RATE_INTERVAL, rates, STEPS, sumRate, type BuiltDashboard, type Query } from './lib.js';
import { JOB, NODES, TARGET as A } from './variables.js';

/** A gauge of every agent as it is, legend the instance and the `by` labels. */
const perAgent = (metric: string, by?: string): Query => ({ expr: `${metric}{${A}}`, legend: legendOf(by === undefined ? 'instance' : `instance, ${by}`) });
/** The rate of a counter of every agent, by instance and the `by` labels. */
const rateBy = (metric: string, by: string): Query => ({ expr: sumRate(`instance, ${by}`, metric, A), legend: legendOf(`instance, ${by}`) });
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
    .timeseries(
      graph(
        'Collection duration',
        's',
        COLLECTION_STEPS,
        'Time the last full collection took (all collectors). It runs when scraped, so it must stay well under the scrape timeout.',
        perAgent('lookout_collection_duration_seconds'),
        { thresholdLines: true },
      ),
    )
    .timeseries(graph('Collector duration', 's', COLLECTION_STEPS, 'Time each collector took in the last collection.', perAgent('lookout_collector_duration_seconds', 'collector')))
    .timeseries(
      graph(
        'Collector errors per collection',
        'short',
        [[null, 'green'], [LIMITS.errorsPerCollection, 'red']],
        'Partial failures (unreadable or malformed files, runtime metadata) per collection, by collector and kind. A container vanishing mid-read gives an occasional one; above 0.5 for 15 minutes, LookoutCollectionFailing fires.',
        {
          expr: `${sumRate('instance, collector, kind', 'lookout_collector_errors_total', A)} / on (instance) group_left () ${sumRate('instance', 'lookout_collections_total', A)}`,
          legend: '{{instance}} {{collector}} {{kind}}',
        },
        { thresholdLines: true, noValue: 'no errors', requires: ['collector-error'] },
      ),
    )
    .timeseries(
      graph(
        'Series',
        'short',
        [[null, 'green'], [100000, 'orange'], [500000, 'red']],
        'Series in each agent\'s last snapshot (before its own metrics). Each container adds about a hundred.',
        perAgent('lookout_series'),
      ),
    );

  b.row('Scrapes')
    .timeseries(
      graph(
        'Scrapes',
        'reqps',
        STEPS.none,
        'Requests served on the metrics endpoint per second, by format (text, OpenMetrics), and those answered with the previous collection because a new one (or its response) would not be ready within the scraper\'s timeout: on a busy node, data a collection or two old instead of a failed scrape.',
        [rateBy('lookout_scrapes_total', 'format'), { expr: sumRate('instance', 'lookout_stale_snapshots_total', A), legend: '{{instance}} answered with older data' }],
        { w: 6 },
      ),
    )
    .timeseries(
      graph(
        'Render duration',
        's',
        [[null, 'green'], [0.5, 'orange'], [1, 'red']],
        'Time spent rendering the last metrics response (exposition text and compression).',
        perAgent('lookout_render_duration_seconds'),
        { w: 6 },
      ),
    )
    .timeseries(
      graph(
        'Scrape duration',
        's',
        [[null, 'green'], [5, 'orange'], [10, 'red']],
        'How long Prometheus took to scrape each agent (scrape_duration_seconds); the default scrape timeout is 10 s.',
        perAgent('scrape_duration_seconds'),
        { w: 6 },
      ),
    )
    .stat({
      title: 'Runtimes connected',
      description: 'Whether each agent is connected to each container runtime (Docker, Podman): without it, names, images and lifecycle metrics are missing.',
      unit: 'none',
      thresholds: [[null, 'red'], [1, 'green']],
      w: 6,
      h: 8,
      valueText: { '0': 'disconnected', '1': 'connected' },
      queries: [perAgent('lookout_runtime_connected', 'runtime')],
    });

  const pushing = { w: 8, requires: ['push-exporter'] } as const;
  b.row('Push exporters')
    .timeseries(
      graph(
        'Delivered per second',
        'cps',
        STEPS.none,
        'Samples (metrics exporters) or log records (log destinations) each exporter delivered per second.',
        rateBy('lookout_exporter_sent_total', 'exporter'),
        pushing,
      ),
    )
    .timeseries(
      graph(
        'Queued',
        'short',
        STEPS.none,
        'Samples or log records waiting in each push exporter\'s queue (memory or disk buffer). A queue that only grows means the destination is slower than the agent, or down.',
        perAgent('lookout_exporter_queue_items', 'exporter'),
        pushing,
      ),
    )
    .timeseries(
      graph(
        'Queued bytes',
        'bytes',
        STEPS.none,
        'Encoded bytes waiting in each push exporter\'s queue; at max_buffer_bytes the oldest batches are dropped.',
        perAgent('lookout_exporter_queue_bytes', 'exporter'),
        pushing,
      ),
    )
    .timeseries(
      graph(
        'Retries per second',
        'reqps',
        [[null, 'green'], [0.1, 'orange']],
        'Send attempts that failed in a way worth retrying (network errors, 408, 429, 5xx), per second: the destination is down or overloaded.',
        rateBy('lookout_exporter_retries_total', 'exporter'),
        { w: 6, noValue: 'no retries', requires: ['exporter-retry'] },
      ),
    )
    .timeseries(
      graph(
        'Rejected per second',
        'cps',
        STEPS.anyIsBad,
        'Samples or log records a destination rejected for good (4xx other than 408 and 429: a bad password, a field type conflict), per second; not retried. The agent\'s log has the destination\'s message.',
        rateBy('lookout_exporter_failed_total', 'exporter'),
        { w: 6, noValue: 'none rejected', requires: ['exporter-reject'] },
      ),
    )
    .timeseries(
      graph(
        'Dropped per second',
        'cps',
        STEPS.anyIsBad,
        'Samples or log records dropped before delivery, by reason (queue_full: the queue reached max_buffer_bytes and the oldest batch made room; shutdown: not delivered before the stop deadline). Dropping for 10 minutes fires LookoutExporterDropping.',
        rateBy('lookout_exporter_dropped_total', 'exporter, reason'),
        { w: 6, noValue: 'none dropped', requires: ['exporter-drop'] },
      ),
    )
    .timeseries(
      graph(
        'Since last delivery',
        's',
        DELIVERY_AGE_STEPS,
        `Time since each push exporter last delivered a batch. With data queued for more than ${LIMITS.notDeliveringSeconds / 60} minutes, LookoutExporterNotDelivering fires.`,
        [
          { expr: `time() - lookout_exporter_last_success_timestamp_seconds{${A}}`, legend: '{{instance}} {{exporter}}' },
          { expr: `lookout_exporter_send_duration_seconds{${A}}`, legend: '{{instance}} {{exporter}} last send took' },
        ],
        { thresholdLines: true, w: 6, requires: ['push-exporter'] },
      ),
    );

  const shipping = { w: 8, requires: ['logs'] } as const;
  b.row('Log shipping')
    .timeseries(
      graph(
        'Log lines delivered',
        'cps',
        STEPS.none,
        'Log records delivered to the log destinations per second, by stream and level, over all containers of each node.',
        rateBy('lookout_log_lines_total', 'stream, level'),
        shipping,
      ),
    )
    .timeseries(
      graph(
        'Log records read and delivered',
        'cps',
        STEPS.none,
        'Records read from the log files and records acknowledged by every destination, per second: delivery below reading for long means the destinations fall behind.',
        rates('instance', A, [
          ['lookout_log_records_read_total', 'read'],
          ['lookout_log_records_delivered_total', 'delivered'],
        ]),
        shipping,
      ),
    )
    .timeseries(
      graph(
        'Log shipping lag',
        's',
        LOG_LAG_STEPS,
        `Per container, the age of the newest delivered record while more wait in its files (0 when caught up). Above ${LIMITS.logLagSeconds / 60} minutes for 15 minutes, LookoutLogShippingLagging fires.`,
        { expr: `max by (instance, name) (lookout_log_lag_seconds{${A}})`, legend: '{{instance}} {{name}}' },
        { ...shipping, thresholdLines: true },
      ),
    )
    .timeseries(
      graph(
        'Log bytes behind',
        'bytes',
        STEPS.none,
        'Bytes of the followed log files not yet acknowledged by the log destinations, per node.',
        { expr: `sum by (instance) (lookout_log_lag_bytes{${A}})`, legend: '{{instance}}' },
        shipping,
      ),
    )
    .timeseries(graph('Log files followed', 'short', STEPS.none, 'Container log files (current and rotated) each agent follows.', perAgent('lookout_log_files'), shipping))
    .timeseries(
      graph(
        'Log errors',
        'cps',
        STEPS.anyIsBad,
        'Problems while following logs per second, by kind (read, parse, scan, watch, checkpoint_read, checkpoint_write, deliver; every kind is reported from the start, at 0). The agent\'s log names the files.',
        rateBy('lookout_log_errors_total', 'kind'),
        { w: 8, noValue: 'no errors' },
      ),
    );

  b.row('Process')
    .timeseries(
      graph(
        'Agent CPU',
        'short',
        CPU_STEPS,
        'CPU cores the agent process uses.',
        { expr: `rate(lookout_process_cpu_seconds_total{${A}}[${RATE_INTERVAL}])`, legend: '{{instance}}' },
        { thresholdLines: true, w: 6 },
      ),
    )
    .timeseries(
      graph(
        'Agent memory',
        'bytes',
        MEMORY_STEPS,
        'Resident memory of the agent process, and the V8 heap in use.',
        [
          { expr: `lookout_process_resident_memory_bytes{${A}}`, legend: '{{instance}} resident' },
          { expr: `lookout_nodejs_heap_size_used_bytes{${A}}`, legend: '{{instance}} heap used' },
        ],
        { w: 6 },
      ),
    )
    .timeseries(
      graph(
        'Event loop lag (p99)',
        's',
        [[null, 'green'], [0.1, 'orange'], [0.5, 'red']],
        '99th percentile of the Node.js event loop lag: time callbacks waited. High lag delays scrapes.',
        perAgent('lookout_nodejs_eventloop_lag_p99_seconds'),
        { thresholdLines: true, w: 6 },
      ),
    )
    .timeseries(
      ofLimitGraph(
        'File descriptors',
        'Open file descriptors as a share of the limit. The cgroup collector keeps cgroup files open between collections.',
        { expr: `lookout_process_open_fds{${A}} / lookout_process_max_fds{${A}}`, legend: '{{instance}}' },
        { w: 6 },
      ),
    );

  return b.build();
}
