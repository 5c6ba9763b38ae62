/**
 * lookout against the real Docker engine: real containers with CPU and memory limits, an
 * OOM kill, removal, raw cgroups, promtool's lint, and container churn while scraping.
 */
import { cpus, loadavg, totalmem } from 'node:os';
import { readFileSync } from 'node:fs';
import { beforeAll, expect, it } from 'vitest';
import { useAgent } from '../helpers/agent.js';
import { cgroupOf, type Container, cpuUsage, docker, dockerUsable, IMAGE_LABEL, inspect, memoryUsage, useContainers } from '../helpers/docker.js';
import { type Sample, select, value } from '../helpers/exposition.js';
import { promtoolCheckMetrics } from '../helpers/prometheus.js';
import { describeWith, e2eRequired, requireOrSkip } from '../helpers/require.js';
import { sleep, waitFor } from '../helpers/util.js';

const avail = await requireOrSkip('Docker', dockerUsable);

const MiB = 1024 * 1024;

function errorsTotal(samples: readonly Sample[]): number {
  return select(samples, 'lookout_collector_errors_total').reduce((a, s) => a + s.value, 0);
}

describeWith(avail, 'lookout against the Docker engine', () => {
  const pool = useContainers();
  const agent = useAgent({ collect: { min_interval: '100ms' } });
  let errorsAtStart = 0;

  beforeAll(async () => {
    const a = await agent.start();
    errorsAtStart = errorsTotal((await a.scrape()).samples);
  });

  /** Scrapes until the container's series carry its name (Docker writes its metadata after the cgroup appears). */
  async function seriesOf(c: Container, timeoutMs = 10_000): Promise<Sample[]> {
    return waitFor(`series of ${c.name}`, async () => {
      const { samples } = await agent.get().scrape();
      return select(samples, 'container_cpu_usage_seconds_total', { name: c.name }).length === 1 ? samples : undefined;
    }, timeoutMs);
  }

  it('listens on the port the kernel picked for port 0 and reports it in Agent.address', async () => {
    const a = agent.get();
    expect(a.config.server.listen).toBe('127.0.0.1:0');
    expect(a.target).toMatch(/^127\.0\.0\.1:[1-9][0-9]*$/);
    const res = await fetch(`${a.url}/healthz`);
    expect(res.status).toBe(200);
    expect((await fetch(`${a.url}/readyz`)).status).toBe(200);
  });

  it('a CPU-busy container with --cpus 0.5 --memory 64m: usage rate, throttling, limits, memory and labels', async () => {
    const c = await pool.run({ prefix: 'cpu', flags: ['--cpus', '0.5', '--memory', '64m'], sh: 'while :; do :; done' });
    const cg = cgroupOf((await inspect(c.name)).pid);
    const sel = { name: c.name };
    await seriesOf(c);

    /** A scrape bracketed by the kernel's own counters, read just before and just after it. */
    const bracketed = async (): Promise<{ samples: Sample[]; at: number; cpu: [number, number]; mem: [number, number] }> => {
      await sleep(150); // past collect.min_interval, so that this scrape collects anew
      const cpu0 = cpuUsage(cg);
      const mem0 = memoryUsage(cg);
      const at = performance.now();
      const { samples } = await agent.get().scrape();
      return { samples, at, cpu: [cpu0, cpuUsage(cg)], mem: [mem0, memoryUsage(cg)] };
    };
    // lookout's counter lies between the kernel's readings around the same scrape.
    const inBracket = (b: Awaited<ReturnType<typeof bracketed>>): void => {
      const v = value(b.samples, 'container_cpu_usage_seconds_total', sel);
      expect(v).toBeGreaterThanOrEqual(b.cpu[0] - 1e-6);
      expect(v).toBeLessThanOrEqual(b.cpu[1] + 1e-6);
    };

    // Over ~5 s the usage rate follows --cpus 0.5. On a host busy with other work the
    // container itself can get less than its quota: that shows in the kernel's own counter,
    // and then another window is measured (three at most).
    let first = await bracketed();
    let last = first;
    let rate = 0;
    let kernelRate = 0;
    for (let attempt = 0; attempt < 3; attempt++) {
      await sleep(5000);
      last = await bracketed();
      inBracket(first);
      inBracket(last);
      const dt = (last.at - first.at) / 1000;
      rate = (value(last.samples, 'container_cpu_usage_seconds_total', sel) - value(first.samples, 'container_cpu_usage_seconds_total', sel)) / dt;
      kernelRate = (last.cpu[1] - first.cpu[0]) / dt;
      if (kernelRate >= 0.4) break;
      process.stderr.write(`[e2e] host contended: the container got ${kernelRate.toFixed(3)} CPU by the kernel's count (load ${loadavg()[0]?.toFixed(2)}); measuring again\n`);
      first = last;
    }
    if (kernelRate < 0.4 && !e2eRequired()) {
      // Three windows in which the kernel itself gave the container less than 0.4 CPU: the
      // host is too busy to show the limit. lookout's values matched the kernel's above; the
      // band is checked strictly in CI (LOOKOUT_REQUIRE_E2E=1), where the machine is ours.
      process.stderr.write(`[e2e] host too busy to check the 0.5 CPU limit (kernel: ${kernelRate.toFixed(3)}); checked lookout against the kernel only\n`);
    } else {
      expect(rate, `lookout's rate ${rate}, the kernel's ${kernelRate}, load average ${loadavg()[0]}`).toBeGreaterThan(0.4);
    }
    expect(rate).toBeLessThan(0.6);
    const s1 = first.samples;
    const s2 = last.samples;
    const thr1 = value(s1, 'container_cpu_cfs_throttled_periods_total', sel);
    const [before, after] = last.mem;
    expect(value(s2, 'container_cpu_cfs_throttled_periods_total', sel)).toBeGreaterThan(thr1);
    expect(value(s2, 'container_cpu_cfs_periods_total', sel)).toBeGreaterThan(0);
    expect(value(s2, 'container_spec_cpu_quota', sel)).toBe(50000);
    expect(value(s2, 'container_spec_cpu_period', sel)).toBe(100000);
    expect(value(s2, 'container_spec_memory_limit_bytes', sel)).toBe(64 * MiB);

    const usage = value(s2, 'container_memory_usage_bytes', sel);
    const tolerance = 256 * 1024;
    expect(usage).toBeGreaterThanOrEqual(Math.min(before, after) - tolerance);
    expect(usage).toBeLessThanOrEqual(Math.max(before, after) + tolerance);
    expect(usage).toBeGreaterThan(0);
    const ws = value(s2, 'container_memory_working_set_bytes', sel);
    expect(ws).toBeGreaterThan(0);
    expect(ws).toBeLessThanOrEqual(usage);

    const [series] = select(s2, 'container_cpu_usage_seconds_total', sel);
    expect(series?.labels).toEqual({ id: cg.path, image: IMAGE_LABEL, name: c.name, cpu: 'total' });
    if (cg.version === 'v1') expect(cg.path).toBe(`/docker/${c.id}`);
    // Every series of the container carries the same identity.
    const mine = s2.filter((s) => s.labels['name'] === c.name);
    expect(mine.length).toBeGreaterThan(20);
    for (const s of mine) expect([s.name, s.labels['id'], s.labels['image']]).toEqual([s.name, cg.path, IMAGE_LABEL]);
  }, 60_000);

  it('an OOM kill in a 16m container is counted in container_oom_events_total', async () => {
    const c = await pool.run({
      prefix: 'oom',
      flags: ['--memory', '16m', '--memory-swap', '16m'],
      sh: 'dd if=/dev/zero of=/dev/shm/fill bs=1M count=60; echo dd-exit=$?; sleep 1000',
    });
    const cg = cgroupOf((await inspect(c.name)).pid);
    const sel = { name: c.name };
    const samples = await waitFor(
      'container_oom_events_total >= 1',
      async () => {
        const { samples: s } = await agent.get().scrape();
        const v = select(s, 'container_oom_events_total', sel)[0]?.value;
        return v !== undefined && v >= 1 ? s : undefined;
      },
      15_000,
      200,
    );
    const oom = value(samples, 'container_oom_events_total', sel);
    // What the kernel says (v1 memory.oom_control oom_kill, v2 memory.events oom_kill).
    const kernelFile = cg.version === 'v1' ? 'memory.oom_control' : 'memory.events';
    const kernel = Number(/^oom_kill (\d+)$/m.exec(readFileSync(`${cg.memoryDir}/${kernelFile}`, 'utf8'))?.[1]);
    expect(oom).toBe(kernel);
    expect(oom).toBe(1);
    expect(value(samples, 'container_spec_memory_limit_bytes', sel)).toBe(16 * MiB);
    expect(value(samples, 'container_spec_memory_swap_limit_bytes', sel)).toBe(16 * MiB);
    // The tmpfs pages dd wrote stay charged: usage sits at the limit.
    expect(value(samples, 'container_memory_usage_bytes', sel)).toBeGreaterThan(12 * MiB);
    expect(value(samples, 'container_memory_usage_bytes', sel)).toBeLessThanOrEqual(16 * MiB);

    // What really happens: the kernel kills dd (the biggest task), the shell survives and
    // goes on to sleep, so the container keeps running and Docker does not mark it OOMKilled.
    const logs = await waitFor('the shell to report dd\'s exit', async () => {
      const out = await docker(['logs', c.name]);
      return out.includes('dd-exit=') ? out : undefined;
    }, 5000);
    expect(logs).toContain('dd-exit=137');
    const st = await inspect(c.name);
    expect(st.status).toBe('running');
    expect(st.oomKilled).toBe(false);
  }, 40_000);

  it('a removed container has no series in the next scrape', async () => {
    const c = await pool.run({ prefix: 'rm', sh: 'sleep 1000' });
    const present = await seriesOf(c);
    expect(present.filter((s) => s.labels['name'] === c.name).length).toBeGreaterThan(20);
    expect(present.some((s) => s.labels['id']?.includes(c.id))).toBe(true);
    await pool.remove(c);
    await sleep(150); // past collect.min_interval (100ms)
    const { samples, text } = await agent.get().scrape();
    expect(samples.filter((s) => s.labels['name'] === c.name)).toEqual([]);
    expect(text).not.toContain(c.id);
    expect(text).not.toContain(c.name);
  }, 30_000);

  it('reports raw cgroups with image="" and name="", and the machine', async () => {
    const { samples } = await agent.get().scrape();
    const root = samples.filter((s) => s.labels['id'] === '/');
    expect(root.length).toBeGreaterThan(10);
    for (const s of root) expect([s.name, s.labels['image'], s.labels['name']]).toEqual([s.name, '', '']);
    for (const name of ['container_cpu_usage_seconds_total', 'container_memory_usage_bytes', 'container_last_seen']) {
      expect(select(samples, name, { id: '/', image: '', name: '' }), name).toHaveLength(1);
    }
    // Every per-cgroup series (those with an id) has the identity labels; raw cgroups are
    // exactly those with image="". (Runtime-wide series such as counts per state have no id.)
    const cgroupSeries = samples.filter((s) => s.name.startsWith('container_') && s.labels['id'] !== undefined);
    expect(cgroupSeries.length).toBeGreaterThan(root.length);
    for (const s of cgroupSeries) {
      expect(typeof s.labels['image'], `${s.name} image`).toBe('string');
      expect(typeof s.labels['name'], `${s.name} name`).toBe('string');
      if (s.labels['image'] === '') expect(s.labels['name'], `${s.name}${JSON.stringify(s.labels)}`).toBe('');
    }
    expect(value(samples, 'machine_cpu_cores')).toBe(cpus().length);
    const mem = value(samples, 'machine_memory_bytes');
    expect(Math.abs(mem - totalmem())).toBeLessThanOrEqual(totalmem() * 0.001);
  });

  it('the full /metrics output passes promtool check metrics', async () => {
    // A named container makes sure container series are part of what is checked.
    const c = await pool.run({ prefix: 'lint', flags: ['--memory', '32m'], sh: 'sleep 1000' });
    await seriesOf(c);
    const text = await agent.get().scrapeText('text');
    expect(text).toContain(`name="${c.name}"`);
    const r = await promtoolCheckMetrics(text);
    expect(r.output).toBe('');
    expect(r.code).toBe(0);
    // The OpenMetrics rendering parses strictly too, with the same sample names, and a text
    // scrape after it still has the counters' `_total`.
    const om = await agent.get().scrape('openmetrics');
    const again = await agent.get().scrape('text');
    const names = (ss: readonly Sample[]): string[] => [...new Set(ss.map((x) => x.name))].sort();
    expect(names(om.samples)).toEqual(names(again.samples));
    expect(select(again.samples, 'container_cpu_usage_seconds_total', { name: c.name })).toHaveLength(1);
    expect(om.families.get('container_cpu_usage_seconds')).toMatchObject({ type: 'counter', unit: 'seconds' });
  }, 30_000);

  it('containers started and removed while scraping every 100 ms: no failed scrape, no collector error', async () => {
    const before = errorsTotal((await agent.get().scrape()).samples);
    expect(before).toBe(errorsAtStart);
    const names: string[] = [];
    const seen = new Set<string>();
    const failures: string[] = [];
    let scrapes = 0;
    let churning = true;
    const scraper = (async () => {
      while (churning) {
        const t = performance.now();
        try {
          const { samples } = await agent.get().scrape();
          scrapes++;
          for (const s of select(samples, 'container_last_seen')) if (names.includes(s.labels['name'] ?? '')) seen.add(s.labels['name'] ?? '');
        } catch (err) {
          failures.push(String(err));
        }
        await sleep(Math.max(0, 100 - (performance.now() - t)));
      }
    })();
    // Two lanes of five containers: each started, left to live a moment, removed.
    const lane = async (lane: number): Promise<void> => {
      for (let i = 0; i < 5; i++) {
        const c = await pool.run({ prefix: `churn${lane}${i}`, sh: 'sleep 1000' });
        names.push(c.name);
        await sleep(300);
        await pool.remove(c);
      }
    };
    try {
      await Promise.all([lane(0), lane(1)]);
      await sleep(300);
    } finally {
      churning = false;
      await scraper;
    }
    expect(failures).toEqual([]);
    expect(names).toHaveLength(10);
    expect(scrapes).toBeGreaterThan(10);
    // The scrapes overlapped the containers' lives.
    expect(seen.size).toBeGreaterThan(0);
    const { samples } = await agent.get().scrape();
    expect(errorsTotal(samples)).toBe(before);
    const churned = (ss: readonly Sample[]): string[] =>
      ss.filter((s) => names.some((n) => Object.values(s.labels).includes(n))).map((s) => `${s.name}${JSON.stringify(s.labels)} ${s.value}`);
    const left = churned(samples);
    if (left.length > 0) {
      // Say whether they linger for a while or for good, to tell a lag from a leak.
      const t0 = performance.now();
      const fate = await waitFor('the leftovers to go', async () => (churned((await agent.get().scrape()).samples).length === 0 ? true : undefined), 5000, 200).then(
        () => `gone ${Math.round(performance.now() - t0)} ms later`,
        () => 'still there 5 s later',
      );
      expect(left, `series of removed containers in the scrape after their removal (${fate})`).toEqual([]);
    }
  }, 90_000);
});
