/**
 * Kubernetes view: usage by namespace and by pod across the selected nodes. Container
 * series of the kubelet's containers carry `namespace`, `pod` and `container`; the pod's
 * sandbox (`container="POD"` or empty) is left out of CPU and memory, but network counters
 * are attributed once per network namespace, so they are summed without that filter.
 */
import { Board, graph, ofLimitGraph, RATE_INTERVAL as RI, rates, STEPS, throttlingGraph, type BuiltDashboard, type VariableSpec } from './lib.js';
import { JOB, NODES, TARGET } from './variables.js';

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
    .timeseries(
      graph(
        'CPU by namespace',
        'short',
        STEPS.none,
        'CPU cores used by the containers of each namespace.',
        { expr: `sum by (namespace) (rate(container_cpu_usage_seconds_total{${K}}[${RI}]))`, legend: '{{namespace}}' },
        { stack: true, requires: K8S },
      ),
    )
    .timeseries(
      graph(
        'Memory working set by namespace',
        'bytes',
        STEPS.none,
        'Working set of the containers of each namespace.',
        { expr: `sum by (namespace) (container_memory_working_set_bytes{${K}})`, legend: '{{namespace}}' },
        { stack: true, requires: K8S },
      ),
    )
    .timeseries(
      graph(
        'Network by namespace',
        'Bps',
        STEPS.none,
        'Bytes per second received and transmitted by the pods of each namespace.',
        rates('namespace', KN, [
          ['container_network_receive_bytes_total', 'receive'],
          ['container_network_transmit_bytes_total', 'transmit'],
        ]),
        { requires: [...K8S, 'network'] },
      ),
    )
    .timeseries(
      graph(
        'Restarts and OOM kills by namespace',
        'short',
        STEPS.none,
        'Restart count summed over the namespace\'s containers (as kubectl shows it: rises at each restart) and containers whose last termination was an OOM kill.',
        [
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
        { requires: K8S },
      ),
    );

  b.row('Pods')
    .timeseries(
      graph(
        'CPU by pod (top 20)',
        'short',
        STEPS.none,
        'CPU cores used by each pod\'s containers.',
        { expr: `topk(20, sum by (namespace, pod) (rate(container_cpu_usage_seconds_total{${K}}[${RI}])))`, legend: '{{namespace}}/{{pod}}' },
        { requires: K8S },
      ),
    )
    .timeseries(
      graph(
        'Memory working set by pod (top 20)',
        'bytes',
        STEPS.none,
        'Working set of each pod\'s containers.',
        { expr: `topk(20, sum by (namespace, pod) (container_memory_working_set_bytes{${K}}))`, legend: '{{namespace}}/{{pod}}' },
        { requires: K8S },
      ),
    )
    .timeseries(
      ofLimitGraph(
        'Memory against limit by container',
        'Working set as a share of each container\'s memory limit (containers without a limit are left out). Above 90% for 15 minutes, LookoutContainerMemoryNearLimit fires.',
        {
          expr: `max by (namespace, pod, container) (container_memory_working_set_bytes{${K}} / (container_spec_memory_limit_bytes{${K}} > 0))`,
          legend: '{{namespace}}/{{pod}}/{{container}}',
        },
        { requires: [...K8S, 'memory-limit'] },
      ),
    )
    .timeseries(
      throttlingGraph(
        'CPU throttling by container',
        'Share of CFS periods throttled, per container with a CPU limit. Above 25% for 15 minutes, LookoutContainerCPUThrottlingHigh fires.',
        {
          expr: `sum by (namespace, pod, container) (rate(container_cpu_cfs_throttled_periods_total{${K}}[${RI}])) / sum by (namespace, pod, container) (rate(container_cpu_cfs_periods_total{${K}}[${RI}]) > 0)`,
          legend: '{{namespace}}/{{pod}}/{{container}}',
        },
        { requires: [...K8S, 'cpu-limit'] },
      ),
    )
    .timeseries(
      graph(
        'Network by pod (top 20)',
        'Bps',
        STEPS.none,
        'Bytes per second received plus transmitted by each pod.',
        {
          expr: `topk(20, sum by (namespace, pod) (rate(container_network_receive_bytes_total{${KN}}[${RI}])) + sum by (namespace, pod) (rate(container_network_transmit_bytes_total{${KN}}[${RI}])))`,
          legend: '{{namespace}}/{{pod}}',
        },
        { requires: [...K8S, 'network'] },
      ),
    )
    .timeseries(
      graph(
        'Memory pressure by pod (some)',
        'percentunit',
        STEPS.pressure,
        'Share of time some tasks of each pod\'s containers waited for memory (PSI some).',
        {
          expr: `topk(20, sum by (namespace, pod) (rate(container_pressure_memory_waiting_seconds_total{${K}}[${RI}])))`,
          legend: '{{namespace}}/{{pod}}',
        },
        { thresholdLines: true, requires: [...K8S, 'psi'] },
      ),
    )
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
