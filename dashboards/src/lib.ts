/**
 * Building blocks shared by the dashboards: the datasource reference, the template
 * variables, and one helper per panel kind that insists on what every lookout panel must
 * have (a unit, a description, thresholds, queries against `${datasource}`), so that a
 * panel without them does not compile.
 *
 * Panels also declare what a node needs for them to show data (`requires`); that is not
 * written into the JSON but kept beside it, for the query list in `queries.ts`.
 */
import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import * as common from '@grafana/grafana-foundation-sdk/common';
import {
  DashboardBuilder,
  DashboardCursorSync,
  DashboardLinkBuilder,
  DashboardLinkType,
  DatasourceVariableBuilder,
  MappingType,
  QueryVariableBuilder,
  RowBuilder,
  ThresholdsConfigBuilder,
  ThresholdsMode,
  VariableRefresh,
  VariableSort,
  type Dashboard,
  type DataTransformerConfig,
  type DynamicConfigValue,
  type ValueMapping,
} from '@grafana/grafana-foundation-sdk/dashboard';
import { PanelBuilder as LogsBuilder } from '@grafana/grafana-foundation-sdk/logs';
import { DataqueryBuilder as LokiQueryBuilder } from '@grafana/grafana-foundation-sdk/loki';
import { DataqueryBuilder, PromQueryFormat } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder as StatBuilder } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as TableBuilder } from '@grafana/grafana-foundation-sdk/table';
import { PanelBuilder as TimeseriesBuilder } from '@grafana/grafana-foundation-sdk/timeseries';
import { LIMITS } from './alerts.js';

/**
 * Where a dashboard's data comes from. A dashboard has one primary data source (Prometheus,
 * or InfluxDB for the dashboards over the InfluxDB exporter's Telegraf layout), picked by its
 * `datasource` variable; the container view adds Loki for its logs panels (`loki` variable).
 */
export type DatasourceKind = 'prometheus' | 'influxdb' | 'loki';
/** The query language of each kind of data source. */
export type Language = 'promql' | 'influxql' | 'logql';
export const LANGUAGE: Readonly<Record<DatasourceKind, Language>> = { prometheus: 'promql', influxdb: 'influxql', loki: 'logql' };

/** The datasource reference of each kind: always a template variable, never an import input. */
export const DATASOURCES = {
  prometheus: { type: 'prometheus', uid: '${datasource}' },
  influxdb: { type: 'influxdb', uid: '${datasource}' },
  loki: { type: 'loki', uid: '${loki}' },
} as const satisfies Record<DatasourceKind, { type: DatasourceKind; uid: string }>;

/** Every panel, target and query variable of a Prometheus dashboard reads from the datasource the `datasource` variable selects. */
export const DATASOURCE = DATASOURCES.prometheus;

/**
 * What a node must have for a panel to show data. A panel without requirements returns
 * data on any node where lookout runs and Prometheus scrapes it.
 */
export type Requirement =
  | 'kubernetes'
  | 'psi'
  | 'cpu-limit'
  | 'memory-limit'
  | 'memory-reservation'
  | 'pids-limit'
  | 'throttled'
  | 'oom-kill'
  | 'restart'
  | 'terminated'
  | 'network'
  | 'block-io'
  | 'collector-error'
  | 'push-exporter'
  | 'exporter-retry'
  | 'exporter-reject'
  | 'exporter-drop'
  | 'logs'
  | 'influxdb-logs';

export interface RequirementInfo {
  /** What the node (or an end-to-end test) must provide. */
  readonly needs: string;
  /** Set when a plain Docker node (no Kubernetes, healthy agent) can never provide it. */
  readonly plainDocker?: string;
}

export const REQUIREMENTS: Readonly<Record<Requirement, RequirementInfo>> = {
  kubernetes: {
    needs: 'containers started by the kubelet, whose series carry namespace, pod and container labels',
    plainDocker: 'no Kubernetes on the node: container series carry no namespace, pod or container label',
  },
  psi: {
    needs: 'PSI pressure files (cgroup v2, or the unified tree of a hybrid host, with PSI enabled)',
  },
  'cpu-limit': { needs: 'a running container with a CPU quota (docker run --cpus)' },
  'memory-limit': { needs: 'a running container with a memory limit (docker run --memory)' },
  'memory-reservation': { needs: 'a running container with a memory reservation (docker run --memory-reservation)' },
  'pids-limit': { needs: 'a running container with a pids limit (docker run --pids-limit)' },
  throttled: {
    needs: 'a container throttled in more than 25% of its CFS periods (e.g. a busy loop with docker run --cpus 0.5)',
  },
  'oom-kill': { needs: 'a container OOM-killed within the time range' },
  restart: { needs: 'a container restarted by its runtime (docker run --restart on-failure) within the time range' },
  terminated: { needs: 'a container that has exited at least once and is still known to its runtime' },
  network: {
    needs: 'a container with a network interface other than lo, veth*, docker* and nerdctl* (not --network none)',
  },
  'block-io': { needs: 'a container that read or wrote a block device within the time range (e.g. dd with oflag=direct)' },
  'collector-error': {
    needs: 'a collector error (an unreadable or malformed file) since the agent started',
    plainDocker: 'a healthy agent counts no collector errors, and the counter has no series before the first one',
  },
  'push-exporter': { needs: 'a push exporter enabled (exporters.influxdb, exporters.remotewrite or exporters.otlp); for deliveries, a log destination counts too' },
  'exporter-retry': { needs: 'a push exporter whose destination failed in a way worth retrying (network error, 408, 429, 5xx) within the time range' },
  'exporter-reject': { needs: 'a push exporter whose destination rejected a batch for good (4xx other than 408 and 429) within the time range' },
  'exporter-drop': { needs: 'a push exporter whose queue overflowed max_buffer_bytes (destination down or too slow) within the time range' },
  logs: { needs: 'a log destination (exporters.file or --log-output-file) and a container writing to stdout or stderr' },
  'influxdb-logs': {
    needs: 'container logs in InfluxDB (exporters.influxdb.logs.enabled: measurement syslog, Telegraf syslog-input layout) and a container writing to stdout or stderr',
  },
};

/** Threshold steps: `[value, color]`, the first with value null (the base). */
export type Steps = ReadonlyArray<readonly [number | null, string]>;

export const STEPS = {
  /** No meaningful limit (rates of bytes, counts of processes): the base color only. */
  none: [[null, 'green']],
  /** Fractions of a limit (working set / limit, usage / quota); red where LookoutContainerMemoryNearLimit fires. */
  nearLimit: [[null, 'green'], [0.8, 'orange'], [LIMITS.memory, 'red']],
  /** Share of CFS periods throttled; red where LookoutContainerCPUThrottlingHigh fires. */
  throttling: [[null, 'green'], [0.1, 'orange'], [LIMITS.throttling, 'red']],
  /** Share of time stalled on a resource (PSI); red where LookoutContainerPressureStalled fires. */
  pressure: [[null, 'green'], [LIMITS.pressure / 2, 'orange'], [LIMITS.pressure, 'red']],
  /** Counts of bad events (OOM kills, errors): any is worth a look. */
  anyIsBad: [[null, 'green'], [1, 'red']],
  /** Restarts: one is news, several is a crash loop. */
  restarts: [[null, 'green'], [1, 'orange'], [3, 'red']],
} as const satisfies Record<string, Steps>;

export interface Query {
  /** PromQL, InfluxQL or LogQL, as the panel's data source speaks. */
  readonly expr: string;
  /** Legend (time series) or the column title (tables). */
  readonly legend?: string;
  /** What this query needs beyond its panel's requirements (e.g. the limit line of a usage panel). */
  readonly requires?: readonly Requirement[];
}

interface PanelCommon {
  /** `loki`: the panel queries the Loki the `loki` variable selects (LogQL); else the dashboard's primary data source. */
  readonly source?: 'loki';
  readonly title: string;
  readonly description: string;
  /** A Grafana unit id (see @grafana/grafana-foundation-sdk/units). */
  readonly unit: string;
  readonly thresholds: Steps;
  readonly queries: readonly Query[];
  readonly requires?: readonly Requirement[];
  /** Width (of 24) and height in grid units. */
  readonly w?: number;
  readonly h?: number;
  readonly min?: number;
  readonly max?: number;
  readonly decimals?: number;
  /** Shown instead of "No data" where no series is the normal, good case. */
  readonly noValue?: string;
  /** Value to text, e.g. 0 → "unlimited". */
  readonly valueText?: Readonly<Record<string, string>>;
}

export interface TimeseriesSpec extends PanelCommon {
  readonly stack?: boolean;
  readonly bars?: boolean;
  /** Draw the threshold steps as dashed lines (ratios); off by default. */
  readonly thresholdLines?: boolean;
  /** Series whose legend matches this regex are drawn dashed (limits, maxima). */
  readonly dashed?: string;
}

export interface StatSpec extends PanelCommon {
  /** `name` shows the legend (e.g. a label such as the image or the reason) instead of the value. */
  readonly show?: 'value' | 'name';
  readonly sparkline?: boolean;
}

export interface TableColumn {
  readonly title: string;
  readonly unit: string;
  readonly thresholds?: Steps;
  /** Color the cell text by the thresholds. */
  readonly colored?: boolean;
  /** A value that only carries labels (e.g. `container_last_terminated_reason`, always 1). */
  readonly hidden?: boolean;
  readonly decimals?: number;
}

export interface TableSpec extends Omit<PanelCommon, 'queries'> {
  /** Instant queries, merged on their common labels. */
  readonly queries: ReadonlyArray<Query & { readonly column: TableColumn }>;
  /** Label columns to show, in order, with their titles; others are hidden. */
  readonly labels: ReadonlyArray<readonly [string, string]>;
  /** Column title to sort by, descending. */
  readonly sortBy?: string;
}

export interface PanelMeta {
  readonly id: number;
  readonly title: string;
  /** The language of its queries (its data source's). */
  readonly language: Language;
  /** What the panel needs to show anything. */
  readonly requires: readonly Requirement[];
  /** What each query (by refId) needs beyond the panel's requirements. */
  readonly queryRequires: Readonly<Record<string, readonly Requirement[]>>;
}

export interface VariableSpec {
  readonly name: string;
  readonly label: string;
  readonly description: string;
  /**
   * Prometheus dashboards: a series selector; the variable's values are
   * `label_values(selector, name)`. InfluxDB dashboards: the whole InfluxQL statement
   * (`SHOW TAG VALUES ...`).
   */
  readonly selector: string;
  readonly multi?: boolean;
  /** Regex used when "All" is selected; no "All" option when undefined. */
  readonly allValue?: string;
  readonly requires?: readonly Requirement[];
}

export interface BuiltDashboard {
  /** File name under dashboards/. */
  readonly file: string;
  /** The primary data source (the `datasource` variable's type). */
  readonly datasource: 'prometheus' | 'influxdb';
  readonly json: Dashboard;
  readonly panels: readonly PanelMeta[];
  readonly variables: readonly VariableSpec[];
}

function thresholds(steps: Steps): ThresholdsConfigBuilder {
  return new ThresholdsConfigBuilder()
    .mode(ThresholdsMode.Absolute)
    .steps(steps.map(([value, color]) => ({ value, color })));
}

function valueMappings(valueText: Readonly<Record<string, string>> | undefined): ValueMapping[] {
  if (valueText === undefined) return [];
  const options: Record<string, { text: string; index: number }> = {};
  Object.entries(valueText).forEach(([value, text], index) => {
    options[value] = { text, index };
  });
  return [{ type: MappingType.ValueToText, options }];
}

const REF_IDS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const refId = (i: number): string => REF_IDS[i] ?? `Q${i}`;

/**
 * Grafana's InfluxDB query (`InfluxQuery` of its influxdb data source plugin), in raw InfluxQL
 * mode. The SDK has no InfluxDB query type, so this is the subset lookout writes.
 */
export interface InfluxQuery {
  readonly refId: string;
  readonly datasource: typeof DATASOURCES.influxdb;
  /** Raw InfluxQL, with Grafana's macros ($timeFilter, $__interval) and variables. */
  readonly query: string;
  readonly rawQuery: true;
  readonly resultFormat: 'time_series' | 'table' | 'logs';
  /** Series name; `$tag_<key>` is a tag's value. */
  readonly alias?: string;
}

class InfluxQueryBuilder implements cog.Builder<cog.Dataquery> {
  constructor(private readonly q: InfluxQuery) {}
  build(): cog.Dataquery {
    // The method only marks the type for TypeScript; JSON.stringify leaves it out.
    return { ...this.q, _implementsDataqueryVariant() {} };
  }
}

type Shape = 'range' | 'instant' | 'logs';

function target(kind: DatasourceKind, q: Query, i: number, shape: Shape): cog.Builder<cog.Dataquery> {
  if (kind === 'influxdb') {
    const resultFormat = shape === 'instant' ? 'table' : shape === 'logs' ? 'logs' : 'time_series';
    return new InfluxQueryBuilder({
      refId: refId(i),
      datasource: DATASOURCES.influxdb,
      query: q.expr,
      rawQuery: true,
      resultFormat,
      ...(q.legend !== undefined && shape === 'range' ? { alias: q.legend } : {}),
    });
  }
  if (kind === 'loki') {
    const t = new LokiQueryBuilder().datasource(DATASOURCES.loki).refId(refId(i)).expr(q.expr).queryType('range');
    return shape === 'range' ? t.legendFormat(q.legend ?? '__auto') : t;
  }
  const t = new DataqueryBuilder().datasource(DATASOURCE).refId(refId(i)).expr(q.expr);
  if (shape === 'instant') return t.instant().format(PromQueryFormat.Table);
  return t.range().legendFormat(q.legend ?? '__auto');
}

type AnyPanelBuilder = TimeseriesBuilder | StatBuilder | TableBuilder;

/** Applies what every panel shares: identity, size, datasource, unit, thresholds, mappings. */
function common_<B extends AnyPanelBuilder>(b: B, id: number, spec: PanelCommon, w: number, h: number, kind: DatasourceKind): B {
  b.id(id)
    .title(spec.title)
    .description(spec.description)
    .datasource(DATASOURCES[kind])
    .gridPos({ x: 0, y: 0, w: spec.w ?? w, h: spec.h ?? h })
    .unit(spec.unit)
    .thresholds(thresholds(spec.thresholds));
  if (spec.min !== undefined) b.min(spec.min);
  if (spec.max !== undefined) b.max(spec.max);
  if (spec.decimals !== undefined) b.decimals(spec.decimals);
  if (spec.noValue !== undefined) b.noValue(spec.noValue);
  const mappings = valueMappings(spec.valueText);
  if (mappings.length > 0) b.mappings(mappings);
  return b;
}

/** A logs panel: the newest lines of the selected containers. */
export interface LogsSpec {
  /** `loki`: LogQL against the `loki` variable's Loki; else InfluxQL against the dashboard's InfluxDB. */
  readonly source?: 'loki';
  readonly title: string;
  readonly description: string;
  readonly query: string;
  readonly requires?: readonly Requirement[];
  readonly w?: number;
  readonly h?: number;
}

/** A table of one InfluxQL query (resultFormat table): its tag columns, then its field columns. */
export interface InfluxTableSpec extends Omit<PanelCommon, 'queries' | 'source'> {
  readonly query: string;
  /** Tag (GROUP BY) columns to show, in order, with their titles. */
  readonly labels: ReadonlyArray<readonly [string, string]>;
  /** Field columns (the names the query gives them with AS), in order. */
  readonly columns: ReadonlyArray<{ readonly field: string } & TableColumn>;
  readonly sortBy?: string;
}

/** A dashboard under construction: keeps panel ids unique and records each panel's requirements. */
export class Board {
  private readonly builder: DashboardBuilder;
  private readonly panels: PanelMeta[] = [];
  private readonly variables: VariableSpec[] = [];
  private nextId = 1;

  constructor(
    private readonly file: string,
    uid: string,
    title: string,
    description: string,
    private readonly primary: 'prometheus' | 'influxdb' = 'prometheus',
  ) {
    this.builder = new DashboardBuilder(title)
      .uid(uid)
      .description(description)
      .tags(['lookout'])
      .editable()
      .tooltip(DashboardCursorSync.Crosshair)
      .time({ from: 'now-1h', to: 'now' })
      .refresh('30s')
      .timezone('browser')
      .link(
        new DashboardLinkBuilder('lookout')
          .type(DashboardLinkType.Dashboards)
          .tags(['lookout'])
          .asDropdown(true)
          .includeVars(true)
          .keepTime(true)
          .targetBlank(false)
          .icon('external link')
          .tooltip('The other lookout dashboards, with the same variables and time range'),
      )
      .withVariable(
        new DatasourceVariableBuilder('datasource')
          .label('Data source')
          .description(primary === 'prometheus' ? 'The Prometheus that scrapes lookout.' : 'The InfluxDB (InfluxQL) database lookout\'s influxdb exporter writes to (layout telegraf).')
          .type(primary),
      );
  }

  /** Adds the `loki` variable: the Loki that lookout's Loki exporter pushes container logs to. */
  withLoki(): this {
    this.builder.withVariable(
      new DatasourceVariableBuilder('loki')
        .label('Logs data source')
        .description('The Loki that lookout\'s loki exporter pushes container logs to (streams labelled name, namespace, pod, container, stream, level, host).')
        .type('loki'),
    );
    return this;
  }

  /** A query variable whose values are the label's values on `selector`. */
  variable(v: VariableSpec): this {
    const query = this.primary === 'prometheus' ? `label_values(${v.selector}, ${v.name})` : v.selector;
    const b = new QueryVariableBuilder(v.name)
      .label(v.label)
      .description(v.description)
      .datasource(DATASOURCES[this.primary])
      .query(query)
      .definition(query)
      .refresh(VariableRefresh.OnTimeRangeChanged)
      .sort(VariableSort.AlphabeticalAsc)
      .multi(v.multi ?? false);
    if (v.allValue !== undefined) b.includeAll(true).allValue(v.allValue);
    this.builder.withVariable(b);
    this.variables.push(v);
    return this;
  }

  row(title: string): this {
    this.builder.withRow(new RowBuilder(title).id(this.nextId++));
    return this;
  }

  private kind(spec: { readonly source?: 'loki' }): DatasourceKind {
    return spec.source ?? this.primary;
  }

  private record(spec: Pick<PanelCommon, 'title' | 'queries' | 'requires' | 'source'>): number {
    const id = this.nextId++;
    const queryRequires: Record<string, readonly Requirement[]> = {};
    spec.queries.forEach((q, i) => {
      if (q.requires !== undefined && q.requires.length > 0) queryRequires[refId(i)] = q.requires;
    });
    this.panels.push({ id, title: spec.title, language: LANGUAGE[this.kind(spec)], requires: spec.requires ?? [], queryRequires });
    return id;
  }

  timeseries(spec: TimeseriesSpec): this {
    const id = this.record(spec);
    const kind = this.kind(spec);
    const b = common_(new TimeseriesBuilder(), id, spec, 12, 8, kind)
      .legend(
        new common.VizLegendOptionsBuilder()
          .showLegend(true)
          .displayMode(common.LegendDisplayMode.Table)
          .placement(common.LegendPlacement.Bottom)
          .calcs(['mean', 'max', 'lastNotNull']),
      )
      .tooltip(new common.VizTooltipOptionsBuilder().mode(common.TooltipDisplayMode.Multi).sort(common.SortOrder.Descending))
      .lineWidth(1)
      .fillOpacity(spec.stack ? 30 : 10)
      .showPoints(common.VisibilityMode.Never)
      .spanNulls(false)
      .thresholdsStyle(
        new common.GraphThresholdsStyleConfigBuilder().mode(
          spec.thresholdLines ? common.GraphThresholdsStyleMode.Dashed : common.GraphThresholdsStyleMode.Off,
        ),
      );
    if (spec.stack) b.stacking(new common.StackingConfigBuilder().mode(common.StackingMode.Normal).group('A'));
    if (spec.bars) b.drawStyle(common.GraphDrawStyle.Bars).fillOpacity(80);
    if (spec.dashed !== undefined) {
      const dash: DynamicConfigValue[] = [
        { id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } },
        { id: 'custom.fillOpacity', value: 0 },
        { id: 'custom.stacking', value: { mode: 'none', group: 'A' } },
      ];
      b.overrideByRegexp(spec.dashed, dash);
    }
    spec.queries.forEach((q, i) => b.withTarget(target(kind, q, i, 'range')));
    this.builder.withPanel(b);
    return this;
  }

  stat(spec: StatSpec): this {
    const id = this.record(spec);
    const kind = this.kind(spec);
    const b = common_(new StatBuilder(), id, spec, 4, 4, kind)
      .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
      .colorMode(common.BigValueColorMode.Value)
      .graphMode(spec.sparkline ? common.BigValueGraphMode.Area : common.BigValueGraphMode.None)
      .textMode(spec.show === 'name' ? common.BigValueTextMode.Name : common.BigValueTextMode.Auto)
      .orientation(common.VizOrientation.Auto);
    // Stats show the current value; a range query keeps the sparkline possible.
    spec.queries.forEach((q, i) => b.withTarget(target(kind, q, i, 'range')));
    this.builder.withPanel(b);
    return this;
  }

  table(spec: TableSpec): this {
    if (this.primary !== 'prometheus' || spec.source !== undefined) throw new Error(`${spec.title}: table() merges PromQL instant queries; use influxTable()`);
    const id = this.record({ ...spec, queries: spec.queries });
    const b = common_(new TableBuilder(), id, { ...spec, queries: spec.queries }, 12, 8, 'prometheus')
      .cellHeight(common.TableCellHeight.Sm)
      .showHeader(true)
      .inspect(false)
      .align(common.FieldTextAlignment.Auto);
    if (spec.sortBy !== undefined) b.sortBy([new common.TableSortByFieldStateBuilder().displayName(spec.sortBy).desc(true)]);
    // Grafana names the value of a lone table query "Value", of several "Value #<refId>".
    const valueField = (i: number): string => (spec.queries.length === 1 ? 'Value' : `Value #${refId(i)}`);
    const exclude: Record<string, boolean> = { Time: true };
    const rename: Record<string, string> = {};
    const index: Record<string, number> = {};
    let n = 0;
    for (const [label, title] of spec.labels) {
      rename[label] = title;
      index[label] = n++;
    }
    spec.queries.forEach((q, i) => {
      b.withTarget(target('prometheus', q, i, 'instant'));
      const field = valueField(i);
      if (q.column.hidden) {
        exclude[field] = true;
        return;
      }
      rename[field] = q.column.title;
      index[field] = n++;
      const props: DynamicConfigValue[] = [{ id: 'unit', value: q.column.unit }];
      if (q.column.decimals !== undefined) props.push({ id: 'decimals', value: q.column.decimals });
      if (q.column.thresholds !== undefined) {
        props.push({ id: 'thresholds', value: thresholds(q.column.thresholds).build() });
      }
      if (q.column.colored) props.push({ id: 'custom.cellOptions', value: { type: 'color-text' } });
      b.overrideByName(q.column.title, props);
    });
    const transformations: DataTransformerConfig[] = [
      { id: 'merge', options: {} },
      // Hide every label column not listed (job, instance, id, ...), keep the listed ones in order.
      {
        id: 'filterFieldsByName',
        options: { include: { names: [...spec.labels.map(([l]) => l), ...spec.queries.map((_q, i) => valueField(i))] } },
      },
      { id: 'organize', options: { excludeByName: exclude, indexByName: index, renameByName: rename } },
    ];
    b.transformations(transformations);
    this.builder.withPanel(b);
    return this;
  }

  /** A table of one InfluxQL query: tags and fields as columns (InfluxDB dashboards). */
  influxTable(spec: InfluxTableSpec): this {
    if (this.primary !== 'influxdb') throw new Error(`${spec.title}: influxTable() on a ${this.primary} dashboard`);
    const query: Query = { expr: spec.query };
    const id = this.record({ ...spec, queries: [query] });
    const b = common_(new TableBuilder(), id, { ...spec, queries: [query] }, 12, 8, 'influxdb')
      .cellHeight(common.TableCellHeight.Sm)
      .showHeader(true)
      .inspect(false)
      .align(common.FieldTextAlignment.Auto);
    if (spec.sortBy !== undefined) b.sortBy([new common.TableSortByFieldStateBuilder().displayName(spec.sortBy).desc(true)]);
    b.withTarget(target('influxdb', query, 0, 'instant'));
    const rename: Record<string, string> = {};
    const index: Record<string, number> = {};
    let n = 0;
    for (const [tag, title] of spec.labels) {
      rename[tag] = title;
      index[tag] = n++;
    }
    for (const c of spec.columns) {
      rename[c.field] = c.title;
      index[c.field] = n++;
      const props: DynamicConfigValue[] = [{ id: 'unit', value: c.unit }];
      if (c.decimals !== undefined) props.push({ id: 'decimals', value: c.decimals });
      if (c.thresholds !== undefined) props.push({ id: 'thresholds', value: thresholds(c.thresholds).build() });
      if (c.colored) props.push({ id: 'custom.cellOptions', value: { type: 'color-text' } });
      b.overrideByName(c.title, props);
    }
    b.transformations([
      {
        id: 'filterFieldsByName',
        options: { include: { names: [...spec.labels.map(([l]) => l), ...spec.columns.map((c) => c.field)] } },
      },
      { id: 'organize', options: { excludeByName: { Time: true }, indexByName: index, renameByName: rename } },
    ]);
    this.builder.withPanel(b);
    return this;
  }

  /** A logs panel, newest lines first, with their labels or tags a click away. */
  logs(spec: LogsSpec): this {
    const kind = this.kind(spec);
    if (kind === 'prometheus') throw new Error(`${spec.title}: no logs in Prometheus`);
    const query: Query = { expr: spec.query };
    const id = this.record({ ...spec, queries: [query] });
    const b = new LogsBuilder()
      .id(id)
      .title(spec.title)
      .description(spec.description)
      .datasource(DATASOURCES[kind])
      .gridPos({ x: 0, y: 0, w: spec.w ?? 24, h: spec.h ?? 10 })
      .showTime(true)
      .showLabels(false)
      .showCommonLabels(false)
      .wrapLogMessage(true)
      .prettifyLogMessage(false)
      .enableLogDetails(true)
      .showLogContextToggle(kind === 'loki')
      .dedupStrategy(common.LogsDedupStrategy.None)
      .sortOrder(common.LogsSortOrder.Descending)
      .withTarget(target(kind, query, 0, 'logs'));
    this.builder.withPanel(b);
    return this;
  }

  build(): BuiltDashboard {
    const json = this.builder.build();
    // The SDK defaults links to `placement: inControlsMenu` (Grafana 12 tucks them into a
    // menu); without it they show in the dashboard's header, in every Grafana version.
    for (const link of json.links ?? []) delete link.placement;
    return { file: this.file, datasource: this.primary, json, panels: this.panels, variables: this.variables };
  }
}

// Helpers that let a dashboard file read as a list of panels: one call per panel, with what
// differs from panel to panel (title, unit, thresholds, description, queries) as arguments.

/** What a time series panel may set beyond what every panel must have. */
export type GraphOptions = Omit<TimeseriesSpec, 'title' | 'description' | 'unit' | 'thresholds' | 'queries'>;

/**
 * A time series panel from what every panel must have: title, unit, thresholds, description and
 * its query or queries. The axis starts at 0 (every lookout graph shows a rate, a size, a
 * count, a duration or a share) unless `more.min` says otherwise.
 */
export function graph(title: string, unit: string, thresholds: Steps, description: string, queries: Query | readonly Query[], more: GraphOptions = {}): TimeseriesSpec {
  return { title, description, unit, thresholds, min: 0, queries: 'expr' in queries ? [queries] : queries, ...more };
}

/** A share of a limit (usage / quota, working set / limit): red where LookoutContainerMemoryNearLimit fires, threshold lines drawn. Any query language. */
export function ofLimitGraph(title: string, description: string, queries: Query | readonly Query[], more: GraphOptions = {}): TimeseriesSpec {
  return graph(title, 'percentunit', STEPS.nearLimit, description, queries, { thresholdLines: true, ...more });
}

/** The share of CFS periods throttled, 0 to 1: red where LookoutContainerCPUThrottlingHigh fires; needs a CPU limit. Any query language. */
export function throttlingGraph(title: string, description: string, queries: Query | readonly Query[], more: GraphOptions = {}): TimeseriesSpec {
  return graph(title, 'percentunit', STEPS.throttling, description, queries, { thresholdLines: true, max: 1, requires: ['cpu-limit'], ...more });
}

/** Grafana's rate interval, the range of rate() and increase() in PromQL. */
export const RATE_INTERVAL = '$__rate_interval';

/** PromQL: the per-second rate of a counter over the series `sel` selects, summed by `by` (`name`, `name, interface`, ...). */
export function sumRate(by: string, metric: string, sel: string): string {
  return `sum by (${by}) (rate(${metric}{${sel}}[${RATE_INTERVAL}]))`;
}

/** A legend of the `by` labels (`{{name}} {{interface}}`), then `suffix`. */
export function legendOf(by: string, suffix?: string): string {
  return [...by.split(', ').map((l) => `{{${l}}}`), ...(suffix === undefined ? [] : [suffix])].join(' ');
}

/** One query per `[metric, suffix]`: its `sumRate` by `by`, legend the labels and the suffix (receive and transmit, read and write, some and full). */
export function rates(by: string, sel: string, metrics: ReadonlyArray<readonly [string, string]>): Query[] {
  return metrics.map(([metric, suffix]) => ({ expr: sumRate(by, metric, sel), legend: legendOf(by, suffix) }));
}

// Panels over container series that the container and node dashboards both show; `sel` is
// their selector of container series, the descriptions say what each dashboard adds.

export type PsiResource = 'cpu' | 'memory' | 'io';

/** The PSI counter of a resource: time some task waited (`some`), or all non-idle tasks were stalled (`full`). */
export function psiMetric(resource: PsiResource, kind: 'some' | 'full'): string {
  return `container_pressure_${resource}_${kind === 'some' ? 'waiting' : 'stalled'}_seconds_total`;
}

const PSI_STEPS: Readonly<Record<PsiResource, Steps>> = { cpu: [[null, 'green'], [0.25, 'orange'], [0.5, 'red']], memory: STEPS.pressure, io: STEPS.pressure };

/** Share of time stalled on a resource (PSI; memory and I/O red where LookoutContainerPressureStalled fires), a third of a row. */
export function pressureGraph(resource: PsiResource, title: string, description: string, queries: Query | readonly Query[]): TimeseriesSpec {
  return graph(title, 'percentunit', PSI_STEPS[resource], description, queries, { thresholdLines: true, w: 8, requires: ['psi'] });
}

/** Packets per second with errors or dropped, received and transmitted, by `by`. */
export function networkErrorsGraph(sel: string, by: string, description: string): TimeseriesSpec {
  const queries = rates(by, sel, [
    ['container_network_receive_errors_total', 'receive errors'],
    ['container_network_transmit_errors_total', 'transmit errors'],
    ['container_network_receive_packets_dropped_total', 'receive drops'],
    ['container_network_transmit_packets_dropped_total', 'transmit drops'],
  ]);
  return graph('Network errors and drops', 'pps', STEPS.anyIsBad, description, queries, { w: 8, requires: ['network'] });
}

/** CPU used as a share of the CPU quota, by container. */
export function cpuOfLimitGraph(sel: string, description: string): TimeseriesSpec {
  const expr = `${sumRate('name', 'container_cpu_usage_seconds_total', sel)} / sum by (name) (container_spec_cpu_quota{${sel}} / container_spec_cpu_period{${sel}})`;
  return ofLimitGraph('CPU usage against limit', description, { expr, legend: '{{name}}' }, { requires: ['cpu-limit'] });
}

/** Throttled CFS periods / periods, by container. */
export function cpuThrottlingGraph(sel: string, description: string): TimeseriesSpec {
  const expr = `${sumRate('name', 'container_cpu_cfs_throttled_periods_total', sel)} / sum by (name) (rate(container_cpu_cfs_periods_total{${sel}}[${RATE_INTERVAL}]) > 0)`;
  return throttlingGraph('CPU throttling', description, { expr, legend: '{{name}}' });
}

/** Working set as a share of the memory limit, by container (containers with a limit). */
export function memoryOfLimitGraph(sel: string, description: string): TimeseriesSpec {
  const expr = `sum by (name) (container_memory_working_set_bytes{${sel}}) / sum by (name) (container_spec_memory_limit_bytes{${sel}} > 0)`;
  return ofLimitGraph('Memory working set against limit', description, { expr, legend: '{{name}}' }, { requires: ['memory-limit'] });
}

/** Restarts by the runtime per interval, as bars; nothing when there were none. */
export function restartsGraph(sel: string, description: string): TimeseriesSpec {
  const expr = `sum by (name) (increase(container_restarts_total{${sel}}[${RATE_INTERVAL}])) > 0`;
  return graph('Restarts', 'short', STEPS.restarts, description, { expr, legend: '{{name}}' }, { bars: true, noValue: 'no restarts', requires: ['restart'] });
}

/** Why each container last terminated (the reason, a label), its exit code and when. */
export function lastTerminationTable(sel: string, title: string, description: string, more: Pick<TableSpec, 'sortBy'> = {}): TableSpec {
  return {
    title,
    description,
    unit: 'none',
    thresholds: STEPS.none,
    requires: ['terminated'],
    labels: [['name', 'Container'], ['reason', 'Reason']],
    ...more,
    queries: [
      { expr: `max by (name, reason) (container_last_terminated_reason{${sel}})`, column: { title: 'Reason', unit: 'none', hidden: true } },
      {
        expr: `max by (name) (container_last_terminated_exit_code{${sel}})`,
        column: { title: 'Exit code', unit: 'none', thresholds: STEPS.anyIsBad, colored: true, decimals: 0 },
      },
      { expr: `max by (name) (container_last_terminated_timestamp_seconds{${sel}}) * 1000`, column: { title: 'Terminated at', unit: 'dateTimeAsIso' } },
    ],
  };
}
