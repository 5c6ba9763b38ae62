/**
 * The InfluxDB dashboards: a node overview and a per-container view over what lookout's
 * influxdb exporter writes in its default `telegraf` layout (see exporters/influxdb/README.md):
 * Telegraf docker input's measurements `docker_container_cpu` (tag `cpu=cpu-total`),
 * `docker_container_mem`, `docker_container_net` (tag `network`), `docker_container_blkio`
 * (tag `device`), `docker_container_status`, `docker`, and one measurement per metric without
 * a Telegraf field (field `value`), every container point tagged `host`, `container_name`,
 * `container_image`, `container_version`. Counters are cumulative, as Telegraf writes them: CPU
 * times in nanoseconds, so rates are `non_negative_derivative(max(x), 1s)`. Raw cgroups are not
 * written by default, so the node's totals are sums over its containers.
 *
 * The logs panels read what the exporter writes with `logs.enabled`, in the layout of Telegraf's
 * syslog input (measurement `syslog`, tags `appname` (the Kubernetes container name, else the
 * container's name), `hostname`, `severity`, `facility`, `container_name`, `container_image`,
 * `stream`, `namespace`, `pod`, `container`; fields `message`, `severity_code`,
 * `facility_code`, `timestamp`, `procid`, `version`, `container_id`). They select containers by
 * `container_name`, as the metrics panels do: on Kubernetes `appname` is the container's name
 * within its pod, not the `$container` value.
 *
 * Queries are raw InfluxQL with Grafana's macros: `$timeFilter`, `$__interval`, and the
 * variables written into regexes (`=~ /^$host$/`), as Grafana formats them.
 */
import { LIMITS } from './alerts.js';
import { Board, graph, STEPS, throttlingGraph, type BuiltDashboard, type Query, type Steps, type VariableSpec } from './lib.js';

const HOST: VariableSpec = {
  name: 'host',
  label: 'Host',
  description: 'The node: the `host` tag lookout\'s influxdb exporter puts on every point (exporters.influxdb.hostname, else the machine\'s host name).',
  selector: 'SHOW TAG VALUES FROM "docker_container_cpu" WITH KEY = "host"',
  multi: false,
};

const CONTAINER: VariableSpec = {
  name: 'container',
  label: 'Container',
  description: 'Container name (Telegraf\'s `container_name` tag: the Docker or Podman name; the container id on CRI runtimes).',
  selector: 'SHOW TAG VALUES FROM "docker_container_cpu" WITH KEY = "container_name" WHERE "host" =~ /^$host$/',
  // No "All": a drill-down opens on one container (the first); several can be picked.
  multi: true,
};

/** The node's points. */
const H = `"host" =~ /^$host$/ AND $timeFilter`;
/** The selected containers' points. */
const HC = `"host" =~ /^$host$/ AND "container_name" =~ /^$container$/ AND $timeFilter`;
const BY_TIME = 'GROUP BY time($__interval), "container_name" fill(none)';
const NS = 1_000_000_000;
/** Telegraf-style CPU rate: cores (seconds of CPU per second) from cumulative nanoseconds. */
const cores = (field: string): string => `non_negative_derivative(max("${field}"), 1s) / ${NS}`;
const perSecond = (field: string): string => `non_negative_derivative(max("${field}"), 1s)`;
/** A cumulative field per second on the node, per container and a tag of the measurement (`network`, `device`). */
const perContainerAnd = (measurement: string, field: string, tag: string): Query => ({
  expr: `SELECT ${perSecond(field)} FROM "${measurement}" WHERE ${H} GROUP BY time($__interval), "container_name", "${tag}" fill(none)`,
  legend: `$tag_container_name $tag_${tag}`,
});
/** usage_percent and the like are 0-100. */
const PERCENT_NEAR_LIMIT: Steps = [[null, 'green'], [80, 'orange'], [LIMITS.memory * 100, 'red']];

export function influxNodeDashboard(): BuiltDashboard {
  const b = new Board(
    'lookout-influxdb-node.json',
    'lookout-influxdb-node',
    'lookout / InfluxDB / Node overview',
    'All containers on one node, from the InfluxDB that lookout\'s influxdb exporter writes to (Telegraf docker layout, InfluxQL): CPU, memory, throttling, restarts, network and disk I/O.',
    'influxdb',
  ).variable(HOST);

  b.row('Node')
    .stat({
      title: 'CPU used by containers',
      description: 'CPU cores used by all containers of the node together (sum of their usage_total rates).',
      unit: 'short',
      thresholds: STEPS.none,
      min: 0,
      w: 4,
      sparkline: true,
      queries: [
        {
          expr: `SELECT sum("cores") FROM (SELECT ${cores('usage_total')} AS "cores" FROM "docker_container_cpu" WHERE "cpu" = 'cpu-total' AND ${H} ${BY_TIME}) WHERE $timeFilter GROUP BY time($__interval) fill(none)`,
        },
      ],
    })
    .stat({
      title: 'Memory used by containers',
      description: 'Working set (Telegraf\'s usage) of all containers of the node together.',
      unit: 'bytes',
      thresholds: STEPS.none,
      min: 0,
      w: 4,
      sparkline: true,
      queries: [
        {
          expr: `SELECT sum("usage") FROM (SELECT mean("usage") AS "usage" FROM "docker_container_mem" WHERE ${H} ${BY_TIME}) WHERE $timeFilter GROUP BY time($__interval) fill(none)`,
        },
      ],
    })
    .stat({
      title: 'CPU cores',
      description: 'Logical CPU cores of the node (n_cpus of the docker measurement).',
      unit: 'short',
      thresholds: STEPS.none,
      w: 4,
      queries: [{ expr: `SELECT last("n_cpus") FROM "docker" WHERE ${H}` }],
    })
    .stat({
      title: 'Memory installed',
      description: 'Memory of the node (memory_total of the docker measurement, MemTotal).',
      unit: 'bytes',
      thresholds: STEPS.none,
      w: 4,
      queries: [{ expr: `SELECT last("memory_total") FROM "docker" WHERE ${H}` }],
    })
    .stat({
      title: 'Containers running',
      description: 'Containers running now, over every runtime lookout sees (n_containers_running, by runtime, summed).',
      unit: 'short',
      thresholds: STEPS.none,
      w: 4,
      noValue: '0',
      queries: [{ expr: `SELECT sum("n") FROM (SELECT last("n_containers_running") AS "n" FROM "docker" WHERE ${H} GROUP BY "runtime")` }],
    })
    .stat({
      title: 'Restarts',
      description: 'Container restarts by their runtime within the time range (the increase of each container\'s restart_count, summed).',
      unit: 'short',
      thresholds: STEPS.restarts,
      w: 4,
      noValue: '0',
      queries: [{ expr: `SELECT sum("restarts") FROM (SELECT spread("restart_count") AS "restarts" FROM "docker_container_status" WHERE ${H} GROUP BY "container_name")` }],
    });

  b.row('CPU')
    .timeseries(
      graph(
        'CPU usage by container',
        'short',
        STEPS.none,
        'CPU cores each container uses (usage_total, nanoseconds of CPU, per second).',
        { expr: `SELECT ${cores('usage_total')} FROM "docker_container_cpu" WHERE "cpu" = 'cpu-total' AND ${H} ${BY_TIME}`, legend: '$tag_container_name' },
      ),
    )
    .timeseries(
      throttlingGraph(
        'CPU throttling by container',
        `Share of CFS periods in which each container was throttled by its CPU limit (containers with a CPU limit). Above ${Math.round(LIMITS.throttling * 100)}% for long, the limit slows it down.`,
        {
          expr: `SELECT ${perSecond('throttling_throttled_periods')} / ${perSecond('throttling_periods')} FROM "docker_container_cpu" WHERE "cpu" = 'cpu-total' AND "throttling_periods" > 0 AND ${H} ${BY_TIME}`,
          legend: '$tag_container_name',
        },
      ),
    );

  b.row('Memory')
    .timeseries(
      graph(
        'Memory working set by container',
        'bytes',
        STEPS.none,
        'Working set of each container (Telegraf\'s usage: Docker\'s usage without the inactive file cache).',
        { expr: `SELECT mean("usage") FROM "docker_container_mem" WHERE ${H} ${BY_TIME}`, legend: '$tag_container_name' },
      ),
    )
    .timeseries(
      graph(
        'Memory against limit by container',
        'percent',
        PERCENT_NEAR_LIMIT,
        `Working set as a percentage of each container's memory limit (usage_percent; of the node's memory when the container has no limit, as Docker reports it). Near ${Math.round(LIMITS.memory * 100)}% the kernel reclaims cache, then OOM-kills.`,
        { expr: `SELECT mean("usage_percent") FROM "docker_container_mem" WHERE ${H} ${BY_TIME}`, legend: '$tag_container_name' },
        { thresholdLines: true },
      ),
    );

  b.row('Lifecycle')
    .timeseries(
      graph(
        'Restarts by container',
        'short',
        STEPS.restarts,
        'Restarts by the runtime per interval (increase of restart_count).',
        { expr: `SELECT non_negative_difference(max("restart_count")) FROM "docker_container_status" WHERE ${H} ${BY_TIME}`, legend: '$tag_container_name' },
        { bars: true },
      ),
    )
    .influxTable({
      title: 'Containers',
      description: 'Each container seen in the time range: image, uptime, restarts, and its last exit code and OOM kill when it has terminated.',
      unit: 'none',
      thresholds: STEPS.none,
      query: `SELECT last("uptime_ns") / ${NS} AS "uptime", max("restart_count") AS "restarts", last("exitcode") AS "exitcode", last("oomkilled") AS "oomkilled" FROM "docker_container_status" WHERE ${H} GROUP BY "container_name", "container_image"`,
      labels: [['container_name', 'Container'], ['container_image', 'Image']],
      columns: [
        { field: 'uptime', title: 'Uptime', unit: 's' },
        { field: 'restarts', title: 'Restarts', unit: 'short', thresholds: STEPS.restarts, colored: true, decimals: 0 },
        { field: 'exitcode', title: 'Last exit code', unit: 'none', thresholds: [[null, 'green'], [1, 'red']], colored: true, decimals: 0 },
        { field: 'oomkilled', title: 'OOM killed', unit: 'none' },
      ],
      sortBy: 'Restarts',
    });

  b.row('Network')
    .timeseries(
      graph(
        'Network received by container',
        'Bps',
        STEPS.none,
        'Bytes per second received, per container and interface (lo, veth*, docker* left out, as cAdvisor does).',
        perContainerAnd('docker_container_net', 'rx_bytes', 'network'),
        { requires: ['network'] },
      ),
    )
    .timeseries(
      graph(
        'Network transmitted by container',
        'Bps',
        STEPS.none,
        'Bytes per second transmitted, per container and interface.',
        perContainerAnd('docker_container_net', 'tx_bytes', 'network'),
        { requires: ['network'] },
      ),
    );

  b.row('Disk I/O')
    .timeseries(
      graph(
        'Disk read by container',
        'Bps',
        STEPS.none,
        'Bytes per second read from block devices, per container (io_service_bytes_recursive_read, all devices).',
        perContainerAnd('docker_container_blkio', 'io_service_bytes_recursive_read', 'device'),
        { requires: ['block-io'] },
      ),
    )
    .timeseries(
      graph(
        'Disk written by container',
        'Bps',
        STEPS.none,
        'Bytes per second written to block devices, per container and device (MAJ:MIN).',
        perContainerAnd('docker_container_blkio', 'io_service_bytes_recursive_write', 'device'),
        { requires: ['block-io'] },
      ),
    );

  return b.build();
}

export function influxContainerDashboard(): BuiltDashboard {
  const b = new Board(
    'lookout-influxdb-container.json',
    'lookout-influxdb-container',
    'lookout / InfluxDB / Container',
    'One container in detail, from the InfluxDB that lookout\'s influxdb exporter writes to (Telegraf docker layout, InfluxQL): CPU and throttling, memory against its limit, network, disk I/O, processes, lifecycle and its logs.',
    'influxdb',
  )
    .variable(HOST)
    .variable(CONTAINER);

  b.row('Overview')
    .stat({
      title: 'Uptime',
      description: 'Time since the container (or its latest restart) started; until its termination when it has stopped (uptime_ns).',
      unit: 's',
      thresholds: [[null, 'orange'], [600, 'green']],
      queries: [{ expr: `SELECT last("uptime_ns") / ${NS} FROM "docker_container_status" WHERE ${HC} GROUP BY "container_name"`, legend: '$tag_container_name' }],
    })
    .stat({
      title: 'Restarts',
      description: 'Times the runtime restarted the container (restart_count: Docker RestartCount; Kubernetes restart count).',
      unit: 'short',
      thresholds: STEPS.restarts,
      noValue: '0',
      queries: [{ expr: `SELECT last("restart_count") FROM "docker_container_status" WHERE ${HC} GROUP BY "container_name"`, legend: '$tag_container_name' }],
    })
    .stat({
      title: 'Last exit code',
      description: 'Exit code of the container\'s last termination (137 is a SIGKILL, often the OOM killer).',
      unit: 'none',
      thresholds: [[null, 'green'], [1, 'red']],
      decimals: 0,
      noValue: 'never terminated',
      requires: ['terminated'],
      queries: [{ expr: `SELECT last("exitcode") FROM "docker_container_status" WHERE ${HC} GROUP BY "container_name"`, legend: '$tag_container_name' }],
    })
    .stat({
      title: 'Memory limit',
      description: 'Memory limit of the container (limit); without one, the node\'s memory, as Docker reports it.',
      unit: 'bytes',
      thresholds: STEPS.none,
      queries: [{ expr: `SELECT last("limit") FROM "docker_container_mem" WHERE ${HC} GROUP BY "container_name"`, legend: '$tag_container_name' }],
    })
    .stat({
      title: 'CPU quota',
      description: 'CPU quota per CFS period (container_spec_cpu_quota, microseconds; with the default 100 ms period, 100000 is one core). No value: no CPU limit.',
      unit: 'µs',
      thresholds: STEPS.none,
      noValue: 'unlimited',
      requires: ['cpu-limit'],
      queries: [{ expr: `SELECT last("value") FROM "container_spec_cpu_quota" WHERE "value" > 0 AND ${HC} GROUP BY "container_name"`, legend: '$tag_container_name' }],
    })
    .stat({
      title: 'Image',
      description: 'Image the container runs (container_image and container_version tags).',
      unit: 'none',
      thresholds: STEPS.none,
      show: 'name',
      queries: [{ expr: `SELECT last("usage_total") FROM "docker_container_cpu" WHERE "cpu" = 'cpu-total' AND ${HC} GROUP BY "container_image", "container_version"`, legend: '$tag_container_image:$tag_container_version' }],
    });

  b.row('CPU')
    .timeseries(
      graph(
        'CPU usage',
        'short',
        STEPS.none,
        'CPU cores used: total, user and kernel mode (cumulative nanoseconds, per second).',
        {
          expr: `SELECT ${cores('usage_total')} AS "total", ${cores('usage_in_usermode')} AS "user", ${cores('usage_in_kernelmode')} AS "system" FROM "docker_container_cpu" WHERE "cpu" = 'cpu-total' AND ${HC} ${BY_TIME}`,
          legend: '$tag_container_name $col',
        },
        { w: 8 },
      ),
    )
    .timeseries(
      throttlingGraph(
        'CPU throttling',
        `Share of CFS periods in which the container was throttled. Above ${Math.round(LIMITS.throttling * 100)}% for 15 minutes, LookoutContainerCPUThrottlingHigh fires (Prometheus).`,
        {
          expr: `SELECT ${perSecond('throttling_throttled_periods')} / ${perSecond('throttling_periods')} FROM "docker_container_cpu" WHERE "cpu" = 'cpu-total' AND "throttling_periods" > 0 AND ${HC} ${BY_TIME}`,
          legend: '$tag_container_name',
        },
        { w: 8 },
      ),
    )
    .timeseries(
      graph(
        'Throttled time',
        's',
        STEPS.none,
        'Seconds per second the container spent throttled by its CPU limit (throttling_throttled_time).',
        { expr: `SELECT ${cores('throttling_throttled_time')} FROM "docker_container_cpu" WHERE "cpu" = 'cpu-total' AND ${HC} ${BY_TIME}`, legend: '$tag_container_name' },
        { w: 8, requires: ['cpu-limit'] },
      ),
    );

  b.row('Memory')
    .timeseries(
      graph(
        'Memory',
        'bytes',
        STEPS.none,
        'Working set (usage), RSS, page cache and mapped files, with the limit dashed (the node\'s memory when the container has none).',
        {
          expr: `SELECT mean("usage") AS "working set", mean("rss") AS "rss", mean("cache") AS "cache", mean("mapped_file") AS "mapped file", mean("limit") AS "limit" FROM "docker_container_mem" WHERE ${HC} ${BY_TIME}`,
          legend: '$tag_container_name $col',
        },
        { dashed: '.* limit$' },
      ),
    )
    .timeseries(
      graph(
        'Memory against limit',
        'percent',
        PERCENT_NEAR_LIMIT,
        `Working set as a percentage of the memory limit (usage_percent). Above ${Math.round(LIMITS.memory * 100)}% for 15 minutes, LookoutContainerMemoryNearLimit fires (Prometheus).`,
        { expr: `SELECT mean("usage_percent") FROM "docker_container_mem" WHERE ${HC} ${BY_TIME}`, legend: '$tag_container_name' },
        { thresholdLines: true },
      ),
    )
    .timeseries(
      graph(
        'Limit hits and OOM kills',
        'short',
        STEPS.anyIsBad,
        'Times memory usage hit the limit (fail_count) and processes killed by the OOM killer (container_oom_events_total), per interval. On cgroup v1, fail_count may stay 0 while OOM kills happen.',
        [
          { expr: `SELECT non_negative_difference(max("fail_count")) AS "limit hits" FROM "docker_container_mem" WHERE ${HC} ${BY_TIME}`, legend: '$tag_container_name $col' },
          { expr: `SELECT non_negative_difference(max("value")) AS "OOM kills" FROM "container_oom_events_total" WHERE ${HC} ${BY_TIME}`, legend: '$tag_container_name $col' },
        ],
        { bars: true },
      ),
    )
    .timeseries(
      graph(
        'Page faults',
        'cps',
        STEPS.none,
        'Page faults per second: minor (pgfault) and major (pgmajfault, read from disk). Sustained major faults mean memory is too tight.',
        {
          expr: `SELECT ${perSecond('pgfault')} AS "pgfault", ${perSecond('pgmajfault')} AS "pgmajfault" FROM "docker_container_mem" WHERE ${HC} ${BY_TIME}`,
          legend: '$tag_container_name $col',
        },
      ),
    );

  b.row('Network')
    .timeseries(
      graph(
        'Network traffic',
        'Bps',
        STEPS.none,
        'Bytes per second received and transmitted, per interface of the container\'s network namespace.',
        {
          expr: `SELECT ${perSecond('rx_bytes')} AS "receive", ${perSecond('tx_bytes')} AS "transmit" FROM "docker_container_net" WHERE ${HC} GROUP BY time($__interval), "container_name", "network" fill(none)`,
          legend: '$tag_container_name $tag_network $col',
        },
        { requires: ['network'] },
      ),
    )
    .timeseries(
      graph(
        'Network errors and drops',
        'pps',
        [[null, 'green'], [1, 'red']],
        'Packets per second with errors or dropped, per interface. Any sustained value deserves a look.',
        {
          expr: `SELECT ${perSecond('rx_errors')} AS "receive errors", ${perSecond('tx_errors')} AS "transmit errors", ${perSecond('rx_dropped')} AS "receive drops", ${perSecond('tx_dropped')} AS "transmit drops" FROM "docker_container_net" WHERE ${HC} GROUP BY time($__interval), "container_name", "network" fill(none)`,
          legend: '$tag_container_name $tag_network $col',
        },
        { requires: ['network'] },
      ),
    );

  b.row('Disk I/O')
    .timeseries(
      graph(
        'Disk throughput',
        'Bps',
        STEPS.none,
        'Bytes per second read and written, per block device (MAJ:MIN).',
        {
          expr: `SELECT ${perSecond('io_service_bytes_recursive_read')} AS "read", ${perSecond('io_service_bytes_recursive_write')} AS "write" FROM "docker_container_blkio" WHERE ${HC} GROUP BY time($__interval), "container_name", "device" fill(none)`,
          legend: '$tag_container_name $tag_device $col',
        },
        { requires: ['block-io'] },
      ),
    )
    .timeseries(
      graph(
        'Disk operations',
        'iops',
        STEPS.none,
        'Read and write operations per second, per block device.',
        {
          expr: `SELECT ${perSecond('io_serviced_recursive_read')} AS "reads", ${perSecond('io_serviced_recursive_write')} AS "writes" FROM "docker_container_blkio" WHERE ${HC} GROUP BY time($__interval), "container_name", "device" fill(none)`,
          legend: '$tag_container_name $tag_device $col',
        },
        { requires: ['block-io'] },
      ),
    );

  b.row('Processes')
    .timeseries(
      graph(
        'Processes and threads',
        'short',
        STEPS.none,
        'Processes and threads (tasks) in the container (container_processes, container_threads: no Telegraf field, written as measurements with a value field).',
        [
          { expr: `SELECT mean("value") AS "processes" FROM "container_processes" WHERE ${HC} ${BY_TIME}`, legend: '$tag_container_name $col' },
          { expr: `SELECT mean("value") AS "threads" FROM "container_threads" WHERE ${HC} ${BY_TIME}`, legend: '$tag_container_name $col' },
        ],
        { w: 24 },
      ),
    );

  b.row('Logs')
    .timeseries(
      graph(
        'Log lines by severity',
        'short',
        STEPS.none,
        'Log lines of the container per interval, by syslog severity (err and worse are errors) and stream (exporters.influxdb.logs.enabled).',
        {
          expr: `SELECT count("message") FROM "syslog" WHERE ${HC} GROUP BY time($__interval), "severity", "stream" fill(none)`,
          legend: '$tag_severity $tag_stream',
        },
        { bars: true, stack: true, w: 24, h: 6, requires: ['influxdb-logs'] },
      ),
    )
    .logs({
      title: 'Logs',
      description: 'The selected containers\' newest log lines (measurement syslog, written with exporters.influxdb.logs.enabled), with severity, stream and container.',
      query: `SELECT "message", "severity", "stream", "container_name", "container_id" FROM "syslog" WHERE ${HC} ORDER BY time DESC LIMIT 1000`,
      requires: ['influxdb-logs'],
      w: 24,
      h: 12,
    });

  return b.build();
}
