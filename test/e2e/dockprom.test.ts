/**
 * cAdvisor compatibility, judged by a widely used dashboard and alert file written for it
 * (dockprom's docker_containers.json and alert.rules, in shared/compat/dockprom beside the
 * repository). Every expression is extracted and classified:
 * - lookout's: only container_* and machine_* metrics; each must return data from a real
 *   Prometheus scraping lookout while a container named `jenkins` runs (the alerts name it);
 * - pending: needs a metric lookout does not provide yet, listed below with the reason; it
 *   must return no data, and its test fails once it does (then move it to the checked ones);
 * - out of scope: needs node_exporter (node_*) or Prometheus's own `up`, even in part.
 * The outcome of every query is printed and written to test-results/dockprom-compat.json.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { useAgent } from '../helpers/agent.js';
import { dockerUsable, E2E_LABEL, exec, inspect, useContainers, type Veth, vethInto } from '../helpers/docker.js';
import { prometheusUsable, usePrometheus } from '../helpers/prometheus.js';
import { dashboardQueries, metricNames, type Query, ruleQueries, signalOf } from '../helpers/promql.js';
import { all, describeWith, requireOrSkip } from '../helpers/require.js';
import { waitFor } from '../helpers/util.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** CI clones the repository with shared/ beside it. */
const DOCKPROM = resolve(REPO, '../shared/compat/dockprom');
const DASHBOARD = join(DOCKPROM, 'docker_containers.json');
const ALERTS = join(DOCKPROM, 'alert.rules');

/**
 * Queries that use metrics lookout did not provide when this was written, with the reason.
 * While lookout exports none of the metric, the query must return no data (PENDING); once
 * it does export it, the query must return data (PASS) and the entry can go.
 */
const PENDING: ReadonlyArray<{ readonly metric: RegExp; readonly reason: string }> = [
  { metric: /^container_network_/, reason: 'container_network_* (per-container interface counters) is pending the network issue' },
];

type Verdict = { kind: 'checked' } | { kind: 'pending'; reason: string } | { kind: 'out of scope'; reason: string };

function classify(q: Query): Verdict {
  const names = metricNames(q.expr);
  const node = names.filter((n) => n.startsWith('node_'));
  if (node.length > 0) {
    const mixed = names.some((n) => n.startsWith('container_') || n.startsWith('machine_'));
    return { kind: 'out of scope', reason: `${mixed ? 'mixes cAdvisor metrics with' : 'uses'} node_exporter's ${node.join(', ')}; lookout does not replace node_exporter` };
  }
  const foreign = names.filter((n) => !n.startsWith('container_') && !n.startsWith('machine_'));
  if (foreign.length > 0) return { kind: 'out of scope', reason: `uses ${foreign.join(', ')}, not a cAdvisor metric (\`up\` is Prometheus's own: target health is checked in prometheus.test.ts)` };
  for (const p of PENDING) if (names.some((n) => p.metric.test(n))) return { kind: 'pending', reason: p.reason };
  return { kind: 'checked' };
}

const files = await requireOrSkip('the dockprom files', async () => {
  for (const f of [DASHBOARD, ALERTS]) if (!existsSync(f)) return `${f} not found (shared/ must sit beside the repository)`;
  return undefined;
});
const avail = all(files, await requireOrSkip('Docker', dockerUsable), await requireOrSkip('Prometheus', prometheusUsable));

const queries: Query[] = files.ok ? [...dashboardQueries(JSON.parse(readFileSync(DASHBOARD, 'utf8'))), ...ruleQueries(readFileSync(ALERTS, 'utf8'))] : [];
const cases = queries.map((q) => ({ ...q, verdict: classify(q) }));
const checked = cases.filter((c) => c.verdict.kind === 'checked');
const pending = cases.filter((c) => c.verdict.kind === 'pending');
const outOfScope = cases.filter((c) => c.verdict.kind === 'out of scope');

describeWith(avail, 'dockprom (cAdvisor dashboard and alerts) against lookout', () => {
  const pool = useContainers();
  const agent = useAgent({ collect: { min_interval: '100ms' } });
  const prom = usePrometheus();
  const results: Array<{ source: string; expr: string; outcome: string; reason?: string }> = [];
  let veth: Veth | undefined;

  afterAll(async () => {
    await veth?.remove();
  });

  beforeAll(async () => {
    // The alerts name a container `jenkins`: Docker names are per engine, so one that is
    // there already (not a leftover, which useContainers removed) fails the run with the reason.
    const existing = await exec('docker', ['inspect', '--format', `{{index .Config.Labels "${E2E_LABEL}"}}`, 'jenkins'], { timeoutMs: 30_000 });
    if (existing.code === 0) {
      throw new Error(
        existing.stdout.trim() === '1'
          ? 'a container named "jenkins" from another running test process exists; run one suite at a time'
          : 'a container named "jenkins" exists and was not started by these tests; remove it to run them',
      );
    }
    const jenkins = await pool.run({ name: 'jenkins', flags: ['--cpus', '0.2', '--memory', '64m'], sh: 'while :; do :; done' });
    // A --network none container has only lo, which cAdvisor leaves out: give it an eth0.
    veth = await vethInto((await inspect(jenkins.name)).pid);
    const a = await agent.start();
    await prom.start({ jobs: [{ job: 'lookout', targets: [a.target] }], ruleFiles: [ALERTS] });
    // Range queries over [1m] need two samples or more; the rules need an evaluation.
    await waitFor(
      'three scrapes of jenkins',
      async () => {
        const v = await prom.get().vector('count_over_time(container_memory_usage_bytes{name="jenkins"}[1m])');
        return Number(v[0]?.value[1]) >= 3 ? true : undefined;
      },
      20_000,
      250,
    );
  });

  afterAll(() => {
    const lines = results.map((r) => `  ${r.outcome.padEnd(12)} ${r.source}: ${r.expr}${r.reason ? `\n               (${r.reason})` : ''}`);
    process.stderr.write(`[e2e] dockprom queries against lookout:\n${lines.join('\n')}\n`);
    mkdirSync(join(REPO, 'test-results'), { recursive: true });
    writeFileSync(join(REPO, 'test-results', 'dockprom-compat.json'), `${JSON.stringify(results, null, 2)}\n`);
  });

  it('finds the dashboard\'s and the alert file\'s queries, and lookout has some of them to answer', () => {
    expect(queries.filter((q) => q.kind === 'panel').length).toBeGreaterThan(10);
    expect(queries.filter((q) => q.kind === 'alert').length).toBeGreaterThan(5);
    expect(checked.length).toBeGreaterThanOrEqual(5);
    // The known shape of these files: a change to them shows here.
    expect(checked.map((c) => c.expr)).toEqual(
      expect.arrayContaining(['machine_cpu_cores', 'sum(container_memory_usage_bytes{image!=""})', 'absent(container_memory_usage_bytes{name="jenkins"})']),
    );
  });

  it.each(checked.map((c) => [c.source, c.expr] as const))('returns data: %s: %s', async (source, expr) => {
    const p = prom.get();
    const signal = signalOf(expr);
    const data = await p.vector(signal);
    results.push({ source, expr, outcome: data.length > 0 ? 'PASS' : 'FAIL', ...(signal !== expr ? { reason: `checked as ${signal}` } : {}) });
    expect(data.length, `${signal} returned no data`).toBeGreaterThan(0);
    for (const s of data) expect(Number.isFinite(Number(s.value[1])), `${signal}: ${JSON.stringify(s)}`).toBe(true);
    // The full expression (an alert's condition too) evaluates without error.
    const full = await p.vector(expr);
    if (/^absent\(/.test(expr.trim())) expect(full, `${expr} fires although its series exist`).toEqual([]);
  });

  it('the alert rules load in Prometheus, evaluate without error, and jenkins_down stays inactive while jenkins runs', async () => {
    const p = prom.get();
    const rules = await waitFor('every rule evaluated', async () => {
      const groups = await p.rules();
      const all = groups.flatMap((g) => g.rules.map((r) => ({ ...r, group: g.name })));
      return all.length > 0 && all.every((r) => (r as { lastEvaluation?: string }).lastEvaluation?.startsWith('0001') === false) ? all : undefined;
    }, 15_000, 250);
    expect(rules.map((r) => r.name).sort()).toEqual(ruleQueries(readFileSync(ALERTS, 'utf8')).map((q) => q.source.replace(/^alert /, '')).sort());
    for (const r of rules) expect({ rule: r.name, health: r.health, lastError: r.lastError ?? '' }).toEqual({ rule: r.name, health: 'ok', lastError: '' });
    const down = rules.find((r) => r.name === 'jenkins_down');
    expect(down?.state).toBe('inactive');
    expect(rules.find((r) => r.name === 'jenkins_high_memory')?.state).toBe('inactive');
  });

  it.each(pending.map((c) => [c.source, c.expr, c.verdict.kind === 'pending' ? c.verdict.reason : ''] as const))(
    'pending unless lookout now exports its metric: %s: %s (%s)',
    async (source, expr, reason) => {
      const p = prom.get();
      const entry = PENDING.find((e) => e.reason === reason);
      const exported = (await agent.get().scrape()).samples.some((s) => entry?.metric.test(s.name) === true);
      const data = await p.vector(expr);
      if (!exported) {
        results.push({ source, expr, outcome: 'PENDING', reason });
        expect(data, `${expr} returns data although lookout exports no ${String(entry?.metric)}`).toEqual([]);
        return;
      }
      // The metric has landed: the query must work now (jenkins has an eth0).
      await waitFor(`${expr} to return data`, async () => ((await p.vector(expr)).length > 0 ? true : undefined), 10_000, 500).catch(() => undefined);
      const now = await p.vector(expr);
      results.push({ source, expr, outcome: now.length > 0 ? 'PASS' : 'FAIL', reason: `was pending (${reason}); lookout exports it now: remove it from PENDING` });
      expect(now.length, `${expr}: lookout exports ${String(entry?.metric)} but the query returns no data`).toBeGreaterThan(0);
    },
  );

  it('lists the queries out of scope, each with its reason', () => {
    for (const c of outOfScope) {
      results.push({ source: c.source, expr: c.expr, outcome: 'OUT OF SCOPE', reason: c.verdict.kind === 'out of scope' ? c.verdict.reason : '' });
      // Each one names a metric lookout does not export: node_exporter's or Prometheus's own.
      expect(metricNames(c.expr).some((n) => n.startsWith('node_') || n === 'up'), c.expr).toBe(true);
    }
    expect(outOfScope.map((c) => c.source).sort()).toEqual(
      [
        'alert high_cpu_load',
        'alert high_memory_load',
        'alert high_storage_load',
        'alert jenkins_high_cpu',
        'alert monitor_service_down',
        ...queries.filter((q) => q.kind === 'panel' && metricNames(q.expr).some((n) => n.startsWith('node_'))).map((q) => q.source),
      ].sort(),
    );
  });
});
