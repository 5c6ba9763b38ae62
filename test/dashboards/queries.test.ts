/**
 * Every PromQL query of the dashboards: it names only metrics lookout (or Prometheus) exports,
 * it parses (promtool, with Grafana's variables substituted), and the exported query list
 * that the end-to-end test will run against a real Prometheus covers all of them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { cgroupsCollector } from '../../collectors/cgroups/index.js';
import { dockerCollector } from '../../collectors/docker/index.js';
import { hostCollector } from '../../collectors/host/index.js';
import { lifecycleCollector } from '../../collectors/lifecycle/index.js';
import { dashboardsDir } from '../../dashboards/src/generate.js';
import { DEFAULT_SUBSTITUTIONS, escapeRegExp, listQueries, panelsEmptyOnPlainDocker, substitute } from '../../dashboards/src/queries.js';
import { dashboards } from '../../dashboards/src/render.js';
import { SelfMetrics } from '../../src/selfmetrics.js';
import { describeWith, requireOrSkip } from '../helpers/require.js';
import { promtool, promtoolUsable, withTempFile } from './promtool.js';

/** Every metric name lookout can export, from the collectors' catalogues and the agent's registry. */
async function knownMetrics(): Promise<Set<string>> {
  const names = new Set<string>();
  for (const f of [cgroupsCollector, hostCollector, lifecycleCollector, dockerCollector]) {
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

  it('are all listed: every target of every committed dashboard, and every variable', () => {
    const dir = dashboardsDir();
    let targets = 0;
    let vars = 0;
    for (const d of dashboards()) {
      const json = JSON.parse(readFileSync(join(dir, d.file), 'utf8')) as {
        panels: Array<{ type: string; targets?: unknown[] }>;
        templating: { list: Array<{ type: string }> };
      };
      targets += json.panels.reduce((n, p) => n + (p.targets?.length ?? 0), 0);
      vars += json.templating.list.filter((v) => v.type === 'query').length;
    }
    expect(queries.filter((q) => q.kind === 'panel')).toHaveLength(targets);
    expect(queries.filter((q) => q.kind === 'variable')).toHaveLength(vars);
  });

  it('have every Grafana variable substituted', () => {
    for (const q of queries) expect(q.promql, `${q.dashboard} / ${q.panel}`).not.toMatch(/\$/);
    const scoped = listQueries({ instance: escapeRegExp('127.0.0.1:9337'), name: 'lookout-e2e-.*', rateInterval: '30s' });
    expect(scoped.find((q) => q.dashboard === 'lookout-container' && q.panel === 'CPU usage')?.promql).toBe(
      'sum by (name) (rate(container_cpu_usage_seconds_total{job=~"lookout", instance=~"127\\\\.0\\\\.0\\\\.1:9337", namespace=~".*", pod=~".*", container=~".*", name=~"lookout-e2e-.*"}[30s]))',
    );
    expect(() => substitute('rate(x[$__unknown])')).toThrow(/__unknown/);
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
