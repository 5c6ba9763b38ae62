/**
 * A real InfluxDB 1.x (`influxd` from Debian's `influxdb`, on loopback, with a temporary
 * config and data directory, authentication on) receiving the agent's pushes: InfluxQL
 * returns the Telegraf-layout series, tags and values; with influxd stopped for a while and
 * started again, every sample of the outage arrives once the buffer drains; a wrong password
 * is rejected and never logged; log records land in Telegraf's syslog layout.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Agent } from '../../src/agent.js';
import { validate } from '../../src/config.js';
import { describeWith, requireOrSkip } from '../helpers/require.js';
import { exec, sleep, waitFor } from '../helpers/util.js';
import type { InfluxConfig } from '../../exporters/influxdb/config.js';
import { influxdbExporter } from '../../exporters/influxdb/index.js';
import type { LogRecord } from '../../src/logs.js';
import { API, captureLog, Daemon, fakeContext, INFLUXD, influxd, selfValue, WEB } from './exporters-support.js';
import { hostRoot, WEB_ID } from '../helpers/hostroot.js';


const avail = await requireOrSkip('InfluxDB 1.x (influxd)', async () => {
  const r = await exec(INFLUXD, ['version'], { timeoutMs: 15_000 });
  const out = `${r.stdout}${r.stderr}`.trim();
  if (r.code !== 0) throw new Error(`${INFLUXD} version exited ${r.code}: ${out.split('\n')[0] ?? ''}`);
  if (!/InfluxDB v1\./.test(out)) return `${INFLUXD} is not InfluxDB 1.x: ${out.split('\n')[0] ?? ''}`;
  return undefined;
});

const DB = 'lookout_e2e';
const PASSWORD = `pw-e2e-${Math.random().toString(36).slice(2)}`;
const INTERVAL_MS = 250;

type Series = { name: string; columns: string[]; values: unknown[][]; tags?: Record<string, string> };

describeWith(avail, 'a real InfluxDB 1.x receiving lookout\'s pushes', () => {
  let dir = '';
  let url = '';
  let influx: Daemon;
  let agent: Agent | undefined;
  const log = captureLog('info');
  const auth = `Basic ${Buffer.from(`admin:${PASSWORD}`).toString('base64')}`;

  async function influxql(q: string): Promise<Series[]> {
    const res = await fetch(`${url}/query?${new URLSearchParams({ db: DB, q, epoch: 'ms' }).toString()}`, { headers: { authorization: auth }, signal: AbortSignal.timeout(10_000) });
    const body = (await res.json()) as { results?: Array<{ series?: Series[]; error?: string }>; error?: string };
    const err = body.error ?? body.results?.[0]?.error;
    if (err) throw new Error(`InfluxQL ${q}: ${err}`);
    return body.results?.[0]?.series ?? [];
  }

  /** The rows of a one-series result as objects. */
  async function rows(q: string): Promise<Array<Record<string, unknown>>> {
    const s = (await influxql(q))[0];
    return s ? s.values.map((v) => Object.fromEntries(s.columns.map((c, i) => [c, v[i]]))) : [];
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lookout-e2e-influxd-'));
    ({ daemon: influx, url } = await influxd(dir, true));
    await influx.start();
    // With no user yet, InfluxDB lets the first admin be created without credentials.
    const res = await fetch(`${url}/query`, { method: 'POST', body: new URLSearchParams({ q: `CREATE USER "admin" WITH PASSWORD '${PASSWORD}' WITH ALL PRIVILEGES` }) });
    expect(res.status, await res.text()).toBe(200);
    const passwordFile = join(dir, 'password');
    writeFileSync(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
    const config = validate(
      {
        root: hostRoot(),
        state_dir: join(dir, 'state'),
        server: { listen: '127.0.0.1:0' },
        collect: { min_interval: '0s' },
        exporters: {
          influxdb: {
            enabled: true,
            url,
            database: DB,
            username: 'admin',
            password_file: passwordFile,
            hostname: 'e2e-node',
            interval: `${INTERVAL_MS}ms`,
            min_backoff: '50ms',
            max_backoff: '400ms',
            buffer: 'disk',
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
    await influx?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('creates the database and writes the Telegraf docker layout: InfluxQL returns the series, tags and values', async () => {
    const cpu = await waitFor('the container\'s CPU point', async () => (await rows(`SELECT * FROM docker_container_cpu WHERE container_name = 'web' ORDER BY time DESC LIMIT 1`))[0], 20_000);
    expect(cpu).toMatchObject({
      container_id: WEB_ID,
      container_image: 'nginx',
      container_name: 'web',
      container_version: '1.27',
      cpu: 'cpu-total',
      engine_host: 'e2e-node',
      host: 'e2e-node',
      usage_total: 2_500_000_000,
      usage_in_usermode: 2_000_000_000,
      usage_in_kernelmode: 500_000_000,
      throttling_periods: 10,
      throttling_throttled_periods: 4,
      throttling_throttled_time: 300_000_000,
    });
    const types = Object.fromEntries(((await influxql('SHOW FIELD KEYS FROM docker_container_cpu'))[0]?.values ?? []) as Array<[string, string]>);
    expect(types).toMatchObject({ usage_total: 'integer', throttling_periods: 'integer', container_id: 'string' });
    const mem = (await rows(`SELECT * FROM docker_container_mem WHERE container_name = 'web' ORDER BY time DESC LIMIT 1`))[0];
    // Telegraf's `usage` is Docker's usage without the inactive file cache: cAdvisor's working set.
    expect(mem).toMatchObject({ usage: 8388608 - 1048576, limit: 67108864, usage_percent: ((8388608 - 1048576) / 67108864) * 100, pgfault: 1234, pgmajfault: 5 });
    const blkio = (await rows(`SELECT * FROM docker_container_blkio WHERE container_name = 'web' ORDER BY time DESC LIMIT 1`))[0];
    expect(blkio).toMatchObject({ device: '8:0', io_service_bytes_recursive_read: 1048576, io_service_bytes_recursive_write: 2097152, io_serviced_recursive_read: 16, io_serviced_recursive_write: 32 });
    const status = (await rows(`SELECT * FROM docker_container_status WHERE container_name = 'web' ORDER BY time DESC LIMIT 1`))[0];
    expect(status?.['started_at']).toBe(1740823200500000000);
    expect(await rows('SELECT n_cpus, memory_total FROM docker ORDER BY time DESC LIMIT 1')).toMatchObject([{ n_cpus: 2, memory_total: 2097152000 }]);
    // A metric Telegraf has no field for: its own measurement with Telegraf's tags.
    expect(await rows(`SELECT value FROM container_memory_usage_bytes WHERE container_name = 'web' ORDER BY time DESC LIMIT 1`)).toMatchObject([{ value: 8388608 }]);
    // Containers only, as Telegraf: the root cgroup is not written.
    const names = (await influxql('SHOW TAG VALUES FROM docker_container_cpu WITH KEY = "container_name"'))[0]?.values.map((v) => v[1]);
    expect(names).toEqual(['web']);
    expect(((await influxql('SHOW DATABASES'))[0]?.values ?? []).flat()).toContain(DB);
  });

  it('stop influxd for a while and start it again: every sample of the outage arrives once the buffer drains', async () => {
    const a = agent as Agent;
    const self = a.self;
    await waitFor('deliveries before the outage', async () => ((await selfValue(self, 'lookout_exporter_sent_total', { exporter: 'influxdb' })) > 0 ? true : undefined));
    await influx.stop();
    const down = Date.now();
    await sleep(2500);
    const queued = await selfValue(self, 'lookout_exporter_queue_items', { exporter: 'influxdb' });
    expect(queued, 'samples queued during the outage').toBeGreaterThan(0);
    expect(await selfValue(self, 'lookout_exporter_retries_total', { exporter: 'influxdb' })).toBeGreaterThan(0);
    expect(readdirSync(join(dir, 'state', 'buffers', 'influxdb')).filter((f) => f.endsWith('.batch')).length).toBeGreaterThan(3);
    await influx.start();
    const up = Date.now();
    await waitFor('the buffer drained', async () => ((await selfValue(self, 'lookout_exporter_queue_items', { exporter: 'influxdb' })) === 0 ? true : undefined), 30_000);
    await sleep(2 * INTERVAL_MS);
    await a.stop(5000); // no more pushes; flush what is queued
    agent = undefined;
    expect(await selfValue(self, 'lookout_exporter_dropped_total', { exporter: 'influxdb' })).toBe(0);
    expect(await selfValue(self, 'lookout_exporter_failed_total', { exporter: 'influxdb' })).toBe(0);
    expect(await selfValue(self, 'lookout_exporter_queue_items', { exporter: 'influxdb' })).toBe(0);
    const sent = await selfValue(self, 'lookout_exporter_sent_total', { exporter: 'influxdb' });
    // Every field value the agent counted as sent is in the database, no more, no less.
    let stored = 0;
    for (const s of await influxql('SELECT count(*) FROM /.*/')) for (const v of s.values[0]?.slice(1) ?? []) stored += Number(v ?? 0);
    expect(stored).toBe(sent);
    // And the outage is covered: points at the push interval all through it.
    const times = (await rows(`SELECT usage_total FROM docker_container_cpu WHERE container_name = 'web'`)).map((r) => r['time'] as number);
    const during = times.filter((t) => t > down + INTERVAL_MS && t < up - INTERVAL_MS);
    expect(during.length, 'pushes during the outage').toBeGreaterThanOrEqual(Math.floor((up - down) / INTERVAL_MS / 2));
    const gaps = times.slice(1).map((t, i) => t - (times[i] as number));
    expect(Math.max(...gaps), 'largest gap between pushes').toBeLessThan(INTERVAL_MS * 6);
    expect(log.text()).not.toContain(PASSWORD);
  });

  it('a wrong password: rejected (401) for good, counted, logged with the server\'s message, never with the password', async () => {
    const wrong = `wrong-${PASSWORD}`;
    const cap = captureLog('info');
    const config = validate(
      {
        root: hostRoot(),
        state_dir: join(dir, 'state2'),
        server: { listen: '127.0.0.1:0' },
        exporters: { influxdb: { enabled: true, url, database: DB, username: 'admin', password: wrong, interval: '200ms', create_database: false } },
      },
      'e2e',
    );
    const a = await Agent.start(config, { log: cap.log });
    try {
      await waitFor('a rejected batch', async () => ((await selfValue(a.self, 'lookout_exporter_failed_total', { exporter: 'influxdb' })) > 0 ? true : undefined));
      expect(await selfValue(a.self, 'lookout_exporter_retries_total', { exporter: 'influxdb' })).toBe(0);
    } finally {
      await a.stop();
    }
    expect(cap.text()).toMatch(/HTTP 401: .*authorization failed/);
    expect(cap.text()).not.toContain(wrong);
    expect(cap.text()).not.toContain(PASSWORD);
  });

  it('logs.enabled: log records in Telegraf\'s syslog layout; InfluxQL returns their tags, fields and nanosecond times', async () => {
    const ctx = fakeContext();
    const e = influxdbExporter.create(
      validate({ exporters: { influxdb: { enabled: true, url, database: DB, username: 'admin', password: PASSWORD, hostname: 'e2e-node', interval: '1h', logs: { enabled: true } } } }, 'e2e').exporters['influxdb'] as InfluxConfig,
      ctx,
    );
    await e.start(new AbortController().signal);
    const records: LogRecord[] = [
      { time: '2026-11-25T01:04:27.710798097Z', stream: 'stdout', message: 'GET /healthz 200 café', labels: WEB, level: 'info' },
      { time: '2026-11-25T01:04:27.710798097Z', stream: 'stdout', message: 'same nanosecond', labels: WEB },
      { time: '2026-11-25T02:04:28.000000001+01:00', stream: 'stderr', message: 'connection refused', labels: WEB },
      { time: '2026-11-25T01:04:29.5Z', stream: 'stdout', message: 'slow query', labels: API, level: 'warn' },
    ];
    try {
      await e.writeLogs?.(records);
    } finally {
      await e.shutdown();
    }
    expect(await selfValue(ctx.self, 'lookout_exporter_sent_total', { exporter: 'influxdb_logs' })).toBe(4);
    // CSV, so that nanosecond times and the int64 timestamp field arrive as text, not as rounded JSON numbers.
    const res = await fetch(`${url}/query?${new URLSearchParams({ db: DB, q: 'SELECT * FROM syslog ORDER BY time', epoch: 'ns' }).toString()}`, { headers: { authorization: auth, accept: 'application/csv' } });
    const [head, ...lines] = (await res.text()).trim().split('\n');
    const cols = (head as string).trim().split(',');
    const rowsOf = lines.map((l) => Object.fromEntries(l.trim().split(',').map((v, i) => [cols[i] as string, v])));
    const web = { appname: 'web', facility: 'user', hostname: 'e2e-node', host: 'e2e-node', container_name: 'web', container_image: 'nginx', facility_code: '1', version: '1', procid: WEB_ID.slice(0, 12), container_id: WEB_ID };
    expect(rowsOf).toEqual([
      expect.objectContaining({ ...web, time: '1795568667710798097', timestamp: '1795568667710798097', severity: 'info', severity_code: '6', stream: 'stdout', message: 'GET /healthz 200 café' }),
      expect.objectContaining({ ...web, time: '1795568667710798098', timestamp: '1795568667710798097', severity: 'info', severity_code: '6', stream: 'stdout', message: 'same nanosecond' }),
      expect.objectContaining({ ...web, time: '1795568668000000001', timestamp: '1795568668000000001', severity: 'err', severity_code: '3', stream: 'stderr', message: 'connection refused' }),
      expect.objectContaining({ appname: 'api', namespace: 'prod', pod: 'api-7d9f', container: 'api', time: '1795568669500000000', severity: 'warning', severity_code: '4', message: 'slow query' }),
    ]);
    const types = Object.fromEntries(((await influxql('SHOW FIELD KEYS FROM syslog'))[0]?.values ?? []) as Array<[string, string]>);
    expect(types).toEqual({ message: 'string', severity_code: 'integer', facility_code: 'integer', timestamp: 'integer', procid: 'string', version: 'integer', container_id: 'string' });
    const tagKeys = ((await influxql('SHOW TAG KEYS FROM syslog'))[0]?.values ?? []).flat();
    expect(tagKeys).toEqual(['appname', 'container', 'container_image', 'container_name', 'facility', 'host', 'hostname', 'namespace', 'pod', 'severity', 'stream']);
  });
});
