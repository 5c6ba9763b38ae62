/**
 * A real Prometheus scraping lookout: the target is healthy in every format Prometheus
 * parses (its default negotiation, OpenMetrics 1.0 and the 0.0.4 text format), and PromQL
 * over the scraped data gives the container's real CPU rate.
 */
import { loadavg } from 'node:os';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { useAgent } from '../helpers/agent.js';
import { cgroupOf, type Container, cpuUsage, dockerUsable, IMAGE_LABEL, inspect, useContainers } from '../helpers/docker.js';
import { AcceptProxy, hasScrapeProtocols, type PromVersion, prometheusUsable, prometheusVersion, type ScrapeJob, usePrometheus, type VectorSample } from '../helpers/prometheus.js';
import { all, describeWith, e2eRequired, requireOrSkip } from '../helpers/require.js';
import { sleep, waitFor } from '../helpers/util.js';

const avail = all(await requireOrSkip('Docker', dockerUsable), await requireOrSkip('Prometheus', prometheusUsable));

/** The three jobs: Prometheus's default negotiation, and one per exposition format. */
const JOBS = ['lookout', 'lookout-openmetrics', 'lookout-text'] as const;

describeWith(avail, 'a real Prometheus scraping lookout', () => {
  const pool = useContainers();
  const agent = useAgent({ collect: { min_interval: '100ms' } });
  const prom = usePrometheus();
  const proxies: AcceptProxy[] = [];
  let busy: Container;
  let version: PromVersion;

  afterAll(async () => {
    for (const p of proxies) await p.stop();
  });

  beforeAll(async () => {
    version = await prometheusVersion();
    busy = await pool.run({ prefix: 'prom-cpu', flags: ['--cpus', '0.5', '--memory', '64m'], sh: 'while :; do :; done' });
    const a = await agent.start();
    const jobs: ScrapeJob[] = [{ job: 'lookout', targets: [a.target] }];
    if (hasScrapeProtocols(version)) {
      jobs.push({ job: 'lookout-openmetrics', targets: [a.target], scrapeProtocols: ['OpenMetricsText1.0.0'] });
      jobs.push({ job: 'lookout-text', targets: [a.target], scrapeProtocols: ['PrometheusText0.0.4'] });
    } else {
      // No scrape_protocols before 2.49: a loopback proxy sets the Accept header instead.
      // Prometheus chooses its parser from the Content-Type lookout answers with.
      const om = await AcceptProxy.start(a.target, 'application/openmetrics-text;version=1.0.0');
      const text = await AcceptProxy.start(a.target, 'text/plain;version=0.0.4');
      proxies.push(om, text);
      jobs.push({ job: 'lookout-openmetrics', targets: [om.address] });
      jobs.push({ job: 'lookout-text', targets: [text.address] });
    }
    await prom.start({ jobs });
  });

  it('every job\'s target is up with no scrape error, and both formats were parsed', async () => {
    const p = prom.get();
    const targets = await waitFor(
      'three targets scraped at least twice',
      async () => {
        const ts = await p.targets();
        if (ts.length !== JOBS.length || ts.some((t) => t.health === 'unknown')) return undefined;
        // Two scrapes: the second proves the first left nothing broken behind.
        const scraped = await p.vector('count_over_time(up[1m])');
        return scraped.length === JOBS.length && scraped.every((s) => Number(s.value[1]) >= 2) ? ts : undefined;
      },
      20_000,
      250,
    );
    for (const job of JOBS) {
      const t = targets.find((x) => x.labels['job'] === job);
      expect(t, `target of job ${job}`).toBeDefined();
      expect({ job, health: t?.health, lastError: t?.lastError }).toEqual({ job, health: 'up', lastError: '' });
    }
    // Each job ingested the full exposition: every sample, none dropped or renamed.
    const samples = await p.vector('scrape_samples_scraped');
    const byJob = new Map(samples.map((s) => [s.metric['job'], Number(s.value[1])]));
    const series = Number((await p.vector('lookout_series{job="lookout"}'))[0]?.value[1]);
    for (const job of JOBS) expect(byJob.get(job), job).toBeGreaterThan(series);
    // lookout served both formats to Prometheus.
    const formats = await p.vector('max by (format) (lookout_scrapes_total)');
    const served = Object.fromEntries(formats.map((s) => [s.metric['format'], Number(s.value[1])]));
    expect(served['openmetrics']).toBeGreaterThan(0);
    expect(served['text']).toBeGreaterThan(0);
    process.stderr.write(`[e2e] Prometheus ${version.text}: formats served so far ${JSON.stringify(served)}\n`);
  }, 30_000);

  it('a query returns container_cpu_usage_seconds_total of the running container with its name and image, in every format', async () => {
    const p = prom.get();
    for (const job of JOBS) {
      const r = await waitFor(`${busy.name} in job ${job}`, async () => {
        const v = await p.vector(`container_cpu_usage_seconds_total{job="${job}",name="${busy.name}"}`);
        return v.length > 0 ? v : undefined;
      });
      expect(r).toHaveLength(1);
      const m = r[0]?.metric ?? {};
      expect({ name: m['name'], image: m['image'], cpu: m['cpu'], __name__: m['__name__'] }).toEqual({
        name: busy.name,
        image: IMAGE_LABEL,
        cpu: 'total',
        __name__: 'container_cpu_usage_seconds_total',
      });
      expect(m['id']).toContain(busy.id);
      expect(Number(r[0]?.value[1])).toBeGreaterThan(0);
      // The limits the same way.
      const quota = await p.vector(`container_spec_cpu_quota{job="${job}",name="${busy.name}"}`);
      expect(Number(quota[0]?.value[1])).toBe(50000);
    }
  }, 30_000);

  it('rate(container_cpu_usage_seconds_total) matches the container\'s CPU limit of 0.5, and the kernel\'s own count', async () => {
    const p = prom.get();
    const cg = cgroupOf((await inspect(busy.name)).pid);
    const expr = `rate(container_cpu_usage_seconds_total{job="lookout",name="${busy.name}"}[10s])`;
    // Over a 10 s window, PromQL's rate is compared with the kernel's own counter read at the
    // window's ends. On a host busy with other work the container can get less than its
    // quota (the kernel's count shows it): then another window is measured.
    let rate = NaN;
    let kernelRate = NaN;
    for (let attempt = 0; attempt < 3; attempt++) {
      const k0 = cpuUsage(cg);
      const t0 = Date.now();
      await sleep(10_000);
      const k1 = cpuUsage(cg);
      const t1 = Date.now();
      await sleep(1500); // the scrape at or just before t1 is stored
      const r = (await p.query(expr, t1 / 1000)) as { resultType: string; result: VectorSample[] };
      expect(r.resultType).toBe('vector');
      expect(r.result).toHaveLength(1);
      rate = Number(r.result[0]?.value[1]);
      kernelRate = (k1 - k0) / ((t1 - t0) / 1000);
      expect(Math.abs(rate - kernelRate), `${expr} = ${rate}, the kernel's rate ${kernelRate}`).toBeLessThan(0.1);
      if (kernelRate >= 0.4) break;
      process.stderr.write(`[e2e] host contended: the container got ${kernelRate.toFixed(3)} CPU by the kernel's count (load ${loadavg()[0]?.toFixed(2)}); measuring again\n`);
    }
    if (kernelRate < 0.4 && !e2eRequired()) {
      // The host starved the container in every window (see docker.test.ts): strict in CI only.
      process.stderr.write(`[e2e] host too busy to check the 0.5 CPU limit (kernel: ${kernelRate.toFixed(3)}); checked PromQL against the kernel only\n`);
    } else {
      expect(rate, `${expr} (the kernel's rate ${kernelRate}, load average ${loadavg()[0]})`).toBeGreaterThan(0.4);
    }
    expect(rate, expr).toBeLessThan(0.6);
    // And throttling shows: a container that would use a whole CPU is throttled period after period.
    const thr = await p.vector(`rate(container_cpu_cfs_throttled_periods_total{job="lookout",name="${busy.name}"}[10s])`);
    expect(thr).toHaveLength(1);
    expect(Number(thr[0]?.value[1])).toBeGreaterThan(1);
  }, 60_000);
});
