/**
 * Every query of every dashboard, with Grafana's variables and macros substituted the way
 * Grafana would, so that a test can run each against the real thing: PromQL against a
 * Prometheus that scrapes a real lookout (`listQueries`), InfluxQL against an InfluxDB that a
 * real lookout pushes to (`listInfluxQL`), LogQL through a LogQL parser (`listLogQL`); and the
 * panels that can only be empty on a plain Docker node, with the reason.
 */
import { REQUIREMENTS, type BuiltDashboard, type InfluxQuery, type Language, type Requirement } from './lib.js';
import { dashboards } from './render.js';

/** Values for Grafana's variables, as regexes where the dashboards use `=~`. */
export interface Substitutions {
  /** `$job`: regex of the lookout scrape job. */
  readonly job: string;
  /** `$instance`: regex of the lookout target(s). */
  readonly instance: string;
  /** `$name`: regex of container names (the drill-down). */
  readonly name: string;
  /** `$namespace`, `$pod`, `$container`: regexes; `.*` also matches series without the label. */
  readonly namespace: string;
  readonly pod: string;
  readonly container: string;
  /** `$__rate_interval`, `$__interval`, `$__range`: PromQL durations. */
  readonly rateInterval: string;
  readonly interval: string;
  readonly range: string;
}

/** Everything on every node of the `lookout` job, rates over 1m, ranges over 1h. */
export const DEFAULT_SUBSTITUTIONS: Substitutions = {
  job: 'lookout',
  instance: '.+',
  name: '.+',
  namespace: '.*',
  pod: '.*',
  container: '.*',
  rateInterval: '1m',
  interval: '15s',
  range: '1h',
};

export interface DashboardQuery {
  /** Dashboard uid, e.g. `lookout-node`. */
  readonly dashboard: string;
  /** `panel`: a panel's target; `variable`: the series selector of a template variable. */
  readonly kind: 'panel' | 'variable';
  /** Panel title, or the variable's name. */
  readonly panel: string;
  /** Panel id (0 for variables). */
  readonly panelId: number;
  /** Target refId (A, B, ...), or the label whose values the variable lists. */
  readonly refId: string;
  /** Whether Grafana runs it as an instant query (tables); else as a range query. */
  readonly instant: boolean;
  /** The expression as written in the dashboard, with Grafana variables. */
  readonly expr: string;
  /** The expression with the variables substituted: plain PromQL. */
  readonly promql: string;
  /**
   * What the node needs for it to return data (empty: any node running lookout and scraped
   * by Prometheus); see REQUIREMENTS for what each means.
   */
  readonly requires: readonly Requirement[];
}

export interface EmptyPanel {
  readonly dashboard: string;
  readonly panel: string;
  readonly panelId: number;
  readonly reason: string;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Replaces `$var`, `${var}` and `[[var]]` forms; throws on a variable it does not know. */
export function substitute(expr: string, subs: Substitutions = DEFAULT_SUBSTITUTIONS): string {
  const values: Record<string, string> = {
    job: subs.job,
    instance: subs.instance,
    name: subs.name,
    namespace: subs.namespace,
    pod: subs.pod,
    container: subs.container,
    __rate_interval: subs.rateInterval,
    __interval: subs.interval,
    __range: subs.range,
  };
  // Label values go inside PromQL double-quoted strings, where a regex's backslash must be
  // doubled, as Grafana does when it interpolates a variable into a matcher.
  return interpolate(expr, values, (key, v) => (key.startsWith('__') ? v : quoted(v)));
}

/**
 * Replaces every Grafana variable of `expr` (`$var`, `${var}`, `${var:format}`, `[[var]]`) by its
 * value in `values`, as `format(name, value)` writes it into the query language; throws on a
 * variable it has no value for.
 */
function interpolate(expr: string, values: Readonly<Record<string, string>>, format: (key: string, value: string) => string): string {
  return expr.replace(/\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]/g, (whole, a?: string, b?: string, c?: string) => {
    const key = a ?? b ?? c ?? '';
    const v = values[key];
    if (v === undefined) throw new Error(`unknown Grafana variable ${whole} in ${expr}`);
    return format(key, v);
  });
}

/** A value inside a double-quoted PromQL or LogQL string: backslashes and quotes escaped. */
const quoted = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"');

/** The series selector inside `label_values(selector, label)`. */
function labelValues(query: string): { selector: string; label: string } {
  const m = /^label_values\((.*),\s*(\w+)\)$/.exec(query);
  if (!m) throw new Error(`not a label_values() query: ${query}`);
  return { selector: m[1] as string, label: m[2] as string };
}

/** The datasource type of a panel's target (or of the panel, when the target names none). */
function targetType(p: { datasource?: { type?: string } }, t: unknown): string | undefined {
  return (t as { datasource?: { type?: string } }).datasource?.type ?? p.datasource?.type;
}

function queriesOf(d: BuiltDashboard, subs: Substitutions): DashboardQuery[] {
  const uid = d.json.uid ?? d.file;
  const out: DashboardQuery[] = [];
  if (d.datasource !== 'prometheus') return out;
  for (const v of d.json.templating.list ?? []) {
    if (v.type !== 'query' || typeof v.query !== 'string') continue;
    const { selector, label } = labelValues(v.query);
    const spec = d.variables.find((s) => s.name === v.name);
    out.push({
      dashboard: uid,
      kind: 'variable',
      panel: v.name,
      panelId: 0,
      refId: label,
      instant: true,
      expr: selector,
      promql: substitute(selector, subs),
      requires: spec?.requires ?? [],
    });
  }
  for (const p of d.json.panels ?? []) {
    if (p.type === 'row' || !('targets' in p)) continue;
    const meta = d.panels.find((m) => m.id === p.id);
    for (const t of p.targets ?? []) {
      if (targetType(p, t) !== 'prometheus') continue;
      const q = t as unknown as { expr: string; refId?: string; instant?: boolean };
      out.push({
        dashboard: uid,
        kind: 'panel',
        panel: p.title ?? '',
        panelId: p.id ?? 0,
        refId: q.refId ?? '',
        instant: q.instant === true,
        expr: q.expr,
        promql: substitute(q.expr, subs),
        requires: [...new Set([...(meta?.requires ?? []), ...(meta?.queryRequires[q.refId ?? ''] ?? [])])],
      });
    }
  }
  return out;
}

/**
 * Every PromQL query of every Prometheus dashboard (panel targets and the series selectors of
 * the template variables; not the LogQL of logs panels), in dashboard order, with the
 * variables substituted.
 *
 * To scope them to one agent and container in a test:
 * `listQueries({ instance: escapeRegExp('127.0.0.1:9337'), name: 'lookout-e2e-.*' })`.
 */
export function listQueries(subs: Partial<Substitutions> = {}): DashboardQuery[] {
  const all = { ...DEFAULT_SUBSTITUTIONS, ...subs };
  return dashboards().flatMap((d) => queriesOf(d, all));
}

/**
 * Panels of one query language (PromQL by default) that can only be empty on a plain Docker
 * node (Docker engine, no Kubernetes, a healthy agent), with the reason, whatever containers
 * a test starts there. `psi` says
 * whether the host has PSI pressure files (cgroup v2, or a hybrid host's unified tree with
 * PSI); without, the pressure panels are empty too.
 */
export function panelsEmptyOnPlainDocker(host: { readonly psi: boolean } = { psi: false }, language: Language = 'promql'): EmptyPanel[] {
  const out: EmptyPanel[] = [];
  for (const d of dashboards()) {
    for (const p of d.panels) {
      if (p.language !== language) continue;
      const reasons = p.requires.flatMap((r) => {
        if (r === 'psi' && !host.psi) return ['the host has no PSI pressure files (cgroup v1 without a unified tree with PSI)'];
        const why = REQUIREMENTS[r].plainDocker;
        return why === undefined ? [] : [why];
      });
      if (reasons.length > 0) {
        out.push({ dashboard: d.json.uid ?? d.file, panel: p.title, panelId: p.id, reason: reasons.join('; ') });
      }
    }
  }
  return out;
}

export { escapeRegExp };

// --- InfluxQL --------------------------------------------------------------------------

/** Values for the InfluxDB dashboards' variables and Grafana's InfluxQL macros. */
export interface InfluxSubstitutions {
  /** `$host`, `$container`: regexes, as Grafana writes a multi-value or "All" variable into `=~ /^$var$/` (values regex-escaped, several as `(a|b)`). */
  readonly host: string;
  readonly container: string;
  /** `$timeFilter`: Grafana writes `time >= <from>ms and time <= <to>ms` (see influxTimeFilter). */
  readonly timeFilter: string;
  /** `$__interval` (and `$interval`): an InfluxQL duration such as `10s`. */
  readonly interval: string;
}

/** What Grafana's InfluxQL backend puts for `$timeFilter` over [from, to], in ms since the epoch. */
export function influxTimeFilter(fromMs: number, toMs: number): string {
  return `time >= ${Math.floor(fromMs)}ms and time <= ${Math.floor(toMs)}ms`;
}

/** Every host and container, the last hour (relative, as a dashboard opens), 10 s buckets. */
export const DEFAULT_INFLUX_SUBSTITUTIONS: InfluxSubstitutions = {
  host: '.*',
  container: '.*',
  timeFilter: 'time >= now() - 1h',
  interval: '10s',
};

export interface InfluxDashboardQuery {
  readonly dashboard: string;
  /** `panel`: a panel's target; `variable`: a template variable's `SHOW TAG VALUES`. */
  readonly kind: 'panel' | 'variable';
  /** Panel title, or the variable's name. */
  readonly panel: string;
  readonly panelId: number;
  /** Target refId, or the variable's name. */
  readonly refId: string;
  /** How Grafana reads the result; variables: `table`. */
  readonly resultFormat: InfluxQuery['resultFormat'];
  /** As written in the dashboard. */
  readonly expr: string;
  /** With the macros and variables substituted: plain InfluxQL. */
  readonly influxql: string;
  readonly requires: readonly Requirement[];
}

/** Replaces `$timeFilter`, `$__interval`/`$interval`, `$host`, `$container` (also `${var}` and `[[var]]`); throws on any other. */
export function substituteInflux(expr: string, subs: InfluxSubstitutions = DEFAULT_INFLUX_SUBSTITUTIONS): string {
  const values: Record<string, string> = {
    timeFilter: subs.timeFilter,
    __interval: subs.interval,
    interval: subs.interval,
    host: subs.host,
    container: subs.container,
  };
  // Inside an InfluxQL /regex/ literal a slash must be escaped.
  return interpolate(expr, values, (key, v) => (key === 'host' || key === 'container' ? v.replace(/\//g, '\\/') : v));
}

/** Every InfluxQL query of the InfluxDB dashboards (variables first, then panel targets), substituted. */
export function listInfluxQL(subs: Partial<InfluxSubstitutions> = {}): InfluxDashboardQuery[] {
  const all = { ...DEFAULT_INFLUX_SUBSTITUTIONS, ...subs };
  const out: InfluxDashboardQuery[] = [];
  for (const d of dashboards()) {
    if (d.datasource !== 'influxdb') continue;
    const uid = d.json.uid ?? d.file;
    for (const v of d.json.templating.list ?? []) {
      if (v.type !== 'query' || typeof v.query !== 'string') continue;
      const spec = d.variables.find((s) => s.name === v.name);
      out.push({
        dashboard: uid,
        kind: 'variable',
        panel: v.name,
        panelId: 0,
        refId: v.name,
        resultFormat: 'table',
        expr: v.query,
        influxql: substituteInflux(v.query, all),
        requires: spec?.requires ?? [],
      });
    }
    for (const p of d.json.panels ?? []) {
      if (p.type === 'row' || !('targets' in p)) continue;
      const meta = d.panels.find((m) => m.id === p.id);
      for (const t of p.targets ?? []) {
        if (targetType(p, t) !== 'influxdb') continue;
        const q = t as unknown as InfluxQuery;
        out.push({
          dashboard: uid,
          kind: 'panel',
          panel: p.title ?? '',
          panelId: p.id ?? 0,
          refId: q.refId,
          resultFormat: q.resultFormat,
          expr: q.query,
          influxql: substituteInflux(q.query, all),
          requires: [...new Set([...(meta?.requires ?? []), ...(meta?.queryRequires[q.refId] ?? [])])],
        });
      }
    }
  }
  return out;
}

// --- LogQL -----------------------------------------------------------------------------

/** Values for the Loki panels: the container view's variables (regexes) and Grafana's intervals. */
export interface LogQLSubstitutions {
  readonly name: string;
  readonly namespace: string;
  readonly pod: string;
  readonly container: string;
  /** `$__interval`, `$__auto`: LogQL durations. */
  readonly interval: string;
}

export const DEFAULT_LOGQL_SUBSTITUTIONS: LogQLSubstitutions = { name: '.+', namespace: '.*', pod: '.*', container: '.*', interval: '1m' };

export interface LogQLQuery {
  readonly dashboard: string;
  readonly panel: string;
  readonly panelId: number;
  readonly refId: string;
  /** As written in the dashboard. */
  readonly expr: string;
  /** With the variables substituted: plain LogQL. */
  readonly logql: string;
  readonly requires: readonly Requirement[];
}

/** Replaces the container view's variables and `$__interval`/`$__auto` in a LogQL expression; throws on any other. */
export function substituteLogQL(expr: string, subs: LogQLSubstitutions = DEFAULT_LOGQL_SUBSTITUTIONS): string {
  const values: Record<string, string> = {
    name: subs.name,
    namespace: subs.namespace,
    pod: subs.pod,
    container: subs.container,
    __interval: subs.interval,
    __auto: subs.interval,
  };
  // Label values go inside LogQL double-quoted strings, as in PromQL.
  return interpolate(expr, values, (key, v) => (key.startsWith('__') ? v : quoted(v)));
}

/** Every LogQL query (the Loki panels' targets), in dashboard order, substituted. */
export function listLogQL(subs: Partial<LogQLSubstitutions> = {}): LogQLQuery[] {
  const all = { ...DEFAULT_LOGQL_SUBSTITUTIONS, ...subs };
  const out: LogQLQuery[] = [];
  for (const d of dashboards()) {
    const uid = d.json.uid ?? d.file;
    for (const p of d.json.panels ?? []) {
      if (p.type === 'row' || !('targets' in p)) continue;
      const meta = d.panels.find((m) => m.id === p.id);
      for (const t of p.targets ?? []) {
        if (targetType(p, t) !== 'loki') continue;
        const q = t as unknown as { expr: string; refId: string };
        out.push({ dashboard: uid, panel: p.title ?? '', panelId: p.id ?? 0, refId: q.refId, expr: q.expr, logql: substituteLogQL(q.expr, all), requires: meta?.requires ?? [] });
      }
    }
  }
  return out;
}
