/**
 * The agent with push exporters, on a fixture host root, against loopback receivers:
 * - OTLP: its requests, decoded with OpenTelemetry's own generated decoders, carry the
 *   fixture container's resource, names, units and values;
 * - by default nothing is pushed anywhere;
 * - destinations that hang or refuse do not slow scraping, and shutdown stays within its deadline.
 */
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import root from 'otlp-transformer-protobufjs/build/src/generated/root.js';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent.js';
import { validate } from '../../src/config.js';
import { captureLog, Receiver, selfValue, until } from './exporters-support.js';
import { hostRoot, WEB_CGROUP, WEB_ID } from '../helpers/hostroot.js';

interface Codec {
  decode(b: Uint8Array): unknown;
  toObject(m: unknown, o: Record<string, unknown>): unknown;
}
const Request = (root as unknown as { opentelemetry: { proto: { collector: { metrics: { v1: { ExportMetricsServiceRequest: Codec } } } } } }).opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;
type Attr = { key: string; value: { stringValue?: string; arrayValue?: { values: Array<{ stringValue?: string }> } } };
type Point = { attributes?: Attr[]; startTimeUnixNano: string; timeUnixNano: string; asDouble: number };
type Metric = { name: string; unit?: string; sum?: { dataPoints: Point[]; isMonotonic: boolean; aggregationTemporality: number }; gauge?: { dataPoints: Point[] } };
type RM = { resource: { attributes: Attr[] }; scopeMetrics: Array<{ metrics: Metric[] }> };
const attrs = (list: Attr[] = []): Record<string, unknown> => Object.fromEntries(list.map((a) => [a.key, a.value.arrayValue ? a.value.arrayValue.values.map((v) => v.stringValue) : a.value.stringValue]));

let agents: Agent[] = [];
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const a of agents) await a.stop(3000);
  for (const c of closers) await c();
  agents = [];
  closers.length = 0;
});

async function start(extra: Record<string, unknown>, log = captureLog('info')): Promise<{ agent: Agent; base: string; log: ReturnType<typeof captureLog> }> {
  const config = validate({ root: hostRoot(), state_dir: mkdtempSync(join(tmpdir(), 'lookout-e2e-state-')), server: { listen: '127.0.0.1:0' }, collect: { min_interval: '0s' }, ...extra }, 'e2e');
  const agent = await Agent.start(config, { log: log.log });
  agents.push(agent);
  return { agent, base: `http://${agent.address}`, log };
}

describe('the agent pushing OTLP', () => {
  it('sends the fixture container as a resource with its metrics, units and values', async () => {
    const r = await Receiver.start();
    closers.push(() => r.stop());
    await start({ exporters: { otlp: { enabled: true, url: `${r.url}/v1/metrics`, interval: '200ms', host_name: 'e2e-node', resource_attributes: { 'k8s.cluster.name': 'e2e' } } } });
    await until('an OTLP request', () => r.requests.length > 0);
    const rms = (Request.toObject(Request.decode(r.requests[0]?.body as Buffer), { longs: String, arrays: true }) as { resourceMetrics: RM[] }).resourceMetrics;
    const web = rms.find((x) => attrs(x.resource.attributes)['container.name'] === 'web');
    expect(attrs(web?.resource.attributes)).toEqual({
      'k8s.cluster.name': 'e2e',
      'host.name': 'e2e-node',
      'lookout.cgroup.path': WEB_CGROUP,
      'container.id': WEB_ID,
      'container.name': 'web',
      'container.image.name': 'nginx',
      'container.image.tags': ['1.27'],
    });
    const m = new Map(web?.scopeMetrics.flatMap((s) => s.metrics).map((x) => [x.name, x]));
    const cpu = m.get('container_cpu_usage_seconds');
    expect(cpu).toMatchObject({ unit: 's', sum: { isMonotonic: true, aggregationTemporality: 2 } });
    expect(cpu?.sum?.dataPoints[0]).toMatchObject({ asDouble: 2.5, startTimeUnixNano: '1740823200500000000' });
    expect(m.get('container_memory_working_set_bytes')).toMatchObject({ unit: 'By', gauge: { dataPoints: [{ asDouble: 8388608 - 1048576 }] } });
    expect(m.get('container_fs_writes_bytes')?.sum?.dataPoints.map((p) => [attrs(p.attributes)['device'], p.asDouble])).toEqual([['/dev/sda', 2097152]]);
    const host = rms.find((x) => Object.keys(attrs(x.resource.attributes)).length === 2);
    expect(host?.scopeMetrics.flatMap((s) => s.metrics).find((x) => x.name === 'machine_cpu_cores')?.gauge?.dataPoints[0]?.asDouble).toBe(2);
  });
});

describe('push exporters and the rest of the agent', () => {
  it('by default, no push exporter is started', async () => {
    const { log } = await start({});
    const listening = log
      .text()
      .split('\n')
      .filter((l) => l.includes('lookout listening'))
      .map((l) => JSON.parse(l) as { exporters: string[] })[0];
    expect(listening?.exporters).toContain('prometheus');
    for (const push of ['influxdb', 'remotewrite', 'otlp', 'loki']) expect(listening?.exporters).not.toContain(push);
  });

  it('destinations that hang or refuse slow neither collection nor scraping, and shutdown keeps its deadline', async () => {
    // A server that accepts connections and never answers, and a port nobody listens on.
    const sockets = new Set<import('node:net').Socket>();
    const hang: Server = createServer((s) => {
      sockets.add(s);
      s.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => hang.listen(0, '127.0.0.1', () => resolve()));
    closers.push(async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => hang.close(() => resolve()));
    });
    const port = (hang.address() as { port: number }).port;
    const refused = await new Promise<number>((resolve) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const push = { interval: '100ms', timeout: '30s', min_backoff: '20ms', max_backoff: '100ms', flush_timeout: '300ms' };
    const baseline = await start({});
    const { agent, base } = await start({
      exporters: {
        remotewrite: { enabled: true, url: `http://127.0.0.1:${port}/api/v1/write`, ...push },
        otlp: { enabled: true, url: `http://127.0.0.1:${port}/v1/metrics`, ...push },
        influxdb: { enabled: true, url: `http://127.0.0.1:${refused}`, ...push },
      },
    });
    const scrape = async (url: string): Promise<number> => {
      const t0 = performance.now();
      const res = await fetch(`${url}/metrics`);
      expect(res.status).toBe(200);
      await res.text();
      return performance.now() - t0;
    };
    const times = async (url: string): Promise<number[]> => {
      const out: number[] = [];
      for (let i = 0; i < 20; i++) {
        out.push(await scrape(url));
        await new Promise((r) => setTimeout(r, 25));
      }
      return out.sort((a, b) => a - b);
    };
    const before = await times(`http://${baseline.agent.address}`);
    const during = await times(base);
    // The pushes are stuck (hanging) or failing (refused), and queueing.
    expect(await selfValue(agent.self, 'lookout_exporter_queue_items', { exporter: 'remotewrite' })).toBeGreaterThan(0);
    expect(await selfValue(agent.self, 'lookout_exporter_queue_items', { exporter: 'otlp' })).toBeGreaterThan(0);
    expect(await selfValue(agent.self, 'lookout_exporter_retries_total', { exporter: 'influxdb' })).toBeGreaterThan(0);
    const median = (xs: number[]): number => xs[Math.floor(xs.length / 2)] as number;
    expect(median(during), `median scrape ${median(during).toFixed(1)} ms vs ${median(before).toFixed(1)} ms without push exporters`).toBeLessThan(median(before) * 3 + 20);
    expect(Math.max(...during)).toBeLessThan(500);
    const t0 = Date.now();
    await agent.stop(2000);
    agents = agents.filter((a) => a !== agent);
    expect(Date.now() - t0).toBeLessThan(2000);
  });
});
