/** Node overview: every container on one node, ranked by what it uses and what goes wrong. */
import { LIMITS } from './alerts.js';
import {
  Board,
  cpuOfLimitGraph,
  cpuThrottlingGraph,
  graph,
  lastTerminationTable,
  memoryOfLimitGraph,
  networkErrorsGraph,
  pressureGraph,
  psiMetric,
  RATE_INTERVAL as RI,
  restartsGraph,
  STEPS,
  sumRate,
  type BuiltDashboard,
  type Query,
} from './lib.js';
import { CONTAINERS as C, JOB, NODE, ROOT, TARGET } from './variables.js';

/** The ten containers with the highest rate of a counter, by name. */
const top10 = (metric: string): Query => ({ expr: `topk(10, ${sumRate('name', metric, C)})`, legend: '{{name}}' });

export function nodeDashboard(): BuiltDashboard {
  const b = new Board(
    'lookout-node.json',
    'lookout-node',
    'lookout / Node overview',
    'All containers on one node: CPU, memory against limits, throttling, restarts, OOM kills, network, disk I/O and pressure, from lookout (cAdvisor-compatible metrics).',
  )
    .variable(JOB)
    .variable(NODE);

  b.row('Node')
    .stat({
      title: 'CPU used',
      description: 'CPU time used by everything on the node (the root cgroup) as a share of its logical cores.',
      unit: 'percentunit',
      thresholds: [[null, 'green'], [0.7, 'orange'], [0.9, 'red']],
      min: 0,
      max: 1,
      w: 3,
      sparkline: true,
      queries: [{ expr: `sum(rate(container_cpu_usage_seconds_total{${ROOT}}[${RI}])) / sum(machine_cpu_cores{${TARGET}})` }],
    })
    .stat({
      title: 'Memory used',
      description:
        'Working set of everything on the node as a share of the memory installed: the root cgroup\'s, or on cgroup v2 (whose root has no memory usage file) the sum of the top-level cgroups\'.',
      unit: 'percentunit',
      thresholds: STEPS.nearLimit,
      min: 0,
      max: 1,
      w: 3,
      sparkline: true,
      queries: [
        {
          expr: `(sum(container_memory_working_set_bytes{${ROOT}}) or sum(container_memory_working_set_bytes{${TARGET}, id=~"/[^/]+"})) / sum(machine_memory_bytes{${TARGET}})`,
        },
      ],
    })
    .stat({
      title: 'CPU cores',
      description: 'Logical CPU cores of the node (machine_cpu_cores).',
      unit: 'short',
      thresholds: STEPS.none,
      w: 3,
      queries: [{ expr: `sum(machine_cpu_cores{${TARGET}})` }],
    })
    .stat({
      title: 'Memory installed',
      description: 'Memory of the node (MemTotal, machine_memory_bytes).',
      unit: 'bytes',
      thresholds: STEPS.none,
      w: 3,
      queries: [{ expr: `sum(machine_memory_bytes{${TARGET}})` }],
    })
    .stat({
      title: 'Containers',
      description: 'Containers lookout sees running on the node now (cgroups with a container name).',
      unit: 'short',
      thresholds: STEPS.none,
      w: 3,
      noValue: '0',
      queries: [{ expr: `count(container_last_seen{${C}})` }],
    })
    .stat({
      title: 'Restarts',
      description: 'Container restarts by their runtime within the time range (sum of container_restarts_total increases).',
      unit: 'short',
      thresholds: STEPS.restarts,
      w: 3,
      noValue: '0',
      queries: [{ expr: `sum(increase(container_restarts_total{${C}}[$__range]))` }],
    })
    .stat({
      title: 'OOM kills',
      description:
        'OOM kills within the time range (increase of container_oom_events_total). A container killed before lookout first saw it is not counted here; see "Last terminations".',
      unit: 'short',
      thresholds: STEPS.anyIsBad,
      w: 3,
      noValue: '0',
      queries: [{ expr: `sum(increase(container_oom_events_total{${C}}[$__range]))` }],
    })
    .stat({
      title: 'Throttled containers',
      description: 'Containers with more than 25% of their CFS periods throttled (LookoutContainerCPUThrottlingHigh threshold).',
      unit: 'short',
      thresholds: [[null, 'green'], [1, 'orange']],
      w: 3,
      noValue: '0',
      requires: ['throttled'],
      queries: [
        {
          expr: `count(rate(container_cpu_cfs_throttled_periods_total{${C}}[${RI}]) / rate(container_cpu_cfs_periods_total{${C}}[${RI}]) > ${LIMITS.throttling})`,
        },
      ],
    });

  b.row('CPU')
    .timeseries(
      graph(
        'CPU usage by container (top 10)',
        'short',
        STEPS.none,
        'CPU cores used by each container (rate of container_cpu_usage_seconds_total); the ten busiest at each step.',
        top10('container_cpu_usage_seconds_total'),
      ),
    )
    .timeseries(
      cpuOfLimitGraph(C, 'CPU used as a share of the container\'s CPU quota (quota / period). Only containers with a CPU limit (docker run --cpus) appear.'),
    )
    .timeseries(
      cpuThrottlingGraph(
        C,
        'Share of CFS enforcement periods in which the container was throttled (throttled periods / periods). Above 25% for 15 minutes, LookoutContainerCPUThrottlingHigh fires. Only containers with a CPU limit are throttled.',
      ),
    )
    .timeseries(
      graph(
        'Throttled time',
        's',
        STEPS.none,
        'Seconds per second each container spent throttled (rate of container_cpu_cfs_throttled_seconds_total): how much its CPU limit slowed it.',
        top10('container_cpu_cfs_throttled_seconds_total'),
        { requires: ['cpu-limit'] },
      ),
    );

  b.row('Memory')
    .timeseries(
      graph(
        'Memory working set by container (top 10)',
        'bytes',
        STEPS.none,
        'Working set (usage minus inactive file cache) of each container: what the kernel cannot reclaim and what limits and evictions act on.',
        { expr: `topk(10, sum by (name) (container_memory_working_set_bytes{${C}}))`, legend: '{{name}}' },
      ),
    )
    .timeseries(
      memoryOfLimitGraph(
        C,
        'Working set as a share of the container\'s memory limit. Above 90% for 15 minutes, LookoutContainerMemoryNearLimit fires; at 100% the kernel reclaims and then OOM-kills. Only containers with a memory limit appear.',
      ),
    );

  b.row('Lifecycle')
    .timeseries(restartsGraph(C, 'Restarts of each container by its runtime (increase of container_restarts_total per interval).'))
    .timeseries(
      graph(
        'OOM kills',
        'short',
        STEPS.anyIsBad,
        'Processes killed by the kernel\'s OOM killer in each container (increase of container_oom_events_total per interval).',
        { expr: `sum by (name) (increase(container_oom_events_total{${C}}[${RI}])) > 0`, legend: '{{name}}' },
        { bars: true, noValue: 'no OOM kills', requires: ['oom-kill'] },
      ),
    )
    .timeseries(
      graph(
        'Containers by runtime and state',
        'short',
        STEPS.none,
        'Containers each runtime knows, by state (running, exited, paused, restarting, created, dead).',
        { expr: `sum by (runtime, state) (container_runtime_containers{${TARGET}})`, legend: '{{runtime}} {{state}}' },
        { stack: true },
      ),
    )
    .table(
      lastTerminationTable(
        C,
        'Last terminations',
        'Why each container last terminated (OOMKilled, Error: non-zero exit, Completed: exit 0), its exit code and when, for containers the runtime still knows.',
        { sortBy: 'Terminated at' },
      ),
    );

  b.row('Network')
    .timeseries(
      graph(
        'Network received by container (top 10)',
        'Bps',
        STEPS.none,
        'Bytes per second received on the container\'s interfaces (lo, veth*, docker* excluded, as cAdvisor).',
        top10('container_network_receive_bytes_total'),
        { w: 8, requires: ['network'] },
      ),
    )
    .timeseries(
      graph(
        'Network transmitted by container (top 10)',
        'Bps',
        STEPS.none,
        'Bytes per second transmitted on the container\'s interfaces (lo, veth*, docker* excluded, as cAdvisor).',
        top10('container_network_transmit_bytes_total'),
        { w: 8, requires: ['network'] },
      ),
    )
    .timeseries(
      networkErrorsGraph(C, 'name', 'Packets per second with errors or dropped, received and transmitted, per container. Any sustained value deserves a look.'),
    );

  b.row('Disk I/O')
    .timeseries(
      graph(
        'Disk read by container (top 10)',
        'Bps',
        STEPS.none,
        'Bytes per second read from block devices (all devices), per container.',
        top10('container_fs_reads_bytes_total'),
        { w: 8, requires: ['block-io'] },
      ),
    )
    .timeseries(
      graph(
        'Disk written by container (top 10)',
        'Bps',
        STEPS.none,
        'Bytes per second written to block devices (all devices), per container. Buffered writes count when written back.',
        top10('container_fs_writes_bytes_total'),
        { w: 8, requires: ['block-io'] },
      ),
    )
    .timeseries(
      graph(
        'Disk operations by container (top 10)',
        'iops',
        STEPS.none,
        'Read and write operations per second completed on block devices, per container.',
        {
          expr: `topk(10, ${sumRate('name', 'container_fs_reads_total', C)} + ${sumRate('name', 'container_fs_writes_total', C)})`,
          legend: '{{name}}',
        },
        { w: 8, requires: ['block-io'] },
      ),
    );

  b.row('Pressure (PSI)')
    .timeseries(
      pressureGraph(
        'cpu',
        'CPU pressure (some)',
        'Share of time at least one task of the container waited for CPU (PSI some). Needs cgroup v2 or a hybrid host\'s unified tree with PSI.',
        top10(psiMetric('cpu', 'some')),
      ),
    )
    .timeseries(
      pressureGraph(
        'memory',
        'Memory pressure (full)',
        'Share of time all non-idle tasks of the container were stalled on memory (PSI full): reclaim and swap-in. Above 10% for 15 minutes, LookoutContainerPressureStalled fires.',
        top10(psiMetric('memory', 'full')),
      ),
    )
    .timeseries(
      pressureGraph(
        'io',
        'I/O pressure (full)',
        'Share of time all non-idle tasks of the container were stalled on I/O (PSI full). Above 10% for 15 minutes, LookoutContainerPressureStalled fires.',
        top10(psiMetric('io', 'full')),
      ),
    );

  b.row('Top containers')
    .table({
      title: 'Top 10 by CPU',
      description: 'The ten containers using the most CPU (cores, averaged over the rate interval ending now).',
      unit: 'short',
      thresholds: STEPS.none,
      w: 8,
      h: 10,
      labels: [['name', 'Container'], ['image', 'Image']],
      sortBy: 'CPU (cores)',
      queries: [
        {
          expr: `topk(10, sum by (name, image) (rate(container_cpu_usage_seconds_total{${C}}[${RI}])))`,
          column: { title: 'CPU (cores)', unit: 'short', decimals: 3 },
        },
      ],
    })
    .table({
      title: 'Top 10 by memory working set',
      description: 'The ten containers with the largest working set now.',
      unit: 'bytes',
      thresholds: STEPS.none,
      w: 8,
      h: 10,
      labels: [['name', 'Container'], ['image', 'Image']],
      sortBy: 'Working set',
      queries: [
        {
          expr: `topk(10, sum by (name, image) (container_memory_working_set_bytes{${C}}))`,
          column: { title: 'Working set', unit: 'bytes' },
        },
      ],
    })
    .table({
      title: 'Top 10 by memory against limit',
      description: 'The ten containers closest to their memory limit (working set / limit); containers without a limit are left out.',
      unit: 'percentunit',
      thresholds: STEPS.nearLimit,
      w: 8,
      h: 10,
      requires: ['memory-limit'],
      labels: [['name', 'Container'], ['image', 'Image']],
      sortBy: 'Of limit',
      queries: [
        {
          expr: `topk(10, sum by (name, image) (container_memory_working_set_bytes{${C}}) / sum by (name, image) (container_spec_memory_limit_bytes{${C}} > 0))`,
          column: { title: 'Of limit', unit: 'percentunit', thresholds: STEPS.nearLimit, colored: true },
        },
      ],
    });

  return b.build();
}
