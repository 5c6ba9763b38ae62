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
import {
  Board,
  cpuOfLimitGraph,
  cpuThrottlingGraph,
  graph,
  lastTerminationTable,
  memoryOfLimitGraph,
  networkErrorsGraph,
  ofLimitGraph,
  pressureGraph,
  psiMetric,
  RATE_INTERVAL as RI,
  rates,
  restartsGraph,
  STEPS,
  sumRate,
  type BuiltDashboard,
  type PsiResource,
  type Query,
  type VariableSpec,
} from './lib.js';
import { JOB, NODE, TARGET } from './variables.js';


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
    .timeseries(
      graph(
        'Log lines',
        'cps',
        STEPS.none,
        'Log lines per second lookout delivered from the container\'s log files, by stream and level (level is empty unless collectors.logs.detect_level is on). Error lines above 1/s for 15 minutes fire LookoutContainerLogErrorsHigh.',
        { expr: sumRate('name, stream, level', 'lookout_log_lines_total', S), legend: '{{name}} {{stream}} {{level}}' },
        { w: 12, h: 6, requires: ['logs'] },
      ),
    )
    .timeseries(
      graph(
        'Log lines by level (Loki)',
        'short',
        STEPS.none,
        'Lines per interval in Loki for the selected containers, by level and stream (level "" when the agent detects none).',
        { expr: `sum by (level, stream) (count_over_time(${LOGS} [$__auto]))`, legend: '{{level}} {{stream}}' },
        { source: 'loki', bars: true, stack: true, w: 12, h: 6 },
      ),
    )
    .logs({
      title: 'Logs',
      description: 'The selected containers\' newest log lines from Loki; expand a line for its labels (stream, level, host, pod).',
      source: 'loki',
      query: LOGS,
      w: 24,
      h: 10,
    });

  b.row('CPU')
    .timeseries(
      graph(
        'CPU usage',
        'short',
        STEPS.none,
        'CPU cores used (total, user and system), with the CPU limit (quota / period) dashed when there is one.',
        [
          ...rates('name', S, [
            ['container_cpu_usage_seconds_total', 'total'],
            ['container_cpu_user_seconds_total', 'user'],
            ['container_cpu_system_seconds_total', 'system'],
          ]),
          { expr: `max by (name) (container_spec_cpu_quota{${S}} / container_spec_cpu_period{${S}})`, legend: '{{name}} limit', requires: ['cpu-limit'] },
        ],
        { dashed: '.* limit$' },
      ),
    )
    .timeseries(cpuOfLimitGraph(S, 'CPU used as a share of the CPU quota. Near 100% the container is throttled.'))
    .timeseries(
      cpuThrottlingGraph(S, 'Share of CFS periods in which the container was throttled. Above 25% for 15 minutes, LookoutContainerCPUThrottlingHigh fires.'),
    )
    .timeseries(
      graph(
        'Throttled time',
        's',
        STEPS.none,
        'Seconds per second the container spent throttled by its CPU limit.',
        { expr: sumRate('name', 'container_cpu_cfs_throttled_seconds_total', S), legend: '{{name}}' },
        { requires: ['cpu-limit'] },
      ),
    );

  b.row('Memory')
    .timeseries(
      graph(
        'Memory',
        'bytes',
        STEPS.none,
        'Working set (what limits and evictions act on), RSS (anonymous), page cache, mapped files and swap, with the limit and reservation dashed when set.',
        [
          { expr: `sum by (name) (container_memory_working_set_bytes{${S}})`, legend: '{{name}} working set' },
          { expr: `sum by (name) (container_memory_rss{${S}})`, legend: '{{name}} rss' },
          { expr: `sum by (name) (container_memory_cache{${S}})`, legend: '{{name}} cache' },
          { expr: `sum by (name) (container_memory_mapped_file{${S}})`, legend: '{{name}} mapped file' },
          { expr: `sum by (name) (container_memory_swap{${S}})`, legend: '{{name}} swap' },
          { expr: `max by (name) (container_spec_memory_limit_bytes{${S}} > 0)`, legend: '{{name}} limit', requires: ['memory-limit'] },
          { expr: `max by (name) (container_spec_memory_reservation_limit_bytes{${S}} > 0)`, legend: '{{name}} reservation', requires: ['memory-reservation'] },
        ],
        { dashed: '.* (limit|reservation)$' },
      ),
    )
    .timeseries(memoryOfLimitGraph(S, 'Working set as a share of the memory limit. Above 90% for 15 minutes, LookoutContainerMemoryNearLimit fires.'))
    .timeseries(
      graph(
        'Limit hits and OOM kills',
        'short',
        STEPS.anyIsBad,
        'Times memory usage hit the limit (failcnt; v2 memory.events max) and processes killed by the OOM killer, per interval. On cgroup v1, failcnt may stay 0 while OOM kills happen.',
        [
          { expr: `sum by (name) (increase(container_memory_failcnt{${S}}[${RI}]))`, legend: '{{name}} limit hits' },
          { expr: `sum by (name) (increase(container_oom_events_total{${S}}[${RI}]))`, legend: '{{name}} OOM kills' },
        ],
        { bars: true },
      ),
    )
    .timeseries(
      graph(
        'Page faults',
        'cps',
        STEPS.none,
        'Page faults per second in the container: minor (pgfault) and major (pgmajfault, read from disk). Sustained major faults mean memory is too tight.',
        { expr: sumRate('name, failure_type', 'container_memory_failures_total', `${S}, scope="container"`), legend: '{{name}} {{failure_type}}' },
      ),
    );

  b.row('Network')
    .timeseries(
      graph(
        'Network traffic',
        'Bps',
        STEPS.none,
        'Bytes per second received and transmitted, per interface of the container\'s network namespace.',
        rates('name, interface', S, [
          ['container_network_receive_bytes_total', 'receive'],
          ['container_network_transmit_bytes_total', 'transmit'],
        ]),
        { w: 8, requires: ['network'] },
      ),
    )
    .timeseries(
      graph(
        'Network packets',
        'pps',
        STEPS.none,
        'Packets per second received and transmitted, per interface.',
        rates('name, interface', S, [
          ['container_network_receive_packets_total', 'receive'],
          ['container_network_transmit_packets_total', 'transmit'],
        ]),
        { w: 8, requires: ['network'] },
      ),
    )
    .timeseries(networkErrorsGraph(S, 'name, interface', 'Packets per second with errors or dropped, per interface. Any sustained value deserves a look.'));

  b.row('Disk I/O')
    .timeseries(
      graph(
        'Disk throughput',
        'Bps',
        STEPS.none,
        'Bytes per second read and written, per block device.',
        rates('name, device', S, [
          ['container_fs_reads_bytes_total', 'read'],
          ['container_fs_writes_bytes_total', 'write'],
        ]),
        { requires: ['block-io'] },
      ),
    )
    .timeseries(
      graph(
        'Disk operations',
        'iops',
        STEPS.none,
        'Read and write operations per second, per block device.',
        rates('name, device', S, [
          ['container_fs_reads_total', 'reads'],
          ['container_fs_writes_total', 'writes'],
        ]),
        { requires: ['block-io'] },
      ),
    );

  b.row('Processes')
    .timeseries(
      graph(
        'Processes and threads',
        'short',
        STEPS.none,
        'Processes and threads (tasks) in the container, with the pids limit dashed when there is one.',
        [
          { expr: `sum by (name) (container_processes{${S}})`, legend: '{{name}} processes' },
          { expr: `sum by (name) (container_threads{${S}})`, legend: '{{name}} threads' },
          { expr: `max by (name) (container_threads_max{${S}} > 0)`, legend: '{{name}} limit', requires: ['pids-limit'] },
        ],
        { dashed: '.* limit$' },
      ),
    )
    .timeseries(
      ofLimitGraph(
        'Threads against limit',
        'Tasks as a share of the pids limit; at 100% fork() and thread creation fail.',
        { expr: `sum by (name) (container_threads{${S}}) / sum by (name) (container_threads_max{${S}} > 0)`, legend: '{{name}}' },
        { requires: ['pids-limit'] },
      ),
    );

  /** Some and full of a resource, per container. */
  const psi = (r: PsiResource): Query[] => rates('name', S, [[psiMetric(r, 'some'), 'some'], [psiMetric(r, 'full'), 'full']]);
  b.row('Pressure (PSI)')
    .timeseries(
      pressureGraph('cpu', 'CPU pressure', 'Share of time some tasks waited for CPU (some) and all were stalled (full). Needs cgroup v2 or a hybrid host\'s unified tree with PSI.', psi('cpu')),
    )
    .timeseries(
      pressureGraph(
        'memory',
        'Memory pressure',
        'Share of time some tasks waited for memory (some) and all were stalled (full). Full above 10% for 15 minutes fires LookoutContainerPressureStalled.',
        psi('memory'),
      ),
    )
    .timeseries(
      pressureGraph('io', 'I/O pressure', 'Share of time some tasks waited for I/O (some) and all were stalled (full). Full above 10% for 15 minutes fires LookoutContainerPressureStalled.', psi('io')),
    );

  b.row('Lifecycle')
    .timeseries(restartsGraph(S, 'Restarts by the runtime per interval.'))
    .table(lastTerminationTable(S, 'Last termination', 'Why the container last terminated, its exit code and when.'));

  return b.build();
}
