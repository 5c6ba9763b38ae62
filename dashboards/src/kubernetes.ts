/**
 * Kubernetes view: usage by namespace and by pod across the selected nodes. Container
 * series of the kubelet's containers carry `namespace`, `pod` and `container`; the pod's
 * sandbox (`container="POD"` or empty) is left out of CPU and memory, but network counters
 * are attributed once per network namespace, so they are summed without that filter.
 */
import { Board, STEPS, type BuiltDashboard, type VariableSpec } from './lib.js';
import { JOB, NODES, TARGET } from './variables.js';

const RI = '$__rate_interval';

const NAMESPACE: VariableSpec = {
  name: 'namespace',
  label: 'Namespace',
  description: 'Kubernetes namespaces to show.',
  selector: `container_last_seen{${TARGET}, namespace!=""}`,
  multi: true,
  allValue: '.+',
  requires: ['kubernetes'],
};
const POD: VariableSpec = {
  name: 'pod',
  label: 'Pod',
  description: 'Pods to show.',
  selector: `container_last_seen{${TARGET}, namespace=~"$namespace", pod!=""}`,
  multi: true,
  allValue: '.+',
  requires: ['kubernetes'],
};

/** The pods' containers (not their sandboxes). */
const K = `${TARGET}, namespace=~"$namespace", pod=~"$pod", container!="", container!="POD"`;
/** Everything of the pods, for network counters (reported once per pod network namespace). */
const KN = `${TARGET}, namespace=~"$namespace", pod=~"$pod"`;
const K8S = ['kubernetes'] as const;

export function kubernetesDashboard(): BuiltDashboard {
  const b = new Board(
    'lookout-kubernetes.json',
    'lookout-kubernetes',
    'lookout / Kubernetes',
    'Kubernetes workloads by namespace and pod: CPU, memory against limits, throttling, restarts, OOM kills and network, from lookout on every node.',
  )
    .variable(JOB)
    .variable(NODES)
    .variable(NAMESPACE)
    .variable(POD);

  b.row('Namespaces')
    .timeseries({
      title: 'CPU by namespace',
      description: 'CPU cores used by the containers of each namespace.',
      unit: 'short',
      thresholds: STEPS.none,
      stack: true,
      min: 0,
      requires: K8S,
      queries: [{ expr: `sum by (namespace) (rate(container_cpu_usage_seconds_total{${K}}[${RI}]))`, legend: '{{namespace}}' }],
    })
    .timeseries({
      title: 'Memory working set by namespace',
      description: 'Working set of the containers of each namespace.',
      unit: 'bytes',
      thresholds: STEPS.none,
      stack: true,
      min: 0,
      requires: K8S,
      queries: [{ expr: `sum by (namespace) (container_memory_working_set_bytes{${K}})`, legend: '{{namespace}}' }],
    })
    .timeseries({
      title: 'Network by namespace',
      description: 'Bytes per second received and transmitted by the pods of each namespace.',
      unit: 'Bps',
      thresholds: STEPS.none,
      min: 0,
      requires: [...K8S, 'network'],
      queries: [
        { expr: `sum by (namespace) (rate(container_network_receive_bytes_total{${KN}}[${RI}]))`, legend: '{{namespace}} receive' },
        { expr: `sum by (namespace) (rate(container_network_transmit_bytes_total{${KN}}[${RI}]))`, legend: '{{namespace}} transmit' },
      ],
    })
    .timeseries({
      title: 'Restarts and OOM kills by namespace',
      description:
        'Restart count summed over the namespace\'s containers (as kubectl shows it: rises at each restart) and containers whose last termination was an OOM kill.',
      unit: 'short',
      thresholds: STEPS.none,
      min: 0,
      requires: K8S,
      queries: [
        {
          expr: `sum by (namespace) (max by (namespace, pod, container) (container_restarts_total{${K}}))`,
          legend: '{{namespace}} restarts',
        },
        {
          expr: `count by (namespace) (container_last_terminated_reason{${K}, reason="OOMKilled"})`,
          legend: '{{namespace}} OOM-killed containers',
          requires: ['oom-kill'],
        },
      ],
    });

  b.row('Pods')
    .timeseries({
      title: 'CPU by pod (top 20)',
      description: 'CPU cores used by each pod\'s containers.',
      unit: 'short',
      thresholds: STEPS.none,
      min: 0,
      requires: K8S,
      queries: [
        { expr: `topk(20, sum by (namespace, pod) (rate(container_cpu_usage_seconds_total{${K}}[${RI}])))`, legend: '{{namespace}}/{{pod}}' },
      ],
    })
    .timeseries({
      title: 'Memory working set by pod (top 20)',
      description: 'Working set of each pod\'s containers.',
      unit: 'bytes',
      thresholds: STEPS.none,
      min: 0,
      requires: K8S,
      queries: [{ expr: `topk(20, sum by (namespace, pod) (container_memory_working_set_bytes{${K}}))`, legend: '{{namespace}}/{{pod}}' }],
    })
    .timeseries({
      title: 'Memory against limit by container',
      description: 'Working set as a share of each container\'s memory limit (containers without a limit are left out). Above 90% for 15 minutes, LookoutContainerMemoryNearLimit fires.',
      unit: 'percentunit',
      thresholds: STEPS.nearLimit,
      thresholdLines: true,
      min: 0,
      requires: [...K8S, 'memory-limit'],
      queries: [
        {
          expr: `max by (namespace, pod, container) (container_memory_working_set_bytes{${K}} / (container_spec_memory_limit_bytes{${K}} > 0))`,
          legend: '{{namespace}}/{{pod}}/{{container}}',
        },
      ],
    })
    .timeseries({
      title: 'CPU throttling by container',
      description: 'Share of CFS periods throttled, per container with a CPU limit. Above 25% for 15 minutes, LookoutContainerCPUThrottlingHigh fires.',
      unit: 'percentunit',
      thresholds: STEPS.throttling,
      thresholdLines: true,
      min: 0,
      max: 1,
      requires: [...K8S, 'cpu-limit'],
      queries: [
        {
          expr: `sum by (namespace, pod, container) (rate(container_cpu_cfs_throttled_periods_total{${K}}[${RI}])) / sum by (namespace, pod, container) (rate(container_cpu_cfs_periods_total{${K}}[${RI}]) > 0)`,
          legend: '{{namespace}}/{{pod}}/{{container}}',
        },
      ],
    })
    .timeseries({
      title: 'Network by pod (top 20)',
      description: 'Bytes per second received plus transmitted by each pod.',
      unit: 'Bps',
      thresholds: STEPS.none,
      min: 0,
      requires: [...K8S, 'network'],
      queries: [
        {
          expr: `topk(20, sum by (namespace, pod) (rate(container_network_receive_bytes_total{${KN}}[${RI}])) + sum by (namespace, pod) (rate(container_network_transmit_bytes_total{${KN}}[${RI}])))`,
          legend: '{{namespace}}/{{pod}}',
        },
      ],
    })
    .timeseries({
      title: 'Memory pressure by pod (some)',
      description: 'Share of time some tasks of each pod\'s containers waited for memory (PSI some).',
      unit: 'percentunit',
      thresholds: STEPS.pressure,
      thresholdLines: true,
      min: 0,
      requires: [...K8S, 'psi'],
      queries: [
        {
          expr: `topk(20, sum by (namespace, pod) (rate(container_pressure_memory_waiting_seconds_total{${K}}[${RI}])))`,
          legend: '{{namespace}}/{{pod}}',
        },
      ],
    })
    .table({
      title: 'Containers',
      description: 'Every container of the selected pods now: CPU, working set, memory limit (0: none), share of the limit, throttling and restart count.',
      unit: 'none',
      thresholds: STEPS.none,
      w: 24,
      h: 12,
      requires: K8S,
      labels: [['namespace', 'Namespace'], ['pod', 'Pod'], ['container', 'Container']],
      sortBy: 'CPU (cores)',
      queries: [
        {
          expr: `sum by (namespace, pod, container) (rate(container_cpu_usage_seconds_total{${K}}[${RI}]))`,
          column: { title: 'CPU (cores)', unit: 'short', decimals: 3 },
        },
        {
          expr: `sum by (namespace, pod, container) (container_memory_working_set_bytes{${K}})`,
          column: { title: 'Working set', unit: 'bytes' },
        },
        {
          expr: `max by (namespace, pod, container) (container_spec_memory_limit_bytes{${K}})`,
          column: { title: 'Memory limit', unit: 'bytes' },
        },
        {
          expr: `max by (namespace, pod, container) (container_memory_working_set_bytes{${K}} / (container_spec_memory_limit_bytes{${K}} > 0))`,
          column: { title: 'Of limit', unit: 'percentunit', thresholds: STEPS.nearLimit, colored: true },
        },
        {
          expr: `sum by (namespace, pod, container) (rate(container_cpu_cfs_throttled_periods_total{${K}}[${RI}])) / sum by (namespace, pod, container) (rate(container_cpu_cfs_periods_total{${K}}[${RI}]) > 0)`,
          column: { title: 'Throttled', unit: 'percentunit', thresholds: STEPS.throttling, colored: true },
        },
        {
          expr: `max by (namespace, pod, container) (container_restarts_total{${K}})`,
          column: { title: 'Restarts', unit: 'none', thresholds: STEPS.restarts, colored: true, decimals: 0 },
        },
      ],
    });

  return b.build();
}
