import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/commands.js';
import { redacted, validate } from '../../src/config.js';
import type { Exporter } from '../../src/component.js';
import { API_ID, captureLog, fakeContext, Receiver, sampleSnapshot, selfValue, until } from '../../test/e2e/exporters-support.js';
import { WEB_CGROUP, WEB_ID } from '../../test/helpers/hostroot.js';
import { type InfluxConfig } from './config.js';
import { type Family, Labels, type Snapshot } from '../../src/model.js';
import { influxdbExporter, lineProtocolEncoder, lineProtocolStrings } from './index.js';
import { parseImage, PointBuilder } from './layout.js';

const T = 1_764_000_000_000;

function config(over: Record<string, unknown> = {}): InfluxConfig {
  return validate({ exporters: { influxdb: { enabled: true, interval: '50ms', min_backoff: '10ms', max_backoff: '50ms', ...over } } }, 'test').exporters.influxdb as InfluxConfig;
}

/** Points as `key -> fields` from line protocol (values as written). */
function parse(body: string): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  for (const line of body.split('\n')) {
    const m = /^(.*?[^\\]) (.*) (\d+)$/.exec(line);
    if (!m) throw new Error(`bad line ${line}`);
    const fields: Record<string, string> = {};
    for (const f of (m[2] as string).match(/(?:[^,"]|"(?:[^"\\]|\\.)*")+/g) ?? []) {
      const eq = f.indexOf('=');
      fields[f.slice(0, eq)] = f.slice(eq + 1);
    }
    out.set(m[1] as string, { ...out.get(m[1] as string), ...fields, time: m[3] as string });
  }
  return out;
}

function lines(layout: 'telegraf' | 'prometheus', opts: Partial<{ rawCgroups: boolean; tags: Record<string, string> }> = {}, builder?: PointBuilder): { text: string; items: number; builder: PointBuilder } {
  const b = builder ?? new PointBuilder({ layout, host: 'node-1', tags: opts.tags ?? {}, rawCgroups: opts.rawCgroups ?? false });
  const batches = [...lineProtocolEncoder(b, 'ms')(sampleSnapshot(T), 1e9)];
  return { text: batches.map((x) => x.body.toString()).join('\n'), items: batches.reduce((a, x) => a + x.items, 0), builder: b };
}

describe('telegraf layout', () => {
  it('writes Telegraf docker input measurements, tags, units and integer fields', () => {
    const { text } = lines('telegraf');
    const p = parse(text);
    const web = 'container_image=nginx,container_name=web,container_version=1.27,engine_host=node-1,host=node-1';
    // Tags are sorted by key, so the per-measurement tag (cpu, device, network) sits among them.
    expect(p.get(`docker_container_cpu,container_image=nginx,container_name=web,container_version=1.27,cpu=cpu-total,engine_host=node-1,host=node-1`)).toEqual({
      container_id: `"${WEB_ID}"`,
      usage_total: '2500000000i',
      usage_in_usermode: '2000000000i',
      usage_in_kernelmode: '500000000i',
      throttling_periods: '10i',
      throttling_throttled_periods: '4i',
      throttling_throttled_time: '300000000i',
      time: String(T),
    });
    expect(p.get(`docker_container_mem,${web}`)).toEqual({
      container_id: `"${WEB_ID}"`,
      usage: '7340032i',
      limit: '67108864i',
      pgfault: '1234i',
      pgmajfault: '5i',
      usage_percent: String((7340032 / 67108864) * 100),
      time: String(T),
    });
    expect(p.get(`docker_container_blkio,container_image=nginx,container_name=web,container_version=1.27,device=8:0,engine_host=node-1,host=node-1`)).toEqual({
      container_id: `"${WEB_ID}"`,
      io_serviced_recursive_read: '16i',
      io_service_bytes_recursive_read: '1048576i',
      io_service_bytes_recursive_write: '2097152i',
      time: String(T),
    });
    expect(p.get(`docker_container_status,${web}`)?.['started_at']).toBe('1795168800500000000i');
    // Kubernetes container: the kubelet's Docker labels as tags; an unlimited container's limit is the host's memory, as Docker reports it.
    const api = 'container_image=ghcr.io/acme/api,container_name=' + API_ID + ',container_version=v2.1,engine_host=node-1,host=node-1,io.kubernetes.container.name=api,io.kubernetes.pod.name=api-7d9f,io.kubernetes.pod.namespace=prod';
    expect(p.get(`docker_container_mem,${api}`)).toMatchObject({ usage: '1048576i', limit: '2097152000i', usage_percent: String((1048576 / 2097152000) * 100) });
    expect(p.get(`docker_container_net,${api},network=eth0`)).toMatchObject({ rx_bytes: '4096i', tx_packets: '12i', container_id: `"${API_ID}"` });
    expect(p.get(`docker_container_status,${api}`)).toMatchObject({ restart_count: '3i', exitcode: '137i', oomkilled: 'true' });
    // Engine level.
    expect(p.get('docker,engine_host=node-1,host=node-1')).toMatchObject({ n_cpus: '2i', memory_total: '2097152000i' });
    expect(p.get('docker,engine_host=node-1,host=node-1,runtime=docker')).toMatchObject({ n_containers_running: '1i', n_containers_stopped: '2i', n_containers: '3i' });
    // No Telegraf field: the generic layout, with Telegraf's tags.
    expect(p.get(`container_memory_usage_bytes,${web}`)).toMatchObject({ value: '8388608' });
    expect(p.get(`container_spec_cpu_quota,${web}`)).toMatchObject({ value: '50000' });
    // Raw cgroups are left out, as Telegraf reports containers only.
    expect(text).not.toContain('cgroup=/');
    expect(text).not.toContain('usage_total=100000000000i');
  });

  it('writes raw cgroups tagged with their path when asked', () => {
    const p = parse(lines('telegraf', { rawCgroups: true }).text);
    expect(p.get('docker_container_cpu,cgroup=/,cpu=cpu-total,engine_host=node-1,host=node-1')).toEqual({ usage_total: '100000000000i', time: String(T) });
  });

  it('computes usage_percent of CPU from the previous push, as Telegraf does from Docker\'s previous reading', () => {
    const b = new PointBuilder({ layout: 'telegraf', host: 'n', tags: {}, rawCgroups: false });
    const enc = lineProtocolEncoder(b, 's');
    [...enc(sampleSnapshot(T, 2.5), 1e9)];
    const second = parse([...enc(sampleSnapshot(T + 2000, 3.5), 1e9)].map((x) => x.body.toString()).join('\n'));
    const cpu = [...second.entries()].find(([k]) => k.startsWith('docker_container_cpu,container_image=nginx'));
    expect(cpu?.[1]['usage_percent']).toBe('50'); // 1 s of CPU in 2 s
    expect(cpu?.[1]['time']).toBe(String((T + 2000) / 1000));
  });

  it('splits Telegraf image references as Telegraf does', () => {
    expect(parseImage('nginx:1.27')).toEqual({ name: 'nginx', version: '1.27' });
    expect(parseImage('nginx')).toEqual({ name: 'nginx', version: 'unknown' });
    expect(parseImage('localhost:5000/team/app:v1')).toEqual({ name: 'localhost:5000/team/app', version: 'v1' });
    expect(parseImage('quay.io/app@sha256:abc')).toEqual({ name: 'quay.io/app', version: 'unknown' });
  });
});

describe('prometheus layout', () => {
  it('writes one measurement per metric, a float value and every label as a tag', () => {
    const { text, items } = lines('prometheus', { tags: { dc: 'eu-1', host: 'ignored' } });
    const p = parse(text);
    expect(p.get(`container_cpu_usage_seconds_total,cpu=total,dc=eu-1,host=node-1,id=${WEB_CGROUP},image=nginx:1.27,name=web`)).toEqual({ value: '2.5', time: String(T) });
    expect(p.get('container_cpu_usage_seconds_total,cpu=total,dc=eu-1,host=node-1,id=/')).toEqual({ value: '100', time: String(T) });
    expect(p.get('machine_memory_bytes,dc=eu-1,host=node-1')).toEqual({ value: '2097152000', time: String(T) });
    expect(items).toBe(sampleSnapshot(T).seriesCount);
  });
});

describe('batches', () => {
  it('hold at most max_batch_samples field values and never split a point', () => {
    const b = new PointBuilder({ layout: 'telegraf', host: 'n', tags: {}, rawCgroups: false });
    const all = [...lineProtocolEncoder(b, 'ms')(sampleSnapshot(T), 1e9)];
    const total = all.reduce((a, x) => a + x.items, 0);
    const small = [...lineProtocolEncoder(new PointBuilder({ layout: 'telegraf', host: 'n', tags: {}, rawCgroups: false }), 'ms')(sampleSnapshot(T), 10)];
    expect(small.length).toBeGreaterThan(2);
    for (const x of small) {
      expect(x.items).toBeLessThanOrEqual(10);
      // Every field value of the batch is counted: fields per line, without the time.
      const fields = [...parse(x.body.toString()).values()].reduce((a, f) => a + Object.keys(f).length - 1, 0);
      expect(fields).toBe(x.items);
    }
    expect(small.reduce((a, x) => a + x.items, 0)).toBe(total);
  });
});

/** The same series (the same label objects) at another time, with values changed by `f`. */
function revalue(base: Snapshot, time: number, f: (v: number, i: number) => number): Snapshot {
  return { ...base, time, families: base.families.map((fam) => ({ ...fam, values: fam.values.map(f) })) };
}

/** Values around every boundary of the number writer: signs, -0, 2^31, 10^9 (its two halves), 2^53, int64, 1e21, fractions, NaN and infinities. */
const EDGE_VALUES = [
  0, -0, 1, -1, 9, 10, 0.5, -2.5, 1e-7, 123.456, 2147483647, 2147483648, -2147483649, 999_999_999, 1e9, 1_000_000_001, 1e9 - 0.5, 123_456_789_012,
  2 ** 53 - 1, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), 9.2e18, 9.3e18, -9.3e18, 1e21, 1.5e300, Number.MIN_VALUE, Number.NaN, Infinity, -Infinity, 1795168800.5,
];

/** The snapshot without the series at the index `drop` gives for each family (-1: none), at another time. */
function without(base: Snapshot, time: number, drop: (f: Family) => number): Snapshot {
  const families = base.families.map((f) => {
    const d = drop(f);
    const keep = (_: unknown, i: number): boolean => i !== d;
    return { def: f.def, targets: f.targets.filter(keep), extras: f.extras.filter(keep), values: f.values.filter(keep) };
  });
  return { time, families, seriesCount: families.reduce((a, f) => a + f.values.length, 0) };
}

/** The snapshot with one series more, first in the first family, for the target of the last series there. */
function frontSeries(base: Snapshot, time: number): Snapshot {
  const [first, ...rest] = base.families as [Family, ...Family[]];
  const t = first.targets[first.targets.length - 1] as Labels;
  const f = { def: first.def, targets: [t, ...first.targets], extras: [new Labels([['cpu', 'cpu01']]), ...first.extras], values: [3, ...first.values] };
  return { time, families: [f, ...rest], seriesCount: base.seriesCount + 1 };
}

describe('the Buffer encoder', () => {
  it('writes byte for byte the lines of the string encoder, across snapshots (plans kept and made again), both layouts, any batch size', () => {
    for (const layout of ['telegraf', 'prometheus'] as const) {
      for (const rawCgroups of [false, true]) {
        for (const max of [1e9, 7, 1]) {
          const opts = { layout, host: 'node-1', tags: { dc: 'eu 1', host: 'ignored' }, rawCgroups };
          const fast = lineProtocolEncoder(new PointBuilder(opts), 'ns');
          const reference = lineProtocolStrings(new PointBuilder(opts), 'ns');
          const base = sampleSnapshot(T);
          const snapshots = [
            base,
            revalue(base, T + 10_000, (v) => v * 1.5), // CPU went up: usage_percent
            revalue(base, T + 20_000, (v, i) => (i === 0 ? Number.NaN : v * 0.5)), // went down, and a value that cannot be written
            sampleSnapshot(T + 30_000, 9), // new label objects: plans made again
            revalue(base, T + 40_000, (v) => v * 3),
            revalue(base, T + 50_000, (_, i) => EDGE_VALUES[i % EDGE_VALUES.length] as number), // numbers written as digits, not through String()
            revalue(base, T + 60_000, (_, i) => EDGE_VALUES[(i + 7) % EDGE_VALUES.length] as number),
            without(base, T + 70_000, (f) => f.targets.indexOf(f.targets.find((t) => t.get('name') === 'web') as Labels)), // a container gone
            revalue(base, T + 80_000, (v) => v + 1), // and back
            frontSeries(base, T + 90_000), // a series more before the others of a target: its plan made again
          ];
          for (const snap of snapshots) {
            const got = [...fast(snap, max)].map((b) => [b.items, b.body.toString()]);
            expect(got, `${layout} raw=${rawCgroups} max=${max} t=${snap.time}`).toEqual([...reference(snap, max)].map((b) => [b.items, b.body.toString()]));
          }
        }
      }
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

async function receiver(): Promise<Receiver> {
  const r = await Receiver.start();
  receivers.push(r);
  return r;
}

describe('InfluxDB 2.x API', () => {
  it('POSTs line protocol to /api/v2/write with org, bucket, precision and the token', async () => {
    const r = await receiver();
    const tokenFile = join(mkdtempSync(join(tmpdir(), 'lookout-secret-')), 'token');
    writeFileSync(tokenFile, 'tok-3xyz-SECRET\n');
    const ctx = fakeContext();
    // One push only (at start): the sent count below is held to the fields of the first request, which a second push on a loaded machine would add to.
    const e = influxdbExporter.create(config({ url: `${r.url}/prefix/`, api: 'v2', org: 'acme', bucket: 'metrics', token_file: tokenFile, precision: 's', hostname: 'node-9', interval: '1h' }), ctx);
    running.push(e);
    await e.start(new AbortController().signal);
    await until('a write', () => r.requests.length > 0);
    const req = r.requests[0];
    expect(req?.method).toBe('POST');
    expect(req?.url).toBe('/prefix/api/v2/write?org=acme&bucket=metrics&precision=s');
    expect(req?.headers['authorization']).toBe('Token tok-3xyz-SECRET');
    expect(req?.headers['content-type']).toBe('text/plain; charset=utf-8');
    const body = req?.body.toString() ?? '';
    const p = parse(body);
    expect(p.get('docker_container_cpu,container_image=nginx,container_name=web,container_version=1.27,cpu=cpu-total,engine_host=node-9,host=node-9')).toMatchObject({ usage_total: '2500000000i', time: String((T + 1000) / 1000) });
    await until('sent counted', async () => (await selfValue(ctx.self, 'lookout_exporter_sent_total', { exporter: 'influxdb' })) > 0);
    expect(await selfValue(ctx.self, 'lookout_exporter_sent_total', { exporter: 'influxdb' })).toBe([...p.values()].reduce((a, f) => a + Object.keys(f).length - 1, 0));
  });

  it('does not retry a 400 (partial write) and logs the server\'s message once, without the token', async () => {
    const r = await receiver();
    r.respond = (q) => ({ status: 400, body: `{"code":"invalid","message":"partial write: field type conflict; got ${String(q.headers['authorization'])}"}` });
    const cap = captureLog();
    const ctx = fakeContext({ log: cap.log });
    const e = influxdbExporter.create(config({ url: r.url, api: 'v2', bucket: 'b', token: 'tok-ECHOED-1' }), ctx);
    running.push(e);
    await e.start(new AbortController().signal);
    await until('a failure counted', async () => (await selfValue(ctx.self, 'lookout_exporter_failed_total', { exporter: 'influxdb' })) > 0);
    expect(await selfValue(ctx.self, 'lookout_exporter_retries_total', { exporter: 'influxdb' })).toBe(0);
    expect(cap.text()).toContain('partial write: field type conflict');
    expect(cap.text()).not.toContain('tok-ECHOED-1');
  });
});

describe('InfluxDB 1.x', () => {
  it('creates the database, then writes with Basic authentication (never credentials in the URL), db, rp and precision', async () => {
    const r = await receiver();
    r.respond = (q) => (q.url.startsWith('/query') ? { status: 200, body: '{"results":[{"statement_id":0}]}', headers: { 'content-type': 'application/json' } } : { status: 204 });
    const ctx = fakeContext();
    const e = influxdbExporter.create(config({ url: r.url, database: 'telegraf', retention_policy: 'autogen', username: 'writer', password: 'pw-S3CRET', precision: 'us' }), ctx);
    running.push(e);
    await e.start(new AbortController().signal);
    await until('create and write', () => r.requests.length >= 2);
    const [create, write] = r.requests;
    expect(create?.url).toMatch(/^\/query\?/);
    expect(new URL(`http://x${create?.url}`).searchParams.get('q')).toBe('create database "telegraf"');
    expect(write?.url).toBe('/write?db=telegraf&precision=u&rp=autogen');
    for (const q of r.requests) {
      expect(q.headers['authorization']).toBe(`Basic ${Buffer.from('writer:pw-S3CRET').toString('base64')}`);
      expect(q.url).not.toContain('S3CRET');
    }
    expect(write?.body.toString()).toMatch(/^docker_container_cpu,container_image=nginx,.* .*usage_total=2500000000i.* 1764000001000000$/m);
  });

  it('does not retry a 401, and neither logs nor throws the password, even when the server echoes it', async () => {
    const r = await receiver();
    r.respond = (q) => (q.url.startsWith('/query') ? { status: 200, body: '{"results":[{"statement_id":0}]}', headers: { 'content-type': 'application/json' } } : { status: 401, body: `{"error":"authorization failed for ${String(q.headers['authorization'])} pw-ECHO-9"}` });
    const cap = captureLog();
    const ctx = fakeContext({ log: cap.log });
    const e = influxdbExporter.create(config({ url: r.url, username: 'u', password: 'pw-ECHO-9' }), ctx);
    running.push(e);
    await e.start(new AbortController().signal);
    await until('a failure counted', async () => (await selfValue(ctx.self, 'lookout_exporter_failed_total', { exporter: 'influxdb' })) > 0);
    await e.shutdown();
    const logged = cap.text();
    expect(logged).toContain('HTTP 401');
    expect(logged).toContain('authorization failed');
    expect(logged).not.toContain('pw-ECHO-9');
    expect(logged).not.toContain(Buffer.from('u:pw-ECHO-9').toString('base64'));
    expect(await selfValue(ctx.self, 'lookout_exporter_retries_total', { exporter: 'influxdb' })).toBe(0);
  });

  it('keeps pushing into a disk buffer while the server is down, and delivers it all when it is back', async () => {
    const r = await receiver();
    let down = true;
    r.respond = (q) => (down ? { status: 503, body: 'down' } : q.url.startsWith('/query') ? { status: 200, body: '{"results":[{}]}' } : { status: 204 });
    const ctx = fakeContext();
    const e = influxdbExporter.create(config({ url: r.url, buffer: 'disk', create_database: false }), ctx);
    running.push(e);
    await e.start(new AbortController().signal);
    const dir = join(ctx.stateDir, 'buffers', 'influxdb');
    await until('batches on disk', () => existsSync(dir) && readdirSync(dir).filter((f) => f.endsWith('.batch')).length >= 3);
    expect(await selfValue(ctx.self, 'lookout_exporter_retries_total', { exporter: 'influxdb' })).toBeGreaterThan(0);
    down = false;
    await until('queue drained', async () => (await selfValue(ctx.self, 'lookout_exporter_queue_items', { exporter: 'influxdb' })) === 0 && r.requests.some((q) => q.url.startsWith('/write')));
    await e.shutdown();
    const delivered = r.requests.filter((q, i) => q.url.startsWith('/write') && i > 0).map((q) => q.body.toString());
    const times = new Set(delivered.flatMap((b) => b.split('\n').map((l) => l.slice(l.lastIndexOf(' ') + 1))));
    expect(times.size).toBeGreaterThanOrEqual(3);
    expect(readdirSync(dir).filter((f) => f.endsWith('.batch'))).toEqual([]);
  });
});

describe('config', () => {
  it('is off by default', () => {
    const exporters = validate({}, 'test').exporters as Record<string, { enabled: boolean }>;
    for (const type of ['influxdb', 'remotewrite', 'otlp']) expect(exporters[type]?.enabled, type).toBe(false);
  });

  it('rejects unknown keys, bad URLs and credentials in the URL, without printing the password', () => {
    expect(() => validate({ exporters: { influxdb: { databse: 'x' } } }, 't')).toThrow(/config key "exporters.influxdb.databse" is not a known setting; allowed here: .*database/);
    expect(() => validate({ exporters: { influxdb: { url: 'influx:8086' } } }, 't')).toThrow(/config key "exporters.influxdb.url" = "influx:8086" is invalid/);
    let msg = '';
    try {
      validate({ exporters: { influxdb: { url: 'http://admin:hunter2@influx:8086' } } }, 't');
    } catch (err) {
      msg = (err as Error).message;
    }
    expect(msg).toMatch(/config key "exporters.influxdb.url" = "http:\/\/admin:\(redacted\)@influx:8086" is invalid/);
    expect(msg).not.toContain('hunter2');
    let msg2 = '';
    try {
      validate({ exporters: { influxdb: { password: 12345678 } } }, 't');
    } catch (err) {
      msg2 = (err as Error).message;
    }
    expect(msg2).toContain('exporters.influxdb.password');
    expect(msg2).not.toContain('12345678');
  });

  it('redacts credentials in what `lookout validate` prints', () => {
    const cfg = validate({ exporters: { influxdb: { password: 'pw-PRINTED?', token: '' }, remotewrite: { bearer_token: 'tok-PRINTED?' }, otlp: { headers: { authorization: 'Api-Token k-PRINTED?' } } } }, 't');
    const out = JSON.stringify(redacted(cfg));
    expect(out).not.toContain('PRINTED?');
    expect(out).toContain('"password":"(redacted)"');
    expect(out).toContain('"token":""');
    expect(out).toContain('"authorization":"(redacted)"');
  });

  it('`lookout validate` prints the effective config with every credential redacted', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'lookout-validate-')), 'lookout.yaml');
    writeFileSync(
      file,
      [
        'exporters:',
        '  influxdb: { enabled: true, username: u, password: "${LOOKOUT_TEST_PW}" }',
        '  remotewrite: { enabled: true, url: "https://rw.example/api/v1/write", basic_auth: { username: u, password: pw-CLI-2 } }',
        '  otlp: { enabled: true, headers: { authorization: "Bearer k-CLI-3" } }',
        '',
      ].join('\n'),
    );
    const out: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      out.push(String(chunk));
      return true;
    });
    process.env['LOOKOUT_TEST_PW'] = 'pw-CLI-1';
    try {
      expect(await main(['validate', '--config', file])).toBe(0);
    } finally {
      spy.mockRestore();
      delete process.env['LOOKOUT_TEST_PW'];
    }
    const text = out.join('');
    expect(text).toContain('configuration OK');
    expect(text).toContain('"username": "u"');
    expect(text.match(/\(redacted\)/g)).toHaveLength(3);
    for (const secret of ['pw-CLI-1', 'pw-CLI-2', 'k-CLI-3']) expect(text).not.toContain(secret);
  });

  it('checks the settings of each API version and credential files at creation, naming the key only', () => {
    const ctx = fakeContext();
    expect(() => influxdbExporter.create(config({ api: 'v2' }), ctx)).toThrow(/"exporters.influxdb.bucket" is required with api: v2/);
    expect(() => influxdbExporter.create(config({ token: 'x' }), ctx)).toThrow(/are for api: v2/);
    expect(() => influxdbExporter.create(config({ password: 'pw-BOTH', password_file: '/nonexistent' }), ctx)).toThrow(/"exporters.influxdb.password" and "exporters.influxdb.password_file" are both set/);
    expect(() => influxdbExporter.create(config({ password_file: '/nonexistent/pw' }), ctx)).toThrow(/exporters.influxdb.password_file": cannot read \/nonexistent\/pw \(ENOENT\)/);
  });
});

describe('lifecycle', () => {
  it('shuts down before start and twice', async () => {
    const e = influxdbExporter.create(config(), fakeContext());
    await e.shutdown();
    await e.shutdown();
    await e.start(new AbortController().signal); // after shutdown: stays stopped
    const e2 = influxdbExporter.create(config({ url: 'http://127.0.0.1:9' }), fakeContext());
    await e2.start(new AbortController().signal);
    const t0 = Date.now();
    await Promise.all([e2.shutdown(), e2.shutdown()]);
    expect(Date.now() - t0).toBeLessThan(2000);
  });
});
