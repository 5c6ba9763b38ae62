/**
 * A real Prometheus (`prometheus --web.enable-remote-write-receiver`, on loopback, with
 * temporary storage, scraping nothing) receiving the agent's remote_write: the series are
 * queryable through its API with the right labels (external ones included) and values; with
 * Prometheus stopped for a while and started again on the same storage, every sample of the
 * outage arrives once the queue drains.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Agent } from '../../src/agent.js';
import { validate } from '../../src/config.js';
import { PROMETHEUS, prometheusVersion } from '../helpers/prometheus.js';
import { describeWith, requireOrSkip } from '../helpers/require.js';
import { freePort, sleep, waitFor } from '../helpers/util.js';
import { captureLog, Daemon, selfValue } from './exporters-support.js';
import { hostRoot, WEB_CGROUP } from '../helpers/hostroot.js';

const avail = await requireOrSkip('Prometheus with a remote-write receiver (>= 2.33)', async () => {
  const v = await prometheusVersion();
  if (v.major < 2 || (v.major === 2 && v.minor < 33)) return `${PROMETHEUS} is ${v.text}; --web.enable-remote-write-receiver needs 2.33 or later`;
  return undefined;
});

const INTERVAL_MS = 250;
const NODE = 'e2e-node';

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

describeWith(avail, 'a real Prometheus receiving lookout\'s remote_write', () => {
  let dir = '';
  let url = '';
  let prom: Daemon;
  let agent: Agent | undefined;
  const log = captureLog('info');

  async function api<T>(path: string, params: Record<string, string>): Promise<T> {
    const res = await fetch(`${url}${path}?${new URLSearchParams(params).toString()}`, { signal: AbortSignal.timeout(10_000) });
    const body = (await res.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`${path} ${JSON.stringify(params)}: ${body.error ?? res.status}`);
    return body.data;
  }

  const vector = async (query: string): Promise<Sample[]> => (await api<{ result: Sample[] }>('/api/v1/query', { query })).result;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lookout-e2e-promrw-'));
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    writeFileSync(join(dir, 'prometheus.yml'), 'global:\n  scrape_interval: 15s\nscrape_configs: []\n');
    prom = new Daemon(
      PROMETHEUS,
      [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--web.enable-remote-write-receiver', '--log.level=warn'],
      `${url}/-/ready`,
    );
    await prom.start();
    const config = validate(
      {
        root: hostRoot(),
        state_dir: join(dir, 'state'),
        server: { listen: '127.0.0.1:0' },
        collect: { min_interval: '0s' },
        exporters: {
          remotewrite: {
            enabled: true,
            url: `${url}/api/v1/write`,
            external_labels: { node: NODE },
            bearer_token: 'tok-e2e-rw', // Prometheus ignores it; the unit tests check the header
            interval: `${INTERVAL_MS}ms`,
            min_backoff: '50ms',
            max_backoff: '400ms',
            flush_timeout: '3s',
          },
        },
      },
      'e2e',
    );
    agent = await Agent.start(config, { log: log.log });
  });

  afterAll(async () => {
    await agent?.stop(5000);
    await prom?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the series are queryable with the right labels, external labels included, and values', async () => {
    const cpu = await waitFor('the container\'s CPU series', async () => {
      const v = await vector('container_cpu_usage_seconds_total{name="web"}');
      return v.length > 0 ? v : undefined;
    }, 20_000);
    expect(cpu).toHaveLength(1);
    expect(cpu[0]?.metric).toEqual({ __name__: 'container_cpu_usage_seconds_total', cpu: 'total', id: WEB_CGROUP, image: 'nginx:1.27', name: 'web', node: NODE });
    expect(cpu[0]?.value[1]).toBe('2.5');
    // The root cgroup: image="" and name="" are absent, so `image!=""` still selects containers only.
    const root = await vector('container_cpu_usage_seconds_total{id="/"}');
    expect(root.map((s) => [s.metric, s.value[1]])).toEqual([[{ __name__: 'container_cpu_usage_seconds_total', cpu: 'total', id: '/', node: NODE }, '1']]);
    expect((await vector('container_cpu_usage_seconds_total{image!=""}')).map((s) => s.metric['name'])).toEqual(['web']);
    expect((await vector('container_memory_working_set_bytes{name="web"}'))[0]?.value[1]).toBe(String(8388608 - 1048576));
    expect((await vector('container_spec_memory_limit_bytes{name="web"}'))[0]?.value[1]).toBe('67108864');
    expect((await vector(`machine_cpu_cores{node="${NODE}"}`))[0]?.value[1]).toBe('2');
    expect((await vector('container_blkio_device_usage_total{name="web",operation="Write"}'))[0]?.metric).toMatchObject({ device: '/dev/sda', major: '8', minor: '0' });
  });

  it('stop Prometheus for a while and start it again: every sample of the outage arrives once the queue drains', async () => {
    const a = agent as Agent;
    const self = a.self;
    await prom.stop();
    const down = Date.now();
    await sleep(2500);
    expect(await selfValue(self, 'lookout_exporter_queue_items', { exporter: 'remotewrite' }), 'samples queued during the outage').toBeGreaterThan(0);
    expect(await selfValue(self, 'lookout_exporter_retries_total', { exporter: 'remotewrite' })).toBeGreaterThan(0);
    await prom.start();
    const up = Date.now();
    await waitFor('the queue drained', async () => ((await selfValue(self, 'lookout_exporter_queue_items', { exporter: 'remotewrite' })) === 0 ? true : undefined), 30_000);
    await sleep(2 * INTERVAL_MS);
    await a.stop(5000);
    agent = undefined;
    expect(await selfValue(self, 'lookout_exporter_dropped_total', { exporter: 'remotewrite' })).toBe(0);
    expect(await selfValue(self, 'lookout_exporter_failed_total', { exporter: 'remotewrite' })).toBe(0);
    const sent = await selfValue(self, 'lookout_exporter_sent_total', { exporter: 'remotewrite' });
    // Every sample counted as sent is stored: one per series per push (the raw samples of
    // every series, counted here; count_over_time would merge series that differ by name only).
    const storedSamples = async (): Promise<number> => {
      const all = await api<{ result: Array<{ values: unknown[] }> }>('/api/v1/query', { query: `{node="${NODE}"}[1h]` });
      return all.result.reduce((n, s) => n + s.values.length, 0);
    };
    const stored = await waitFor('every sent sample stored', async () => {
      const n = await storedSamples();
      return n === sent ? n : undefined;
    }, 10_000).catch(storedSamples);
    expect(stored).toBe(sent);
    // And the outage is covered: samples at the push interval all through it.
    const m = await api<{ result: Array<{ values: Array<[number, string]> }> }>('/api/v1/query', { query: 'container_cpu_usage_seconds_total{name="web"}[1h]' });
    const times = (m.result[0]?.values ?? []).map(([t]) => t * 1000);
    const during = times.filter((t) => t > down + INTERVAL_MS && t < up - INTERVAL_MS);
    expect(during.length, 'pushes during the outage').toBeGreaterThanOrEqual(Math.floor((up - down) / INTERVAL_MS / 2));
    const gaps = times.slice(1).map((t, i) => t - (times[i] as number));
    expect(Math.max(...gaps), 'largest gap between pushes').toBeLessThan(INTERVAL_MS * 6);
    expect(log.text()).not.toContain('tok-e2e-rw');
  });
});
