/**
 * Every query of the dashboards. PromQL: it names only metrics lookout (or Prometheus)
 * exports, it parses (promtool, with Grafana's variables substituted), and the exported query
 * list that the end-to-end test runs against a real Prometheus covers all of them. LogQL: it
 * parses with Grafana's own LogQL grammar (@grafana/lezer-logql) without an error node, and
 * selects only labels lookout's Loki streams carry. InfluxQL: it names only measurements,
 * fields and tags lookout's influxdb exporter writes (from exporters/influxdb/layout.ts for
 * metrics, from a point its syslog encoder writes for logs), and the list the InfluxDB end-to-end test runs covers all of them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { cgroupsCollector } from '../../collectors/cgroups/index.js';
import { dockerCollector } from '../../collectors/docker/index.js';
import { hostCollector } from '../../collectors/host/index.js';
import { lifecycleCollector } from '../../collectors/lifecycle/index.js';
import { parser as logqlParser } from '@grafana/lezer-logql';
import { logsCollector } from '../../collectors/logs/index.js';
import { dashboardsDir } from '../../dashboards/src/generate.js';
import {
  DEFAULT_SUBSTITUTIONS,
  escapeRegExp,
  influxTimeFilter,
  listInfluxQL,
  listLogQL,
  listQueries,
  panelsEmptyOnPlainDocker,
  substitute,
  substituteInflux,
  substituteLogQL,
} from '../../dashboards/src/queries.js';
import { TELEGRAF } from '../../exporters/influxdb/layout.js';
import { SyslogEncoder } from '../../exporters/influxdb/logs.js';
import { Labels } from '../../src/model.js';
import { dashboards } from '../../dashboards/src/render.js';
import { SelfMetrics } from '../../src/selfmetrics.js';
import { describeWith, requireOrSkip } from '../helpers/require.js';
import { promtool, promtoolUsable, withTempFile } from './promtool.js';

/** Every metric name lookout can export, from the collectors' catalogues and the agent's registry. */
async function knownMetrics(): Promise<Set<string>> {
  const names = new Set<string>();
  for (const f of [cgroupsCollector, hostCollector, lifecycleCollector, dockerCollector, logsCollector]) {
    for (const m of f.metrics) names.add(m.name);
  }
  for (const m of await new SelfMetrics('test').registry.getMetricsAsJSON()) {
    names.add(m.name);
    if (String(m.type) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(m.name + s);
  }
  // Series Prometheus itself adds to every target.
  for (const n of ['up', 'scrape_duration_seconds', 'scrape_samples_scraped', 'scrape_series_added']) names.add(n);
  return names;
}

/** Metric names an expression uses (quoted label values removed first). */
function metricNames(expr: string): string[] {
  const bare = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  return [...bare.matchAll(/\b(?:container|machine|lookout)_[a-z0-9_]+\b|\bup\b|\bscrape_[a-z_]+\b/g)].map((m) => m[0]);
}

describe('dashboard queries', () => {
  const queries = listQueries();
  let known = new Set<string>();
  beforeAll(async () => {
    known = await knownMetrics();
  });

  it('name only metrics in lookout\'s catalogue (or Prometheus\'s own)', () => {
    const unknown = queries.flatMap((q) => metricNames(q.expr).filter((n) => !known.has(n)).map((n) => `${q.dashboard} / ${q.panel}: ${n}`));
    expect(unknown).toEqual([]);
    expect(queries.every((q) => metricNames(q.expr).length > 0)).toBe(true);
  });

  it('are all listed: every target of every committed dashboard, and every variable, by language', () => {
    const dir = dashboardsDir();
    const targets: Record<string, number> = { prometheus: 0, loki: 0, influxdb: 0 };
    const vars: Record<string, number> = { prometheus: 0, influxdb: 0 };
    for (const d of dashboards()) {
      const json = JSON.parse(readFileSync(join(dir, d.file), 'utf8')) as {
        panels: Array<{ type: string; targets?: Array<{ datasource: { type: string } }> }>;
        templating: { list: Array<{ type: string }> };
      };
      for (const p of json.panels) for (const t of p.targets ?? []) targets[t.datasource.type] = (targets[t.datasource.type] ?? 0) + 1;
      vars[d.datasource] = (vars[d.datasource] ?? 0) + json.templating.list.filter((v) => v.type === 'query').length;
    }
    expect(Object.keys(targets).sort()).toEqual(['influxdb', 'loki', 'prometheus']);
    expect(queries.filter((q) => q.kind === 'panel')).toHaveLength(targets['prometheus'] ?? -1);
    expect(queries.filter((q) => q.kind === 'variable')).toHaveLength(vars['prometheus'] ?? -1);
    const influx = listInfluxQL();
    expect(influx.filter((q) => q.kind === 'panel')).toHaveLength(targets['influxdb'] ?? -1);
    expect(influx.filter((q) => q.kind === 'variable')).toHaveLength(vars['influxdb'] ?? -1);
    expect(listLogQL()).toHaveLength(targets['loki'] ?? -1);
    expect(targets['influxdb']).toBeGreaterThan(20);
    expect(targets['loki']).toBeGreaterThanOrEqual(2);
  });

  it('have every Grafana variable substituted', () => {
    for (const q of queries) expect(q.promql, `${q.dashboard} / ${q.panel}`).not.toMatch(/\$/);
    const scoped = listQueries({ instance: escapeRegExp('127.0.0.1:9337'), name: 'lookout-e2e-.*', rateInterval: '30s' });
    expect(scoped.find((q) => q.dashboard === 'lookout-container' && q.panel === 'CPU usage')?.promql).toBe(
      'sum by (name) (rate(container_cpu_usage_seconds_total{job=~"lookout", instance=~"127\\\\.0\\\\.0\\\\.1:9337", namespace=~".*", pod=~".*", container=~".*", name=~"lookout-e2e-.*"}[30s]))',
    );
    expect(() => substitute('rate(x[$__unknown])')).toThrow(/__unknown/);
    // InfluxQL: Grafana's $timeFilter (absolute, as its backend writes it), $__interval, and regexes.
    expect(substituteInflux('SELECT mean("usage") FROM "m" WHERE "container_name" =~ /^$container$/ AND $timeFilter GROUP BY time($__interval)', {
      host: '.*',
      container: '(web|db\\.1)',
      timeFilter: influxTimeFilter(1000, 61000),
      interval: '5s',
    })).toBe('SELECT mean("usage") FROM "m" WHERE "container_name" =~ /^(web|db\\.1)$/ AND time >= 1000ms and time <= 61000ms GROUP BY time(5s)');
    expect(substituteInflux('"host" =~ /^$host$/', { host: 'a/b', container: '.*', timeFilter: '', interval: '1s' })).toBe('"host" =~ /^a\\/b$/');
    expect(() => substituteInflux('$name')).toThrow(/\$name/);
    // (a regex literal's end anchor `$/` is not a variable)
    for (const q of listInfluxQL()) expect(q.influxql, `${q.dashboard} / ${q.panel}`).not.toMatch(/\$[\w{]|\[\[/);
    // LogQL
    expect(substituteLogQL('{name=~"$name"} [$__auto]', { name: 'a"b', namespace: '.*', pod: '.*', container: '.*', interval: '30s' })).toBe('{name=~"a\\"b"} [30s]');
    for (const q of listLogQL()) expect(q.logql, `${q.dashboard} / ${q.panel}`).not.toMatch(/\$/);
    expect(substitute('x{a=~"${name}"}[$__range]', DEFAULT_SUBSTITUTIONS)).toBe('x{a=~".+"}[1h]');
  });

  it('list the panels that can only be empty on a plain Docker node, with the reason', () => {
    const empty = panelsEmptyOnPlainDocker({ psi: false });
    const key = (p: { dashboard: string; panel: string }): string => `${p.dashboard} / ${p.panel}`;
    const keys = empty.map(key);
    // The whole Kubernetes view.
    const k8s = dashboards().find((d) => d.json.uid === 'lookout-kubernetes');
    for (const p of k8s?.panels ?? []) expect(keys).toContain(`lookout-kubernetes / ${p.title}`);
    expect(empty.find((p) => p.panel === 'CPU by namespace')?.reason).toMatch(/Kubernetes/);
    // A healthy agent has no collector errors.
    expect(keys).toContain('lookout-agent / Collector errors per collection');
    // Pressure needs PSI.
    expect(keys).toContain('lookout-node / Memory pressure (full)');
    expect(panelsEmptyOnPlainDocker({ psi: true }).map(key)).not.toContain('lookout-node / Memory pressure (full)');
    // Everything else can show data there, given the containers the requirements describe.
    expect(keys).not.toContain('lookout-node / CPU usage by container (top 10)');
    expect(keys).not.toContain('lookout-node / OOM kills');
    for (const p of empty) expect(p.reason).not.toBe('');
  });

  it('list only PromQL panels by default, and the InfluxQL panels on request', () => {
    const influx = panelsEmptyOnPlainDocker({ psi: false }, 'influxql');
    expect(panelsEmptyOnPlainDocker({ psi: false }).some((p) => p.dashboard.startsWith('lookout-influxdb'))).toBe(false);
    // InfluxDB panels need nothing a plain Docker node can never have.
    expect(influx).toEqual([]);
  });

  it('carry what each query needs, from its panel and from the query itself', () => {
    const memory = queries.filter((q) => q.dashboard === 'lookout-container' && q.panel === 'Memory');
    expect(memory.find((q) => q.refId === 'A')?.requires).toEqual([]);
    expect(memory.find((q) => q.promql.includes('reservation'))?.requires).toEqual(['memory-reservation']);
    const k8s = queries.filter((q) => q.dashboard === 'lookout-kubernetes' && q.kind === 'panel');
    expect(k8s.every((q) => q.requires.includes('kubernetes'))).toBe(true);
    expect(queries.find((q) => q.dashboard === 'lookout-node' && q.panel === 'Throttled containers')?.requires).toEqual(['throttled']);
  });
});

const avail = await requireOrSkip('promtool', promtoolUsable);

describeWith(avail, 'dashboard queries parse (promtool)', () => {
  it('every query, as a recording rule, passes promtool check rules', async () => {
    const queries = listQueries();
    const rules = queries.map((q) => ({
      record: `dashboard:${q.dashboard.replace(/\W/g, '_')}:${q.kind}_${q.panelId}_${q.refId}`,
      expr: q.promql,
    }));
    expect(new Set(rules.map((r) => r.record)).size).toBe(rules.length);
    const file = stringify({ groups: [{ name: 'dashboard-queries', rules }] }, { lineWidth: 0 });
    const r = await withTempFile('queries.rules.yaml', file, (path) => promtool(['check', 'rules', path]));
    expect(`${r.stdout}${r.stderr}`).toContain(`SUCCESS: ${rules.length} rules found`);
    expect(r.code).toBe(0);
  });

  it('promtool rejects a query that does not parse (negative control)', async () => {
    const file = stringify({ groups: [{ name: 'bad', rules: [{ record: 'bad:query', expr: 'sum by (name) (rate(x[5m])' }] }] });
    const r = await withTempFile('bad.rules.yaml', file, (path) => promtool(['check', 'rules', path]));
    expect(r.code).not.toBe(0);
  });
});

/** The labels lookout's Loki exporter gives its streams. */
const LOKI_LABELS = new Set(['name', 'namespace', 'pod', 'container', 'stream', 'level', 'host']);

/** Error nodes (⚠) in the parse tree of a LogQL expression, with where they are. */
function logqlErrors(expr: string): string[] {
  const out: string[] = [];
  logqlParser.parse(expr).iterate({
    enter(n) {
      if (n.type.isError) out.push(`error at ${n.from}: ${JSON.stringify(expr.slice(Math.max(0, n.from - 10), n.to + 10))}`);
    },
  });
  return out;
}

describe('dashboard LogQL queries (Grafana\'s LogQL grammar, @grafana/lezer-logql)', () => {
  const queries = listLogQL({ name: '(web|db)', interval: '1m' });

  it.each(queries.map((q) => [`${q.dashboard} / ${q.panel} [${q.refId}]`, q] as const))('%s parses without an error node', (_t, q) => {
    expect(logqlErrors(q.logql), q.logql).toEqual([]);
    const tree = logqlParser.parse(q.logql);
    // A log query or a metric query over one: a selector is there, and it uses only the stream labels lookout sets.
    expect(tree.topNode.name).toBe('LogQL');
    const labels = [...q.logql.matchAll(/([a-z_]+)\s*(?:=~|!~|!=|=)\s*"/g)].map((m) => m[1]);
    expect(labels.length, q.logql).toBeGreaterThan(0);
    for (const l of labels) expect(LOKI_LABELS, `${l} in ${q.logql}`).toContain(l);
    // Loki refuses a selector whose every matcher matches the empty string: name must not.
    expect(q.logql).toMatch(/name=~"\(web\|db\)"/);
  });

  it('the grammar rejects broken LogQL (negative control)', () => {
    expect(logqlErrors('{name=~"web"')).not.toEqual([]);
    expect(logqlErrors('sum by (level) (count_over_time({name="web"} [$__auto]))')).not.toEqual([]);
    expect(logqlErrors('{name="web"} |= ')).not.toEqual([]);
    expect(logqlErrors('sum by (level) (count_over_time({name="web"} [1m]))')).toEqual([]);
  });
});

/** Measurements, fields and tags the influxdb exporter writes in its telegraf layout, and for logs (syslog layout). */
function influxSchema(): Map<string, Set<string>> {
  const m = new Map<string, Set<string>>();
  const add = (measurement: string, ...names: string[]): void => {
    let s = m.get(measurement);
    if (s === undefined) m.set(measurement, (s = new Set(['time', 'host', 'engine_host', 'container_name', 'container_image', 'container_version', 'container_id'])));
    for (const n of names) s.add(n);
  };
  const ix = { deviceNumbers: new Map<string, string>(), machineMemory: undefined };
  const extras = [
    [['cpu', 'total'], ['interface', 'eth0'], ['device', 'sda'], ['major', '8'], ['minor', '0'], ['operation', 'Read'], ['failure_type', 'pgfault'], ['scope', 'container']],
    [['operation', 'Write'], ['failure_type', 'pgmajfault'], ['scope', 'hierarchy'], ['major', '8'], ['minor', '0']],
    [['failure_type', 'pgfault'], ['scope', 'hierarchy']],
    [['failure_type', 'pgmajfault'], ['scope', 'container']],
  ] as const;
  for (const mapper of Object.values(TELEGRAF)) {
    for (const e of extras) {
      const t = (mapper as (x: Labels, i: typeof ix) => { measurement: string; field: string; tag?: readonly [string, string] } | null)(new Labels(e), ix);
      if (t) add(t.measurement, t.field, ...(t.tag ? [t.tag[0]] : []));
    }
  }
  // Fields the exporter derives (README: usage_percent, uptime_ns, limit), and the engine measurement.
  add('docker_container_cpu', 'usage_percent');
  add('docker_container_mem', 'usage_percent', 'limit');
  add('docker_container_status', 'uptime_ns');
  add('docker', 'n_cpus', 'memory_total', 'n_containers', 'n_containers_running', 'n_containers_stopped', 'n_containers_paused', 'runtime');
  // Metrics without a Telegraf field: a measurement named as the metric, field `value`.
  for (const f of [cgroupsCollector, lifecycleCollector]) for (const d of f.metrics) if (!(d.name in TELEGRAF)) add(d.name, 'value');
  // Logs (logs.enabled): the tag and field keys of a point the exporter's syslog encoder writes
  // for a Kubernetes container's record (its values here have no spaces, commas or quotes).
  const labels = new Labels([['id', `/kubepods/pod1/${'a'.repeat(64)}`], ['image', 'nginx:1.27'], ['name', 'web'], ['namespace', 'prod'], ['pod', 'web-1'], ['container', 'web']]);
  const line = new SyslogEncoder({ measurement: 'syslog', host: 'node-1', tags: {}, now: () => 0 })
    .encode([{ time: '2026-01-01T00:00:00Z', stream: 'stderr', message: 'x', labels }])
    .toString('utf8');
  const [series = '', fields = ''] = line.split(' ');
  const [measurement = '', ...tags] = series.split(',');
  add(measurement, ...tags.map((t) => t.split('=')[0] as string), ...fields.split(',').map((f) => f.split('=')[0] as string));
  return m;
}

describe('dashboard InfluxQL queries', () => {
  const schema = influxSchema();
  const queries = listInfluxQL();

  it('know the exporter\'s layout (sanity of the schema derived from layout.ts)', () => {
    expect(schema.get('docker_container_cpu')).toContain('usage_total');
    expect(schema.get('docker_container_mem')).toContain('pgmajfault');
    expect(schema.get('docker_container_blkio')).toContain('io_service_bytes_recursive_write');
    expect(schema.get('docker_container_net')).toContain('network');
    expect(schema.get('container_threads')).toContain('value');
    expect([...(schema.get('syslog') ?? [])]).toEqual(
      expect.arrayContaining(['appname', 'hostname', 'severity', 'stream', 'container_name', 'container', 'message', 'severity_code', 'timestamp', 'procid', 'container_id']),
    );
  });

  it.each(queries.map((q) => [`${q.dashboard} / ${q.kind === 'variable' ? `$${q.panel}` : q.panel} [${q.refId}]`, q] as const))(
    '%s names only measurements, fields and tags the exporter writes',
    (_t, q) => {
      const sql = q.influxql;
      const measurements = [...sql.matchAll(/\bFROM "(\w+)"/g)].map((m) => m[1] as string);
      expect(measurements.length, sql).toBeGreaterThan(0);
      const aliases = new Set([...sql.matchAll(/\bAS "([^"]+)"/g)].map((m) => m[1] as string));
      const names = [...sql.replace(/\bAS "[^"]+"/g, '').replace(/\bFROM "\w+"/g, '').matchAll(/"(\w+)"/g)].map((m) => m[1] as string);
      const known = new Set(measurements.flatMap((m) => [...(schema.get(m) ?? [])]));
      for (const m of measurements) expect(schema.has(m), `measurement ${m} in ${sql}`).toBe(true);
      for (const n of names) expect(known.has(n) || aliases.has(n), `${n} in ${sql}`).toBe(true);
      if (q.kind === 'panel') expect(sql, 'bounded by the time range').toMatch(/time >= now\(\) - 1h/);
      if (/GROUP BY time\(/.test(sql)) expect(sql).toMatch(/GROUP BY time\(10s\)/);
    },
  );
});
