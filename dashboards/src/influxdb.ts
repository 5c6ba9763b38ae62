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
 * The logs panels read the log layout of Telegraf's syslog input (measurement `syslog`, tags
 * `appname` = container name, `hostname`, `severity`, `facility`, `container_name`,
 * `container_image`, `stream`, `namespace`, `pod`, `container`; fields `message`,
 * `severity_code`, `facility_code`, `timestamp`, `procid`, `version`, `container_id`).
 *
 * Queries are raw InfluxQL with Grafana's macros: `$timeFilter`, `$__interval`, and the
 * variables written into regexes (`=~ /^$host$/`), as Grafana formats them.
 */
import { LIMITS } from './alerts.js';
import { Board, STEPS, type BuiltDashboard, type Steps, type VariableSpec } from './lib.js';

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
    .timeseries({
      title: 'CPU usage by container',
      description: 'CPU cores each container uses (usage_total, nanoseconds of CPU, per second).',
      unit: 'short',
      thresholds: STEPS.none,
      min: 0,
      queries: [{ expr: `SELECT ${cores('usage_total')} FROM "docker_container_cpu" WHERE "cpu" = 'cpu-total' AND ${H} ${BY_TIME}`, legend: '$tag_container_name' }],
    })
    .timeseries({
      title: 'CPU throttling by container',
      description: `Share of CFS periods in which each container was throttled by its CPU limit (containers with a CPU limit). Above ${Math.round(LIMITS.throttling * 100)}% for long, the limit slows it down.`,
      unit: 'percentunit',
      thresholds: STEPS.throttling,
      thresholdLines: true,
      min: 0,
      max: 1,
      requires: ['cpu-limit'],
      queries: [
        {
          expr: `SELECT ${perSecond('throttling_throttled_periods')} / ${perSecond('throttling_periods')} FROM "docker_container_cpu" WHERE "cpu" = 'cpu-total' AND "throttling_periods" > 0 AND ${H} ${BY_TIME}`,
          legend: '$tag_container_name',
        },
      ],
    });

  b.row('Memory')
    .timeseries({
      title: 'Memory working set by container',
      description: 'Working set of each container (Telegraf\'s usage: Docker\'s usage without the inactive file cache).',
      unit: 'bytes',
      thresholds: STEPS.none,
      min: 0,
      queries: [{ expr: `SELECT mean("usage") FROM "docker_container_mem" WHERE ${H} ${BY_TIME}`, legend: '$tag_container_name' }],
    })
    .timeseries({
      title: 'Memory against limit by container',
      description: `Working set as a percentage of each container's memory limit (usage_percent; of the node's memory when the container has no limit, as Docker reports it). Near ${Math.round(LIMITS.memory * 100)}% the kernel reclaims cache, then OOM-kills.`,
      unit: 'percent',
      thresholds: PERCENT_NEAR_LIMIT,
      thresholdLines: true,
      min: 0,
      queries: [{ expr: `SELECT mean("usage_percent") FROM "docker_container_mem" WHERE ${H} ${BY_TIME}`, legend: '$tag_container_name' }],
    });

  b.row('Lifecycle')
    .timeseries({
      title: 'Restarts by container',
      description: 'Restarts by the runtime per interval (increase of restart_count).',
      unit: 'short',
      thresholds: STEPS.restarts,
      bars: true,
      min: 0,
      queries: [{ expr: `SELECT non_negative_difference(max("restart_count")) FROM "docker_container_status" WHERE ${H} ${BY_TIME}`, legend: '$tag_container_name' }],
    })
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
    .timeseries({
      title: 'Network received by container',
      description: 'Bytes per second received, per container and interface (lo, veth*, docker* left out, as cAdvisor does).',
      unit: 'Bps',
      thresholds: STEPS.none,
      min: 0,
      requires: ['network'],
      queries: [{ expr: `SELECT ${perSecond('rx_bytes')} FROM "docker_container_net" WHERE ${H} GROUP BY time($__interval), "container_name", "network" fill(none)`, legend: '$tag_container_name $tag_network' }],
    })
    .timeseries({
      title: 'Network transmitted by container',
      description: 'Bytes per second transmitted, per container and interface.',
      unit: 'Bps',
      thresholds: STEPS.none,
      min: 0,
      requires: ['network'],
      queries: [{ expr: `SELECT ${perSecond('tx_bytes')} FROM "docker_container_net" WHERE ${H} GROUP BY time($__interval), "container_name", "network" fill(none)`, legend: '$tag_container_name $tag_network' }],
    });

  b.row('Disk I/O')
    .timeseries({
      title: 'Disk read by container',
      description: 'Bytes per second read from block devices, per container (io_service_bytes_recursive_read, all devices).',
      unit: 'Bps',
      thresholds: STEPS.none,
      min: 0,
      requires: ['block-io'],
      queries: [{ expr: `SELECT ${perSecond('io_service_bytes_recursive_read')} FROM "docker_container_blkio" WHERE ${H} GROUP BY time($__interval), "container_name", "device" fill(none)`, legend: '$tag_container_name $tag_device' }],
    })
    .timeseries({
      title: 'Disk written by container',
      description: 'Bytes per second written to block devices, per container and device (MAJ:MIN).',
      unit: 'Bps',
      thresholds: STEPS.none,
      min: 0,
      requires: ['block-io'],
      queries: [{ expr: `SELECT ${perSecond('io_service_bytes_recursive_write')} FROM "docker_container_blkio" WHERE ${H} GROUP BY time($__interval), "container_name", "device" fill(none)`, legend: '$tag_container_name $tag_device' }],
    });

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
    .timeseries({
      title: 'CPU usage',
      description: 'CPU cores used: total, user and kernel mode (cumulative nanoseconds, per second).',
      unit: 'short',
      thresholds: STEPS.none,
      min: 0,
      w: 8,
      queries: [
        {
          expr: `SELECT ${cores('usage_total')} AS "total", ${cores('usage_in_usermode')} AS "user", ${cores('usage_in_kernelmode')} AS "system" FROM "docker_container_cpu" WHERE "cpu" = 'cpu-total' AND ${HC} ${BY_TIME}`,
          legend: '$tag_container_name $col',
        },
      ],
    })
    .timeseries({
      title: 'CPU throttling',
      description: `Share of CFS periods in which the container was throttled. Above ${Math.round(LIMITS.throttling * 100)}% for 15 minutes, LookoutContainerCPUThrottlingHigh fires (Prometheus).`,
      unit: 'percentunit',
      thresholds: STEPS.throttling,
      thresholdLines: true,
      min: 0,
      max: 1,
      w: 8,
      requires: ['cpu-limit'],
      queries: [
        {
          expr: `SELECT ${perSecond('throttling_throttled_periods')} / ${perSecond('throttling_periods')} FROM "docker_container_cpu" WHERE "cpu" = 'cpu-total' AND "throttling_periods" > 0 AND ${HC} ${BY_TIME}`,
          legend: '$tag_container_name',
        },
      ],
    })
    .timeseries({
      title: 'Throttled time',
      description: 'Seconds per second the container spent throttled by its CPU limit (throttling_throttled_time).',
      unit: 's',
      thresholds: STEPS.none,
      min: 0,
      w: 8,
      requires: ['cpu-limit'],
      queries: [{ expr: `SELECT ${cores('throttling_throttled_time')} FROM "docker_container_cpu" WHERE "cpu" = 'cpu-total' AND ${HC} ${BY_TIME}`, legend: '$tag_container_name' }],
    });

  b.row('Memory')
    .timeseries({
      title: 'Memory',
      description: 'Working set (usage), RSS, page cache and mapped files, with the limit dashed (the node\'s memory when the container has none).',
      unit: 'bytes',
      thresholds: STEPS.none,
      min: 0,
      dashed: '.* limit$',
      queries: [
        {
          expr: `SELECT mean("usage") AS "working set", mean("rss") AS "rss", mean("cache") AS "cache", mean("mapped_file") AS "mapped file", mean("limit") AS "limit" FROM "docker_container_mem" WHERE ${HC} ${BY_TIME}`,
          legend: '$tag_container_name $col',
        },
      ],
    })
    .timeseries({
      title: 'Memory against limit',
      description: `Working set as a percentage of the memory limit (usage_percent). Above ${Math.round(LIMITS.memory * 100)}% for 15 minutes, LookoutContainerMemoryNearLimit fires (Prometheus).`,
      unit: 'percent',
      thresholds: PERCENT_NEAR_LIMIT,
      thresholdLines: true,
      min: 0,
      queries: [{ expr: `SELECT mean("usage_percent") FROM "docker_container_mem" WHERE ${HC} ${BY_TIME}`, legend: '$tag_container_name' }],
    })
    .timeseries({
      title: 'Limit hits and OOM kills',
      description: 'Times memory usage hit the limit (fail_count) and processes killed by the OOM killer (container_oom_events_total), per interval. On cgroup v1, fail_count may stay 0 while OOM kills happen.',
      unit: 'short',
      thresholds: STEPS.anyIsBad,
      bars: true,
      min: 0,
      queries: [
        { expr: `SELECT non_negative_difference(max("fail_count")) AS "limit hits" FROM "docker_container_mem" WHERE ${HC} ${BY_TIME}`, legend: '$tag_container_name $col' },
        { expr: `SELECT non_negative_difference(max("value")) AS "OOM kills" FROM "container_oom_events_total" WHERE ${HC} ${BY_TIME}`, legend: '$tag_container_name $col' },
      ],
    })
    .timeseries({
      title: 'Page faults',
      description: 'Page faults per second: minor (pgfault) and major (pgmajfault, read from disk). Sustained major faults mean memory is too tight.',
      unit: 'cps',
      thresholds: STEPS.none,
      min: 0,
      queries: [
        {
          expr: `SELECT ${perSecond('pgfault')} AS "pgfault", ${perSecond('pgmajfault')} AS "pgmajfault" FROM "docker_container_mem" WHERE ${HC} ${BY_TIME}`,
          legend: '$tag_container_name $col',
        },
      ],
    });

  b.row('Network')
    .timeseries({
      title: 'Network traffic',
      description: 'Bytes per second received and transmitted, per interface of the container\'s network namespace.',
      unit: 'Bps',
      thresholds: STEPS.none,
      min: 0,
      requires: ['network'],
      queries: [
        {
          expr: `SELECT ${perSecond('rx_bytes')} AS "receive", ${perSecond('tx_bytes')} AS "transmit" FROM "docker_container_net" WHERE ${HC} GROUP BY time($__interval), "container_name", "network" fill(none)`,
          legend: '$tag_container_name $tag_network $col',
        },
      ],
    })
    .timeseries({
      title: 'Network errors and drops',
      description: 'Packets per second with errors or dropped, per interface. Any sustained value deserves a look.',
      unit: 'pps',
      thresholds: [[null, 'green'], [1, 'red']],
      min: 0,
      requires: ['network'],
      queries: [
        {
          expr: `SELECT ${perSecond('rx_errors')} AS "receive errors", ${perSecond('tx_errors')} AS "transmit errors", ${perSecond('rx_dropped')} AS "receive drops", ${perSecond('tx_dropped')} AS "transmit drops" FROM "docker_container_net" WHERE ${HC} GROUP BY time($__interval), "container_name", "network" fill(none)`,
          legend: '$tag_container_name $tag_network $col',
        },
      ],
    });

  b.row('Disk I/O')
    .timeseries({
      title: 'Disk throughput',
      description: 'Bytes per second read and written, per block device (MAJ:MIN).',
      unit: 'Bps',
      thresholds: STEPS.none,
      min: 0,
      requires: ['block-io'],
      queries: [
        {
          expr: `SELECT ${perSecond('io_service_bytes_recursive_read')} AS "read", ${perSecond('io_service_bytes_recursive_write')} AS "write" FROM "docker_container_blkio" WHERE ${HC} GROUP BY time($__interval), "container_name", "device" fill(none)`,
          legend: '$tag_container_name $tag_device $col',
        },
      ],
    })
    .timeseries({
      title: 'Disk operations',
      description: 'Read and write operations per second, per block device.',
      unit: 'iops',
      thresholds: STEPS.none,
      min: 0,
      requires: ['block-io'],
      queries: [
        {
          expr: `SELECT ${perSecond('io_serviced_recursive_read')} AS "reads", ${perSecond('io_serviced_recursive_write')} AS "writes" FROM "docker_container_blkio" WHERE ${HC} GROUP BY time($__interval), "container_name", "device" fill(none)`,
          legend: '$tag_container_name $tag_device $col',
        },
      ],
    });

  b.row('Processes')
    .timeseries({
      title: 'Processes and threads',
      description: 'Processes and threads (tasks) in the container (container_processes, container_threads: no Telegraf field, written as measurements with a value field).',
      unit: 'short',
      thresholds: STEPS.none,
      min: 0,
      w: 24,
      queries: [
        { expr: `SELECT mean("value") AS "processes" FROM "container_processes" WHERE ${HC} ${BY_TIME}`, legend: '$tag_container_name $col' },
        { expr: `SELECT mean("value") AS "threads" FROM "container_threads" WHERE ${HC} ${BY_TIME}`, legend: '$tag_container_name $col' },
      ],
    });

  b.row('Logs')
    .timeseries({
      title: 'Log lines by severity',
      description: 'Log lines of the container per interval, by syslog severity (err and worse are errors) and stream.',
      unit: 'short',
      thresholds: STEPS.none,
      bars: true,
      stack: true,
      min: 0,
      w: 24,
      h: 6,
      requires: ['influxdb-logs'],
      queries: [
        {
          expr: `SELECT count("message") FROM "syslog" WHERE "hostname" =~ /^$host$/ AND "appname" =~ /^$container$/ AND $timeFilter GROUP BY time($__interval), "severity", "stream" fill(none)`,
          legend: '$tag_severity $tag_stream',
        },
      ],
    })
    .logs({
      title: 'Logs',
      description: 'The container\'s newest log lines (measurement syslog: appname is the container name, hostname the node), with severity and stream.',
      query: `SELECT "message", "severity", "stream", "container_id" FROM "syslog" WHERE "hostname" =~ /^$host$/ AND "appname" =~ /^$container$/ AND $timeFilter ORDER BY time DESC LIMIT 1000`,
      requires: ['influxdb-logs'],
      w: 24,
      h: 12,
    });

  return b.build();
}
