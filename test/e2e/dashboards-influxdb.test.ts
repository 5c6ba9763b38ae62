/**
 * Issue 6's proof for the InfluxDB dashboards: every InfluxQL query of them (each panel target
 * and each template variable's SHOW TAG VALUES, from `listInfluxQL()`, with Grafana's
 * `$timeFilter` written as its backend writes it, `$__interval`, and `$host`/`$container` as
 * Grafana formats a variable inside `=~ /^...$/`) runs against a real InfluxDB 1.x (`influxd`
 * on loopback, temporary data directory) that a real lookout agent (in process, influxdb
 * exporter on, layout telegraf) pushes to while it watches real Docker containers
 * (`--network none`, lookout-busybox):
 * - busy: a busy loop with --cpus 0.2, --memory, --pids-limit, and a veth `eth0` (CPU limit,
 *   throttling, network);
 * - io: dd with oflag/iflag=direct on a bind-mounted host directory (block I/O);
 * - restart: --restart on-failure:2 of `sleep 1; exit 1` (restarts, a termination);
 * - exit3: writes a FATAL line to stderr and exits with 3 (a terminated container);
 * - logger: writes known lines to stdout and stderr (with and without a level word), then sleeps.
 * Each query must parse (InfluxDB answers without an error) and return at least one series,
 * or be listed by `panelsEmptyOnPlainDocker(host, 'influxql')` with the reason (none is).
 *
 * The logs panels read measurement `syslog` (Telegraf syslog-input layout), which the same
 * agent writes with `exporters.influxdb.logs.enabled`: its logs collector follows the
 * containers' Docker json-file logs (/var/lib/docker/containers/<id>/<id>-json.log, with
 * `detect_level`), and the panels must return exactly the lines the containers wrote, with
 * their severity, stream and container. The outcome of every query is printed on stderr and
 * written to test-results/dashboard-influxql.json.
 */
import { mkdirSync, mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  escapeRegExp,
  influxTimeFilter,
  listInfluxQL,
  panelsEmptyOnPlainDocker,
  REQUIREMENTS,
  type EmptyPanel,
  type InfluxDashboardQuery,
  type InfluxSubstitutions,
  type Requirement,
} from '../../dashboards/src/index.js';
import { Agent } from '../../src/agent.js';
import { validate } from '../../src/config.js';
import { type Container, dockerUsable, exec, inspect, useContainers, type Veth, vethInto } from '../helpers/docker.js';
import { all, describeWith, requireOrSkip } from '../helpers/require.js';
import { waitFor } from '../helpers/util.js';
import { Daemon, INFLUXD, influxd } from './exporters-support.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const OUTPUT = join(REPO, 'test-results', 'dashboard-influxql.json');
const DB = 'lookout_dash_e2e';
/** The `host` tag of this agent's points: unique, so that the node overview shows this agent only. */
const HOST = `e2e-dash-${process.pid}`;
/** `$__interval`: Grafana's for a short range; several pushes per bucket. */
const INTERVAL = '2s';

type Role = 'busy' | 'io' | 'restart' | 'exit3' | 'logger';
const ROLES: readonly Role[] = ['busy', 'io', 'restart', 'exit3', 'logger'];

/** Which container provides each requirement (undefined: none here). */
const PROVIDERS: Partial<Record<Requirement, readonly Role[]>> = {
  'cpu-limit': ['busy'],
  throttled: ['busy'],
  'memory-limit': ['busy'],
  network: ['busy'],
  'block-io': ['io'],
  restart: ['restart'],
  terminated: ['exit3', 'restart'],
  'influxdb-logs': ['logger', 'exit3'],
};

interface Line {
  readonly stream: 'stdout' | 'stderr';
  readonly message: string;
  /** The syslog severity the exporter is to give it: from the detected level, else err for stderr and info for stdout. */
  readonly severity: string;
}

/**
 * What the logger container writes, in order: level words (detect_level) and lines without one
 * (severity from the stream), a quote, a comma, a backslash and UTF-8 (line protocol escaping).
 */
const LOGGER_LINES: readonly Line[] = [
  { stream: 'stderr', message: 'ERROR request 0 failed: "disk, full" at C:\\data', severity: 'err' },
  { stream: 'stdout', message: 'WARN request 1 took 2.5 s', severity: 'warning' },
  { stream: 'stderr', message: 'request 2: connection reset by peer', severity: 'err' },
  { stream: 'stdout', message: 'served request 3 in 12 ms', severity: 'info' },
  { stream: 'stdout', message: 'INFO served request 4, café', severity: 'info' },
  { stream: 'stdout', message: 'DEBUG cache hit for request 5', severity: 'debug' },
  { stream: 'stderr', message: 'ERROR request 6 failed: timeout', severity: 'err' },
  { stream: 'stdout', message: 'served request 7 in 3 ms', severity: 'info' },
];
/** What exit3 writes before it exits. */
const EXIT3_LINES: readonly Line[] = [{ stream: 'stderr', message: 'FATAL giving up, exit 3', severity: 'crit' }];

/** A busybox sh command that writes the lines, each to its stream, as they are (printf %s). */
const shWrite = (lines: readonly Line[]): string =>
  lines.map((l) => `printf '%s\\n' '${l.message.replace(/'/g, "'\\''")}'${l.stream === 'stderr' ? ' >&2' : ''}`).join('; ');

type Series = { name: string; columns: string[]; values: unknown[][]; tags?: Record<string, string> };

const avail = all(
  await requireOrSkip('InfluxDB 1.x (influxd)', async () => {
    const r = await exec(INFLUXD, ['version'], { timeoutMs: 15_000 }).catch((err: Error) => ({ code: -1, stdout: '', stderr: err.message }));
    const out = `${r.stdout}${r.stderr}`.trim();
    if (r.code !== 0) throw new Error(`${INFLUXD} version exited ${r.code}: ${out.split('\n')[0] ?? ''}`);
    if (!/InfluxDB v1\./.test(out)) return `${INFLUXD} is not InfluxDB 1.x: ${out.split('\n')[0] ?? ''}`;
    return undefined;
  }),
  await requireOrSkip('Docker', dockerUsable),
  await requireOrSkip('a veth pair into a container (root, ip, nsenter)', async () => {
    if (process.getuid?.() !== 0) return 'not root: a veth pair needs CAP_NET_ADMIN';
    for (const [cmd, arg] of [['ip', '-V'], ['nsenter', '--version']] as const) {
      const r = await exec(cmd, [arg], { timeoutMs: 10_000 }).catch((err: Error) => ({ code: -1, stderr: err.message }));
      if (r.code !== 0) return `${cmd} does not run: ${r.stderr.trim()}`;
    }
    return undefined;
  }),
);

const label = (q: Pick<InfluxDashboardQuery, 'dashboard' | 'kind' | 'panel' | 'panelId' | 'refId'>): string =>
  q.kind === 'variable' ? `${q.dashboard} / variable $${q.panel}` : `${q.dashboard} / ${q.panel} #${q.panelId} [${q.refId}]`;

/** The queries as collected (default substitutions): their order and identity. */
const planned = listInfluxQL();

describeWith(avail, 'every InfluxQL query of the InfluxDB dashboards against a real influxd fed by lookout on Docker', () => {
  const pool = useContainers();
  const containers = new Map<Role, Container>();
  const results: Array<Record<string, unknown>> = [];
  const notReady: string[] = [];
  let dir = '';
  let url = '';
  let influx: Daemon | undefined;
  let agent: Agent | undefined;
  let veth: Veth | undefined;
  let ioDir: string | undefined;
  let started = 0;
  let queries: InfluxDashboardQuery[] = [];
  let subs: InfluxSubstitutions | undefined;
  let emptyPanels: EmptyPanel[] = [];
  /** Log points the agent wrote for each of our containers (by name), when the queries ran. */
  let logPoints: Record<string, number> = {};

  const nameOf = (r: Role): string => containers.get(r)?.name ?? `(no ${r} container)`;

  async function influxql(q: string): Promise<Series[]> {
    const res = await fetch(`${url}/query?${new URLSearchParams({ db: DB, q, epoch: 'ms' }).toString()}`, { signal: AbortSignal.timeout(15_000) });
    const body = (await res.json()) as { results?: Array<{ series?: Series[]; error?: string }>; error?: string };
    const err = body.error ?? body.results?.[0]?.error;
    if (err) throw new Error(`InfluxQL error: ${err} (HTTP ${res.status}) in: ${q}`);
    if (res.status !== 200) throw new Error(`HTTP ${res.status} for ${q}`);
    return body.results?.[0]?.series ?? [];
  }

  /** Values of a one-column-of-interest query: the first non-time column of every row of every series. */
  async function values(q: string): Promise<number[]> {
    return (await influxql(q)).flatMap((s) => s.values.map((v) => Number(v[1])));
  }

  afterAll(async () => {
    await agent?.stop(5000).catch(() => undefined);
    await veth?.remove();
    await pool.cleanup();
    await influx?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (ioDir !== undefined) rmSync(ioDir, { recursive: true, force: true });
  }, 120_000);

  afterAll(() => {
    const lines = results.map((r) => {
      const why = typeof r['reason'] === 'string' ? `\n        (${r['reason']})` : '';
      return `  ${String(r['outcome']).padEnd(6)} ${String(r['series'] ?? '').padStart(3)}  ${String(r['query'])}${why}`;
    });
    process.stderr.write(
      `[e2e] InfluxQL dashboard queries against influxd (host ${HOST}, interval ${INTERVAL}): ` +
        `${results.filter((r) => r['outcome'] === 'DATA').length} returned data, ${results.filter((r) => r['outcome'] === 'EMPTY').length} empty as listed, ` +
        `${results.filter((r) => r['outcome'] === 'FAIL').length} failed\n${lines.join('\n')}\n` +
        `[e2e] InfluxDB panels that can only be empty on this plain Docker node: ${emptyPanels.length === 0 ? 'none' : emptyPanels.map((p) => `${p.dashboard} / ${p.panel}: ${p.reason}`).join('; ')}\n` +
        `[e2e] syslog points the agent wrote for the test's containers: ${JSON.stringify(logPoints)}\n`,
    );
    mkdirSync(dirname(OUTPUT), { recursive: true });
    writeFileSync(
      OUTPUT,
      `${JSON.stringify({ host: HOST, substitutions: subs, containers: Object.fromEntries([...containers].map(([r, c]) => [r, c.name])), notReady, emptyPanels, logPoints, queries: results }, null, 2)}\n`,
    );
  });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lookout-e2e-dash-influxd-'));
    ({ daemon: influx, url } = await influxd(dir, false));
    await influx.start();
    started = Date.now();

    // Containers first, so the agent's first pushes already see them.
    const base = statfsSync(tmpdir()).type === 0x01021994 ? join(REPO, 'test-results') : tmpdir();
    mkdirSync(base, { recursive: true });
    ioDir = mkdtempSync(join(base, 'lookout-e2e-dashinflux-io-'));
    const specs: Record<Role, { flags: string[]; sh: string }> = {
      busy: { flags: ['--cpus', '0.2', '--memory', '64m', '--pids-limit', '64'], sh: 'while :; do :; done' },
      io: {
        flags: ['-v', `${ioDir}:/data`],
        sh: 'while :; do dd if=/dev/zero of=/data/f bs=64k count=16 oflag=direct 2>/dev/null; dd if=/data/f of=/dev/null bs=64k iflag=direct 2>/dev/null; sleep 1; done',
      },
      restart: { flags: ['--restart', 'on-failure:2'], sh: 'sleep 1; exit 1' },
      exit3: { flags: [], sh: `sleep 2; ${shWrite(EXIT3_LINES)}; exit 3` },
      logger: { flags: [], sh: `${shWrite(LOGGER_LINES)}; exec sleep 3600` },
    };
    await Promise.all(ROLES.map(async (role) => containers.set(role, await pool.run({ prefix: `dashinflux${role}`, ...specs[role] }))));
    veth = await vethInto((await inspect(nameOf('busy'))).pid);

    const config = validate(
      {
        state_dir: join(dir, 'state'),
        server: { listen: '127.0.0.1:0' },
        collect: { min_interval: '0s' },
        // The containers' Docker json-file logs (/var/lib/docker/containers/<id>/<id>-json.log), levels detected.
        collectors: { logs: { detect_level: true } },
        exporters: {
          influxdb: {
            enabled: true,
            url,
            database: DB,
            hostname: HOST,
            interval: '500ms',
            min_backoff: '50ms',
            max_backoff: '400ms',
            logs: { enabled: true, min_backoff: '50ms', max_backoff: '400ms' },
          },
        },
      },
      'e2e',
    );
    agent = await Agent.start(config, { log: pino({ level: 'warn' }) });

    const c = (r: Role): string => `"container_name" = '${nameOf(r)}'`;
    const probes: Array<[string, string]> = [
      ['busy CPU', `SELECT last("usage_total") FROM "docker_container_cpu" WHERE ${c('busy')}`],
      ['cpu-limit', `SELECT last("value") FROM "container_spec_cpu_quota" WHERE ${c('busy')} AND "value" > 0`],
      ['throttled', `SELECT last("throttling_throttled_periods") FROM "docker_container_cpu" WHERE ${c('busy')} AND "throttling_throttled_periods" > 10`],
      ['network', `SELECT last("rx_bytes") FROM "docker_container_net" WHERE ${c('busy')} AND "network" = 'eth0' AND "rx_bytes" > 0`],
      ['block-io', `SELECT last("io_service_bytes_recursive_write") FROM "docker_container_blkio" WHERE ${c('io')} AND "io_service_bytes_recursive_write" > 0`],
      ['restart', `SELECT last("restart_count") FROM "docker_container_status" WHERE ${c('restart')} AND "restart_count" >= 2`],
      ['terminated', `SELECT last("exitcode") FROM "docker_container_status" WHERE ${c('exit3')} AND "exitcode" = 3`],
      ['usage_percent (two pushes)', `SELECT last("usage_percent") FROM "docker_container_cpu" WHERE ${c('busy')}`],
      ['a minute of pushes', `SELECT count("usage_total") FROM "docker_container_cpu" WHERE ${c('busy')} AND time > now() - 1h`],
      ['logs of logger', `SELECT count("message") FROM "syslog" WHERE ${c('logger')} AND "hostname" = '${HOST}'`],
      ['logs of exit3', `SELECT count("message") FROM "syslog" WHERE ${c('exit3')} AND "hostname" = '${HOST}'`],
    ];
    const enough: Record<string, number> = { 'a minute of pushes': 20, 'logs of logger': LOGGER_LINES.length, 'logs of exit3': EXIT3_LINES.length };
    const pending = new Set(probes.map(([what]) => what));
    await waitFor(
      'every requirement in InfluxDB',
      async () => {
        for (const [what, q] of probes) {
          if (!pending.has(what)) continue;
          const v = await values(q);
          if (v.length > 0 && (enough[what] === undefined || (v[0] ?? 0) >= enough[what])) pending.delete(what);
        }
        return pending.size === 0 ? true : undefined;
      },
      60_000,
      500,
    ).catch(() => undefined);
    notReady.push(...pending);
    if (notReady.length > 0) process.stderr.write(`[e2e] not in InfluxDB within 60 s: ${notReady.join(', ')}\n`);

    // Grafana's values: this host; the drill-down with our containers selected (a multi-value
    // variable: regex-escaped values in a group); the range since influxd started.
    subs = {
      host: escapeRegExp(HOST),
      container: `(${ROLES.map((r) => escapeRegExp(nameOf(r))).join('|')})`,
      timeFilter: influxTimeFilter(started - 60_000, Date.now() + 1000),
      interval: INTERVAL,
    };
    queries = listInfluxQL(subs);
    for (const r of ['logger', 'exit3'] as const) logPoints[nameOf(r)] = (await values(`SELECT count("message") FROM "syslog" WHERE ${c(r)}`))[0] ?? 0;
    emptyPanels = panelsEmptyOnPlainDocker({ psi: false }, 'influxql');
  }, 180_000);

  it('the agent produced every requirement of the InfluxDB panels', () => {
    expect(notReady).toEqual([]);
    const needed = new Set(queries.flatMap((q) => q.requires));
    for (const r of needed) {
      expect(REQUIREMENTS[r].plainDocker, r).toBeUndefined();
      expect(PROVIDERS[r], `nothing here provides ${r}`).toBeDefined();
    }
  });

  it('substitutes every variable and macro, in the same query list as collected', () => {
    expect(queries.map(label)).toEqual(planned.map(label));
    for (const q of queries) expect(q.influxql, label(q)).not.toMatch(/\$[\w{]|\[\[/);
    expect(queries.length).toBeGreaterThan(25);
    // No InfluxDB panel needs what a plain Docker node lacks.
    expect(emptyPanels).toEqual([]);
  });

  it.each(planned.map((q, i) => [label(q), i] as const))('%s', async (_title, i) => {
    const q = queries[i] as InfluxDashboardQuery;
    const base = { query: label(q), dashboard: q.dashboard, kind: q.kind, panel: q.panel, refId: q.refId, resultFormat: q.resultFormat, requires: q.requires, influxql: q.influxql };
    let series: Series[];
    try {
      series = await influxql(q.influxql);
    } catch (err) {
      results.push({ ...base, outcome: 'FAIL', reason: String(err) });
      throw err;
    }
    const rows = series.reduce((n, s) => n + s.values.length, 0);
    const numbers = series.flatMap((s) => s.values.flatMap((v) => v.slice(1))).filter((v) => typeof v === 'number' && Number.isFinite(v));
    const outcome = rows > 0 ? 'DATA' : 'FAIL';
    results.push({ ...base, outcome, series: series.length, rows, ...(outcome === 'FAIL' && notReady.length > 0 ? { reason: `not produced: ${notReady.join(', ')}` } : {}) });
    expect(rows, `${label(q)} returned no data: ${q.influxql}`).toBeGreaterThan(0);
    if (q.kind === 'variable') {
      const listed = series.flatMap((s) => s.values.map((v) => String(v[1])));
      expect(listed, label(q)).toContain(q.panel === 'host' ? HOST : nameOf('busy'));
      return;
    }
    if (q.resultFormat !== 'logs') expect(numbers.length, `${label(q)}: no finite number`).toBeGreaterThan(0);
    // Series split by container name only name containers; where the query needs one of ours, it is there.
    const names = new Set(series.map((s) => s.tags?.['container_name']).filter((n): n is string => n !== undefined));
    if (names.size > 0) {
      for (const r of q.requires) {
        const from = (PROVIDERS[r] ?? []).map(nameOf);
        expect([...names].some((n) => from.includes(n)), `${label(q)} needs ${r} from ${from.join(' or ')}, got ${[...names].join(', ')}`).toBe(true);
      }
    }
  });

  it('the values are the containers\' own: throttling of busy, exit code of exit3, restarts, the lines of logger and exit3', async () => {
    const q = (dashboard: string, panel: string, ref = 'A'): string => {
      const found = queries.find((x) => x.dashboard === dashboard && x.panel === panel && x.refId === ref && x.kind === 'panel');
      if (found === undefined) throw new Error(`no ${dashboard} / ${panel}`);
      return found.influxql;
    };
    // busy spins under --cpus 0.2: about 0.2 cores, throttled in most periods.
    const cpu = (await influxql(q('lookout-influxdb-container', 'CPU usage'))).find((s) => s.tags?.['container_name'] === nameOf('busy'));
    const total = (cpu?.values ?? []).map((v) => Number(v[1])).filter((v) => Number.isFinite(v));
    const mean = total.reduce((a, b) => a + b, 0) / Math.max(1, total.length);
    expect(mean, 'busy: mean CPU cores').toBeGreaterThan(0.1);
    expect(mean, 'busy: mean CPU cores').toBeLessThan(0.35);
    const throttling = (await influxql(q('lookout-influxdb-container', 'CPU throttling'))).find((s) => s.tags?.['container_name'] === nameOf('busy'));
    expect(Math.max(...(throttling?.values ?? []).map((v) => Number(v[1])))).toBeGreaterThan(0.25);
    // The node's containers table: exit3's exit code, restart's restarts.
    const table = await influxql(q('lookout-influxdb-node', 'Containers'));
    const row = (name: string): Record<string, unknown> => {
      const s = table.find((x) => x.tags?.['container_name'] === name);
      return s ? Object.fromEntries(s.columns.map((c, i) => [c, s.values[0]?.[i]])) : {};
    };
    expect(row(nameOf('exit3'))).toMatchObject({ exitcode: 3 });
    expect(Number(row(nameOf('restart'))['restarts'])).toBeGreaterThanOrEqual(2);
    expect(table.find((x) => x.tags?.['container_name'] === nameOf('busy'))?.tags?.['container_image']).toBe('lookout-busybox');
    // The logs panel: exactly the lines logger and exit3 wrote (once each: no agent restart here),
    // newest first, each with its container, stream and the severity the exporter derives.
    const logs = await influxql(q('lookout-influxdb-container', 'Logs'));
    const cols = logs[0]?.columns ?? [];
    const rows = (logs[0]?.values ?? []).map((v) => Object.fromEntries(cols.map((c, i) => [c, v[i]])));
    const times = rows.map((r) => r['time'] as number);
    expect(times, 'newest first').toEqual([...times].sort((a, b) => b - a));
    const ours = new Map<string, Role>([[nameOf('logger'), 'logger'], [nameOf('exit3'), 'exit3']]);
    const got = (role: Role): Array<{ message: unknown; severity: unknown; stream: unknown }> =>
      rows
        .filter((r) => ours.get(String(r['container_name'])) === role)
        .reverse()
        .map((r) => ({ message: r['message'], severity: r['severity'], stream: r['stream'] }));
    // One stream's lines keep their order; stdout and stderr interleave as Docker read them.
    const byStream = (lines: ReadonlyArray<{ message: unknown; severity: unknown; stream: unknown }>): Record<string, unknown[]> => ({
      stdout: lines.filter((l) => l.stream === 'stdout'),
      stderr: lines.filter((l) => l.stream === 'stderr'),
    });
    expect(byStream(got('logger'))).toEqual(byStream(LOGGER_LINES));
    expect(got('exit3')).toEqual(EXIT3_LINES);
    expect(rows.every((r) => ours.has(String(r['container_name'])))).toBe(true);
    const logger = containers.get('logger') as Container;
    expect(rows.filter((r) => r['container_name'] === logger.name).every((r) => r['container_id'] === logger.id)).toBe(true);
    // Lines by severity and stream: the counts of what the containers wrote.
    const bySeverity = await influxql(q('lookout-influxdb-container', 'Log lines by severity'));
    const counted: Record<string, number> = {};
    for (const s of bySeverity) {
      const key = `${s.tags?.['severity']} ${s.tags?.['stream']}`;
      counted[key] = (counted[key] ?? 0) + s.values.reduce((n, v) => n + Number(v[1]), 0);
    }
    const expected: Record<string, number> = {};
    for (const l of [...LOGGER_LINES, ...EXIT3_LINES]) expected[`${l.severity} ${l.stream}`] = (expected[`${l.severity} ${l.stream}`] ?? 0) + 1;
    expect(counted).toEqual(expected);
  });
});
