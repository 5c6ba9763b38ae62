/**
 * The cgroup collector's part of the metric catalogue, named as cAdvisor names them so that
 * existing dashboards and alert rules work unchanged. Where cAdvisor's name breaks a
 * Prometheus convention that promtool enforces (`container_memory_failcnt` is a counter
 * without `_total`), the type is declared `untyped` rather than renaming the series.
 */
import { Labels, metric, type MetricDef } from '../../src/model.js';
import type { CgroupStats, Psi } from './stats.js';
import type { DeviceIo } from './parse.js';

const V12 = 'cgroup v1 and v2';

export const M = {
  cpuUsage: metric({ name: 'container_cpu_usage_seconds_total', type: 'counter', unit: 'seconds', help: 'Cumulative CPU time consumed, in seconds (v1 cpuacct.usage, v2 cpu.stat usage_usec).', labels: ['cpu'], source: V12 }),
  cpuUser: metric({ name: 'container_cpu_user_seconds_total', type: 'counter', unit: 'seconds', help: 'Cumulative user CPU time consumed, in seconds.', labels: [], source: V12 }),
  cpuSystem: metric({ name: 'container_cpu_system_seconds_total', type: 'counter', unit: 'seconds', help: 'Cumulative system CPU time consumed, in seconds.', labels: [], source: V12 }),
  cfsPeriods: metric({ name: 'container_cpu_cfs_periods_total', type: 'counter', unit: '', help: 'Number of elapsed enforcement period intervals.', labels: [], source: V12 }),
  cfsThrottledPeriods: metric({ name: 'container_cpu_cfs_throttled_periods_total', type: 'counter', unit: '', help: 'Number of throttled period intervals.', labels: [], source: V12 }),
  cfsThrottledSeconds: metric({ name: 'container_cpu_cfs_throttled_seconds_total', type: 'counter', unit: 'seconds', help: 'Total time duration the container has been throttled, in seconds.', labels: [], source: V12 }),
  specCpuQuota: metric({ name: 'container_spec_cpu_quota', type: 'gauge', unit: '', help: 'CPU quota of the container, in microseconds per period (absent when unlimited).', labels: [], source: V12 }),
  specCpuPeriod: metric({ name: 'container_spec_cpu_period', type: 'gauge', unit: '', help: 'CPU CFS period of the container, in microseconds.', labels: [], source: V12 }),
  specCpuShares: metric({ name: 'container_spec_cpu_shares', type: 'gauge', unit: '', help: 'CPU share of the container (v2 cpu.weight converted to shares as runc does).', labels: [], source: V12 }),

  memUsage: metric({ name: 'container_memory_usage_bytes', type: 'gauge', unit: 'bytes', help: 'Current memory usage, including all memory regardless of when it was accessed, in bytes.', labels: [], source: V12 }),
  memMaxUsage: metric({ name: 'container_memory_max_usage_bytes', type: 'gauge', unit: 'bytes', help: 'Maximum memory usage recorded, in bytes (v1 max_usage_in_bytes, v2 memory.peak where the kernel has it).', labels: [], source: V12 }),
  memWorkingSet: metric({ name: 'container_memory_working_set_bytes', type: 'gauge', unit: 'bytes', help: 'Current working set: usage minus inactive file cache, in bytes (what the kubelet evicts on).', labels: [], source: V12 }),
  memRss: metric({ name: 'container_memory_rss', type: 'gauge', unit: 'bytes', help: 'Size of RSS (anonymous memory), in bytes.', labels: [], source: V12 }),
  memCache: metric({ name: 'container_memory_cache', type: 'gauge', unit: 'bytes', help: 'Number of bytes of page cache memory.', labels: [], source: V12 }),
  memMappedFile: metric({ name: 'container_memory_mapped_file', type: 'gauge', unit: 'bytes', help: 'Size of memory mapped files, in bytes.', labels: [], source: V12 }),
  memSwap: metric({ name: 'container_memory_swap', type: 'gauge', unit: 'bytes', help: 'Container swap usage, in bytes.', labels: [], source: V12 }),
  memKernel: metric({ name: 'container_memory_kernel_usage', type: 'gauge', unit: 'bytes', help: 'Kernel memory charged to the container, in bytes (v2 memory.stat kernel).', labels: [], source: 'cgroup v2' }),
  memActiveFile: metric({ name: 'container_memory_total_active_file_bytes', type: 'gauge', unit: 'bytes', help: 'Active file cache, in bytes.', labels: [], source: V12 }),
  memInactiveFile: metric({ name: 'container_memory_total_inactive_file_bytes', type: 'gauge', unit: 'bytes', help: 'Inactive file cache, in bytes.', labels: [], source: V12 }),
  memFailcnt: metric({ name: 'container_memory_failcnt', type: 'untyped', unit: '', help: 'Number of times memory usage hit the limit (a counter; v2: memory.events max).', labels: [], source: V12 }),
  memFailures: metric({ name: 'container_memory_failures_total', type: 'counter', unit: '', help: 'Cumulative count of page faults, by type (pgfault, pgmajfault) and scope (container, hierarchy).', labels: ['failure_type', 'scope'], source: V12 }),
  oomEvents: metric({ name: 'container_oom_events_total', type: 'counter', unit: '', help: 'Count of OOM kills in the container (v1 memory.oom_control oom_kill, v2 memory.events oom_kill).', labels: [], source: V12 }),
  memEvents: metric({ name: 'container_memory_events_total', type: 'counter', unit: '', help: 'Memory events of cgroup v2 memory.events, by event (low, high, max, oom, oom_kill, oom_group_kill).', labels: ['event'], source: 'cgroup v2' }),
  specMemLimit: metric({ name: 'container_spec_memory_limit_bytes', type: 'gauge', unit: 'bytes', help: 'Memory limit of the container, in bytes (0 when unlimited, as cAdvisor).', labels: [], source: V12 }),
  specMemReservation: metric({ name: 'container_spec_memory_reservation_limit_bytes', type: 'gauge', unit: 'bytes', help: 'Memory reservation (v1 soft limit, v2 memory.low), in bytes (0 when unset).', labels: [], source: V12 }),
  specMemSwapLimit: metric({ name: 'container_spec_memory_swap_limit_bytes', type: 'gauge', unit: 'bytes', help: 'Memory plus swap limit (v1 memsw.limit_in_bytes) or swap limit (v2 memory.swap.max), in bytes (0 when unlimited).', labels: [], source: V12 }),

  fsReadsBytes: metric({ name: 'container_fs_reads_bytes_total', type: 'counter', unit: 'bytes', help: 'Cumulative count of bytes read, per block device.', labels: ['device'], source: V12 }),
  fsWritesBytes: metric({ name: 'container_fs_writes_bytes_total', type: 'counter', unit: 'bytes', help: 'Cumulative count of bytes written, per block device.', labels: ['device'], source: V12 }),
  fsReads: metric({ name: 'container_fs_reads_total', type: 'counter', unit: '', help: 'Cumulative count of reads completed, per block device.', labels: ['device'], source: V12 }),
  fsWrites: metric({ name: 'container_fs_writes_total', type: 'counter', unit: '', help: 'Cumulative count of writes completed, per block device.', labels: ['device'], source: V12 }),
  blkioUsage: metric({ name: 'container_blkio_device_usage_total', type: 'counter', unit: 'bytes', help: 'Block I/O bytes per device and operation (Read, Write).', labels: ['device', 'major', 'minor', 'operation'], source: V12 }),

  processes: metric({ name: 'container_processes', type: 'gauge', unit: '', help: 'Number of processes in the container (cgroup.procs).', labels: [], source: V12 }),
  threads: metric({ name: 'container_threads', type: 'gauge', unit: '', help: 'Number of tasks (threads) in the container (pids.current).', labels: [], source: V12 }),
  threadsMax: metric({ name: 'container_threads_max', type: 'gauge', unit: '', help: 'Maximum number of tasks allowed (pids.max; 0 when unlimited, as cAdvisor).', labels: [], source: V12 }),

  psiCpuWaiting: metric({ name: 'container_pressure_cpu_waiting_seconds_total', type: 'counter', unit: 'seconds', help: 'Total time some tasks were delayed waiting for CPU (PSI some), in seconds.', labels: [], source: 'PSI: cgroup v2, hybrid unified tree' }),
  psiCpuStalled: metric({ name: 'container_pressure_cpu_stalled_seconds_total', type: 'counter', unit: 'seconds', help: 'Total time all non-idle tasks were stalled on CPU (PSI full), in seconds.', labels: [], source: 'PSI: cgroup v2, hybrid unified tree' }),
  psiMemWaiting: metric({ name: 'container_pressure_memory_waiting_seconds_total', type: 'counter', unit: 'seconds', help: 'Total time some tasks were delayed waiting for memory (PSI some), in seconds.', labels: [], source: 'PSI: cgroup v2, hybrid unified tree' }),
  psiMemStalled: metric({ name: 'container_pressure_memory_stalled_seconds_total', type: 'counter', unit: 'seconds', help: 'Total time all non-idle tasks were stalled on memory (PSI full), in seconds.', labels: [], source: 'PSI: cgroup v2, hybrid unified tree' }),
  psiIoWaiting: metric({ name: 'container_pressure_io_waiting_seconds_total', type: 'counter', unit: 'seconds', help: 'Total time some tasks were delayed waiting for I/O (PSI some), in seconds.', labels: [], source: 'PSI: cgroup v2, hybrid unified tree' }),
  psiIoStalled: metric({ name: 'container_pressure_io_stalled_seconds_total', type: 'counter', unit: 'seconds', help: 'Total time all non-idle tasks were stalled on I/O (PSI full), in seconds.', labels: [], source: 'PSI: cgroup v2, hybrid unified tree' }),

  startTime: metric({ name: 'container_start_time_seconds', type: 'gauge', unit: 'seconds', help: 'Start time of the container since the Unix epoch, in seconds (the runtime\'s start time, else the cgroup\'s creation).', labels: [], source: V12 }),
  lastSeen: metric({ name: 'container_last_seen', type: 'gauge', unit: 'seconds', help: 'Last time the container was seen by the agent, since the Unix epoch, in seconds.', labels: [], source: V12 }),
} as const;

export const CGROUP_METRICS: readonly MetricDef[] = Object.values(M);

/** Plain counters and gauges that map one statistic to one series. */
const SIMPLE: ReadonlyArray<readonly [MetricDef, keyof CgroupStats]> = [
  [M.cpuUser, 'cpuUser'],
  [M.cpuSystem, 'cpuSystem'],
  [M.cfsPeriods, 'cfsPeriods'],
  [M.cfsThrottledPeriods, 'cfsThrottledPeriods'],
  [M.cfsThrottledSeconds, 'cfsThrottledSeconds'],
  [M.specCpuQuota, 'cpuQuota'],
  [M.specCpuPeriod, 'cpuPeriod'],
  [M.specCpuShares, 'cpuShares'],
  [M.memUsage, 'memUsage'],
  [M.memMaxUsage, 'memMaxUsage'],
  [M.memWorkingSet, 'memWorkingSet'],
  [M.memRss, 'memRss'],
  [M.memCache, 'memCache'],
  [M.memMappedFile, 'memMappedFile'],
  [M.memSwap, 'memSwap'],
  [M.memKernel, 'memKernel'],
  [M.memActiveFile, 'memActiveFile'],
  [M.memInactiveFile, 'memInactiveFile'],
  [M.memFailcnt, 'memFailcnt'],
  [M.oomEvents, 'oomKills'],
  [M.threads, 'pidsCurrent'],
  [M.processes, 'processes'],
];

/** Memory limits, which cAdvisor reports as 0 when unlimited rather than leaving the series out. */
const MEM_LIMITS: ReadonlyArray<readonly [MetricDef, 'memLimit' | 'memReservation' | 'memSwapLimit']> = [
  [M.specMemLimit, 'memLimit'],
  [M.specMemReservation, 'memReservation'],
  [M.specMemSwapLimit, 'memSwapLimit'],
];

const PSI: ReadonlyArray<readonly [MetricDef, MetricDef, 'cpu' | 'memory' | 'io']> = [
  [M.psiCpuWaiting, M.psiCpuStalled, 'cpu'],
  [M.psiMemWaiting, M.psiMemStalled, 'memory'],
  [M.psiIoWaiting, M.psiIoStalled, 'io'],
];

/** Extra label sets are interned: the same few objects serve every container. */
const CPU_TOTAL = new Labels([['cpu', 'total']]);
const FAULTS = {
  pgfault: { container: new Labels([['failure_type', 'pgfault'], ['scope', 'container']]), hierarchy: new Labels([['failure_type', 'pgfault'], ['scope', 'hierarchy']]) },
  pgmajfault: { container: new Labels([['failure_type', 'pgmajfault'], ['scope', 'container']]), hierarchy: new Labels([['failure_type', 'pgmajfault'], ['scope', 'hierarchy']]) },
};
const eventLabels = new Map<string, Labels>();
function eventLabel(ev: string): Labels {
  let l = eventLabels.get(ev);
  if (l === undefined) {
    l = new Labels([['event', ev]]);
    eventLabels.set(ev, l);
  }
  return l;
}

export interface DeviceLabels {
  device: Labels;
  read: Labels;
  write: Labels;
}

export type Emit = (def: MetricDef, value: number, extra?: Labels | null) => void;

/** Maps one cgroup's statistics to series. `deviceLabels` resolves MAJ:MIN to interned labels. */
export function emitStats(s: CgroupStats, emit: Emit, deviceLabels: (d: DeviceIo) => DeviceLabels): void {
  if (s.cpuUsage !== undefined) emit(M.cpuUsage, s.cpuUsage, CPU_TOTAL);
  for (const [def, key] of SIMPLE) {
    const v = s[key];
    if (typeof v === 'number') emit(def, v);
  }
  for (const [def, key] of MEM_LIMITS) {
    const v = s[key];
    if (v !== undefined) emit(def, v);
  }
  if (s.pidsMax !== undefined) emit(M.threadsMax, s.pidsMax);
  if (s.pgfault !== undefined) emit(M.memFailures, s.pgfault, FAULTS.pgfault.container);
  if (s.pgmajfault !== undefined) emit(M.memFailures, s.pgmajfault, FAULTS.pgmajfault.container);
  if (s.pgfaultHierarchy !== undefined) emit(M.memFailures, s.pgfaultHierarchy, FAULTS.pgfault.hierarchy);
  if (s.pgmajfaultHierarchy !== undefined) emit(M.memFailures, s.pgmajfaultHierarchy, FAULTS.pgmajfault.hierarchy);
  if (s.memEvents) for (const [ev, v] of Object.entries(s.memEvents)) emit(M.memEvents, v, eventLabel(ev));
  if (s.devices) {
    for (const d of s.devices.values()) {
      const l = deviceLabels(d);
      emit(M.fsReadsBytes, d.readBytes, l.device);
      emit(M.fsWritesBytes, d.writeBytes, l.device);
      emit(M.fsReads, d.reads, l.device);
      emit(M.fsWrites, d.writes, l.device);
      emit(M.blkioUsage, d.readBytes, l.read);
      emit(M.blkioUsage, d.writeBytes, l.write);
    }
  }
  if (s.psi) {
    for (const [waiting, stalled, res] of PSI) {
      const p: Psi | undefined = s.psi[res];
      if (p?.some !== undefined) emit(waiting, p.some);
      if (p?.full !== undefined) emit(stalled, p.full);
    }
  }
}
