/**
 * `npm run soak [-- --minutes 5 --containers 500 --rate 10 --inflight 4 --margin 3 --layout services]`:
 * the agent (built CLI, default settings) against the real Docker engine while containers
 * churn, scraped every second by a real Prometheus, all on loopback.
 *
 * - `--layout services` (the default) puts dockerd, containerd with the shims, the agent and
 *   Prometheus each in a CPU cgroup of its own, as systemd places services on a node
 *   (cgroups.ts); `--layout shared` leaves them all in this shell's CPU cgroup;
 * - `--containers` busybox `sleep` containers (`--network none`, image lookout-busybox,
 *   label lookout.soak=1) are created and started through the Engine API socket;
 * - for `--minutes`, every 1/`--rate` s one running container is killed and one stopped
 *   container started (so `--rate` stops and `--rate` starts per second), with at most
 *   `--inflight` Engine calls at a time: an engine slower than the rate gets the calls it can
 *   take, not a queue that only loads the machine (the rate achieved is reported);
 * - every 5 s: Prometheus's latest scrape of the agent is compared with the containers
 *   known to be running (started more than `--margin` s before that scrape began, not killed
 *   since) and dead (killed more than `--margin` s before it, not started since): a missing live series or a
 *   lingering dead one is counted, by container id, in `container_last_seen` and
 *   `container_cpu_usage_seconds_total`; `docker ps` is checked against the bookkeeping;
 *   the agent's VmRSS is read from /proc/<pid>/status;
 * - at the end: failed scrapes (Prometheus `up`, the target's last error, Prometheus's own
 *   `prometheus_target_scrapes_*_total` failure counters), the agent's own error counters,
 *   RSS start / max / end / slope, the machine's load. Prints a summary and a markdown block
 *   for docs/reliability.md (and writes it to $SOAK_OUT, default /tmp/lookout-soak.md).
 *
 * Every container it made is removed at the end, also on SIGINT/SIGTERM. Exit code 1 when a
 * check failed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ServiceCgroups } from './cgroups.js';

const REPO = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
const CLI = join(REPO, 'dist/src/cli.js');
const SOCKET = process.env['DOCKER_SOCKET'] ?? '/var/run/docker.sock';
const IMAGE = 'lookout-busybox';
const LABEL = 'lookout.soak';
const PROMETHEUS = process.env['LOOKOUT_E2E_PROMETHEUS'] ?? 'prometheus';

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '5' },
    containers: { type: 'string', default: '500' },
    rate: { type: 'string', default: '10' },
    inflight: { type: 'string', default: '4' },
    margin: { type: 'string', default: '3' },
    layout: { type: 'string', default: 'services' },
  },
});
const MINUTES = Number(args.minutes);
const N = Number(args.containers);
const RATE = Number(args.rate);
const INFLIGHT = Number(args.inflight);
const MARGIN_MS = Number(args.margin) * 1000;
const LAYOUT = args.layout;
if (LAYOUT !== 'services' && LAYOUT !== 'shared') throw new Error('--layout must be services (each in a CPU cgroup of its own, as systemd places them) or shared (all in the CPU cgroup of this shell)');
for (const [k, v] of Object.entries({ minutes: MINUTES, containers: N, rate: RATE, inflight: INFLIGHT, margin: MARGIN_MS })) {
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${k} must be a positive number`);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const say = (s: string): void => void process.stderr.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${s}\n`);

/** One Engine API call over the unix socket; resolves with status and body. */
function api(method: string, path: string, body?: unknown): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = request(
      { socketPath: SOCKET, method, path, headers: data ? { 'content-type': 'application/json', 'content-length': data.length } : {}, timeout: 60_000 },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timeout`)));
    req.on('error', reject);
    req.end(data);
  });
}

async function ok(method: string, path: string, body?: unknown): Promise<string> {
  const r = await api(method, path, body);
  if (r.status >= 300 && r.status !== 304) throw new Error(`${method} ${path}: HTTP ${r.status} ${r.body.trim()}`);
  return r.body;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      srv.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0));
    });
  });
}

/** Runs `fn` over `items` with at most `n` at once. */
async function pool<T>(items: readonly T[], n: number, fn: (t: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (i < items.length) await fn(items[i++] as T);
  }));
}

interface Box {
  id: string;
  name: string;
  running: boolean;
  /** When the last start or kill returned (ms). */
  since: number;
  busy: boolean;
}

const boxes: Box[] = [];
let groups: ServiceCgroups | undefined;

/** Processes whose command name is `comm`, from /proc. */
function pidsOf(comm: string): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return readFileSync(`/proc/${d}/comm`, 'utf8').trim() === comm;
      } catch {
        return false;
      }
    })
    .map(Number);
}
const children: ChildProcess[] = [];
let tmp = '';

async function removeAll(): Promise<void> {
  const list = JSON.parse(await ok('GET', `/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify({ label: [`${LABEL}=1`] }))}`)) as Array<{ Id: string }>;
  await pool(list, 8, async (c) => {
    await api('DELETE', `/containers/${c.Id}?force=1&v=1`).catch(() => undefined);
  });
}

let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    say('removing the soak containers');
    await removeAll().catch((err: unknown) => say(`cleanup: ${String(err)}`));
    for (const p of groups?.restore() ?? []) say(`cleanup: ${p}`);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  })();
  return cleaning;
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    say(`${sig}: stopping`);
    void cleanup().then(() => process.exit(130));
  });
}

/** CPU seconds (user + system) of a process, from /proc/<pid>/stat. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** The machine's CPU seconds, busy and in all, over every CPU, from /proc/stat. */
function machineCpu(): { busy: number; total: number } {
  const f = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1, 9).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: (total - (f[3] ?? 0) - (f[4] ?? 0)) / 100, total: total / 100 };
}

function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/**
 * The agent's own metrics (`lookout_*`), read from the agent itself: through Prometheus they
 * would be missing whenever its scrapes fail, which is what the soak looks for. Summed over
 * labels other than those named in `by`.
 */
async function agentMetrics(agentUrl: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${agentUrl}/metrics`, { signal: AbortSignal.timeout(30_000) })).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('lookout_')) continue;
    const m = /^(lookout_[a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m) continue;
    const [, name = '', labels = '', value = ''] = m;
    const collector = /collector="([^"]*)"/.exec(labels)?.[1];
    const kind = /kind="([^"]*)"/.exec(labels)?.[1];
    const key = name === 'lookout_collector_errors_total' ? `${name}/${collector}/${kind}` : name;
    out.set(key, (out.get(key) ?? 0) + Number(value));
  }
  return out;
}

/** An instant query's rows (`value`); `R` names the rows of a range selector (`values`). */
async function promQuery<R = { metric: Record<string, string>; value: [number, string] }>(base: string, expr: string, atSeconds?: number): Promise<R[]> {
  const params = new URLSearchParams({ query: expr, ...(atSeconds !== undefined ? { time: atSeconds.toFixed(3) } : {}) });
  const res = await fetch(`${base}/api/v1/query?${params.toString()}`, { signal: AbortSignal.timeout(20_000) });
  const j = (await res.json()) as { status: string; data: { resultType: string; result: R[] }; error?: string };
  if (j.status !== 'success') throw new Error(`${expr}: ${j.error ?? res.status}`);
  return j.data.result;
}

const idsOf = (rows: Array<{ metric: Record<string, string> }>): Set<string> => {
  const s = new Set<string>();
  for (const r of rows) {
    const m = /[0-9a-f]{64}/.exec(r.metric['id'] ?? '');
    if (m) s.add(m[0]);
  }
  return s;
};

function slopePerMin(points: ReadonlyArray<[number, number]>): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? 0 : (num / den) * 60_000;
}

const MB = (b: number): string => (b / 2 ** 20).toFixed(1);

async function main(): Promise<number> {
  tmp = mkdtempSync(join(tmpdir(), 'lookout-soak-'));
  await ok('GET', '/_ping');
  await ok('GET', `/images/${IMAGE}/json`).catch(() => {
    throw new Error(`image ${IMAGE} is missing (bash .ci/services.sh builds it)`);
  });
  await removeAll();
  if (LAYOUT === 'services') {
    const g = ServiceCgroups.open();
    if (typeof g === 'string') throw new Error(`--layout services: ${g}; use --layout shared`);
    groups = g;
    const engine: Array<[string, string]> = [['dockerd', 'docker.service'], ['containerd', 'containerd.service'], ['containerd-shim', 'containerd.service']]; // comm is cut at 15 characters: containerd-shim-runc-v2
    for (const [comm, service] of engine) for (const pid of pidsOf(comm)) groups.place(service, pid);
  }

  // The agent, built, with its defaults.
  const agentPort = await freePort();
  // SOAK_AGENT_NODE_ARGS: node's own flags for the agent (say --cpu-prof or --trace-gc).
  const nodeArgs = (process.env['SOAK_AGENT_NODE_ARGS'] ?? '').split(' ').filter(Boolean);
  const agent = spawn(process.execPath, [...nodeArgs, CLI, 'run', '--listen', `127.0.0.1:${agentPort}`, '--state-dir', join(tmp, 'state'), '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(agent);
  let agentLog = '';
  agent.stderr?.on('data', (b: Buffer) => (agentLog = (agentLog + b.toString()).slice(-50_000)));
  const agentUrl = `http://127.0.0.1:${agentPort}`;
  for (let i = 0; ; i++) {
    const r = await fetch(`${agentUrl}/readyz`).then((x) => x.status, () => 0);
    if (r === 200) break;
    if (i > 300 || agent.exitCode !== null) throw new Error(`the agent did not get ready: ${agentLog.slice(-2000)}`);
    await sleep(100);
  }
  const agentPid = agent.pid as number;
  groups?.place('lookout.service', agentPid);

  // Containers: create and start them all.
  say(`creating and starting ${N} containers`);
  const t0 = Date.now();
  const names = Array.from({ length: N }, (_, i) => `lookout-soak-${process.pid}-${i}`);
  await pool(names, 12, async (name) => {
    const created = JSON.parse(
      await ok('POST', `/containers/create?name=${name}`, { Image: IMAGE, Cmd: ['sleep', '1000000'], Labels: { [LABEL]: '1' }, HostConfig: { NetworkMode: 'none' } }),
    ) as { Id: string };
    await ok('POST', `/containers/${created.Id}/start`);
    boxes.push({ id: created.Id, name, running: true, since: Date.now(), busy: false });
  });
  say(`${N} containers running after ${((Date.now() - t0) / 1000).toFixed(0)} s`);

  // Prometheus, scraping the agent and itself every second.
  const promPort = await freePort();
  const promUrl = `http://127.0.0.1:${promPort}`;
  writeFileSync(
    join(tmp, 'prometheus.yml'),
    [
      'global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}',
      'scrape_configs:',
      `  - {job_name: lookout, static_configs: [{targets: ['127.0.0.1:${agentPort}']}]}`,
      `  - {job_name: prometheus, static_configs: [{targets: ['127.0.0.1:${promPort}']}]}`,
      '',
    ].join('\n'),
  );
  const prom = spawn(PROMETHEUS, [`--config.file=${join(tmp, 'prometheus.yml')}`, `--storage.tsdb.path=${join(tmp, 'prom')}`, `--web.listen-address=127.0.0.1:${promPort}`, '--log.level=warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(prom);
  if (prom.pid !== undefined) groups?.place('prometheus.service', prom.pid);
  for (let i = 0; ; i++) {
    const r = await fetch(`${promUrl}/-/ready`).then((x) => x.status, () => 0);
    if (r === 200) break;
    if (i > 300 || prom.exitCode !== null) throw new Error('Prometheus did not get ready');
    await sleep(100);
  }
  // Settle: the agent sees every container, Prometheus has scraped.
  await sleep(Math.max(5000, MARGIN_MS + 2000));

  const start = Date.now();
  const end = start + MINUTES * 60_000;
  const rss: Array<[number, number]> = [];
  const checks = { samples: 0, liveChecked: 0, deadChecked: 0, missing: 0, lingering: 0, dockerDisagrees: 0, examples: [] as string[] };
  let ops = 0;
  let opErrors = 0;
  const agentBefore = await agentMetrics(agentUrl);
  const agentCpu0 = cpuSeconds(agentPid);
  const machine0 = machineCpu();
  let maxLoad = loadavg()[0] ?? 0;
  let maxShed = agentBefore.get('lookout_memory_shed_level') ?? NaN;
  /** Prometheus's own scrape failure counters (scrape pool, all targets), by name. */
  const failureCounts = async (): Promise<Map<string, number>> =>
    new Map((await promQuery(promUrl, '{__name__=~"prometheus_target_scrapes_.*_total",job="prometheus"}')).map((r) => [r.metric['__name__'] ?? '', Number(r.value[1])]));
  const failuresBefore = await failureCounts();

  // Churn: one kill and one start per tick.
  const tickMs = 1000 / RATE;
  const starting = new Set<Box>();
  let churning = true;
  const churn = (async () => {
    let next = Date.now();
    while (churning) {
      const now = Date.now();
      const victim = boxes.filter((b) => b.running && !b.busy && now - b.since > 1000);
      const sleeper = boxes.filter((b) => !b.running && !b.busy && now - b.since > 1000);
      const pick = <T>(a: T[]): T | undefined => a[Math.floor(Math.random() * a.length)];
      // Keep about 90% of the containers running (or starting), and at most INFLIGHT calls in
      // flight: when the engine is slower than the rate, the rate achieved is what the summary shows.
      const up = boxes.filter((b) => b.running || starting.has(b)).length;
      const inFlight = boxes.filter((b) => b.busy).length;
      const k = up > 0.9 * N && inFlight < INFLIGHT ? pick(victim) : undefined;
      const s = inFlight + (k ? 1 : 0) < INFLIGHT ? pick(sleeper) : undefined;
      for (const [b, what] of [[k, 'kill'], [s, 'start']] as const) {
        if (!b) continue;
        b.busy = true;
        // Counted as stopped (or not yet running) from the moment the call is made.
        b.running = false;
        b.since = Date.now();
        if (what === 'start') starting.add(b);
        void ok('POST', `/containers/${b.id}/${what}`)
          .then(() => {
            b.running = what === 'start';
            b.since = Date.now();
            ops++;
          })
          .catch((err: unknown) => {
            opErrors++;
            if (opErrors <= 3) say(`${what} ${b.name}: ${String(err)}`);
          })
          .finally(() => {
            b.busy = false;
            starting.delete(b);
          });
      }
      next += tickMs;
      await sleep(Math.max(0, next - Date.now()));
    }
  })();

  // Checks every 5 s.
  let lastProgress = start;
  while (Date.now() < end) {
    await sleep(5000);
    try {
      rss.push([Date.now() - start, rssBytes(agentPid)]);
      maxLoad = Math.max(maxLoad, loadavg()[0] ?? 0);
      maxShed = Math.max(maxShed, (await agentMetrics(agentUrl).catch(() => new Map<string, number>())).get('lookout_memory_shed_level') ?? NaN);
    } catch {
      throw new Error(`the agent died: ${agentLog.slice(-2000)}`);
    }
    const now = Date.now();
    // Both at the same instant: a failed scrape in between would mark every series stale for the second query only.
    const at = now / 1000;
    const [seen, cpu, scraped, ps] = await Promise.all([
      promQuery(promUrl, `container_last_seen{id=~".*[0-9a-f]{64}.*"}`, at),
      promQuery(promUrl, `container_cpu_usage_seconds_total{id=~".*[0-9a-f]{64}.*",cpu="total"}`, at),
      promQuery(promUrl, 'timestamp(up{job="lookout"})', at),
      ok('GET', `/containers/json?filters=${encodeURIComponent(JSON.stringify({ label: [`${LABEL}=1`] }))}`).then((t) => new Set((JSON.parse(t) as Array<{ Id: string }>).map((c) => c.Id))),
    ]);
    // The margin runs to the moment of the scrape that the series come from (its start, as
    // Prometheus stamps it), not to this check: on this node a scrape is stored up to 2 s
    // after it began, and that is Prometheus's delay, not the agent's.
    const scrapeAt = Number(scraped[0]?.value[1] ?? NaN) * 1000;
    const ref = Number.isFinite(scrapeAt) ? Math.min(scrapeAt, now) : now;
    const live = boxes.filter((b) => b.running && !b.busy && ref - b.since > MARGIN_MS);
    const dead = boxes.filter((b) => !b.running && !b.busy && ref - b.since > MARGIN_MS);
    const seenIds = idsOf(seen);
    const cpuIds = idsOf(cpu);
    checks.samples++;
    for (const b of live) {
      checks.liveChecked++;
      if (!ps.has(b.id)) checks.dockerDisagrees++;
      if (!seenIds.has(b.id) || !cpuIds.has(b.id)) {
        checks.missing++;
        if (checks.examples.length < 10) checks.examples.push(`missing ${b.name} (running for ${((ref - b.since) / 1000).toFixed(1)} s at the scrape; last_seen ${seenIds.has(b.id)}, cpu ${cpuIds.has(b.id)})`);
      }
    }
    for (const b of dead) {
      checks.deadChecked++;
      if (ps.has(b.id)) checks.dockerDisagrees++;
      if (seenIds.has(b.id) || cpuIds.has(b.id)) {
        checks.lingering++;
        if (checks.examples.length < 10) checks.examples.push(`lingering ${b.name} (dead for ${((ref - b.since) / 1000).toFixed(1)} s at the scrape)`);
      }
    }
    if (now - lastProgress >= 30_000) {
      lastProgress = now;
      const r = rss[rss.length - 1]?.[1] ?? 0;
      say(`${((now - start) / 60_000).toFixed(1)} min: ${ops} ops, running ${boxes.filter((b) => b.running).length}, RSS ${MB(r)} MB, missing ${checks.missing}, lingering ${checks.lingering}, load ${loadavg()[0]?.toFixed(2)}`);
    }
  }
  churning = false;
  await churn;
  const elapsed = (Date.now() - start) / 1000;
  const agentCpu = cpuSeconds(agentPid) - agentCpu0;
  const machine1 = machineCpu();
  const machineBusy = (machine1.busy - machine0.busy) / (machine1.total - machine0.total);
  const range = `${Math.ceil(elapsed)}s`;
  const load = loadavg();

  // Scrapes: Prometheus's view, its own failure counters, the agent's.
  // Every figure over the same window: queried one after the other at "now", the windows
  // would drift apart (a failed scrape counted by one query and not listed by another).
  const endAt = Date.now() / 1000;
  const one = async (expr: string): Promise<number> => Number((await promQuery(promUrl, expr, endAt))[0]?.value[1] ?? NaN);
  const maxDuration = await one(`max_over_time(scrape_duration_seconds{job="lookout"}[${range}])`);
  const avgDuration = await one(`avg_over_time(scrape_duration_seconds{job="lookout"}[${range}])`);
  const maxSamples = await one(`max_over_time(scrape_samples_scraped{job="lookout"}[${range}])`);
  const lagMax = await one(`max_over_time(lookout_nodejs_eventloop_lag_max_seconds{job="lookout"}[${range}])`);
  const lagP99 = await one(`max_over_time(lookout_nodejs_eventloop_lag_p99_seconds{job="lookout"}[${range}])`);
  // Each failed scrape beside Prometheus's scrape of itself closest in time: when that one was
  // slow too, Prometheus was the one held up, not the agent.
  const rawSamples = async (expr: string): Promise<Array<[number, number]>> =>
    ((await promQuery<{ values: Array<[number, string]> }>(promUrl, expr, endAt))[0]?.values ?? []).map(([t, v]) => [t, Number(v)]);
  // Counted from one query: two (count_over_time, sum_over_time) can see different samples
  // even at one instant, when a scrape that began before it is stored between them (a run
  // reported "-1 failed").
  const ups = await rawSamples(`up{job="lookout"}[${range}]`);
  const scrapes = ups.length;
  const good = ups.filter(([, v]) => v === 1).length;
  const selfDurations = await rawSamples(`scrape_duration_seconds{job="prometheus"}[${range}]`);
  const failures = ups.filter(([, v]) => v === 0).map(([t]) => {
    const near = selfDurations.reduce<[number, number] | undefined>((best, x) => (best === undefined || Math.abs(x[0] - t) < Math.abs(best[0] - t) ? x : best), undefined);
    return `${new Date(t * 1000).toISOString().slice(11, 19)} (Prometheus's own scrape then: ${near ? `${near[1].toFixed(3)} s` : 'none'})`;
  });
  const promFailures = await failureCounts();
  const failureCounters = [...promFailures].map(([k, v]) => [k, v - (failuresBefore.get(k) ?? 0)] as const).filter(([, v]) => v > 0).map(([k, v]) => `${k}=${v}`);
  const targets = (await (await fetch(`${promUrl}/api/v1/targets`)).json()) as { data: { activeTargets: Array<{ labels: { job: string }; lastError: string; health: string }> } };
  const lastError = targets.data.activeTargets.find((t) => t.labels.job === 'lookout')?.lastError ?? '';
  const agentAfter = await agentMetrics(agentUrl);
  const increase = (key: string): number => (agentAfter.get(key) ?? 0) - (agentBefore.get(key) ?? 0);
  const agentErrors = [...agentAfter.keys()]
    .filter((k) => k.startsWith('lookout_collector_errors_total/'))
    .map((k) => [k.slice('lookout_collector_errors_total/'.length), increase(k)] as const)
    .filter(([, n]) => n > 0);
  const dropped = increase('lookout_series_dropped_total');
  const stale = increase('lookout_stale_snapshots_total');

  const rssValues = rss.map(([, v]) => v);
  const summary = {
    command: `npm run soak -- --minutes ${MINUTES} --containers ${N} --rate ${RATE} --inflight ${INFLIGHT} --margin ${MARGIN_MS / 1000} --layout ${LAYOUT}`,
    date: new Date().toISOString(),
    machine: `${cpus().length} CPUs, load average at the end ${load.map((l) => l.toFixed(2)).join(' / ')}, 1-minute load up to ${maxLoad.toFixed(1)}`,
    cpu: `the machine's CPUs ${(100 * machineBusy).toFixed(0)}% busy; the agent used ${agentCpu.toFixed(1)} CPU-s (${((100 * agentCpu) / elapsed).toFixed(1)}% of one CPU)`,
    churn: `${ops} container starts and kills in ${elapsed.toFixed(0)} s (${(ops / elapsed).toFixed(1)}/s; ${opErrors} API errors), about ${boxes.filter((b) => b.running).length} of ${N} running at the end`,
    scrapes: { total: scrapes, failed: scrapes - good, failures, lastError, maxDurationSeconds: maxDuration, avgDurationSeconds: avgDuration, maxSamples, prometheusFailureCounters: failureCounters },
    eventLoopLagSeconds: { max: lagMax, p99: lagP99 },
    series: { ...checks, marginSeconds: MARGIN_MS / 1000, seriesDropped: dropped, staleSnapshots: stale },
    agentErrors: Object.fromEntries(agentErrors),
    rss: { samples: rss.length, startMB: MB(rssValues[0] ?? NaN), maxMB: MB(Math.max(...rssValues)), endMB: MB(rssValues[rssValues.length - 1] ?? NaN), slopeMBPerMin: (slopePerMin(rss) / 2 ** 20).toFixed(2), maxShedLevel: maxShed },
  };
  const failed = summary.scrapes.failed > 0 || checks.missing > 0 || checks.lingering > 0 || failureCounters.length > 0;
  const md = [
    `Command: \`${summary.command}\` (${summary.date}; ${summary.machine}).`,
    '',
    '| what | figure |',
    '|---|---|',
    `| churn | ${summary.churn} |`,
    `| CPU | ${summary.cpu} |`,
    `| scrapes by Prometheus (1 s) | ${scrapes} scrapes, **${scrapes - good} failed**${lastError ? ` (last error: ${lastError})` : ''}; duration avg ${avgDuration.toFixed(3)} s, max ${maxDuration.toFixed(3)} s; up to ${maxSamples} samples |`,
    `| failed scrapes | ${failures.length === 0 ? 'none' : failures.join(', ')} |`,
    `| agent's event loop lag (prom-client, per scrape) | max ${lagMax.toFixed(3)} s, p99 up to ${lagP99.toFixed(3)} s |`,
    `| Prometheus scrape failure counters | ${failureCounters.length === 0 ? 'all 0' : failureCounters.join(', ')} |`,
    `| live containers' series missing | **${checks.missing}** of ${checks.liveChecked} checks (${checks.samples} moments, containers running > ${MARGIN_MS / 1000} s) |`,
    `| dead containers' series lingering | **${checks.lingering}** of ${checks.deadChecked} checks (killed > ${MARGIN_MS / 1000} s before) |`,
    `| docker ps vs bookkeeping | ${checks.dockerDisagrees} disagreements |`,
    `| agent's own errors | ${agentErrors.length === 0 ? 'none' : agentErrors.map(([k, n]) => `${k}: ${n}`).join(', ')}; series dropped: ${dropped}; scrapes answered with the previous collection: ${stale} |`,
    `| agent RSS (VmRSS every 5 s) | start ${summary.rss.startMB} MB, max ${summary.rss.maxMB} MB, end ${summary.rss.endMB} MB, slope ${summary.rss.slopeMBPerMin} MB/min over ${rss.length} samples; memory shed level max ${maxShed} |`,
    ...(checks.examples.length > 0 ? ['', `Examples: ${checks.examples.join('; ')}`] : []),
    '',
  ].join('\n');
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n\n${md}\n`);
  writeFileSync(process.env['SOAK_OUT'] ?? '/tmp/lookout-soak.md', md);
  say(failed ? 'FAILED: see above' : 'all checks held');
  return failed ? 1 : 0;
}

main()
  .then(async (code) => {
    await cleanup();
    process.exit(code);
  })
  .catch(async (err: unknown) => {
    process.stderr.write(`soak: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    await cleanup();
    process.exit(2);
  });
