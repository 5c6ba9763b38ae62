import protobuf from 'protobufjs';
import { uncompressSync } from 'snappy';
import snappy from 'snappyjs';
import { afterEach, describe, expect, it } from 'vitest';
import { validate } from '../../src/config.js';
import { type Family, Labels, type Snapshot } from '../../src/model.js';
import type { Exporter } from '../../src/component.js';
import { captureLog, fakeContext, Receiver, sampleSnapshot, selfValue, until } from '../../test/e2e/exporters-support.js';
import { WEB_CGROUP } from '../../test/helpers/hostroot.js';
import type { RemoteWriteConfig } from './config.js';
import { remoteWriteExporter, remoteWriteEncoder } from './index.js';
import { ProtoWriter } from '../../src/protobuf.js';
import { compressWithHoles, preambleBefore } from './snappy.js';

/** The remote-write 1.0 messages, from Prometheus's prompb/types.proto and remote.proto, decoded by protobufjs (not our code). */
const PROTO = `
syntax = "proto3";
package prometheus;
message WriteRequest { repeated TimeSeries timeseries = 1; reserved 2; repeated MetricMetadata metadata = 3; }
message MetricMetadata { int32 type = 1; string metric_family_name = 2; string help = 4; string unit = 5; }
message Sample { double value = 1; int64 timestamp = 2; }
message Label { string name = 1; string value = 2; }
message TimeSeries { repeated Label labels = 1; repeated Sample samples = 2; }
`;
const WriteRequest = protobuf.parse(PROTO).root.lookupType('prometheus.WriteRequest');

interface Series {
  labels: Array<{ name: string; value: string }>;
  samples: Array<{ value: number; timestamp: string }>;
}

function decode(body: Buffer, compressed = true): Series[] {
  const raw = compressed ? Buffer.from(snappy.uncompress(body)) : body;
  const msg = WriteRequest.toObject(WriteRequest.decode(raw), { longs: String, defaults: true }) as { timeseries: Series[] };
  return msg.timeseries;
}

const T = 1_764_000_000_123;

function config(over: Record<string, unknown> = {}): RemoteWriteConfig {
  return validate({ exporters: { remotewrite: { enabled: true, interval: '50ms', min_backoff: '10ms', max_backoff: '50ms', ...over } } }, 'test').exporters.remotewrite as RemoteWriteConfig;
}

describe('protobuf encoding', () => {
  it('round-trips through an independent decoder: labels sorted with __name__, samples in ms, external labels', () => {
    const batches = [...remoteWriteEncoder([['node', 'n1'], ['name', 'not-this']])(sampleSnapshot(T), 1e9)];
    expect(batches).toHaveLength(1);
    const series = decode(batches[0]?.body as Buffer);
    expect(series).toHaveLength(sampleSnapshot(T).seriesCount);
    expect(batches[0]?.items).toBe(series.length);
    for (const s of series) {
      const names = s.labels.map((l) => l.name);
      expect(names).toEqual([...names].sort());
      expect(new Set(names).size).toBe(names.length);
      expect(s.labels.every((l) => l.value !== '')).toBe(true);
      expect(s.samples).toHaveLength(1);
      expect(s.samples[0]?.timestamp).toBe(String(T));
    }
    const find = (name: string, id?: string) => series.find((s) => s.labels.some((l) => l.name === '__name__' && l.value === name) && (id === undefined || s.labels.some((l) => l.name === 'id' && l.value === id)));
    expect(find('container_cpu_usage_seconds_total', WEB_CGROUP)).toEqual({
      labels: [
        { name: '__name__', value: 'container_cpu_usage_seconds_total' },
        { name: 'cpu', value: 'total' },
        { name: 'id', value: WEB_CGROUP },
        { name: 'image', value: 'nginx:1.27' },
        { name: 'name', value: 'web' }, // the series' own label wins over the external one
        { name: 'node', value: 'n1' },
      ],
      samples: [{ value: 2.5, timestamp: String(T) }],
    });
    // A raw cgroup: image="" and name="" are left out (the same as absent in Prometheus).
    expect(find('container_cpu_usage_seconds_total', '/')?.labels).toEqual([
      { name: '__name__', value: 'container_cpu_usage_seconds_total' },
      { name: 'cpu', value: 'total' },
      { name: 'id', value: '/' },
      { name: 'name', value: 'not-this' }, // absent on the series, so the external label applies
      { name: 'node', value: 'n1' },
    ]);
    expect(find('machine_memory_bytes')?.samples[0]?.value).toBe(2097152000);
  });

  /** A snapshot of one family `m` with the given series, all at `time`. */
  const oneFamily = (time: number, series: Array<[Labels, Labels | null, number]>): Snapshot => ({
    time,
    families: [{ def: { name: 'm', type: 'gauge', unit: '', help: '', labels: [], source: '' }, targets: series.map((x) => x[0]), extras: series.map((x) => x[1]), values: series.map((x) => x[2]) }],
    seriesCount: series.length,
  });

  it('encodes edge values: negative timestamps, special floats, long and non-ASCII strings', () => {
    const long = 'é'.repeat(300);
    const enc = remoteWriteEncoder([]);
    const targets = [new Labels([['l', long]]), new Labels([['l', 'x']]), new Labels([['l', 'y']])];
    const at = (time: number, values: number[]): Series[] => decode([...enc(oneFamily(time, targets.map((t, i) => [t, null, values[i] as number])), 1e9)][0]?.body as Buffer);
    let series = at(-1500, [Number.NaN, Number.POSITIVE_INFINITY, -0.25]);
    expect(series[0]?.labels[1]?.value).toBe(long);
    expect(series[0]?.samples[0]?.value).toBeNaN();
    expect(series.map((s) => s.samples[0]?.timestamp)).toEqual(['-1500', '-1500', '-1500']);
    expect(series[1]?.samples[0]?.value).toBe(Number.POSITIVE_INFINITY);
    expect(series[2]?.samples[0]?.value).toBe(-0.25);
    // The timestamp's size changes (10 bytes negative, 6 in milliseconds now, 1 at zero): the kept pieces are made again.
    series = at(2 ** 41, [Number.NEGATIVE_INFINITY, -0, 5e-324]);
    expect(series.map((s) => s.samples[0])).toEqual([
      { value: Number.NEGATIVE_INFINITY, timestamp: String(2 ** 41) },
      { value: -0, timestamp: String(2 ** 41) },
      { value: 5e-324, timestamp: String(2 ** 41) },
    ]);
    expect(at(0, [1, 2, 3]).map((s) => s.samples[0])).toEqual([1, 2, 3].map((value) => ({ value, timestamp: '0' })));
  });

  it('merges the label sets in name order, the series\' own labels winning a clash', () => {
    const enc = remoteWriteEncoder([['zone', 'z1'], ['a', 'ext'], ['job', 'lookout']]);
    const snap = oneFamily(1, [[new Labels([['job', 'own'], ['b', '1'], ['empty', '']]), new Labels([['c', '2'], ['A', 'upper']]), 1]]);
    expect(decode([...enc(snap, 1e9)][0]?.body as Buffer)[0]?.labels).toEqual([
      { name: 'A', value: 'upper' },
      { name: '__name__', value: 'm' },
      { name: 'a', value: 'ext' },
      { name: 'b', value: '1' },
      { name: 'c', value: '2' },
      { name: 'job', value: 'own' },
      { name: 'zone', value: 'z1' },
    ]);
  });

  it('compresses pieces with holes into the snappy block format: any holes, repetitive or random bytes, long literals and matches', () => {
    let seed = 7;
    const rand = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) / 0x1000000;
    const cases: Array<[Buffer, number]> = [
      [Buffer.from('container_cpu_usage_seconds_total{id="/docker/abc"}'.repeat(400)), 15],
      [Buffer.from(Array.from({ length: 70_000 }, () => Math.floor(rand() * 256))), 9],
      [Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i % 97 < 80 ? 65 : Math.floor(rand() * 4)))), 14],
      [Buffer.alloc(5000, 0x41), 8],
      [Buffer.from('abc'), 0],
    ];
    for (const [raw, holeLen] of cases) {
      const holes: number[] = [];
      for (let p = Math.floor(rand() * 50); holeLen > 0 && p + holeLen <= raw.length; p += holeLen + 1 + Math.floor(rand() * 300)) holes.push(p);
      const { bytes, holes: at } = compressWithHoles(raw, holes, holeLen);
      const block = (pieces: Buffer[]): Buffer => {
        const body = Buffer.concat([Buffer.alloc(8), ...pieces]);
        const start = preambleBefore(body, 8, raw.length * pieces.length);
        return body.subarray(start);
      };
      // New bytes written into the holes come out where the holes are; everything else as it was.
      const filled = Buffer.from(bytes);
      const expected = Buffer.from(raw);
      holes.forEach((h, k) => {
        for (let b = 0; b < holeLen; b++) {
          const x = Math.floor(rand() * 256);
          filled[(at[k] as number) + b] = x;
          expected[h + b] = x;
        }
      });
      // Two decoders: snappyjs, and Google's C++ one (the `snappy` package) that Go's decoder in Prometheus follows.
      expect(Buffer.from(snappy.uncompress(block([filled]))).equals(expected)).toBe(true);
      expect((uncompressSync(block([filled])) as Buffer).equals(expected)).toBe(true);
      // Pieces compressed on their own concatenate behind one preamble.
      expect(Buffer.from(snappy.uncompress(block([bytes, bytes]))).equals(Buffer.concat([raw, raw]))).toBe(true);
      if (raw.length > 1000 && new Set(raw).size < 200) expect(bytes.length).toBeLessThan(raw.length / 2);
    }
  });

  it('keeps each series\' labels encoded across snapshots: the same label objects give the same series, new values', () => {
    const enc = remoteWriteEncoder([['node', 'n1']]);
    const base = sampleSnapshot(T);
    const first = decode([...enc(base, 1e9)][0]?.body as Buffer);
    const next = { ...base, time: T + 15_000, families: base.families.map((f) => ({ ...f, values: f.values.map((v) => v + 1) })) };
    const second = decode([...enc(next, 1e9)][0]?.body as Buffer);
    expect(second.map((s) => s.labels)).toEqual(first.map((s) => s.labels));
    expect(second.map((s) => s.samples[0]?.value)).toEqual(first.map((s) => (s.samples[0]?.value as number) + 1));
    expect(second.every((s) => s.samples[0]?.timestamp === String(T + 15_000))).toBe(true);
    // A fresh encoder, with nothing cached, writes the same bytes.
    expect(decode([...remoteWriteEncoder([['node', 'n1']])(next, 1e9)][0]?.body as Buffer)).toEqual(second);
  });

  it('encodes a target\'s series again when they change: labels changed, container gone, a series more before others, new metric labels', () => {
    const base = sampleSnapshot(T);
    const targets = [...new Set(base.families.flatMap((f) => f.targets))];
    const [web, api] = targets as [Labels, Labels];
    const renamed = new Labels(web.pairs.map(([k, v]) => [k, k === 'name' ? 'web-2' : v]));
    type Edit = (f: Family, i: number) => { t: Labels; e: Labels | null } | null;
    const edit = (time: number, fn: Edit, front?: [Labels, Labels | null, number]): Snapshot => {
      const families = base.families.map((f, fi) => {
        const out: Family = { def: f.def, targets: [], extras: [], values: [] };
        const put = (t: Labels, e: Labels | null, v: number): void => {
          out.targets.push(t);
          out.extras.push(e);
          out.values.push(v);
        };
        if (front && fi === 0) put(...front);
        f.values.forEach((v, i) => {
          const r = fn(f, i);
          if (r) put(r.t, r.e, v + time - T);
        });
        return out;
      });
      return { time, families, seriesCount: families.reduce((a, f) => a + f.values.length, 0) };
    };
    const same: Edit = (f, i) => ({ t: f.targets[i] as Labels, e: f.extras[i] ?? null });
    const snapshots = [
      base,
      edit(T + 1000, (f, i) => ({ t: f.targets[i] === web ? renamed : (f.targets[i] as Labels), e: f.extras[i] ?? null })), // labels changed: a new Labels object
      edit(T + 2000, (f, i) => (f.targets[i] === web ? null : same(f, i))), // container gone
      edit(T + 3000, same, [api, new Labels([['cpu', 'total']]), 7]), // a series more at the front of a target: its positions after it shift
      edit(T + 4000, (f, i) => ({ t: f.targets[i] as Labels, e: f.extras[i] ? new Labels((f.extras[i] as Labels).pairs.map(([k, v]) => [k, `${v}x`])) : null })), // new metric-label objects
      base,
    ];
    const kept = remoteWriteEncoder([['node', 'n1']]);
    for (const snap of snapshots) {
      for (const max of [1e9, 3]) {
        const fresh = remoteWriteEncoder([['node', 'n1']]);
        const got = [...kept(snap, max)].map((b) => b.body.toString('hex'));
        expect(got, `t=${snap.time} max=${max}`).toEqual([...fresh(snap, max)].map((b) => b.body.toString('hex')));
      }
    }
    expect(decode([...kept(snapshots[1] as Snapshot, 1e9)][0]?.body as Buffer).some((s) => s.labels.some((l) => l.name === 'name' && l.value === 'web-2'))).toBe(true);
  });

  it('grows its buffer past the initial size', () => {
    const w = new ProtoWriter();
    const s = 'x'.repeat(200_000);
    w.string(1, s);
    const bytes = w.bytes();
    expect(bytes.length).toBe(1 + 3 + 200_000);
    expect(bytes.subarray(4).toString()).toBe(s);
  });

  it('splits a snapshot into requests of at most max_batch_samples series, a container\'s series together when they fit, losing none', () => {
    const snap = sampleSnapshot(T);
    const whole = decode([...remoteWriteEncoder([])(snap, 1e9)][0]?.body as Buffer);
    for (const max of [1, 7, 40]) {
      const batches = [...remoteWriteEncoder([])(snap, max)];
      for (const b of batches) expect(b.items).toBeLessThanOrEqual(max);
      const all = batches.flatMap((b) => decode(b.body));
      expect(batches.reduce((a, b) => a + b.items, 0)).toBe(snap.seriesCount);
      expect(all).toEqual(whole);
      // Pieces of at most `max` series fill each request as far as the next whole piece fits.
      expect(batches.length).toBeLessThan(2 * Math.ceil(snap.seriesCount / max) + 1);
    }
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

describe('remote_write exporter', () => {
  it('POSTs snappy protobuf with the protocol headers, bearer token and extra headers', async () => {
    const r = await Receiver.start();
    receivers.push(r);
    const ctx = fakeContext();
    const e = remoteWriteExporter.create(config({ url: `${r.url}/api/v1/write`, bearer_token: 'tok-RW-1', headers: { 'X-Scope-OrgID': 'team-a' }, external_labels: { node: 'node-7' } }), ctx);
    running.push(e);
    await e.start(new AbortController().signal);
    await until('a request', () => r.requests.length > 0);
    const req = r.requests[0];
    expect(req?.url).toBe('/api/v1/write');
    expect(req?.headers['content-encoding']).toBe('snappy');
    expect(req?.headers['content-type']).toBe('application/x-protobuf');
    expect(req?.headers['x-prometheus-remote-write-version']).toBe('0.1.0');
    expect(req?.headers['authorization']).toBe('Bearer tok-RW-1');
    expect(req?.headers['x-scope-orgid']).toBe('team-a');
    const series = decode(req?.body as Buffer);
    expect(series.every((s) => s.labels.some((l) => l.name === 'node' && l.value === 'node-7'))).toBe(true);
    await until('counted', async () => (await selfValue(ctx.self, 'lookout_exporter_sent_total', { exporter: 'remotewrite' })) >= series.length);
  });

  it('sends basic auth; retries 5xx and 429 (honouring Retry-After); drops a 400 without retrying; never logs the password', async () => {
    const r = await Receiver.start();
    receivers.push(r);
    let n = 0;
    r.respond = (q) => {
      n++;
      if (n === 1) return { status: 503, body: 'busy' };
      if (n === 2) return { status: 429, body: 'slow down', headers: { 'retry-after': '0' } };
      if (n === 3) return { status: 400, body: `out of order sample; auth was ${String(q.headers['authorization'])}` };
      return { status: 204 };
    };
    const cap = captureLog();
    const ctx = fakeContext({ log: cap.log });
    const e = remoteWriteExporter.create(config({ url: r.url, basic_auth: { username: 'prom', password: 'pw-RW-SECRET' } }), ctx);
    running.push(e);
    await e.start(new AbortController().signal);
    await until('four requests', () => r.requests.length >= 4);
    expect(r.requests[0]?.headers['authorization']).toBe(`Basic ${Buffer.from('prom:pw-RW-SECRET').toString('base64')}`);
    await until('counted', async () => (await selfValue(ctx.self, 'lookout_exporter_failed_total', { exporter: 'remotewrite' })) > 0);
    expect(await selfValue(ctx.self, 'lookout_exporter_retries_total', { exporter: 'remotewrite' })).toBe(2);
    // Retried batches are the same bytes.
    expect(r.requests[1]?.body.equals(r.requests[0]?.body as Buffer)).toBe(true);
    expect(r.requests[2]?.body.equals(r.requests[0]?.body as Buffer)).toBe(true);
    await e.shutdown();
    expect(cap.text()).toContain('out of order sample');
    expect(cap.text()).not.toContain('pw-RW-SECRET');
    expect(cap.text()).not.toContain(Buffer.from('prom:pw-RW-SECRET').toString('base64'));
  });

  it('rejects conflicting credentials and bad settings, naming the key', () => {
    expect(() => remoteWriteExporter.create(config({ bearer_token: 't', basic_auth: { username: 'u' } }), fakeContext())).toThrow(/both set/);
    expect(() => validate({ exporters: { remotewrite: { external_labels: { 'bad-name': 'x' } } } }, 't')).toThrow(/config key "exporters.remotewrite.external_labels.bad-name" is not a known setting; allowed here: keys matching/);
    expect(() => validate({ exporters: { remotewrite: { url: 'ftp://x/y' } } }, 't')).toThrow(/exporters.remotewrite.url/);
    expect(() => validate({ exporters: { remotewrite: { basic_auth: { user: 'x' } } } }, 't')).toThrow(/"exporters.remotewrite.basic_auth.user" is not a known setting/);
  });
});
