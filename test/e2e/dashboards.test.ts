/**
 * Issue 6's proof for the Prometheus dashboards and alerts: every PromQL query of every
 * dashboard (each panel target and each template variable's selector, from `listQueries()`,
 * with Grafana's variables substituted as each dashboard's "All" and single values would be)
 * is run as an instant query against a real Prometheus that scrapes a real lookout (in
 * process, job="lookout", every second) watching real Docker containers. The containers
 * produce every requirement a plain Docker node can satisfy (see REQUIREMENTS in
 * dashboards/src/lib.ts):
 * - busy: a busy loop with --cpus 0.2 (CPU limit, throttling), --memory and
 *   --memory-reservation, --pids-limit, and a veth `eth0` (network; lo is left out as cAdvisor does);
 * - io: dd with oflag/iflag=direct on a bind-mounted host directory (block I/O);
 * - oom: --memory 16m --memory-swap 16m, filling /dev/shm after a few seconds (an OOM kill
 *   that the agent sees coming from 0, and an OOMKilled termination);
 * - restart: --restart on-failure:2 of `sleep 3; exit 1` (restarts, a termination);
 * - exit3: exits with 3 (a terminated container);
 * - logger: writes an info line to stdout and an ERROR line to stderr five times a second
 *   (container logs, with levels: the agent runs with a log destination, a file, and
 *   collectors.logs.detect_level).
 * The agent also pushes to a remote-write receiver in this test that accepts batches, except
 * for an 8-second outage (503: retries, and drops: max_buffer_bytes holds one push) and a 400 for
 * every fifth request after it (rejections): the exporter panels of the agent dashboard have
 * data.
 * Each query must parse and return at least one series; a query that needs what a plain
 * Docker node never has (Kubernetes labels, collector errors of a healthy agent, PSI on a host
 * without it) is listed with the reason and must return nothing (collector errors: data there
 * is reported, not failed, as a container of another test vanishing mid-read can cause one). Where a query needs one of
 * the containers above and its result names containers, that container must be among them.
 * The alert rules (dashboards/alerts/lookout.rules.yaml) are loaded into the same Prometheus:
 * every rule evaluates without error, and LookoutContainerOOMKilled goes pending or firing for
 * the OOM-killed container. The outcome of every query is printed on stderr and written to
 * test-results/dashboard-queries.json.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parse } from 'yaml';
import { dashboardsDir } from '../../dashboards/src/generate.js';
import {
  alertNames,
  dashboards,
  escapeRegExp,
  listQueries,
  panelsEmptyOnPlainDocker,
  REQUIREMENTS,
  RULES_FILE,
  type DashboardQuery,
  type EmptyPanel,
  type PanelMeta,
  type Requirement,
  type Substitutions,
} from '../../dashboards/src/index.js';
import { useAgent } from '../helpers/agent.js';
import { type Container, dockerUsable, exec, inspect, useContainers, type Veth, vethInto } from '../helpers/docker.js';
import { prometheusUsable, prometheusVersion, type QueryData, usePrometheus } from '../helpers/prometheus.js';
import { all, describeWith, requireOrSkip } from '../helpers/require.js';
import { waitFor } from '../helpers/util.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const RULES = join(dashboardsDir(), RULES_FILE);
const OUTPUT = join(REPO, 'test-results', 'dashboard-queries.json');

/**
 * `$__rate_interval`: what Grafana picks for a short time range, and long enough that the
 * restart and the OOM kill early in the run are still inside the window when the queries run.
 */
const RATE_INTERVAL = '2m';
/** `$__range` of the stats that count events over the dashboard's time range. */
const RANGE = '5m';
/** Scrapes of the agent Prometheus must have before the rate windows are worth reading. */
const MIN_SCRAPES = 10;

type Role = 'busy' | 'io' | 'oom' | 'restart' | 'exit3' | 'logger';
const ROLES: readonly Role[] = ['busy', 'io', 'oom', 'restart', 'exit3', 'logger'];
/** Container names: lookout-e2e-dash<role>-<pid>-<hex>, all matched by NAME_RE (`$name`). */
const NAME_RE = `lookout-e2e-dash[a-z0-9]+-${process.pid}-[0-9a-f]+`;

/**
 * Which of the containers provides each requirement a plain Docker node can satisfy;
 * undefined where none can (see REQUIREMENTS[r].plainDocker). `psi` depends on the host.
 */
const PROVIDERS: Readonly<Record<Requirement, readonly Role[] | undefined>> = {
  kubernetes: undefined,
  'collector-error': undefined,
  psi: ['busy', 'io'],
  'cpu-limit': ['busy'],
  'memory-limit': ['busy'],
  'memory-reservation': ['busy'],
  'pids-limit': ['busy'],
  throttled: ['busy'],
  'oom-kill': ['oom'],
  restart: ['restart'],
  terminated: ['exit3', 'oom', 'restart'],
  network: ['busy'],
  'block-io': ['io'],
  // Provided by the agent's configuration (the remote-write exporter and its receiver here), not by a container.
  'push-exporter': [],
  'exporter-retry': [],
  'exporter-reject': [],
  'exporter-drop': [],
  logs: ['logger'],
  // No InfluxDB here: the InfluxQL panels are tested by dashboards-influxdb.test.ts.
  'influxdb-logs': undefined,
};

/**
 * A remote-write receiver on loopback that discards what it gets: 204, except 503 during an
 * outage (`outage(ms)`) and, after one, 400 for every fifth request.
 */
class FlakyReceiver {
  private server: Server | undefined;
  private until = 0;
  private after = false;
  private n = 0;
  readonly counts: Record<number, number> = {};

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const now = Date.now();
        let status = 204;
        if (now < this.until) status = 503;
        else if (this.after && ++this.n % 5 === 0) status = 400;
        this.counts[status] = (this.counts[status] ?? 0) + 1;
        res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 204 ? '' : `e2e: ${status}`);
      });
    });
    const srv = this.server;
    await new Promise<void>((ok) => srv.listen(0, '127.0.0.1', ok));
    const a = srv.address();
    return `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}/api/v1/write`;
  }

  outage(ms: number): void {
    this.until = Date.now() + ms;
    this.after = true;
  }

  async stop(): Promise<void> {
    const srv = this.server;
    if (srv) await new Promise<void>((ok) => srv.close(() => ok()));
  }
}

interface Host {
  readonly psi: boolean;
}

/** Whether the host has PSI files for the container's cgroup: v2, or a hybrid host's unified tree. */
function hostHasPsi(pid: number): boolean {
  const unified = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => l.startsWith('0::'));
  if (unified === undefined) return false;
  const path = unified.slice(3);
  for (const base of ['/sys/fs/cgroup', '/sys/fs/cgroup/unified']) {
    try {
      if (/^some /.test(readFileSync(`${base}${path}/cpu.pressure`, 'utf8'))) return true;
    } catch {
      // not this layout, or PSI off (reads fail with EOPNOTSUPP)
    }
  }
  return false;
}

/** Why this plain Docker node can never satisfy a requirement (undefined: it can), as panelsEmptyOnPlainDocker() says. */
function missing(r: Requirement, host: Host): string | undefined {
  if (r === 'psi') return host.psi ? undefined : 'the host has no PSI pressure files (cgroup v1 without a unified tree with PSI)';
  return REQUIREMENTS[r].plainDocker;
}

/** Why a query can only be empty on this node (none: it must return data). */
function emptyReasons(q: DashboardQuery, host: Host): string[] {
  return [...new Set(q.requires.map((r) => missing(r, host)).filter((why): why is string => why !== undefined))];
}

/** The value Grafana sends for a dashboard's multi-value variable set to "All". */
function allValue(uid: string, variable: string): string | undefined {
  const d = dashboards().find((x) => x.json.uid === uid);
  const v = (d?.json.templating.list ?? []).find((x) => x.name === variable) as { allValue?: string } | undefined;
  return v?.allValue;
}

/** Grafana's substitutions for one dashboard: this agent, our containers, "All" for the Kubernetes variables. */
function substitutions(uid: string, target: string): Partial<Substitutions> {
  return {
    job: 'lookout',
    instance: escapeRegExp(target), // substitute() writes it into the PromQL string as Grafana does
    name: NAME_RE,
    namespace: allValue(uid, 'namespace') ?? '.*',
    pod: allValue(uid, 'pod') ?? '.*',
    container: allValue(uid, 'container') ?? '.*',
    rateInterval: RATE_INTERVAL,
    interval: '5s',
    range: RANGE,
  };
}

function queriesFor(target: string): DashboardQuery[] {
  return dashboards().flatMap((d) => {
    const uid = d.json.uid ?? d.file;
    return listQueries(substitutions(uid, target)).filter((q) => q.dashboard === uid);
  });
}

interface Series {
  readonly metric: Record<string, string>;
  readonly value: number;
}

function seriesOf(d: QueryData): Series[] {
  if (d.resultType === 'vector') return d.result.map((s) => ({ metric: s.metric, value: Number(s.value[1]) }));
  if (d.resultType === 'scalar') return Number.isNaN(Number(d.result[1])) ? [] : [{ metric: {}, value: Number(d.result[1]) }];
  throw new Error(`unexpected result type ${d.resultType} for an instant query`);
}

const label = (q: Pick<DashboardQuery, 'dashboard' | 'kind' | 'panel' | 'panelId' | 'refId'>): string =>
  q.kind === 'variable' ? `${q.dashboard} / variable $${q.panel} (label ${q.refId})` : `${q.dashboard} / ${q.panel} #${q.panelId} [${q.refId}]`;

const avail = all(
  await requireOrSkip('Docker', dockerUsable),
  await requireOrSkip('Prometheus', prometheusUsable),
  await requireOrSkip('a veth pair into a container (root, ip, nsenter)', async () => {
    if (process.getuid?.() !== 0) return 'not root: a veth pair needs CAP_NET_ADMIN';
    for (const [cmd, arg] of [['ip', '-V'], ['nsenter', '--version']] as const) {
      const r = await exec(cmd, [arg], { timeoutMs: 10_000 }).catch((err: Error) => ({ code: -1, stderr: err.message }));
      if (r.code !== 0) return `${cmd} does not run: ${r.stderr.trim()}`;
    }
    return undefined;
  }),
);

/** The queries as collected (default substitutions): their order and identity; the test substitutes the agent's address. */
const planned = listQueries();

describeWith(avail, 'every dashboard query against a real Prometheus scraping lookout on Docker', () => {
  const pool = useContainers();
  const receiver = new FlakyReceiver();
  const stateDir = mkdtempSync(join(tmpdir(), 'lookout-e2e-dash-state-'));
  // Filled in before the agent starts (the receiver's address); useAgent reads it then.
  const overrides: Record<string, unknown> = {
    collect: { min_interval: '100ms' },
    state_dir: stateDir,
    collectors: { logs: { detect_level: true } },
  };
  const agent = useAgent(overrides);
  const prom = usePrometheus();
  const containers = new Map<Role, Container>();
  const results: Array<Record<string, unknown>> = [];
  const notReady: string[] = [];
  /** What each requirement looks like in Prometheus: [what, PromQL that returns data once it is there]. */
  let probes: Array<[string, string]> = [];
  let queries: DashboardQuery[] = [];
  let host: Host = { psi: false };
  let emptyPanels: EmptyPanel[] = [];
  let ioDir: string | undefined;
  let veth: Veth | undefined;
  let version = '';
  let alertStates: Array<{ alert: string; name: string; state: string }> = [];

  const nameOf = (r: Role): string => containers.get(r)?.name ?? `(no ${r} container)`;

  afterAll(async () => {
    await receiver.stop();
    rmSync(stateDir, { recursive: true, force: true });
    await veth?.remove();
    // The io container writes into ioDir: remove the containers first (pool.cleanup is idempotent).
    await pool.cleanup();
    if (ioDir !== undefined) rmSync(ioDir, { recursive: true, force: true });
  }, 120_000);

  afterAll(() => {
    const lines = results.map((r) => {
      const why = typeof r['reason'] === 'string' ? `\n        (${r['reason']})` : '';
      return `  ${String(r['outcome']).padEnd(6)} ${String(r['series'] ?? '').padStart(3)}  ${String(r['query'])}${why}`;
    });
    const listed = emptyPanels.map((p) => `  ${p.dashboard} / ${p.panel} #${p.panelId}: ${p.reason}`);
    process.stderr.write(
      `[e2e] dashboard queries against lookout (Prometheus ${version}, PSI ${host.psi ? 'yes' : 'no'}, rate interval ${RATE_INTERVAL}): ` +
        `${results.filter((r) => r['outcome'] === 'DATA').length} returned data, ${results.filter((r) => r['outcome'] === 'EMPTY').length} empty as listed, ` +
        `${results.filter((r) => r['outcome'] === 'LISTED').length} listed as empty but with data, ` +
        `${results.filter((r) => r['outcome'] === 'FAIL').length} failed\n${lines.join('\n')}\n` +
        `[e2e] panels that can only be empty on this plain Docker node:\n${listed.join('\n')}\n`,
    );
    mkdirSync(dirname(OUTPUT), { recursive: true });
    let target = '(agent not started)';
    try {
      target = agent.get().target;
    } catch {
      // beforeAll failed before the agent started
    }
    const report = {
      prometheus: version,
      host,
      substitutions: { ...substitutions('lookout-node', target), note: 'namespace/pod/container: each dashboard\'s "All" value' },
      containers: Object.fromEntries([...containers].map(([role, c]) => [role, c.name])),
      notReady,
      emptyPanels,
      alerts: alertStates,
      receiver: receiver.counts,
      queries: results,
    };
    writeFileSync(OUTPUT, `${JSON.stringify(report, null, 2)}\n`);
  });

  beforeAll(async () => {
    version = (await prometheusVersion()).text;
    overrides['exporters'] = {
      file: { path: join(stateDir, 'logs.jsonl') },
      remotewrite: {
        enabled: true,
        url: await receiver.start(),
        interval: '1s',
        // One batch per push, and room for one: while the receiver is up each push is sent
        // before the next (no drop); during the outage every further push drops the oldest.
        max_batch_samples: 1_000_000,
        max_buffer_bytes: 1024,
        min_backoff: '50ms',
        max_backoff: '300ms',
      },
    };
    const a = await agent.start();
    const p = await prom.start({ jobs: [{ job: 'lookout', targets: [a.target] }], ruleFiles: [RULES] });
    queries = queriesFor(a.target);
    // Counters must be scraped before the events that raise them (increase() needs a sample before).
    await waitFor('the first scrape of lookout', async () => ((await p.vector('up{job="lookout"} == 1')).length > 0 ? true : undefined), 20_000, 200);
    // Scraped before it: the outage's retries and drops raise counters Prometheus already has.
    receiver.outage(8000);

    // Block I/O needs a block device under the bind mount: tmpfs would neither take O_DIRECT nor count.
    const base = statfsSync(tmpdir()).type === 0x01021994 ? join(REPO, 'test-results') : tmpdir();
    mkdirSync(base, { recursive: true });
    ioDir = mkdtempSync(join(base, 'lookout-e2e-dash-io-'));
    const specs: Record<Role, { flags: string[]; sh: string }> = {
      busy: {
        flags: ['--cpus', '0.2', '--memory', '64m', '--memory-reservation', '32m', '--pids-limit', '64'],
        sh: 'while :; do :; done',
      },
      io: {
        flags: ['-v', `${ioDir}:/data`],
        sh: 'while :; do dd if=/dev/zero of=/data/f bs=64k count=16 oflag=direct 2>/dev/null; dd if=/data/f of=/dev/null bs=64k iflag=direct 2>/dev/null; sleep 1; done',
      },
      // Alive (and scraped, named, at 0 OOM kills) for 6 s, then dd is the container's init and the OOM killer's victim.
      oom: { flags: ['--memory', '16m', '--memory-swap', '16m'], sh: 'sleep 6; exec dd if=/dev/zero of=/dev/shm/fill bs=1M count=60' },
      // 3 s: scraped at 0 restarts first, even on a loaded machine (increase() needs that sample).
      restart: { flags: ['--restart', 'on-failure:2'], sh: 'sleep 3; exit 1' },
      exit3: { flags: [], sh: 'exit 3' },
      logger: { flags: [], sh: 'i=0; while :; do echo "info: request $i served"; echo "ERROR request $i failed" >&2; i=$((i+1)); sleep 0.2; done' },
    };
    await Promise.all(ROLES.map(async (role) => containers.set(role, await pool.run({ prefix: `dash${role}`, ...specs[role] }))));
    for (const c of containers.values()) expect(c.name).toMatch(new RegExp(`^${NAME_RE}$`));
    const busyPid = (await inspect(nameOf('busy'))).pid;
    host = { psi: hostHasPsi(busyPid) };
    emptyPanels = panelsEmptyOnPlainDocker(host);
    // --network none leaves only lo, which lookout (as cAdvisor) leaves out: give busy a real eth0.
    veth = await vethInto(busyPid);

    // What each requirement looks like in Prometheus once the containers have produced it.
    const sel = (role: Role, extra = ''): string => `job="lookout", name="${nameOf(role)}"${extra}`;
    probes = [
      [`${MIN_SCRAPES} scrapes in the rate window`, `count_over_time(up{job="lookout"}[${RATE_INTERVAL}]) >= ${MIN_SCRAPES}`],
      ['cpu-limit', `container_spec_cpu_quota{${sel('busy')}} > 0`],
      ['memory-limit', `container_spec_memory_limit_bytes{${sel('busy')}} > 0`],
      ['memory-reservation', `container_spec_memory_reservation_limit_bytes{${sel('busy')}} > 0`],
      ['pids-limit', `container_threads_max{${sel('busy')}} > 0`],
      ['throttled', `rate(container_cpu_cfs_throttled_periods_total{${sel('busy')}}[${RATE_INTERVAL}]) / rate(container_cpu_cfs_periods_total{${sel('busy')}}[${RATE_INTERVAL}]) > 0.25`],
      ['network', `container_network_receive_bytes_total{${sel('busy', ', interface="eth0"')}} > 0`],
      ['block-io', `rate(container_fs_writes_bytes_total{${sel('io')}}[${RATE_INTERVAL}]) > 0`],
      ['oom-kill', `increase(container_oom_events_total{${sel('oom')}}[${RATE_INTERVAL}]) > 0`],
      ['oom-kill (terminated OOMKilled)', `container_last_terminated_reason{${sel('oom', ', reason="OOMKilled"')}}`],
      ['restart', `increase(container_restarts_total{${sel('restart')}}[${RATE_INTERVAL}]) > 0`],
      ['restart (both restarts done)', `container_restarts_total{${sel('restart')}} >= 2`],
      ['terminated', `container_last_terminated_exit_code{${sel('exit3')}} == 3`],
      ...(host.psi ? [['psi', `container_pressure_cpu_waiting_seconds_total{${sel('busy')}}`] as [string, string]] : []),
      ['push-exporter', 'lookout_exporter_last_success_timestamp_seconds{job="lookout", exporter="remotewrite"} > 0'],
      ['exporter-retry', `increase(lookout_exporter_retries_total{job="lookout", exporter="remotewrite"}[${RATE_INTERVAL}]) > 0`],
      ['exporter-reject', `increase(lookout_exporter_failed_total{job="lookout", exporter="remotewrite"}[${RATE_INTERVAL}]) > 0`],
      ['exporter-drop', `increase(lookout_exporter_dropped_total{job="lookout", exporter="remotewrite"}[${RATE_INTERVAL}]) > 0`],
      ['logs', `rate(lookout_log_lines_total{${sel('logger')}}[${RATE_INTERVAL}]) > 0`],
      ['logs (error level detected)', `rate(lookout_log_lines_total{${sel('logger', ', level="error", stream="stderr"')}}[${RATE_INTERVAL}]) > 0`],
    ];
    const pending = new Set(probes.map(([what]) => what));
    await waitFor(
      'every requirement in Prometheus',
      async () => {
        for (const [what, expr] of probes) if (pending.has(what) && (await p.vector(expr)).length > 0) pending.delete(what);
        return pending.size === 0 ? true : undefined;
      },
      60_000,
      500,
    ).catch(() => undefined);
    notReady.push(...[...pending].map((what) => `${what}: ${probes.find(([w]) => w === what)?.[1] ?? ''}`));
    if (notReady.length > 0) process.stderr.write(`[e2e] not produced within 60 s:\n  ${notReady.join('\n  ')}\n`);
  }, 150_000);

  it('the containers produced every requirement a plain Docker node can satisfy', async () => {
    // Every requirement a PromQL query has that this node can satisfy.
    for (const r of new Set(queries.flatMap((q) => q.requires))) {
      if (missing(r, host) !== undefined) continue;
      // A requirement this node can satisfy: a container here provides it, and a probe shows it in Prometheus.
      expect(PROVIDERS[r], `no container here provides ${r}`).toBeDefined();
      expect(probes.map(([what]) => what), `no probe of ${r}`).toContain(r);
    }
    expect(notReady).toEqual([]);
    // And they are still inside the rate window now, as the queries run.
    const p = prom.get();
    for (const [what, expr] of probes) expect((await p.vector(expr)).length, `${what}: ${expr}`).toBeGreaterThan(0);
  });

  it('the node\'s event stats count the events of these containers', async () => {
    const p = prom.get();
    const stat = async (panel: string): Promise<number> => {
      const q = queries.find((x) => x.dashboard === 'lookout-node' && x.kind === 'panel' && x.panel === panel && !x.promql.includes(' by ('));
      if (q === undefined) throw new Error(`no stat "${panel}" in lookout-node`);
      return Number((await p.vector(q.promql))[0]?.value[1] ?? NaN);
    };
    // At least ours: other tests' containers on the same engine can only add to them.
    expect(await stat('Restarts')).toBeGreaterThanOrEqual(2);
    expect(await stat('OOM kills')).toBeGreaterThanOrEqual(1);
    expect(await stat('Throttled containers')).toBeGreaterThanOrEqual(1);
    expect(await stat('Containers')).toBeGreaterThanOrEqual(2);
  });

  it('substitutes every variable, in the same query list as collected', () => {
    expect(queries.map(label)).toEqual(planned.map(label));
    for (const q of queries) expect(q.promql, label(q)).not.toMatch(/\$/);
  });

  it('lists the panels that can only be empty here, with the reason; those are exactly the queries that need what this node lacks', () => {
    const listed = new Set(emptyPanels.map((p) => `${p.dashboard}#${p.panelId}`));
    for (const p of emptyPanels) expect(p.reason, `${p.dashboard} / ${p.panel}`).toMatch(/\S/);
    const meta = new Map(dashboards().flatMap((d) => d.panels.map((p): [string, PanelMeta] => [`${d.json.uid ?? d.file}#${p.id}`, p])));
    for (const q of queries.filter((x) => x.kind === 'panel')) {
      const key = `${q.dashboard}#${q.panelId}`;
      // A listed panel's every query needs what is missing; an unlisted panel needs nothing
      // missing (one of its queries may, by a requirement of its own: then it is listed below).
      if (listed.has(key)) expect(emptyReasons(q, host), label(q)).not.toEqual([]);
      else expect((meta.get(key)?.requires ?? []).filter((r) => missing(r, host) !== undefined), label(q)).toEqual([]);
    }
    // The whole Kubernetes dashboard, the agent's collector errors, and pressure without PSI.
    const uids = new Set(emptyPanels.map((p) => p.dashboard));
    expect(uids.has('lookout-kubernetes')).toBe(true);
    expect(emptyPanels.some((p) => p.panel === 'Collector errors per collection')).toBe(true);
    expect(emptyPanels.some((p) => p.dashboard === 'lookout-node' && p.panel === 'Memory pressure (full)')).toBe(!host.psi);
  });

  it.each(planned.map((q, i) => [label(q), i] as const))('%s', async (_title, i) => {
    const q = queries[i] as DashboardQuery;
    const reasons = emptyReasons(q, host);
    const base = { query: label(q), dashboard: q.dashboard, kind: q.kind, panel: q.panel, panelId: q.panelId, refId: q.refId, instant: q.instant, requires: q.requires, promql: q.promql };
    let series: Series[];
    try {
      // Parses (a parse error is an HTTP 400 with errorType bad_data) and evaluates at now.
      series = seriesOf(await prom.get().query(q.promql));
    } catch (err) {
      results.push({ ...base, outcome: 'FAIL', reason: String(err) });
      throw err;
    }
    const names = [...new Set(series.map((s) => s.metric['name']).filter((n): n is string => n !== undefined))].sort();
    const nonFinite = series.filter((s) => !Number.isFinite(s.value)).length;
    if (reasons.length > 0) {
      // Collector errors are rare, not impossible (a container of another test vanishing
      // mid-read): data there is reported, not failed. The rest can never have data here.
      const tolerated = series.length > 0 && q.requires.every((r) => r === 'collector-error' || missing(r, host) === undefined);
      const outcome = series.length === 0 ? 'EMPTY' : tolerated ? 'LISTED' : 'FAIL';
      const seen = tolerated ? `; returned data anyway: ${series.map((s) => JSON.stringify(s.metric)).join(' ')}` : '';
      results.push({ ...base, outcome, series: series.length, reason: `listed as empty: ${reasons.join('; ')}${seen}` });
      if (!tolerated) expect(series, `${label(q)} is listed as empty here (${reasons.join('; ')}) but returned data: ${q.promql}`).toEqual([]);
      return;
    }
    const outcome = series.length > 0 ? 'DATA' : 'FAIL';
    results.push({ ...base, outcome, series: series.length, names, ...(nonFinite > 0 ? { nonFinite } : {}), ...(outcome === 'FAIL' && notReady.length > 0 ? { reason: `not produced: ${notReady.join('; ')}` } : {}) });
    expect(series.length, `${label(q)} returned no data: ${q.promql}${notReady.length > 0 ? ` (not produced: ${notReady.join('; ')})` : ''}`).toBeGreaterThan(0);
    if (q.kind === 'variable') {
      // Grafana lists the values of this label: at least one series must carry it.
      expect(series.some((s) => (s.metric[q.refId] ?? '') !== ''), `${label(q)}: no series has a ${q.refId} label`).toBe(true);
    }
    // Where the query needs one of our containers and names containers, ours is there (unless a
    // topk() is full, where busier containers of other tests may push it out).
    const full = /\btopk\(\s*(\d+)/.exec(q.promql);
    if (series.some((s) => s.metric['name'] !== undefined) && !(full && series.length >= Number(full[1]))) {
      for (const r of q.requires) {
        const from = (PROVIDERS[r] ?? []).map(nameOf);
        expect(names.some((n) => from.includes(n)), `${label(q)} needs ${r} from ${from.join(' or ')}, got names ${names.join(', ')}`).toBe(true);
      }
    }
    expect(series.some((s) => Number.isFinite(s.value)), `${label(q)}: every value is NaN or infinite`).toBe(true);
  });

  it('loads the alert rules, and every rule group evaluates without error', async () => {
    const p = prom.get();
    const groups = await waitFor(
      'every rule evaluated',
      async () => {
        const gs = await p.rules();
        const rules = gs.flatMap((g) => g.rules) as Array<{ lastEvaluation?: string }>;
        return rules.length > 0 && rules.every((r) => r.lastEvaluation !== undefined && !r.lastEvaluation.startsWith('0001')) ? gs : undefined;
      },
      15_000,
      250,
    );
    const file = parse(readFileSync(RULES, 'utf8')) as { groups: Array<{ name: string }> };
    expect(groups.map((g) => g.name).sort()).toEqual(file.groups.map((g) => g.name).sort());
    expect(groups.flatMap((g) => g.rules.map((r) => r.name)).sort()).toEqual(alertNames().sort());
    for (const g of groups) {
      for (const r of g.rules) expect({ group: g.name, rule: r.name, health: r.health, lastError: r.lastError ?? '' }).toEqual({ group: g.name, rule: r.name, health: 'ok', lastError: '' });
    }
  });

  it('LookoutContainerOOMKilled is pending or firing for the OOM-killed container', async () => {
    const p = prom.get();
    const oom = nameOf('oom');
    type Alert = { labels: Record<string, string>; state: string };
    const active = await waitFor(
      `LookoutContainerOOMKilled for ${oom}`,
      async () => {
        const rule = (await p.rules()).flatMap((g) => g.rules).find((r) => r.name === 'LookoutContainerOOMKilled');
        const alerts = (rule?.alerts ?? []) as Alert[];
        return alerts.find((x) => x.labels['name'] === oom && (x.state === 'pending' || x.state === 'firing'));
      },
      20_000,
      500,
    );
    expect(active.labels).toMatchObject({ alertname: 'LookoutContainerOOMKilled', name: oom, severity: 'warning', job: 'lookout' });
    // For the report: every alert active now (ours and anything else on the node).
    alertStates = (await p.rules())
      .flatMap((g) => g.rules)
      .flatMap((r) => ((r.alerts ?? []) as Alert[]).map((x) => ({ alert: r.name, name: x.labels['name'] ?? x.labels['instance'] ?? '', state: x.state })));
  });
});
