import { hostRoot, WEB_CGROUP } from '../test/helpers/hostroot.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from './agent.js';
import { validate } from './config.js';

let agent: Agent | undefined;
afterEach(async () => {
  await agent?.stop();
  agent = undefined;
});

async function start(extra: Record<string, unknown> = {}): Promise<{ agent: Agent; base: string }> {
  const config = validate({ root: hostRoot(), server: { listen: '127.0.0.1:0' }, collect: { min_interval: '0s' }, ...extra }, 'test');
  agent = await Agent.start(config, { log: pino({ level: 'silent' }) });
  return { agent, base: `http://${agent.address}` };
}

describe('agent', () => {
  it('serves the container metrics in the text format by default', async () => {
    const { base } = await start();
    const res = await fetch(`${base}/metrics`, { headers: { 'accept-encoding': 'identity' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = await res.text();
    const id = WEB_CGROUP;
    expect(text).toContain(`container_cpu_usage_seconds_total{id="${id}",image="nginx:1.27",name="web",cpu="total"} 2.5`);
    expect(text).toContain(`container_memory_working_set_bytes{id="${id}",image="nginx:1.27",name="web"} 7340032`);
    expect(text).toContain(`container_spec_memory_limit_bytes{id="${id}",image="nginx:1.27",name="web"} 67108864`);
    expect(text).toContain(`container_start_time_seconds{id="${id}",image="nginx:1.27",name="web"} 1740823200.5`);
    expect(text).toContain('container_cpu_usage_seconds_total{id="/",image="",name="",cpu="total"} 1');
    expect(text).toContain('machine_cpu_cores 2\n');
    expect(text).toContain('machine_memory_bytes 2097152000\n');
    expect(text).toMatch(/^lookout_collections_total \d+$/m);
    expect(text).toMatch(/^lookout_process_resident_memory_bytes \d+$/m);
  });

  it('serves OpenMetrics when asked and gzip when accepted', async () => {
    const { base } = await start();
    const om = await fetch(`${base}/metrics`, { headers: { accept: 'application/openmetrics-text; version=1.0.0', 'accept-encoding': 'identity' } });
    expect(om.headers.get('content-type')).toBe('application/openmetrics-text; version=1.0.0; charset=utf-8');
    const omText = await om.text();
    expect(omText).toContain('# TYPE container_cpu_usage_seconds counter\n');
    expect(omText.endsWith('# EOF\n')).toBe(true);
    // Raw HTTP so the body stays compressed and we can check it really is gzip.
    const { request } = await import('node:http');
    const body = await new Promise<{ enc: string | undefined; buf: Buffer }>((resolve, reject) => {
      request(`${base}/metrics`, { headers: { 'accept-encoding': 'gzip' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ enc: res.headers['content-encoding'], buf: Buffer.concat(chunks) }));
      }).on('error', reject).end();
    });
    expect(body.enc).toBe('gzip');
    const plain = gunzipSync(body.buf).toString();
    expect(plain).toContain('# TYPE container_cpu_usage_seconds_total counter');
    // A text scrape after an OpenMetrics one still names counters with _total.
    expect(plain).toContain('# TYPE lookout_collections_total counter');
  });

  it('answers the probes, and 503 once stopping', async () => {
    const { agent: a, base } = await start();
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    const index = await (await fetch(`${base}/`)).text();
    expect(index).toContain('href="/metrics"');
    const api = (await (await fetch(`${base}/api/containers`)).json()) as { containers: Array<{ name: string; memoryLimitBytes: number; memoryWorkingSetBytes: number }>; machine: { cpuCores: number } };
    expect(api.machine.cpuCores).toBe(2);
    expect(api.containers).toHaveLength(1);
    expect(api.containers[0]).toMatchObject({ name: 'web', memoryLimitBytes: 67108864, memoryWorkingSetBytes: 7340032 });
    const stopping = a.stop();
    await stopping;
    await expect(fetch(`${base}/healthz`)).rejects.toThrow();
    await a.stop(); // twice is safe
  });

  it('serves the path the config names', async () => {
    const { base } = await start({ exporters: { prometheus: { path: '/custom' } } });
    expect((await fetch(`${base}/custom`)).status).toBe(200);
    expect((await fetch(`${base}/metrics`)).status).toBe(404);
  });

  it('coalesces concurrent scrapes into one collection', async () => {
    const { agent: a, base } = await start({ collect: { min_interval: '10s' } });
    const before = (await a.self.collections.get()).values[0]?.value ?? 0;
    await Promise.all(Array.from({ length: 5 }, () => fetch(`${base}/metrics`).then((r) => r.text())));
    const after = (await a.self.collections.get()).values[0]?.value ?? 0;
    expect(after - before).toBe(0); // the start-up collection is younger than 10s
  });

  it('bounds the series of a collection and counts what it drops', async () => {
    const { base } = await start({ collect: { min_interval: '0s', max_series: 5 } });
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(text.split("\n").filter((l) => /^(container|machine|lookout_runtime)_/.test(l))).toHaveLength(5);
    expect(Number(/^lookout_series_dropped_total (\d+)$/m.exec(text)?.[1])).toBeGreaterThan(10);
  });

  it('fails to start with a clear error when the address is taken', async () => {
    const { agent: a } = await start();
    const config = validate({ root: hostRoot(), server: { listen: a.address } }, 'test');
    await expect(Agent.start(config, { log: pino({ level: 'silent' }) })).rejects.toThrow(/cannot listen on 127\.0\.0\.1:\d+/);
  });

  it('fails to start with a clear error when the root has no cgroup filesystem', async () => {
    const config = validate({ root: mkdtempSync(join(tmpdir(), 'lookout-empty-')), server: { listen: '127.0.0.1:0' } }, 'test');
    await expect(Agent.start(config, { log: pino({ level: 'silent' }) })).rejects.toThrow(/no cgroup filesystem at .*sys\/fs\/cgroup: set --root/);
  });
});

describe('agent security', () => {
  it('requires basic auth or the bearer token everywhere but the probes', async () => {
    const { base } = await start({ server: { listen: '127.0.0.1:0', auth: { username: 'prom', password: 's3cret', bearer_token: 'tok-123' } } });
    expect((await fetch(`${base}/metrics`)).status).toBe(401);
    expect((await fetch(`${base}/metrics`)).headers.get('www-authenticate')).toContain('Basic realm="lookout"');
    expect((await fetch(`${base}/`)).status).toBe(401);
    expect((await fetch(`${base}/api/containers`)).status).toBe(401);
    const basic = (u: string, p: string): string => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
    expect((await fetch(`${base}/metrics`, { headers: { authorization: basic('prom', 'wrong') } })).status).toBe(401);
    expect((await fetch(`${base}/metrics`, { headers: { authorization: basic('prom', 's3cret') } })).status).toBe(200);
    expect((await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer tok-123' } })).status).toBe(200);
    expect((await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer tok-12' } })).status).toBe(401);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
  });

  it('serves HTTPS with the configured certificate', async () => {
    const { execFileSync } = await import('node:child_process');
    const dir = mkdtempSync(join(tmpdir(), 'lookout-tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    const { agent: a } = await start({ server: { listen: '127.0.0.1:0', tls: { cert_file: join(dir, 'cert.pem'), key_file: join(dir, 'key.pem') } } });
    const { request } = await import('node:https');
    const { readFileSync } = await import('node:fs');
    const status = await new Promise<number>((resolve, reject) => {
      request(`https://${a.address}/healthz`, { ca: readFileSync(join(dir, 'cert.pem')) }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on('error', reject).end();
    });
    expect(status).toBe(200);
    // Plain HTTP to the HTTPS port gets no metrics.
    const plain = await fetch(`http://${a.address}/metrics`).then((r) => r.status, () => 'refused');
    expect(plain).not.toBe(200);
  });

  it('rejects half-configured TLS and auth, naming the keys', async () => {
    await expect(start({ server: { listen: '127.0.0.1:0', tls: { cert_file: '/x.pem' } } })).rejects.toThrow(/"server.tls.cert_file" and "server.tls.key_file" go together/);
    await expect(start({ server: { listen: '127.0.0.1:0', auth: { username: 'u' } } })).rejects.toThrow(/"server.auth.username" and "server.auth.password" go together/);
  });
});
