/**
 * OTLP logs against a loopback receiver that decodes with protobufjs from the
 * opentelemetry-proto definitions (testdata/logs.proto; the generated decoders that
 * @opentelemetry/otlp-transformer shipped up to 0.216, installed as `otlp-transformer-protobufjs`,
 * cover metrics and traces only), while the exporter encodes with the current serializer.
 */
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import protobuf from 'protobufjs';
import { afterEach, describe, expect, it } from 'vitest';
import type { Exporter } from '../../src/component.js';
import { validate } from '../../src/config.js';
import type { LogRecord } from '../../src/logs.js';
import { API, API_ID, fakeContext, type Received, Receiver, sampleSnapshot, selfValue, until, WEB } from '../../test/e2e/exporters-support.js';
import { WEB_CGROUP, WEB_ID } from '../../test/helpers/hostroot.js';
import { freePort, sleep } from '../../test/helpers/util.js';
import type { OtlpConfig } from './config.js';
import { logsEndpoint, otlpExporter } from './index.js';

const Request = protobuf.loadSync(fileURLToPath(new URL('testdata/logs.proto', import.meta.url))).lookupType('opentelemetry.proto.ExportLogsServiceRequest');

type Attr = { key: string; value: { stringValue?: string; arrayValue?: { values: Array<{ stringValue?: string }> } } };
interface OtlpLog {
  timeUnixNano: string;
  observedTimeUnixNano: string;
  severityNumber?: number;
  severityText?: string;
  body: { stringValue?: string };
  attributes?: Attr[];
}
interface ResourceLogs {
  resource: { attributes: Attr[] };
  scopeLogs: Array<{ scope: { name: string }; logRecords: OtlpLog[] }>;
}
const attrs = (list: Attr[] = []): Record<string, unknown> => Object.fromEntries(list.map((a) => [a.key, a.value.arrayValue ? a.value.arrayValue.values.map((v) => v.stringValue) : a.value.stringValue]));

function decode(r: Received): ResourceLogs[] {
  const body = r.headers['content-encoding'] === 'gzip' ? gunzipSync(r.body) : r.body;
  return (Request.toObject(Request.decode(body), { longs: String, enums: Number, arrays: true, defaults: false }) as { resourceLogs: ResourceLogs[] }).resourceLogs;
}

const config = (over: Record<string, unknown>): OtlpConfig => validate({ exporters: { otlp: { enabled: true, interval: '1h', ...over } } }, 'test').exporters['otlp'] as OtlpConfig;
const rec = (message: string, time: string, extra: Partial<LogRecord> = {}): LogRecord => ({ time, stream: 'stdout', message, labels: WEB, ...extra });

const running: Exporter[] = [];
const receivers: Receiver[] = [];
afterEach(async () => {
  for (const e of running.splice(0)) await e.shutdown();
  for (const r of receivers.splice(0)) await r.stop();
});

async function start(cfg: OtlpConfig, ctx = fakeContext({ snapshot: () => sampleSnapshot(1_795_568_000_000) })): Promise<{ e: Exporter; ctx: typeof ctx }> {
  const e = otlpExporter.create(cfg, ctx);
  running.push(e);
  await e.start(new AbortController().signal);
  return { e, ctx };
}

describe('OTLP logs', () => {
  it('are off by default; the endpoint is derived from url', () => {
    const cfg = config({ url: 'http://collector:4318/prefix/v1/metrics' });
    expect(cfg.logs.enabled).toBe(false);
    expect(otlpExporter.create(cfg, fakeContext()).writeLogs).toBeUndefined();
    expect(logsEndpoint(cfg)).toBe('http://collector:4318/prefix/v1/logs');
    expect(logsEndpoint(config({ url: 'http://c:4318/otlp', logs: { url: 'http://c:4318/otlp/logs' } }))).toBe('http://c:4318/otlp/logs');
    expect(() => otlpExporter.create(config({ url: 'http://c:4318/otlp', logs: { enabled: true } }), fakeContext())).toThrow(/exporters\.otlp\.logs\.url/);
  });

  it('POSTs /v1/logs that OpenTelemetry decodes: a resource per container, bodies, severities, stream, nanosecond times', async () => {
    const r = await Receiver.start();
    receivers.push(r);
    const { e, ctx } = await start(
      config({ url: `${r.url}/v1/metrics`, host_name: 'node-1', compression: 'gzip', headers: { authorization: 'Api-Token tok-9' }, resource_attributes: { 'k8s.cluster.name': 'e2e' }, logs: { enabled: true } }),
    );
    await e.writeLogs?.([
      rec('hello', '2026-11-25T01:04:27.710798097Z', { level: 'info', source: '/var/lib/docker/containers/x/x-json.log' }),
      rec('boom', '2026-11-25T02:04:28.000000001+01:00', { stream: 'stderr', level: 'error' }),
      rec('no level', '2026-11-25T01:04:29Z', { stream: 'stderr' }),
      rec('k8s', '2026-11-25T01:04:30.5Z', { labels: API, level: 'warn' }),
      rec('trace', '2026-11-25T01:04:31Z', { labels: API, level: 'trace' }),
      rec('fatal', '2026-11-25T01:04:32Z', { labels: API, level: 'fatal' }),
    ]);
    const req = r.requests.find((x) => x.url === '/v1/logs') as Received;
    expect(req.headers['content-type']).toBe('application/x-protobuf');
    expect(req.headers['authorization']).toBe('Api-Token tok-9');
    const rls = decode(req);
    expect(rls).toHaveLength(2);
    const [web, api] = rls as [ResourceLogs, ResourceLogs];
    expect(attrs(web.resource.attributes)).toEqual({
      'k8s.cluster.name': 'e2e',
      'host.name': 'node-1',
      'lookout.cgroup.path': WEB_CGROUP,
      'container.id': WEB_ID,
      'container.name': 'web',
      'container.image.name': 'nginx',
      'container.image.tags': ['1.27'],
    });
    expect(attrs(api.resource.attributes)).toMatchObject({ 'container.id': API_ID, 'k8s.namespace.name': 'prod', 'k8s.pod.name': 'api-7d9f', 'k8s.container.name': 'api', 'container.image.name': 'ghcr.io/acme/api' });
    expect(web.scopeLogs[0]?.scope.name).toBe('lookout');
    const view = (l: OtlpLog) => ({ time: l.timeUnixNano, sev: l.severityNumber ?? 0, text: l.severityText ?? '', body: l.body.stringValue, attrs: attrs(l.attributes) });
    expect(web.scopeLogs[0]?.logRecords.map(view)).toEqual([
      { time: '1795568667710798097', sev: 9, text: 'INFO', body: 'hello', attrs: { 'log.iostream': 'stdout', 'log.file.path': '/var/lib/docker/containers/x/x-json.log' } },
      { time: '1795568668000000001', sev: 17, text: 'ERROR', body: 'boom', attrs: { 'log.iostream': 'stderr' } },
      { time: '1795568669000000000', sev: 0, text: '', body: 'no level', attrs: { 'log.iostream': 'stderr' } },
    ]);
    expect(api.scopeLogs[0]?.logRecords.map((l) => [l.timeUnixNano, l.severityNumber, l.severityText, l.body.stringValue])).toEqual([
      ['1795568670500000000', 13, 'WARN', 'k8s'],
      ['1795568671000000000', 1, 'TRACE', 'trace'],
      ['1795568672000000000', 21, 'FATAL', 'fatal'],
    ]);
    expect(BigInt(web.scopeLogs[0]?.logRecords[0]?.observedTimeUnixNano ?? '0')).toBeGreaterThan(1_700_000_000_000_000_000n);
    expect(await selfValue(ctx.self, 'lookout_exporter_sent_total', { exporter: 'otlp_logs' })).toBe(6);
    // The metrics still go to /v1/metrics, under their own exporter label.
    await until('the metrics push', () => r.requests.some((x) => x.url === '/v1/metrics'));
  });

  it('retries a collector that is down (backpressure with buffer: memory), then delivers every record once', async () => {
    const port = await freePort();
    const { e, ctx } = await start(config({ url: `http://127.0.0.1:${port}/v1/metrics`, logs: { enabled: true, min_backoff: '20ms', max_backoff: '50ms' } }));
    const recs = Array.from({ length: 20 }, (_, i) => rec(`line ${i}`, `2026-11-25T01:04:${String(10 + i)}Z`));
    let resolved = false;
    const written = (e.writeLogs?.(recs) as Promise<void>).then(() => {
      resolved = true;
    });
    await sleep(300);
    expect(resolved).toBe(false);
    expect(await selfValue(ctx.self, 'lookout_exporter_retries_total', { exporter: 'otlp_logs' })).toBeGreaterThan(0);
    const r = await Receiver.start(port);
    receivers.push(r);
    await written;
    const bodies = r.requests.filter((x) => x.url === '/v1/logs').flatMap((x) => decode(x).flatMap((rl) => rl.scopeLogs.flatMap((s) => s.logRecords.map((l) => l.body.stringValue))));
    expect(bodies).toEqual(recs.map((x) => x.message));
  });
});
