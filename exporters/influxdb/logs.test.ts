import { afterEach, describe, expect, it } from 'vitest';
import type { Exporter } from '../../src/component.js';
import { validate } from '../../src/config.js';
import type { LogRecord } from '../../src/logs.js';
import { Labels } from '../../src/model.js';
import { API, API_ID, fakeContext, Receiver, sampleSnapshot, selfValue, until, WEB } from '../../test/e2e/exporters-support.js';
import { WEB_ID } from '../../test/helpers/hostroot.js';
import type { InfluxConfig } from './config.js';
import { influxdbExporter } from './index.js';
import { severityCode, SyslogEncoder } from './logs.js';

const rec = (message: string, time: string, extra: Partial<LogRecord> = {}): LogRecord => ({ time, stream: 'stdout', message, labels: WEB, ...extra });

describe('log records in Telegraf\'s syslog layout', () => {
  it('maps levels to syslog severities: the level, else err for stderr and info for stdout', () => {
    const sev = (extra: Partial<LogRecord>): number => severityCode(rec('x', 't', extra));
    expect([sev({ level: 'fatal' }), sev({ level: 'error' }), sev({ level: 'warn' }), sev({ level: 'info' }), sev({ level: 'debug' }), sev({ level: 'trace' })]).toEqual([2, 3, 4, 6, 7, 7]);
    expect([sev({ stream: 'stderr' }), sev({}), sev({ stream: 'stderr', level: 'info' }), sev({ level: 'nonsense' })]).toEqual([3, 6, 6, 6]);
  });

  it('writes the tags, fields and nanosecond times exactly; equal times of one series 1 ns apart', () => {
    const e = new SyslogEncoder({ measurement: 'syslog', host: 'node-1', tags: { dc: 'eu', appname: 'loses to the own tag' }, now: () => 0 });
    const lines = e
      .encode([
        rec('hello "world"\nsecond line', '2026-11-25T01:04:27.710798097Z'),
        rec('same time', '2026-11-25T01:04:27.710798097Z'),
        rec('same time again', '2026-11-25T01:04:27.710798097Z'),
        rec('boom', '2026-11-25T01:04:28Z', { stream: 'stderr' }),
        rec('k8s warn', '2026-11-25T01:04:29.5+00:00', { labels: API, level: 'warn' }),
      ])
      .toString()
      .split('\n');
    const web = `appname=web,container_image=nginx,container_name=web,dc=eu,facility=user,host=node-1,hostname=node-1`;
    const webFields = `procid="${WEB_ID.slice(0, 12)}",version=1i,container_id="${WEB_ID}"`;
    expect(lines).toEqual([
      `syslog,${web},severity=info,stream=stdout message="hello \\"world\\" second line",severity_code=6i,facility_code=1i,timestamp=1795568667710798097i,${webFields} 1795568667710798097`,
      `syslog,${web},severity=info,stream=stdout message="same time",severity_code=6i,facility_code=1i,timestamp=1795568667710798097i,${webFields} 1795568667710798098`,
      `syslog,${web},severity=info,stream=stdout message="same time again",severity_code=6i,facility_code=1i,timestamp=1795568667710798097i,${webFields} 1795568667710798099`,
      `syslog,${web},severity=err,stream=stderr message="boom",severity_code=3i,facility_code=1i,timestamp=1795568668000000000i,${webFields} 1795568668000000000`,
      `syslog,appname=api,container=api,container_image=ghcr.io/acme/api,container_name=${API_ID},dc=eu,facility=user,host=node-1,hostname=node-1,namespace=prod,pod=api-7d9f,severity=warning,stream=stdout message="k8s warn",severity_code=4i,facility_code=1i,timestamp=1795568669500000000i,procid="${API_ID.slice(0, 12)}",version=1i,container_id="${API_ID}" 1795568669500000000`,
    ]);
  });

  it('a record without an RFC 3339 time is written at the time it is encoded', () => {
    const e = new SyslogEncoder({ measurement: 'container_logs', host: 'n', tags: {}, now: () => 1_795_568_667_123.5 });
    const line = e.encode([rec('x', 'not a time', { labels: new Labels([['id', '/'], ['image', ''], ['name', '']]) })]).toString();
    expect(line).toBe('container_logs,facility=user,host=n,hostname=n,severity=info,stream=stdout message="x",severity_code=6i,facility_code=1i,timestamp=1795568667123500000i,version=1i 1795568667123500000');
  });
});

describe('the influxdb exporter with logs.enabled', () => {
  const running: Exporter[] = [];
  const receivers: Receiver[] = [];
  afterEach(async () => {
    for (const e of running.splice(0)) await e.shutdown();
    for (const r of receivers.splice(0)) await r.stop();
  });

  it('is off by default: no log destination', () => {
    const cfg = validate({ exporters: { influxdb: { enabled: true } } }, 'test').exporters['influxdb'] as InfluxConfig;
    expect(cfg.logs.enabled).toBe(false);
    expect(influxdbExporter.create(cfg, fakeContext()).writeLogs).toBeUndefined();
  });

  it('writes logs with precision ns beside the metrics, each with its own delivery and self-metrics', async () => {
    const r = await Receiver.start();
    receivers.push(r);
    const cfg = validate({ exporters: { influxdb: { enabled: true, url: r.url, api: 'v2', bucket: 'b', org: 'o', token: 'tok-secret', hostname: 'node-1', interval: '1h', logs: { enabled: true, measurement: 'logs' } } } }, 'test')
      .exporters['influxdb'] as InfluxConfig;
    const ctx = fakeContext({ snapshot: () => sampleSnapshot(1_795_568_000_000) });
    const e = influxdbExporter.create(cfg, ctx);
    running.push(e);
    await e.start(new AbortController().signal);
    await e.writeLogs?.([rec('hello', '2026-11-25T01:04:27.710798097Z'), rec('world', '2026-11-25T01:04:27.710798098Z')]);
    await until('the metrics push', () => r.requests.some((x) => x.url.includes('precision=ms')));
    const logReq = r.requests.find((x) => x.url.includes('precision=ns'));
    expect(logReq?.url).toBe('/api/v2/write?org=o&bucket=b&precision=ns');
    expect(logReq?.headers['authorization']).toBe('Token tok-secret');
    expect(logReq?.body.toString().split('\n').map((l) => l.split(' ').pop())).toEqual(['1795568667710798097', '1795568667710798098']);
    expect(logReq?.body.toString()).toMatch(/^logs,appname=web,/);
    expect(await selfValue(ctx.self, 'lookout_exporter_sent_total', { exporter: 'influxdb_logs' })).toBe(2);
    expect(await selfValue(ctx.self, 'lookout_exporter_sent_total', { exporter: 'influxdb' })).toBeGreaterThan(2);
    await e.shutdown();
    await e.shutdown();
    await expect(e.writeLogs?.([rec('late', '2026-11-25T01:04:27Z')])).rejects.toThrow(/shut down/);
  });
});
