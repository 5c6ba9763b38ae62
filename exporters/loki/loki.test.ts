/**
 * The Loki exporter against a loopback receiver that decodes its pushes as Loki would: the
 * protobuf with protobufjs from a copy of Loki's own push.proto (testdata/push.proto), the
 * snappy block with the `snappy` package (Google's algorithm in native code, not the snappyjs
 * the exporter compresses with), and the JSON body. Then retries, rejections, outages with
 * both buffers, and shutdown.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { uncompressSync } from 'snappy';
import { afterEach, describe, expect, it } from 'vitest';
import type { Exporter } from '../../src/component.js';
import { validate } from '../../src/config.js';
import type { LogRecord } from '../../src/logs.js';
import { Labels } from '../../src/model.js';
import { captureLog, fakeContext, type Received, Receiver, selfValue, until } from '../../test/e2e/exporters-support.js';
import { freePort, sleep } from '../../test/helpers/util.js';
import type { LokiConfig } from './config.js';
import { lokiExporter } from './index.js';

const PushRequest = protobuf.loadSync(fileURLToPath(new URL('testdata/push.proto', import.meta.url))).lookupType('logproto.PushRequest');

interface Stream {
  labels: string;
  entries: Array<{ ts: string; line: string }>;
}

/** A push as Loki reads it: the streams with their label text and entries (time as ns text). */
function decode(r: Received): Stream[] {
  if (r.headers['content-type'] === 'application/json') {
    const body = JSON.parse(r.body.toString('utf8')) as { streams: Array<{ stream: Record<string, string>; values: Array<[string, string]> }> };
    return body.streams.map((s) => ({
      labels: `{${Object.entries(s.stream)
        .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
        .join(', ')}}`,
      entries: s.values.map(([ts, line]) => ({ ts, line })),
    }));
  }
  expect(r.headers['content-type']).toBe('application/x-protobuf');
  const msg = PushRequest.toObject(PushRequest.decode(uncompressSync(r.body) as Buffer), { longs: String, defaults: true, arrays: true }) as {
    streams: Array<{ labels: string; entries: Array<{ timestamp: { seconds: string; nanos: number }; line: string }> }>;
  };
  return msg.streams.map((s) => ({
    labels: s.labels,
    entries: s.entries.map((e) => ({ ts: (BigInt(e.timestamp.seconds) * 1_000_000_000n + BigInt(e.timestamp.nanos)).toString(), line: e.line })),
  }));
}

/** Every line of the 2xx-answered pushes, in order. */
function accepted(r: Receiver, status: (x: Received) => number): string[] {
  return r.requests.filter((x) => status(x) < 300).flatMap((x) => decode(x).flatMap((s) => s.entries.map((e) => e.line)));
}

const config = (over: Record<string, unknown>): LokiConfig => validate({ exporters: { loki: { enabled: true, ...over } } }, 'test').exporters['loki'] as LokiConfig;

const WEB = new Labels([['id', `/docker/${'a'.repeat(64)}`], ['image', 'nginx:1.27'], ['name', 'web']]);
const API = new Labels([['id', '/kubepods/pod1/cri-containerd-bbb'], ['image', 'ghcr.io/acme/api:v2'], ['name', 'b'.repeat(64)], ['namespace', 'prod'], ['pod', 'api-7d9f'], ['container', 'api']]);
const rec = (message: string, time: string, extra: Partial<LogRecord> = {}): LogRecord => ({ time, stream: 'stdout', message, labels: WEB, ...extra });
const lines = (n: number, prefix = 'line'): LogRecord[] => Array.from({ length: n }, (_, i) => rec(`${prefix} ${i}`, `2026-11-25T01:04:27.${String(i).padStart(9, '0')}Z`));

const running: Exporter[] = [];
const receivers: Receiver[] = [];
afterEach(async () => {
  for (const e of running.splice(0)) await e.shutdown();
  for (const r of receivers.splice(0)) await r.stop();
});

async function receiver(port = 0): Promise<Receiver> {
  const r = await Receiver.start(port);
  receivers.push(r);
  return r;
}

async function exporter(cfg: LokiConfig, ctx = fakeContext()): Promise<{ e: Exporter; ctx: typeof ctx }> {
  const e = lokiExporter.create(cfg, ctx);
  running.push(e);
  await e.start(new AbortController().signal);
  return { e, ctx };
}

const RECORDS: LogRecord[] = [
  // Out of order within the web container's stdout: sent sorted, same-time records in read order.
  rec('second', '2026-11-25T01:04:27.710798097Z'),
  rec('first', '2026-11-25T01:04:27.710798096Z'),
  rec('second, same time, read later', '2026-11-25T01:04:27.710798097Z'),
  rec('café "quoted"\ttab', '2026-11-25T02:04:28+01:00'),
  rec('oops', '2026-11-25T01:04:30.5Z', { stream: 'stderr', level: 'error' }),
  rec('k8s', '2026-11-25T01:04:31.000000001Z', { labels: API, level: 'info' }),
  rec('', '2026-11-25T01:04:32Z', { labels: API }),
];

const EXPECTED: Stream[] = [
  {
    labels: '{cluster="e2e", host="node-1", job="lookout", name="web", stream="stdout"}',
    entries: [
      { ts: '1795568667710798096', line: 'first' },
      { ts: '1795568667710798097', line: 'second' },
      { ts: '1795568667710798097', line: 'second, same time, read later' },
      { ts: '1795568668000000000', line: 'café "quoted"\ttab' },
    ],
  },
  { labels: '{cluster="e2e", host="node-1", job="lookout", level="error", name="web", stream="stderr"}', entries: [{ ts: '1795568670500000000', line: 'oops' }] },
  // Kubernetes: namespace, pod and container, never the per-instance `name`.
  { labels: '{cluster="e2e", container="api", host="node-1", job="lookout", level="info", namespace="prod", pod="api-7d9f", stream="stdout"}', entries: [{ ts: '1795568671000000001', line: 'k8s' }] },
  { labels: '{cluster="e2e", container="api", host="node-1", job="lookout", namespace="prod", pod="api-7d9f", stream="stdout"}', entries: [{ ts: '1795568672000000000', line: '' }] },
];

describe('the loki exporter', () => {
  it('is off by default and registered', () => {
    const c = validate({}, 'test');
    expect((c.exporters['loki'] as LokiConfig).enabled).toBe(false);
    expect((c.exporters['loki'] as LokiConfig).labels).not.toContain('id');
  });

  for (const encoding of ['protobuf', 'json'] as const) {
    it(`pushes ${encoding} that Loki decodes: labels, nanosecond times, lines, per-stream order; headers`, async () => {
      const r = await receiver();
      const { e, ctx } = await exporter(
        config({ url: `${r.url}/loki/api/v1/push`, encoding, hostname: 'node-1', static_labels: { cluster: 'e2e', job: 'ignored: labels win' }, tenant_id: 'team-a', basic_auth: { username: 'u', password: 'pw-secret' } }),
      );
      await e.writeLogs?.(RECORDS);
      expect(r.requests).toHaveLength(1);
      const req = r.requests[0] as Received;
      expect(req.method).toBe('POST');
      expect(req.url).toBe('/loki/api/v1/push');
      expect(req.headers['x-scope-orgid']).toBe('team-a');
      expect(req.headers['authorization']).toBe(`Basic ${Buffer.from('u:pw-secret').toString('base64')}`);
      expect(decode(req)).toEqual(EXPECTED);
      expect(await selfValue(ctx.self, 'lookout_exporter_sent_total', { exporter: 'loki' })).toBe(RECORDS.length);
    });
  }

  it('cuts large writes into batches of max_batch_records and max_batch_bytes, in order', async () => {
    const r = await receiver();
    const { e } = await exporter(config({ url: r.url, max_batch_records: 100, max_batch_bytes: 4096 }));
    const short = lines(250);
    await e.writeLogs?.(short);
    expect(r.requests.map((x) => decode(x)[0]?.entries.length)).toEqual([100, 100, 50]);
    r.requests.length = 0;
    const long = lines(100, 'a longer line, of some sixty bytes of text, padded out:');
    const big = rec('x'.repeat(10_000), '2026-11-25T01:05:00Z');
    await e.writeLogs?.([...long, big]);
    for (const x of r.requests) {
      const entries = decode(x).flatMap((s) => s.entries);
      // Message bytes plus 32 per record stay within max_batch_bytes, but for a lone record.
      if (entries.length > 1) expect(entries.reduce((a, en) => a + Buffer.byteLength(en.line) + 32, 0)).toBeLessThanOrEqual(4096);
    }
    expect(r.requests.length).toBeGreaterThan(2);
    expect(decode(r.requests[r.requests.length - 1] as Received)[0]?.entries).toHaveLength(1); // the 10 kB record alone
    expect(accepted(r, () => 204)).toEqual([...long, big].map((x) => x.message));
  });

  it('429 with Retry-After, then 200: waits as told and every line arrives exactly once', async () => {
    const r = await receiver();
    const at: number[] = [];
    r.respond = () => {
      at.push(Date.now());
      return at.length === 1 ? { status: 429, body: 'Ingestion rate limit exceeded', headers: { 'retry-after': '1' } } : { status: 204 };
    };
    const { e, ctx } = await exporter(config({ url: r.url, min_backoff: '10ms', max_backoff: '20ms' }));
    const recs = lines(30);
    await e.writeLogs?.(recs);
    expect(r.requests).toHaveLength(2);
    expect((at[1] as number) - (at[0] as number)).toBeGreaterThanOrEqual(950);
    expect(accepted(r, (x) => (x === r.requests[0] ? 429 : 204))).toEqual(recs.map((x) => x.message));
    expect(await selfValue(ctx.self, 'lookout_exporter_retries_total', { exporter: 'loki' })).toBe(1);
    expect(await selfValue(ctx.self, 'lookout_exporter_sent_total', { exporter: 'loki' })).toBe(30);
  });

  it('400: not retried, counted as failed, and writeLogs resolves (the records are accounted for)', async () => {
    const r = await receiver();
    r.respond = () => ({ status: 400, body: 'entry for stream has timestamp too old' });
    const log = captureLog('info');
    const { e, ctx } = await exporter(config({ url: r.url, min_backoff: '10ms', bearer_token: 'tok-secret-1' }), fakeContext({ log: log.log }));
    await e.writeLogs?.(lines(7));
    await sleep(100);
    expect(r.requests).toHaveLength(1);
    expect(r.requests[0]?.headers['authorization']).toBe('Bearer tok-secret-1');
    expect(await selfValue(ctx.self, 'lookout_exporter_failed_total', { exporter: 'loki' })).toBe(7);
    expect(await selfValue(ctx.self, 'lookout_exporter_retries_total', { exporter: 'loki' })).toBe(0);
    expect(log.text()).toMatch(/HTTP 400: entry for stream has timestamp too old/);
    expect(log.text()).not.toContain('tok-secret-1');
  });

  it('buffer memory: while Loki is down, writeLogs waits (backpressure); once it is up, every line arrives exactly once', async () => {
    const port = await freePort();
    const { e, ctx } = await exporter(config({ url: `http://127.0.0.1:${port}/loki/api/v1/push`, min_backoff: '20ms', max_backoff: '100ms' }));
    const recs = lines(50);
    let resolved = false;
    const written = (e.writeLogs?.(recs) as Promise<void>).then(() => {
      resolved = true;
    });
    await sleep(400);
    expect(resolved, 'writeLogs resolved while the destination was down').toBe(false);
    expect(await selfValue(ctx.self, 'lookout_exporter_retries_total', { exporter: 'loki' })).toBeGreaterThan(0);
    expect(await selfValue(ctx.self, 'lookout_exporter_queue_items', { exporter: 'loki' })).toBe(50);
    const r = await receiver(port);
    await written;
    expect(accepted(r, () => 204)).toEqual(recs.map((x) => x.message));
    expect(await selfValue(ctx.self, 'lookout_exporter_queue_items', { exporter: 'loki' })).toBe(0);
    expect(await selfValue(ctx.self, 'lookout_exporter_dropped_total', { exporter: 'loki' })).toBe(0);
  });

  it('buffer memory: shutting down with batches undelivered rejects writeLogs (the source reads them again) and drops nothing', async () => {
    const port = await freePort();
    const { e, ctx } = await exporter(config({ url: `http://127.0.0.1:${port}`, min_backoff: '20ms', flush_timeout: '100ms' }));
    const written = e.writeLogs?.(lines(5)) as Promise<void>;
    await sleep(50);
    await e.shutdown();
    await expect(written).rejects.toThrow(/stopped before 5 records were delivered/);
    await expect(e.writeLogs?.(lines(1))).rejects.toThrow(/shut down/);
    expect(await selfValue(ctx.self, 'lookout_exporter_dropped_total', { exporter: 'loki' })).toBe(0);
  });

  it('buffer disk: writeLogs resolves once fsync\'d while Loki is down; a new exporter on the same state delivers every line once', async () => {
    const port = await freePort();
    const cfg = config({ url: `http://127.0.0.1:${port}/loki/api/v1/push`, buffer: 'disk', min_backoff: '20ms', max_backoff: '50ms', flush_timeout: '50ms', max_batch_records: 10 });
    const first = fakeContext();
    const { e } = await exporter(cfg, first);
    const recs = lines(35);
    await e.writeLogs?.(recs.slice(0, 20));
    await e.writeLogs?.(recs.slice(20));
    const dir = join(first.stateDir, 'buffers', 'loki');
    expect(readdirSync(dir).filter((f) => f.endsWith('.batch'))).toHaveLength(4);
    await e.shutdown();
    // Nothing counted as dropped: the batches wait on disk.
    expect(await selfValue(first.self, 'lookout_exporter_dropped_total', { exporter: 'loki' })).toBe(0);

    const r = await receiver(port);
    const second = fakeContext({ stateDir: first.stateDir });
    await exporter(cfg, second);
    await until('the buffer drained', async () => (await selfValue(second.self, 'lookout_exporter_sent_total', { exporter: 'loki' })) === 35);
    expect(accepted(r, () => 204)).toEqual(recs.map((x) => x.message));
    expect(readdirSync(dir).filter((f) => f.endsWith('.batch'))).toEqual([]);
  });

  it('buffer disk: past max_buffer_bytes the oldest batch is dropped and counted', async () => {
    const port = await freePort();
    const { e, ctx } = await exporter(config({ url: `http://127.0.0.1:${port}`, buffer: 'disk', max_buffer_bytes: 2048, max_batch_records: 10, min_backoff: '1s', encoding: 'json' }));
    for (let i = 0; i < 10; i++) await e.writeLogs?.(lines(10, `w${i}`));
    expect(await selfValue(ctx.self, 'lookout_exporter_dropped_total', { exporter: 'loki', reason: 'queue_full' })).toBeGreaterThan(0);
    expect(await selfValue(ctx.self, 'lookout_exporter_queue_bytes', { exporter: 'loki' })).toBeLessThanOrEqual(2048);
    expect(existsSync(join(ctx.stateDir, 'buffers', 'loki'))).toBe(true);
  });

  it('keeps per-stream order across pushes: an entry too far behind its stream is sent at the newest time', async () => {
    const r = await receiver();
    const { e } = await exporter(config({ url: r.url, encoding: 'json', max_out_of_order: '1m' }));
    await e.writeLogs?.([rec('newest', '2026-11-25T01:10:00.000000005Z')]);
    await e.writeLogs?.([rec('10 s behind: within the window', '2026-11-25T01:09:50Z'), rec('1 h behind', '2026-11-25T00:10:00Z'), rec('other stream', '2026-11-25T00:10:00Z', { stream: 'stderr' })]);
    const second = decode(r.requests[1] as Received);
    expect(second[0]?.entries).toEqual([
      { ts: '1795568990000000000', line: '10 s behind: within the window' },
      { ts: '1795569000000000005', line: '1 h behind' },
    ]);
    expect(second[1]?.entries).toEqual([{ ts: '1795565400000000000', line: 'other stream' }]);
  });

  it('configuration: labels chosen, credentials checked and never printed', async () => {
    const r = await receiver();
    const { e } = await exporter(config({ url: r.url, labels: ['namespace', 'image', 'container_label_team'], job: '' }));
    const labelled = new Labels([...API.pairs, ['container_label_team', 'payments']]);
    await e.writeLogs?.([rec('a', '2026-11-25T01:04:27Z', { labels: labelled }), rec('b', '2026-11-25T01:04:27Z')]);
    expect(decode(r.requests[0] as Received).map((s) => s.labels)).toEqual(['{container_label_team="payments", image="ghcr.io/acme/api:v2", namespace="prod"}', '{image="nginx:1.27"}']);
    expect(() => lokiExporter.create(config({ basic_auth: { username: 'u', password: 'pw-secret-9' }, bearer_token: 't-secret' }), fakeContext())).toThrow(/both set/);
    expect(() => lokiExporter.create(config({ basic_auth: { password: 'pw-secret-9' } }), fakeContext())).toThrow(/without basic_auth.username/);
    expect(() => validate({ exporters: { loki: { url: 'http://user:pw@loki:3100/' } } }, 'test')).toThrow(/exporters\.loki\.url/);
    expect(() => validate({ exporters: { loki: { labels: ['bad-name'] } } }, 'test')).toThrow(/exporters\.loki\.labels/);
  });

  it('lifecycle: shutdown before start and twice', async () => {
    const e = lokiExporter.create(config({}), fakeContext());
    await e.shutdown();
    await e.shutdown();
    await expect(e.writeLogs?.(lines(1))).rejects.toThrow(/shut down/);
  });
});
