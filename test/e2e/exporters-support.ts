/**
 * Shared by the push exporters' tests (exporters/*, test/e2e/exporters-*.test.ts): a fixture
 * host root, synthetic snapshots from the real catalogue, a fake exporter context, a log
 * that keeps its lines, and a loopback HTTP receiver that records requests.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { catalogue } from '../../src/agent.js';
import type { ExporterContext } from '../../src/component.js';
import { createContext } from '../../src/context.js';
import { Labels, type MetricDef, type Snapshot, SnapshotBuilder } from '../../src/model.js';
import { SelfMetrics } from '../../src/selfmetrics.js';
import { freePort } from '../helpers/util.js';
import { WEB_CGROUP } from '../helpers/hostroot.js';

const defs = new Map(catalogue().map((d) => [d.name, d]));

export function def(name: string): MetricDef {
  const d = defs.get(name);
  if (d === undefined) throw new Error(`no metric ${name} in the catalogue`);
  return d;
}

/** One series of a synthetic snapshot: metric name, target labels, value, extra labels. */
export type Row = readonly [string, Labels, number, Array<[string, string]>?];

export function snapshotOf(time: number, rows: readonly Row[]): Snapshot {
  const b = new SnapshotBuilder(time, () => undefined);
  for (const [name, target, value, extra] of rows) b.add(def(name), target, value, extra ? new Labels(extra) : null);
  return b.build(catalogue());
}

export const WEB = new Labels([['id', WEB_CGROUP], ['image', 'nginx:1.27'], ['name', 'web']]);
export const API_ID = 'b'.repeat(64);
export const API = new Labels([
  ['id', `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice/cri-containerd-${API_ID}.scope`],
  ['image', 'ghcr.io/acme/api:v2.1'],
  ['name', API_ID],
  ['namespace', 'prod'],
  ['pod', 'api-7d9f'],
  ['container', 'api'],
]);
export const ROOT = new Labels([['id', '/'], ['image', ''], ['name', '']]);

/** A snapshot with a Docker container, a Kubernetes container, the root cgroup and machine metrics. */
export function sampleSnapshot(time: number, cpuWeb = 2.5): Snapshot {
  return snapshotOf(time, [
    ['container_cpu_usage_seconds_total', WEB, cpuWeb, [['cpu', 'total']]],
    ['container_cpu_usage_seconds_total', API, 10, [['cpu', 'total']]],
    ['container_cpu_usage_seconds_total', ROOT, 100, [['cpu', 'total']]],
    ['container_cpu_user_seconds_total', WEB, 2],
    ['container_cpu_system_seconds_total', WEB, 0.5],
    ['container_cpu_cfs_periods_total', WEB, 10],
    ['container_cpu_cfs_throttled_periods_total', WEB, 4],
    ['container_cpu_cfs_throttled_seconds_total', WEB, 0.3],
    ['container_spec_cpu_quota', WEB, 50000],
    ['container_memory_usage_bytes', WEB, 8388608],
    ['container_memory_working_set_bytes', WEB, 7340032],
    ['container_memory_working_set_bytes', API, 1048576],
    ['container_memory_failures_total', WEB, 1234, [['failure_type', 'pgfault'], ['scope', 'container']]],
    ['container_memory_failures_total', WEB, 5, [['failure_type', 'pgmajfault'], ['scope', 'container']]],
    ['container_spec_memory_limit_bytes', WEB, 67108864],
    ['container_spec_memory_limit_bytes', API, 0],
    ['container_fs_reads_total', WEB, 16, [['device', '/dev/sda']]],
    ['container_blkio_device_usage_total', WEB, 1048576, [['device', '/dev/sda'], ['major', '8'], ['minor', '0'], ['operation', 'Read']]],
    ['container_blkio_device_usage_total', WEB, 2097152, [['device', '/dev/sda'], ['major', '8'], ['minor', '0'], ['operation', 'Write']]],
    ['container_start_time_seconds', WEB, 1795168800.5],
    ['container_network_receive_bytes_total', API, 4096, [['interface', 'eth0']]],
    ['container_network_transmit_packets_total', API, 12, [['interface', 'eth0']]],
    ['container_restarts_total', API, 3],
    ['container_last_terminated_reason', API, 1, [['reason', 'OOMKilled']]],
    ['container_last_terminated_exit_code', API, 137],
    ['machine_cpu_cores', Labels.EMPTY, 2],
    ['machine_memory_bytes', Labels.EMPTY, 2097152000],
    ['container_runtime_containers', Labels.EMPTY, 1, [['runtime', 'docker'], ['state', 'running']]],
    ['container_runtime_containers', Labels.EMPTY, 2, [['runtime', 'docker'], ['state', 'exited']]],
  ]);
}

/** A log that keeps every line it writes (JSON text), for checking what was and was not logged. */
export function captureLog(level = 'debug'): { log: Logger; text(): string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  return { log: pino({ level }, stream), text: () => chunks.join('') };
}

/** An exporter context whose snapshots come from `snapshot` (a new time each call, so none is skipped as already pushed). */
export function fakeContext(opts: { snapshot?: () => Snapshot; stateDir?: string; log?: Logger; self?: SelfMetrics } = {}): ExporterContext & { self: SelfMetrics } {
  let t = 1_764_000_000_000;
  const snapshot = opts.snapshot ?? (() => sampleSnapshot((t += 1000)));
  return {
    ...createContext({ root: '/', log: opts.log ?? pino({ level: 'silent' }), stateDir: opts.stateDir ?? mkdtempSync(join(tmpdir(), 'lookout-exporters-state-')) }),
    self: opts.self ?? new SelfMetrics('test'),
    snapshot: async () => snapshot(),
    collecting: () => undefined,
    route: () => undefined,
  };
}

/** The value of one of the agent's own metrics (0 when absent). */
export async function selfValue(self: SelfMetrics, name: string, labels: Record<string, string>): Promise<number> {
  const m = (await self.registry.getMetricsAsJSON()).find((x) => x.name === name);
  return m?.values.filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l)).reduce((a, v) => a + v.value, 0) ?? 0;
}

export async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export interface Received {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** A loopback HTTP server that records every request and answers as `respond` says (204 by default). */
export class Receiver {
  readonly requests: Received[] = [];
  respond: (r: Received) => { status: number; body?: string | Buffer; headers?: Record<string, string> } = () => ({ status: 204 });

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  /** Listens on 127.0.0.1:`port` (0: any free port; a fixed one to come back up where an agent expects it). */
  static async start(port = 0): Promise<Receiver> {
    let self: Receiver | undefined;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const r: Received = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) };
        self?.requests.push(r);
        const out = self?.respond(r) ?? { status: 204 };
        res.writeHead(out.status, out.headers ?? {});
        res.end(out.body ?? '');
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    const a = server.address();
    if (typeof a !== 'object' || a === null) throw new Error('receiver has no address');
    self = new Receiver(server, `http://127.0.0.1:${a.port}`);
    return self;
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

export const INFLUXD = process.env['LOOKOUT_E2E_INFLUXD'] ?? 'influxd';

/** An influxd 1.x for a test, not started yet: its data under `dir`, both its ports on loopback, HTTP auth when asked. */
export async function influxd(dir: string, auth: boolean): Promise<{ daemon: Daemon; url: string }> {
  const [http, rpc] = [await freePort(), await freePort()];
  const url = `http://127.0.0.1:${http}`;
  const conf = join(dir, 'influxdb.conf');
  writeFileSync(
    conf,
    [
      'reporting-disabled = true',
      `bind-address = "127.0.0.1:${rpc}"`,
      '[meta]',
      `  dir = "${join(dir, 'meta')}"`,
      '[data]',
      `  dir = "${join(dir, 'data')}"`,
      `  wal-dir = "${join(dir, 'wal')}"`,
      '  query-log-enabled = false',
      '[monitor]',
      '  store-enabled = false',
      '[continuous_queries]',
      '  enabled = false',
      '[http]',
      `  bind-address = "127.0.0.1:${http}"`,
      `  auth-enabled = ${auth}`,
      '  log-enabled = false',
      '',
    ].join('\n'),
  );
  return { daemon: new Daemon(INFLUXD, ['-config', conf], `${url}/ping`), url };
}

/**
 * A server binary run for a test (influxd, prometheus): started with its arguments, ready
 * when `readyUrl` answers 2xx, stopped with SIGTERM (SIGKILL after 15 s), and restartable
 * with the same arguments (same ports, same data) for outage tests.
 */
export class Daemon {
  private child: ChildProcess | undefined;
  private output = '';

  constructor(
    readonly file: string,
    readonly args: readonly string[],
    readonly readyUrl: string,
  ) {}

  /** The last lines the server printed, for failure messages. */
  tail(lines = 8): string {
    return this.output.trim().split('\n').slice(-lines).join(' | ');
  }

  async start(timeoutMs = 30_000): Promise<void> {
    if (this.child) throw new Error(`${this.file} is already running`);
    const child = spawn(this.file, [...this.args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const keep = (b: Buffer): void => {
      this.output = (this.output + b.toString()).slice(-20_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    let exited: string | undefined;
    child.once('exit', (code, sig) => {
      exited = `${this.file} exited (${code ?? sig})`;
    });
    child.once('error', (err) => {
      exited = `${this.file}: ${err.message}`;
    });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (exited !== undefined) {
        this.child = undefined;
        throw new Error(`${exited}: ${this.tail()}`);
      }
      const ok = await fetch(this.readyUrl, { signal: AbortSignal.timeout(2000) }).then(
        (r) => r.status >= 200 && r.status < 300,
        () => false,
      );
      if (ok) return;
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error(`${this.file} not ready after ${timeoutMs} ms: ${this.tail()}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const t = await Promise.race([done.then(() => 'exited'), new Promise((r) => setTimeout(() => r('timeout'), 15_000))]);
    if (t === 'timeout') {
      child.kill('SIGKILL');
      await done;
    }
  }
}
