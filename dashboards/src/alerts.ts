/**
 * Prometheus alerting rules for lookout, in the monitoring-mixin style: `Lookout` + CamelCase
 * names, `severity` critical/warning/info, `summary`, `description` and `runbook_url` on
 * every alert, `for:` against noise, and one selector (default `job="lookout"`) that every
 * expression uses, so that pointing them at another job is one setting.
 *
 * Each alert has unit tests in alerts/tests/, firing and not firing, and a section in
 * docs/runbooks.md whose anchor is the `runbook_url`'s fragment.
 */

export interface AlertConfig {
  /** Label matchers selecting lookout's series, without braces: `job="lookout"`. */
  readonly selector: string;
  /** Runbook page; each alert links to `<runbookUrl>#<alertname lowercased>`. */
  readonly runbookUrl: string;
}

export const DEFAULT_ALERT_CONFIG: AlertConfig = {
  selector: 'job="lookout"',
  runbookUrl: 'https://github.com/lookout/lookout/blob/main/docs/runbooks.md',
};

export type Severity = 'critical' | 'warning' | 'info';

export interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  readonly for: string;
  readonly labels: { readonly severity: Severity } & Readonly<Record<string, string>>;
  readonly annotations: { readonly summary: string; readonly description: string; readonly runbook_url: string };
}

export interface RuleGroup {
  readonly name: string;
  readonly rules: readonly AlertRule[];
}

/** Thresholds, named once: the dashboards' threshold lines use the same values. */
export const LIMITS = {
  /** Throttled share of CFS periods. */
  throttling: 0.25,
  /** Working set / memory limit. */
  memory: 0.9,
  /** Share of time fully stalled (PSI full) on memory or I/O. */
  pressure: 0.1,
  /** Restarts within 30 minutes that make a crash loop. */
  restarts: 3,
  /** Seconds a collection may take on average over 10 minutes. */
  collectionSeconds: 2,
  /** Collector errors per collection. */
  errorsPerCollection: 0.5,
  /** Seconds without a delivery (with data queued) before an exporter is not delivering. */
  notDeliveringSeconds: 900,
  /** Age in seconds of the newest delivered log record, while more wait, that is too late. */
  logLagSeconds: 300,
  /** Error-level log lines per second of one container (over 5 minutes). */
  logErrorsPerSecond: 1,
  /** Lines per second on stderr of a container whose lines carry no level. */
  stderrLinesPerSecond: 10,
} as const;

/**
 * Who the alert is about, for summaries and descriptions: the Kubernetes container and pod
 * when the series has them, else the runtime's container name.
 */
const WHO = '{{ if $labels.namespace }}{{ $labels.container }} in pod {{ $labels.namespace }}/{{ $labels.pod }}{{ else }}{{ $labels.name }}{{ end }}';
/** Where: the node (lookout target) and the cgroup path when the series has one. */
const WHERE = 'on {{ $labels.instance }}{{ with $labels.id }} (cgroup {{ . }}){{ end }}';

function rule(
  cfg: AlertConfig,
  alert: string,
  severity: Severity,
  forDuration: string,
  expr: string,
  summary: string,
  description: string,
): AlertRule {
  return {
    alert,
    expr: expr.trim(),
    for: forDuration,
    labels: { severity },
    annotations: { summary, description, runbook_url: `${cfg.runbookUrl}#${alert.toLowerCase()}` },
  };
}

export function alertGroups(cfg: AlertConfig = DEFAULT_ALERT_CONFIG): RuleGroup[] {
  const s = cfg.selector;
  const pct = (v: number): string => `${Math.round(v * 100)}%`;
  const containers: AlertRule[] = [
    // When the OOM killer ends a container's main process, the container exits and its cgroup
    // (with the kernel's oom_kill counter) is removed, often before a scrape sees the kill.
    // lookout keeps reporting the counter of an exited container, with the final kill added,
    // so `increase` usually sees it; a container killed before its first scrape has no earlier
    // sample to increase from, and a container restarted in place gets a fresh cgroup. The
    // runtime's verdict (last termination reason OOMKilled, recent) covers those cases.
    rule(
      cfg,
      'LookoutContainerOOMKilled',
      'warning',
      '0m',
      `
increase(container_oom_events_total{${s}, name!=""}[10m]) > 0
or
max without (reason) (
    container_last_terminated_reason{${s}, name!="", reason="OOMKilled"}
  and ignoring (reason)
    (time() - container_last_terminated_timestamp_seconds{${s}, name!=""} < 600)
)`,
      `Container ${WHO} was OOM-killed.`,
      `Container ${WHO} ${WHERE} had a process killed by the kernel's OOM killer in the last 10 minutes: its memory reached its limit. Raise the memory limit or find what grew (working set, page cache that cannot be reclaimed, tmpfs).`,
    ),
    // Docker and Podman restart a container in place (same id, same series). The kubelet
    // starts a new container (new id) at each restart, so on Kubernetes the count is followed
    // per namespace/pod/container across container ids.
    rule(
      cfg,
      'LookoutContainerRestarting',
      'warning',
      '5m',
      `
increase(container_restarts_total{${s}, namespace=""}[30m]) >= ${LIMITS.restarts}
or
increase((max by (job, instance, namespace, pod, container) (container_restarts_total{${s}, namespace!=""}))[30m:1m]) >= ${LIMITS.restarts}`,
      `Container ${WHO} is restarting repeatedly.`,
      `Container ${WHO} ${WHERE} restarted {{ printf "%.0f" $value }} times in the last 30 minutes: it is crash-looping or flapping. Check its last termination (exit code, OOMKilled) and its logs.`,
    ),
    // A container that died (non-zero exit or OOM kill) within the last hour and whose cgroup
    // is gone: not restarted by its runtime. Completed (exit 0) is a normal end. Bounded to an
    // hour after the exit so that old exited containers (docker ps -a) do not alert forever.
    rule(
      cfg,
      'LookoutContainerDown',
      'warning',
      '5m',
      `
(
    (
        container_last_terminated_reason{${s}, namespace="", reason=~"Error|OOMKilled"}
      unless on (job, instance, id)
        container_last_seen{${s}}
    )
  or
    (
        container_last_terminated_reason{${s}, namespace!="", reason=~"Error|OOMKilled"}
      unless on (job, instance, namespace, pod, container)
        container_last_seen{${s}, namespace!=""}
    )
)
and ignoring (reason)
  (time() - container_last_terminated_timestamp_seconds{${s}} < 3600)`,
      `Container ${WHO} died and is not running.`,
      `Container ${WHO} ${WHERE} terminated ({{ $labels.reason }}) and has not been running for 5 minutes. Check its exit code (container_last_terminated_exit_code), its logs and its restart policy. The alert ends when it runs again, is removed, or an hour after it terminated.`,
    ),
    rule(
      cfg,
      'LookoutContainerCPUThrottlingHigh',
      'info',
      '15m',
      `
rate(container_cpu_cfs_throttled_periods_total{${s}, name!=""}[5m])
/
rate(container_cpu_cfs_periods_total{${s}, name!=""}[5m])
> ${LIMITS.throttling}`,
      `Container ${WHO} is CPU-throttled.`,
      `Container ${WHO} ${WHERE} was throttled in {{ $value | humanizePercentage }} of its CFS periods over the last 5 minutes (above ${pct(LIMITS.throttling)} for 15 minutes): its CPU limit slows it down. Raise the CPU limit or reduce its parallelism.`,
    ),
    rule(
      cfg,
      'LookoutContainerMemoryNearLimit',
      'warning',
      '15m',
      `
container_memory_working_set_bytes{${s}, name!=""}
/
(container_spec_memory_limit_bytes{${s}, name!=""} > 0)
> ${LIMITS.memory}`,
      `Container ${WHO} is close to its memory limit.`,
      `Container ${WHO} ${WHERE} uses {{ $value | humanizePercentage }} of its memory limit (working set, above ${pct(LIMITS.memory)} for 15 minutes). At the limit the kernel reclaims page cache, then OOM-kills. Raise the limit or reduce its memory use.`,
    ),
    // PSI "full": all non-idle tasks of the container stalled at once. Needs cgroup v2 (or the
    // unified tree of a hybrid host); on cgroup v1 the series do not exist and this never fires.
    rule(
      cfg,
      'LookoutContainerPressureStalled',
      'warning',
      '15m',
      `
label_replace(rate(container_pressure_memory_stalled_seconds_total{${s}, name!=""}[5m]), "resource", "memory", "", "") > ${LIMITS.pressure}
or
label_replace(rate(container_pressure_io_stalled_seconds_total{${s}, name!=""}[5m]), "resource", "io", "", "") > ${LIMITS.pressure}`,
      `Container ${WHO} is stalled on {{ $labels.resource }}.`,
      `All tasks of container ${WHO} ${WHERE} were stalled on {{ $labels.resource }} {{ $value | humanizePercentage }} of the time over the last 5 minutes (PSI full, above ${pct(LIMITS.pressure)} for 15 minutes). For memory: it is reclaiming or swapping near its limit; for io: its disk is saturated or throttled.`,
    ),
    // Error-level lines where the agent detects levels (collectors.logs.detect_level); for a
    // container none of whose lines carry a level, a flood on stderr instead (many programs
    // log everything there, hence the higher bar).
    rule(
      cfg,
      'LookoutContainerLogErrorsHigh',
      'info',
      '15m',
      `
sum by (job, instance, id, name, namespace, pod, container) (rate(lookout_log_lines_total{${s}, name!="", level=~"error|fatal|crit.*|alert|emerg.*"}[5m])) > ${LIMITS.logErrorsPerSecond}
or
(
    sum by (job, instance, id, name, namespace, pod, container) (rate(lookout_log_lines_total{${s}, name!="", level="", stream="stderr"}[5m])) > ${LIMITS.stderrLinesPerSecond}
  unless on (job, instance, id)
    sum by (job, instance, id) (lookout_log_lines_total{${s}, name!="", level!=""})
)`,
      `Container ${WHO} logs many errors.`,
      `Container ${WHO} ${WHERE} logged {{ $value | humanize }} error lines per second over the last 5 minutes (error level or worse above ${LIMITS.logErrorsPerSecond}/s, or, for a container whose lines carry no level, stderr above ${LIMITS.stderrLinesPerSecond}/s, for 15 minutes). Read its logs for what fails.`,
    ),
  ];

  const agent: AlertRule[] = [
    rule(
      cfg,
      'LookoutAgentDown',
      'critical',
      '5m',
      `up{${s}} == 0`,
      'lookout on {{ $labels.instance }} is down.',
      'Prometheus could not scrape lookout on {{ $labels.instance }} (job {{ $labels.job }}) for 5 minutes. The containers of that node are unmonitored: their OOM, restart and limit alerts cannot fire. Check the agent\'s process or pod, its logs and the network path from Prometheus.',
    ),
    rule(
      cfg,
      'LookoutAgentAbsent',
      'warning',
      '15m',
      `absent(up{${s}})`,
      'Prometheus has no lookout target.',
      `No target matches ${s.replace(/"/g, "'")} in Prometheus for 15 minutes: lookout is not deployed, or the scrape configuration or service discovery lost it. Every Lookout alert is blind.`,
    ),
    rule(
      cfg,
      'LookoutCollectionFailing',
      'warning',
      '15m',
      `
sum by (job, instance, collector, kind) (rate(lookout_collector_errors_total{${s}}[10m]))
/ on (job, instance) group_left ()
sum by (job, instance) (rate(lookout_collections_total{${s}}[10m]))
> ${LIMITS.errorsPerCollection}`,
      'lookout collector {{ $labels.collector }} on {{ $labels.instance }} is failing.',
      `Collector {{ $labels.collector }} of lookout on {{ $labels.instance }} fails with {{ $labels.kind }} errors {{ printf "%.2f" $value }} times per collection (above ${LIMITS.errorsPerCollection} for 15 minutes): some metrics are missing. The agent's log names the files or requests that fail.`,
    ),
    rule(
      cfg,
      'LookoutCollectionSlow',
      'warning',
      '15m',
      `avg_over_time(lookout_collection_duration_seconds{${s}}[10m]) > ${LIMITS.collectionSeconds}`,
      'lookout on {{ $labels.instance }} collects slowly.',
      `Collections of lookout on {{ $labels.instance }} took {{ $value | humanizeDuration }} on average over 10 minutes (above ${LIMITS.collectionSeconds}s for 15 minutes). Collections run when Prometheus scrapes, so scrapes risk timing out. Check the node's load, the number of containers (lookout_series) and lookout_collector_duration_seconds for the slow collector.`,
    ),
    rule(
      cfg,
      'LookoutExporterDropping',
      'warning',
      '10m',
      `sum by (job, instance, exporter, reason) (rate(lookout_exporter_dropped_total{${s}}[5m])) > 0`,
      'lookout on {{ $labels.instance }} drops data for {{ $labels.exporter }}.',
      'The {{ $labels.exporter }} exporter of lookout on {{ $labels.instance }} drops {{ $value | humanize }} samples or records per second ({{ $labels.reason }}): its destination is down or too slow for the queue. Check lookout_exporter_retries_total and the agent\'s log for the destination\'s errors; raise max_buffer_bytes or use buffer: disk to ride out longer outages.',
    ),
    rule(
      cfg,
      'LookoutExporterNotDelivering',
      'warning',
      '15m',
      `(time() - lookout_exporter_last_success_timestamp_seconds{${s}} > ${LIMITS.notDeliveringSeconds}) and (lookout_exporter_queue_items{${s}} > 0)`,
      'lookout on {{ $labels.instance }} has not delivered to {{ $labels.exporter }} for 15 minutes.',
      'The {{ $labels.exporter }} exporter of lookout on {{ $labels.instance }} last delivered {{ $value | humanizeDuration }} ago while data waits in its queue. The agent\'s log names the destination\'s errors (rejections are counted in lookout_exporter_failed_total, retries in lookout_exporter_retries_total).',
    ),
    rule(
      cfg,
      'LookoutLogShippingLagging',
      'warning',
      '15m',
      `max by (job, instance, name, namespace, pod, container) (lookout_log_lag_seconds{${s}}) > ${LIMITS.logLagSeconds}`,
      `Logs of ${WHO} on {{ $labels.instance }} are shipped late.`,
      `The log records of ${WHO} that lookout on {{ $labels.instance }} delivered last are {{ $value | humanizeDuration }} old while more wait in its files: the log destinations are slow or down. Check lookout_exporter_queue_items, lookout_log_lag_bytes and the agent's log.`,
    ),
  ];

  return [
    { name: 'lookout-containers', rules: containers },
    { name: 'lookout-agent', rules: agent },
  ];
}

/** Every alert name, in file order. */
export function alertNames(cfg: AlertConfig = DEFAULT_ALERT_CONFIG): string[] {
  return alertGroups(cfg).flatMap((g) => g.rules.map((r) => r.alert));
}
