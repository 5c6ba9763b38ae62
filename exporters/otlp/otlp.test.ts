import { gunzipSync } from 'node:zlib';
import root from 'otlp-transformer-protobufjs/build/src/generated/root.js';
import { afterEach, describe, expect, it } from 'vitest';
import { validate } from '../../src/config.js';
import type { Exporter } from '../../src/component.js';
import { type Family, Labels, type Snapshot } from '../../src/model.js';
import { API_ID, captureLog, fakeContext, Receiver, sampleSnapshot, selfValue, snapshotOf, until } from '../../test/e2e/exporters-support.js';
import { WEB_CGROUP, WEB_ID } from '../../test/helpers/hostroot.js';
import type { OtlpConfig } from './config.js';
import { OtlpEncoder } from './encode.js';
import { otlpExporter } from './index.js';
import { SdkOtlpEncoder } from './sdk-encode.js';

/**
 * OpenTelemetry's own decoders: the protobufjs code generated from opentelemetry-proto that
 * @opentelemetry/otlp-transformer shipped up to 0.216 (installed as `otlp-transformer-protobufjs`).
 * The exporter encodes by hand (encode.ts); the tests decode that with these, and hold it to
 * what the current otlp-transformer's serializer writes for the SDK's data model (sdk-encode.ts).
 */
interface Codec {
  decode(b: Uint8Array): unknown;
  encode(m: unknown): { finish(): Uint8Array };
  fromObject(o: unknown): unknown;
  toObject(m: unknown, o: Record<string, unknown>): unknown;
}
const v1 = (root as unknown as { opentelemetry: { proto: { collector: { metrics: { v1: Record<string, Codec> } } } } }).opentelemetry.proto.collector.metrics.v1;
const Request = v1['ExportMetricsServiceRequest'] as Codec;
const Response = v1['ExportMetricsServiceResponse'] as Codec;

type Value = { stringValue?: string; arrayValue?: { values: Value[] } };
type Attr = { key: string; value: Value };
interface Point {
  attributes?: Attr[];
  startTimeUnixNano: string;
  timeUnixNano: string;
  asDouble: number;
}
interface Metric {
  name: string;
  description: string;
  unit?: string;
  sum?: { dataPoints: Point[]; aggregationTemporality: number; isMonotonic: boolean };
  gauge?: { dataPoints: Point[] };
}
interface ResourceMetrics {
  resource: { attributes: Attr[] };
  scopeMetrics: Array<{ scope: { name: string; version: string }; metrics: Metric[] }>;
}

function decode(body: Uint8Array): ResourceMetrics[] {
  return (Request.toObject(Request.decode(body), { longs: String, arrays: true }) as { resourceMetrics: ResourceMetrics[] }).resourceMetrics;
}

const attrs = (list: Attr[] = []): Record<string, unknown> => Object.fromEntries(list.map((a) => [a.key, a.value.arrayValue ? a.value.arrayValue.values.map((v) => v.stringValue) : a.value.stringValue]));

/** After the fixture container's start time (2026-11-20), so it is the counters' start. */
const T = 1_800_000_000_000;
const ns = (ms: number): string => `${ms}000000`;

/** `base` at another time, each series kept (with the target and metric labels `fn` gives) or left out (null), and optionally one series more first in the first family. */
function edit(base: Snapshot, time: number, fn: (f: Family, i: number) => [Labels, Labels | null] | null, front?: [Labels, Labels | null, number]): Snapshot {
  const families = base.families.map((f, fi) => {
    const out: Family = { def: f.def, targets: [], extras: [], values: [] };
    if (front && fi === 0) {
      out.targets.push(front[0]);
      out.extras.push(front[1]);
      out.values.push(front[2]);
    }
    f.values.forEach((v, i) => {
      const r = fn(f, i);
      if (r === null) return;
      out.targets.push(r[0]);
      out.extras.push(r[1]);
      out.values.push(v);
    });
    return out;
  });
  return { time, families, seriesCount: families.reduce((a, f) => a + f.values.length, 0) };
}

const encoder = (mode: 'resource' | 'datapoint' = 'resource') => new OtlpEncoder({ hostName: 'node-1', resourceAttributes: { 'k8s.cluster.name': 'c1' }, containerAttributes: mode });

describe('OTLP encoding', () => {
  it('puts each container on its own resource with semantic-convention attributes', () => {
    const batches = [...encoder().batches(sampleSnapshot(T), 1e9)];
    expect(batches).toHaveLength(1);
    const rms = decode(batches[0]?.body as Buffer);
    const resources = rms.map((r) => attrs(r.resource.attributes));
    expect(resources).toContainEqual({
      'k8s.cluster.name': 'c1',
      'host.name': 'node-1',
      'lookout.cgroup.path': WEB_CGROUP,
      'container.id': WEB_ID,
      'container.name': 'web',
      'container.image.name': 'nginx',
      'container.image.tags': ['1.27'],
    });
    expect(resources).toContainEqual(expect.objectContaining({ 'container.id': API_ID, 'container.image.name': 'ghcr.io/acme/api', 'container.image.tags': ['v2.1'], 'k8s.namespace.name': 'prod', 'k8s.pod.name': 'api-7d9f', 'k8s.container.name': 'api' }));
    expect(resources).toContainEqual({ 'k8s.cluster.name': 'c1', 'host.name': 'node-1', 'lookout.cgroup.path': '/' });
    expect(resources).toContainEqual({ 'k8s.cluster.name': 'c1', 'host.name': 'node-1' });
    expect(new Set(rms.map((r) => JSON.stringify(r.resource))).size).toBe(rms.length);
    for (const r of rms) expect(r.scopeMetrics[0]?.scope.name).toBe('lookout');
  });

  it('writes counters as monotonic cumulative sums from the container start, gauges as gauges, units in UCUM', () => {
    const rms = decode([...encoder().batches(sampleSnapshot(T), 1e9)][0]?.body as Buffer);
    const web = rms.find((r) => attrs(r.resource.attributes)['container.name'] === 'web');
    const metrics = new Map(web?.scopeMetrics[0]?.metrics.map((m) => [m.name, m]));
    expect(metrics.get('container_cpu_usage_seconds')).toMatchObject({
      name: 'container_cpu_usage_seconds',
      description: 'Cumulative CPU time consumed, in seconds (v1 cpuacct.usage, v2 cpu.stat usage_usec).',
      unit: 's',
      sum: {
        dataPoints: [{ attributes: [{ key: 'cpu', value: { stringValue: 'total' } }], startTimeUnixNano: '1795168800500000000', timeUnixNano: ns(T), asDouble: 2.5 }],
        aggregationTemporality: 2, // CUMULATIVE
        isMonotonic: true,
      },
    });
    expect(metrics.get('container_memory_working_set_bytes')).toMatchObject({ unit: 'By', gauge: { dataPoints: [{ timeUnixNano: ns(T), asDouble: 7340032 }] } });
    expect(metrics.get('container_memory_working_set_bytes')?.sum).toBeUndefined();
    expect(metrics.get('container_cpu_cfs_periods')).toMatchObject({ sum: { isMonotonic: true, dataPoints: [{ asDouble: 10 }] } });
    expect(metrics.get('container_cpu_cfs_periods')?.unit ?? '').toBe('');
    expect(metrics.get('container_memory_failures')?.sum?.dataPoints.map((p) => [attrs(p.attributes), p.asDouble])).toEqual([
      [{ failure_type: 'pgfault', scope: 'container' }, 1234],
      [{ failure_type: 'pgmajfault', scope: 'container' }, 5],
    ]);
    // No start time known: the counter starts when lookout first saw the series, and keeps that start.
    const api = rms.find((r) => attrs(r.resource.attributes)['container.name'] === API_ID);
    const restarts = api?.scopeMetrics[0]?.metrics.find((m) => m.name === 'container_restarts');
    expect(restarts?.sum?.dataPoints[0]?.startTimeUnixNano).toBe(ns(T));
  });

  it('keeps the start of a counter across pushes and moves it when the container restarts', () => {
    const e = encoder();
    const cpuStart = (rms: ResourceMetrics[], name: string) =>
      rms.find((r) => attrs(r.resource.attributes)['container.name'] === name)?.scopeMetrics[0]?.metrics.find((m) => m.name === 'container_cpu_usage_seconds')?.sum?.dataPoints[0]?.startTimeUnixNano;
    const first = decode([...e.batches(sampleSnapshot(T), 1e9)][0]?.body as Buffer);
    const second = decode([...e.batches(sampleSnapshot(T + 10_000), 1e9)][0]?.body as Buffer);
    expect(cpuStart(second, API_ID)).toBe(cpuStart(first, API_ID));
    expect(cpuStart(second, API_ID)).toBe(ns(T));
    const web = new Labels([['id', WEB_CGROUP], ['image', 'nginx:1.27'], ['name', 'web']]);
    const restarted = decode([...e.batches(snapshotOf(T + 20_000, [['container_cpu_usage_seconds_total', web, 0.1, [['cpu', 'total']]], ['container_start_time_seconds', web, (T + 15_000) / 1000]]), 1e9)][0]?.body as Buffer);
    expect(cpuStart(restarted, 'web')).toBe(ns(T + 15_000));
  });

  it('in datapoint mode, one host resource and the container attributes on each point', () => {
    const rms = decode([...encoder('datapoint').batches(sampleSnapshot(T), 1e9)][0]?.body as Buffer);
    expect(rms).toHaveLength(1);
    expect(attrs(rms[0]?.resource.attributes)).toEqual({ 'k8s.cluster.name': 'c1', 'host.name': 'node-1' });
    const cpu = rms[0]?.scopeMetrics[0]?.metrics.find((m) => m.name === 'container_cpu_usage_seconds');
    expect(cpu?.sum?.dataPoints.map((p) => attrs(p.attributes))).toContainEqual({ 'lookout.cgroup.path': WEB_CGROUP, 'container.id': WEB_ID, 'container.name': 'web', 'container.image.name': 'nginx', 'container.image.tags': ['1.27'], cpu: 'total' });
  });

  it('writes the request the OpenTelemetry SDK serializer writes for the same snapshots, byte for byte', () => {
    const revalue = (base: Snapshot, time: number, f: (v: number) => number): Snapshot => ({ ...base, time, families: base.families.map((fam) => ({ ...fam, values: fam.values.map(f) })) });
    const web = new Labels([['id', WEB_CGROUP], ['image', 'nginx:1.27'], ['name', 'web']]);
    for (const mode of ['resource', 'datapoint'] as const) {
      for (const max of [1e9, 4, 1]) {
        const opts = { hostName: 'node-1', resourceAttributes: { 'k8s.cluster.name': 'c1', 'deployment.environment.name': 'prod' }, containerAttributes: mode };
        const hand = new OtlpEncoder(opts);
        const sdk = new SdkOtlpEncoder(opts);
        const base = sampleSnapshot(T);
        const snapshots = [
          base,
          revalue(base, T + 10_000, (v) => v * 1.5),
          revalue(base, T + 20_000, (v) => -v),
          sampleSnapshot(T + 30_000),
          snapshotOf(T + 40_000, [['container_cpu_usage_seconds_total', web, 0.1, [['cpu', 'total']]], ['container_start_time_seconds', web, (T + 35_000.123) / 1000]]),
          // The series kept per target made again: a container gone, one more series first, new metric-label objects.
          edit(base, T + 50_000, (f, i) => (f.targets[i]?.get('name') === 'web' ? null : [f.targets[i] as Labels, f.extras[i] ?? null])),
          edit(base, T + 60_000, (f, i) => [f.targets[i] as Labels, f.extras[i] ?? null], [base.families[1]?.targets[0] as Labels, new Labels([['cpu', 'cpu00']]), 4]),
          edit(base, T + 70_000, (f, i) => [f.targets[i] as Labels, f.extras[i] ? new Labels([...(f.extras[i] as Labels).pairs, ['more', 'x']]) : null]),
          base,
        ];
        for (const snap of snapshots) {
          const a = [...hand.batches(snap, max)];
          const b = [...sdk.batches(snap, max)];
          const what = `${mode} max=${max} t=${snap.time}`;
          expect(a.map((x) => x.items), what).toEqual(b.map((x) => x.items));
          // Decoded by OpenTelemetry's own decoders, then the bytes themselves.
          expect(a.map((x) => decode(x.body)), what).toEqual(b.map((x) => decode(x.body)));
          for (let i = 0; i < a.length; i++) expect(a[i]?.body.equals(b[i]?.body as Buffer), what).toBe(true);
        }
      }
    }
  });

  it('ends a walk that a newer one overtook (they share the writer and what is kept per target), the newer one whole', () => {
    for (const mode of ['resource', 'datapoint'] as const) {
      const enc = encoder(mode);
      const older = enc.batches(sampleSnapshot(T), 2)[Symbol.iterator]();
      expect(older.next().done, mode).toBe(false);
      const newer = [...enc.batches(sampleSnapshot(T + 10_000), 2)].map((b) => b.body.toString('hex'));
      expect(older.next().done, mode).toBe(true);
      // As from a fresh encoder: the older walk never finished, so it marked no series as seen.
      expect(newer, mode).toEqual([...encoder(mode).batches(sampleSnapshot(T + 10_000), 2)].map((b) => b.body.toString('hex')));
    }
  });

  it('in datapoint mode, leaves the bodies of a push still waiting for delivery intact through the next push', () => {
    const enc = encoder('datapoint');
    const reference = encoder('datapoint');
    const first = [...enc.batches(sampleSnapshot(T), 4)];
    const firstHex = first.map((b) => b.body.toString('hex'));
    // The first push's bodies are not recycled: the next push must write its own.
    const second = [...enc.batches(sampleSnapshot(T + 10_000), 4)];
    expect(first.length).toBeGreaterThan(1);
    expect(first.map((b) => b.body.toString('hex'))).toEqual(firstHex);
    expect(firstHex).toEqual([...reference.batches(sampleSnapshot(T), 4)].map((b) => b.body.toString('hex')));
    expect(second.map((b) => b.body.toString('hex'))).toEqual([...reference.batches(sampleSnapshot(T + 10_000), 4)].map((b) => b.body.toString('hex')));
    const firstMemory = new Set(first.map((b) => b.body.buffer));
    for (const b of second) expect(firstMemory.has(b.body.buffer)).toBe(false);
    for (const [batches, time] of [[first, T], [second, T + 10_000]] as const) {
      const points = batches.flatMap((b) => decode(b.body).flatMap((r) => r.scopeMetrics.flatMap((s) => s.metrics.flatMap((m) => (m.sum ?? m.gauge)?.dataPoints ?? []))));
      expect(points).toHaveLength(sampleSnapshot(time).seriesCount);
      for (const p of points) expect(p.timeUnixNano).toBe(ns(time));
    }
  });

  it('splits a snapshot into requests of at most max_batch_samples data points, losing none', () => {
    const snap = sampleSnapshot(T);
    const batches = [...encoder().batches(snap, 4)];
    let total = 0;
    for (const b of batches) {
      const points = decode(b.body).flatMap((r) => r.scopeMetrics.flatMap((s) => s.metrics.flatMap((m) => (m.sum ?? m.gauge)?.dataPoints ?? [])));
      expect(points.length).toBe(b.items);
      expect(b.items).toBeLessThanOrEqual(4);
      total += points.length;
    }
    expect(total).toBe(snap.seriesCount);
  });
});

let running: Exporter[] = [];
let receivers: Receiver[] = [];
afterEach(async () => {
  for (const e of running) await e.shutdown();
  for (const r of receivers) await r.stop();
  running = [];
  receivers = [];
});

function config(over: Record<string, unknown> = {}): OtlpConfig {
  return validate({ exporters: { otlp: { enabled: true, interval: '50ms', min_backoff: '10ms', max_backoff: '50ms', ...over } } }, 'test').exporters.otlp as OtlpConfig;
}

describe('OTLP exporter over HTTP', () => {
  it('POSTs protobuf (gzip when asked) with its headers to a loopback receiver that decodes it', async () => {
    const r = await Receiver.start();
    receivers.push(r);
    let t = T;
    const ctx = fakeContext({ snapshot: () => sampleSnapshot((t += 1000)) });
    const e = otlpExporter.create(config({ url: `${r.url}/v1/metrics`, compression: 'gzip', headers: { Authorization: 'Api-Token k-OTLP-1' }, host_name: 'node-5' }), ctx);
    running.push(e);
    await e.start(new AbortController().signal);
    await until('a request', () => r.requests.length > 0);
    const req = r.requests[0];
    expect(req?.url).toBe('/v1/metrics');
    expect(req?.headers['content-type']).toBe('application/x-protobuf');
    expect(req?.headers['content-encoding']).toBe('gzip');
    expect(req?.headers['authorization']).toBe('Api-Token k-OTLP-1');
    const rms = decode(gunzipSync(req?.body as Buffer));
    expect(rms.map((x) => attrs(x.resource.attributes)['host.name'])).toEqual(rms.map(() => 'node-5'));
    const web = rms.find((x) => attrs(x.resource.attributes)['container.name'] === 'web');
    expect(web?.scopeMetrics[0]?.metrics.find((m) => m.name === 'container_memory_working_set_bytes')?.gauge?.dataPoints[0]?.asDouble).toBe(7340032);
    await until('counted', async () => (await selfValue(ctx.self, 'lookout_exporter_sent_total', { exporter: 'otlp' })) >= sampleSnapshot(T).seriesCount);
  });

  it('logs a partial success the backend reports, without the header credentials', async () => {
    const r = await Receiver.start();
    receivers.push(r);
    r.respond = () => ({
      status: 200,
      headers: { 'content-type': 'application/x-protobuf' },
      body: Buffer.from(Response.encode(Response.fromObject({ partialSuccess: { rejectedDataPoints: 3, errorMessage: 'metric name too long (key k-OTLP-2)' } })).finish()),
    });
    const cap = captureLog();
    const ctx = fakeContext({ log: cap.log });
    const e = otlpExporter.create(config({ url: r.url, headers: { 'x-api-key': 'k-OTLP-2' } }), ctx);
    running.push(e);
    await e.start(new AbortController().signal);
    await until('the warning', () => cap.text().includes('rejected some data points'));
    expect(cap.text()).toContain('"rejected_data_points":3');
    expect(cap.text()).toContain('metric name too long');
    expect(cap.text()).not.toContain('k-OTLP-2');
  });

  it('validates its config', () => {
    expect(() => validate({ exporters: { otlp: { endpoint: 'x' } } }, 't')).toThrow(/"exporters.otlp.endpoint" is not a known setting/);
    expect(() => validate({ exporters: { otlp: { url: 'localhost:4318' } } }, 't')).toThrow(/"exporters.otlp.url" = "localhost:4318" is invalid/);
    expect(() => validate({ exporters: { otlp: { container_attributes: 'both' } } }, 't')).toThrow(/exporters.otlp.container_attributes/);
    let msg = '';
    try {
      validate({ exporters: { otlp: { headers: { authorization: 42424242 } } } }, 't');
    } catch (err) {
      msg = (err as Error).message;
    }
    expect(msg).toContain('exporters.otlp.headers.authorization');
    expect(msg).not.toContain('42424242');
  });
});
