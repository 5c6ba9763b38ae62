/**
 * Per-container drill-down. Pick a node, then a container by `name`; on Kubernetes,
 * `namespace`, `pod` and `container` narrow the `name` list (their "All" also matches
 * series without those labels, so they are harmless on plain Docker).
 *
 * Its logs come from Loki (the `loki` variable): lookout's loki exporter labels streams
 * `name`, `namespace`, `pod`, `container`, `stream`, `level` and `host`, so the same
 * variables select them. `host` is the node's name, not the Prometheus `instance`, so the
 * Loki panels do not filter by node: container names are unique per node, rarely across.
 */
import { Board, STEPS, type BuiltDashboard, type VariableSpec } from './lib.js';
import { JOB, NODE, TARGET } from './variables.js';

const RI = '$__rate_interval';

const NAMESPACE: VariableSpec = {
  name: 'namespace',
  label: 'Namespace',
  description: 'Kubernetes namespace (empty and ignored on plain Docker).',
  selector: `container_last_seen{${TARGET}, namespace!=""}`,
  multi: true,
  allValue: '.*',
  requires: ['kubernetes'],
};
const POD: VariableSpec = {
  name: 'pod',
  label: 'Pod',
  description: 'Kubernetes pod (empty and ignored on plain Docker).',
  selector: `container_last_seen{${TARGET}, namespace=~"$namespace", pod!=""}`,
  multi: true,
  allValue: '.*',
  requires: ['kubernetes'],
};
const CONTAINER: VariableSpec = {
  name: 'container',
  label: 'Container',
  description: 'Kubernetes container name within the pod (empty and ignored on plain Docker).',
  selector: `container_last_seen{${TARGET}, namespace=~"$namespace", pod=~"$pod", container!=""}`,
  multi: true,
  allValue: '.*',
  requires: ['kubernetes'],
};
const NAME: VariableSpec = {
  name: 'name',
  label: 'Name',
  description: 'Container name as the runtime reports it (the Docker or Podman name; the container id on CRI runtimes).',
  selector: `container_last_seen{${TARGET}, namespace=~"$namespace", pod=~"$pod", container=~"$container", name!=""}`,
  // No "All": a drill-down opens on one container (the first); several can be picked.
  multi: true,
};

/** The selected containers. */
const S = `${TARGET}, namespace=~"$namespace", pod=~"$pod", container=~"$container", name=~"$name"`;
/** The selected containers' log streams in Loki (`name` matches no empty value, as Loki requires of one matcher). */
const LOGS = '{name=~"$name", namespace=~"$namespace", pod=~"$pod", container=~"$container"}';

export function containerDashboard(): BuiltDashboard {
  const b = new Board(
    'lookout-container.json',
    'lookout-container',
    'lookout / Container',
    'One container in detail: CPU and throttling, memory against its limit, OOM kills, network, disk I/O, processes, pressure and its last termination.',
  )
    .variable(JOB)
    .variable(NODE)
    .variable(NAMESPACE)
    .variable(POD)
    .variable(CONTAINER)
    .variable(NAME)
    .withLoki();

  b.row('Overview')
    .stat({
      title: 'Uptime',
      description: 'Time since the container (or its latest restart) started.',
      unit: 's',
      thresholds: [[null, 'orange'], [600, 'green']],
      queries: [{ expr: `time() - max by (name) (container_start_time_seconds{${S}})`, legend: '{{name}}' }],
    })
    .stat({
      title: 'Restarts',
      description: 'Times the runtime restarted the container (Docker RestartCount; Kubernetes restart count).',
      unit: 'short',
      thresholds: STEPS.restarts,
      noValue: '0',
      queries: [{ expr: `max by (name) (container_restarts_total{${S}})`, legend: '{{name}}' }],
    })
    .stat({
      title: 'Last termination',
      description: 'Why the container last terminated: OOMKilled, Error (non-zero exit) or Completed (exit 0).',
      unit: 'none',
      thresholds: STEPS.none,
      show: 'name',
      noValue: 'never terminated',
      requires: ['terminated'],
      queries: [{ expr: `max by (name, reason) (container_last_terminated_reason{${S}})`, legend: '{{reason}}' }],
    })
    .stat({
      title: 'CPU limit',
      description: 'CPU cores the container may use (quota / period); "unlimited" when it has no CPU quota.',
      unit: 'short',
      thresholds: STEPS.none,
      noValue: 'unlimited',
      requires: ['cpu-limit'],
      queries: [{ expr: `max by (name) (container_spec_cpu_quota{${S}} / container_spec_cpu_period{${S}})`, legend: '{{name}}' }],
    })
    .stat({
      title: 'Memory limit',
      description: 'Memory limit of the container; "unlimited" when it has none (the kernel reports 0).',
      unit: 'bytes',
      thresholds: STEPS.none,
      valueText: { '0': 'unlimited' },
      queries: [{ expr: `max by (name) (container_spec_memory_limit_bytes{${S}})`, legend: '{{name}}' }],
    })
    .stat({
      title: 'Image',
      description: 'Image the container runs (empty until the runtime metadata is known).',
      unit: 'none',
      thresholds: STEPS.none,
      show: 'name',
      queries: [{ expr: `max by (name, image) (container_last_seen{${S}})`, legend: '{{image}}' }],
    });

  b.row('Logs')
    .timeseries({
      title: 'Log lines',
      description:
        'Log lines per second lookout delivered from the container\'s log files, by stream and level (level is empty unless collectors.logs.detect_level is on). Error lines above 1/s for 15 minutes fire LookoutContainerLogErrorsHigh.',
      unit: 'cps',
      thresholds: STEPS.none,
      min: 0,
      w: 12,
      h: 6,
      requires: ['logs'],
      queries: [{ expr: `sum by (name, stream, level) (rate(lookout_log_lines_total{${S}}[${RI}]))`, legend: '{{name}} {{stream}} {{level}}' }],
    })
    .timeseries({
      title: 'Log lines by level (Loki)',
      description: 'Lines per interval in Loki for the selected containers, by level and stream (level "" when the agent detects none).',
      source: 'loki',
      unit: 'short',
      thresholds: STEPS.none,
      bars: true,
      stack: true,
      min: 0,
      w: 12,
      h: 6,
      queries: [{ expr: `sum by (level, stream) (count_over_time(${LOGS} [$__auto]))`, legend: '{{level}} {{stream}}' }],
    })
    .logs({
      title: 'Logs',
      description: 'The selected containers\' newest log lines from Loki; expand a line for its labels (stream, level, host, pod).',
      source: 'loki',
      query: LOGS,
      w: 24,
      h: 10,
    });

  b.row('CPU')
    .timeseries({
      title: 'CPU usage',
      description: 'CPU cores used (total, user and system), with the CPU limit (quota / period) dashed when there is one.',
      unit: 'short',
      thresholds: STEPS.none,
      min: 0,
      dashed: '.* limit$',
      queries: [
        { expr: `sum by (name) (rate(container_cpu_usage_seconds_total{${S}}[${RI}]))`, legend: '{{name}} total' },
        { expr: `sum by (name) (rate(container_cpu_user_seconds_total{${S}}[${RI}]))`, legend: '{{name}} user' },
        { expr: `sum by (name) (rate(container_cpu_system_seconds_total{${S}}[${RI}]))`, legend: '{{name}} system' },
        { expr: `max by (name) (container_spec_cpu_quota{${S}} / container_spec_cpu_period{${S}})`, legend: '{{name}} limit', requires: ['cpu-limit'] },
      ],
    })
    .timeseries({
      title: 'CPU usage against limit',
      description: 'CPU used as a share of the CPU quota. Near 100% the container is throttled.',
      unit: 'percentunit',
      thresholds: STEPS.nearLimit,
      thresholdLines: true,
      min: 0,
      requires: ['cpu-limit'],
      queries: [
        {
          expr: `sum by (name) (rate(container_cpu_usage_seconds_total{${S}}[${RI}])) / sum by (name) (container_spec_cpu_quota{${S}} / container_spec_cpu_period{${S}})`,
          legend: '{{name}}',
        },
      ],
    })
    .timeseries({
      title: 'CPU throttling',
      description: 'Share of CFS periods in which the container was throttled. Above 25% for 15 minutes, LookoutContainerCPUThrottlingHigh fires.',
      unit: 'percentunit',
      thresholds: STEPS.throttling,
      thresholdLines: true,
      min: 0,
      max: 1,
      requires: ['cpu-limit'],
      queries: [
        {
          expr: `sum by (name) (rate(container_cpu_cfs_throttled_periods_total{${S}}[${RI}])) / sum by (name) (rate(container_cpu_cfs_periods_total{${S}}[${RI}]) > 0)`,
          legend: '{{name}}',
        },
      ],
    })
    .timeseries({
      title: 'Throttled time',
      description: 'Seconds per second the container spent throttled by its CPU limit.',
      unit: 's',
      thresholds: STEPS.none,
      min: 0,
      requires: ['cpu-limit'],
      queries: [{ expr: `sum by (name) (rate(container_cpu_cfs_throttled_seconds_total{${S}}[${RI}]))`, legend: '{{name}}' }],
    });

  b.row('Memory')
    .timeseries({
      title: 'Memory',
      description:
        'Working set (what limits and evictions act on), RSS (anonymous), page cache, mapped files and swap, with the limit and reservation dashed when set.',
      unit: 'bytes',
      thresholds: STEPS.none,
      min: 0,
      dashed: '.* (limit|reservation)$',
      queries: [
        { expr: `sum by (name) (container_memory_working_set_bytes{${S}})`, legend: '{{name}} working set' },
        { expr: `sum by (name) (container_memory_rss{${S}})`, legend: '{{name}} rss' },
        { expr: `sum by (name) (container_memory_cache{${S}})`, legend: '{{name}} cache' },
        { expr: `sum by (name) (container_memory_mapped_file{${S}})`, legend: '{{name}} mapped file' },
        { expr: `sum by (name) (container_memory_swap{${S}})`, legend: '{{name}} swap' },
        { expr: `max by (name) (container_spec_memory_limit_bytes{${S}} > 0)`, legend: '{{name}} limit', requires: ['memory-limit'] },
        { expr: `max by (name) (container_spec_memory_reservation_limit_bytes{${S}} > 0)`, legend: '{{name}} reservation', requires: ['memory-reservation'] },
      ],
    })
    .timeseries({
      title: 'Memory working set against limit',
      description: 'Working set as a share of the memory limit. Above 90% for 15 minutes, LookoutContainerMemoryNearLimit fires.',
      unit: 'percentunit',
      thresholds: STEPS.nearLimit,
      thresholdLines: true,
      min: 0,
      requires: ['memory-limit'],
      queries: [
        {
          expr: `sum by (name) (container_memory_working_set_bytes{${S}}) / sum by (name) (container_spec_memory_limit_bytes{${S}} > 0)`,
          legend: '{{name}}',
        },
      ],
    })
    .timeseries({
      title: 'Limit hits and OOM kills',
      description:
        'Times memory usage hit the limit (failcnt; v2 memory.events max) and processes killed by the OOM killer, per interval. On cgroup v1, failcnt may stay 0 while OOM kills happen.',
      unit: 'short',
      thresholds: STEPS.anyIsBad,
      bars: true,
      min: 0,
      queries: [
        { expr: `sum by (name) (increase(container_memory_failcnt{${S}}[${RI}]))`, legend: '{{name}} limit hits' },
        { expr: `sum by (name) (increase(container_oom_events_total{${S}}[${RI}]))`, legend: '{{name}} OOM kills' },
      ],
    })
    .timeseries({
      title: 'Page faults',
      description: 'Page faults per second in the container: minor (pgfault) and major (pgmajfault, read from disk). Sustained major faults mean memory is too tight.',
      unit: 'cps',
      thresholds: STEPS.none,
      min: 0,
      queries: [
        {
          expr: `sum by (name, failure_type) (rate(container_memory_failures_total{${S}, scope="container"}[${RI}]))`,
          legend: '{{name}} {{failure_type}}',
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
      w: 8,
      requires: ['network'],
      queries: [
        { expr: `sum by (name, interface) (rate(container_network_receive_bytes_total{${S}}[${RI}]))`, legend: '{{name}} {{interface}} receive' },
        { expr: `sum by (name, interface) (rate(container_network_transmit_bytes_total{${S}}[${RI}]))`, legend: '{{name}} {{interface}} transmit' },
      ],
    })
    .timeseries({
      title: 'Network packets',
      description: 'Packets per second received and transmitted, per interface.',
      unit: 'pps',
      thresholds: STEPS.none,
      min: 0,
      w: 8,
      requires: ['network'],
      queries: [
        { expr: `sum by (name, interface) (rate(container_network_receive_packets_total{${S}}[${RI}]))`, legend: '{{name}} {{interface}} receive' },
        { expr: `sum by (name, interface) (rate(container_network_transmit_packets_total{${S}}[${RI}]))`, legend: '{{name}} {{interface}} transmit' },
      ],
    })
    .timeseries({
      title: 'Network errors and drops',
      description: 'Packets per second with errors or dropped, per interface. Any sustained value deserves a look.',
      unit: 'pps',
      thresholds: [[null, 'green'], [1, 'red']],
      min: 0,
      w: 8,
      requires: ['network'],
      queries: [
        { expr: `sum by (name, interface) (rate(container_network_receive_errors_total{${S}}[${RI}]))`, legend: '{{name}} {{interface}} receive errors' },
        { expr: `sum by (name, interface) (rate(container_network_transmit_errors_total{${S}}[${RI}]))`, legend: '{{name}} {{interface}} transmit errors' },
        { expr: `sum by (name, interface) (rate(container_network_receive_packets_dropped_total{${S}}[${RI}]))`, legend: '{{name}} {{interface}} receive drops' },
        { expr: `sum by (name, interface) (rate(container_network_transmit_packets_dropped_total{${S}}[${RI}]))`, legend: '{{name}} {{interface}} transmit drops' },
      ],
    });

  b.row('Disk I/O')
    .timeseries({
      title: 'Disk throughput',
      description: 'Bytes per second read and written, per block device.',
      unit: 'Bps',
      thresholds: STEPS.none,
      min: 0,
      requires: ['block-io'],
      queries: [
        { expr: `sum by (name, device) (rate(container_fs_reads_bytes_total{${S}}[${RI}]))`, legend: '{{name}} {{device}} read' },
        { expr: `sum by (name, device) (rate(container_fs_writes_bytes_total{${S}}[${RI}]))`, legend: '{{name}} {{device}} write' },
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
        { expr: `sum by (name, device) (rate(container_fs_reads_total{${S}}[${RI}]))`, legend: '{{name}} {{device}} reads' },
        { expr: `sum by (name, device) (rate(container_fs_writes_total{${S}}[${RI}]))`, legend: '{{name}} {{device}} writes' },
      ],
    });

  b.row('Processes')
    .timeseries({
      title: 'Processes and threads',
      description: 'Processes and threads (tasks) in the container, with the pids limit dashed when there is one.',
      unit: 'short',
      thresholds: STEPS.none,
      min: 0,
      dashed: '.* limit$',
      queries: [
        { expr: `sum by (name) (container_processes{${S}})`, legend: '{{name}} processes' },
        { expr: `sum by (name) (container_threads{${S}})`, legend: '{{name}} threads' },
        { expr: `max by (name) (container_threads_max{${S}} > 0)`, legend: '{{name}} limit', requires: ['pids-limit'] },
      ],
    })
    .timeseries({
      title: 'Threads against limit',
      description: 'Tasks as a share of the pids limit; at 100% fork() and thread creation fail.',
      unit: 'percentunit',
      thresholds: STEPS.nearLimit,
      thresholdLines: true,
      min: 0,
      requires: ['pids-limit'],
      queries: [
        { expr: `sum by (name) (container_threads{${S}}) / sum by (name) (container_threads_max{${S}} > 0)`, legend: '{{name}}' },
      ],
    });

  b.row('Pressure (PSI)')
    .timeseries({
      title: 'CPU pressure',
      description: 'Share of time some tasks waited for CPU (some) and all were stalled (full). Needs cgroup v2 or a hybrid host\'s unified tree with PSI.',
      unit: 'percentunit',
      thresholds: [[null, 'green'], [0.25, 'orange'], [0.5, 'red']],
      thresholdLines: true,
      min: 0,
      w: 8,
      requires: ['psi'],
      queries: [
        { expr: `sum by (name) (rate(container_pressure_cpu_waiting_seconds_total{${S}}[${RI}]))`, legend: '{{name}} some' },
        { expr: `sum by (name) (rate(container_pressure_cpu_stalled_seconds_total{${S}}[${RI}]))`, legend: '{{name}} full' },
      ],
    })
    .timeseries({
      title: 'Memory pressure',
      description: 'Share of time some tasks waited for memory (some) and all were stalled (full). Full above 10% for 15 minutes fires LookoutContainerPressureStalled.',
      unit: 'percentunit',
      thresholds: STEPS.pressure,
      thresholdLines: true,
      min: 0,
      w: 8,
      requires: ['psi'],
      queries: [
        { expr: `sum by (name) (rate(container_pressure_memory_waiting_seconds_total{${S}}[${RI}]))`, legend: '{{name}} some' },
        { expr: `sum by (name) (rate(container_pressure_memory_stalled_seconds_total{${S}}[${RI}]))`, legend: '{{name}} full' },
      ],
    })
    .timeseries({
      title: 'I/O pressure',
      description: 'Share of time some tasks waited for I/O (some) and all were stalled (full). Full above 10% for 15 minutes fires LookoutContainerPressureStalled.',
      unit: 'percentunit',
      thresholds: STEPS.pressure,
      thresholdLines: true,
      min: 0,
      w: 8,
      requires: ['psi'],
      queries: [
        { expr: `sum by (name) (rate(container_pressure_io_waiting_seconds_total{${S}}[${RI}]))`, legend: '{{name}} some' },
        { expr: `sum by (name) (rate(container_pressure_io_stalled_seconds_total{${S}}[${RI}]))`, legend: '{{name}} full' },
      ],
    });

  b.row('Lifecycle')
    .timeseries({
      title: 'Restarts',
      description: 'Restarts by the runtime per interval.',
      unit: 'short',
      thresholds: STEPS.restarts,
      bars: true,
      min: 0,
      noValue: 'no restarts',
      requires: ['restart'],
      queries: [{ expr: `sum by (name) (increase(container_restarts_total{${S}}[${RI}])) > 0`, legend: '{{name}}' }],
    })
    .table({
      title: 'Last termination',
      description: 'Why the container last terminated, its exit code and when.',
      unit: 'none',
      thresholds: STEPS.none,
      requires: ['terminated'],
      labels: [['name', 'Container'], ['reason', 'Reason']],
      queries: [
        { expr: `max by (name, reason) (container_last_terminated_reason{${S}})`, column: { title: 'Reason', unit: 'none', hidden: true } },
        {
          expr: `max by (name) (container_last_terminated_exit_code{${S}})`,
          column: { title: 'Exit code', unit: 'none', thresholds: [[null, 'green'], [1, 'red']], colored: true, decimals: 0 },
        },
        {
          expr: `max by (name) (container_last_terminated_timestamp_seconds{${S}}) * 1000`,
          column: { title: 'Terminated at', unit: 'dateTimeAsIso' },
        },
      ],
    });

  return b.build();
}
