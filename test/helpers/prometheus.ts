/**
 * A real Prometheus for the end-to-end tests: on a free loopback port, with a temporary
 * storage directory and a scrape config for the agent (1 s interval), stopped and removed
 * after the tests. Its HTTP API is queried through `query`, `targets` and `rules`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, request, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll } from 'vitest';
import { exec } from './util.js';
import { freePort, sleep } from './util.js';

export const PROMETHEUS = process.env['LOOKOUT_E2E_PROMETHEUS'] ?? 'prometheus';
export const PROMTOOL = process.env['LOOKOUT_E2E_PROMTOOL'] ?? 'promtool';

export interface PromVersion {
  readonly text: string;
  readonly major: number;
  readonly minor: number;
}

let versionCache: PromVersion | undefined;

export async function prometheusVersion(): Promise<PromVersion> {
  if (versionCache) return versionCache;
  const r = await exec(PROMETHEUS, ['--version'], { timeoutMs: 15_000 });
  const out = `${r.stdout}\n${r.stderr}`;
  const m = /version (\d+)\.(\d+)\.\d+\S*/.exec(out);
  if (r.code !== 0 || !m) throw new Error(`${PROMETHEUS} --version exited ${r.code}: ${out.trim().split('\n')[0] ?? ''}`);
  versionCache = { text: m[0], major: Number(m[1]), minor: Number(m[2]) };
  return versionCache;
}

/** `scrape_protocols` (choosing the scrape format per job) came in Prometheus 2.49. */
export function hasScrapeProtocols(v: PromVersion): boolean {
  return v.major > 2 || (v.major === 2 && v.minor >= 49);
}

/** Availability check for requireOrSkip: prometheus and promtool run. */
export async function prometheusUsable(): Promise<void> {
  await prometheusVersion();
  const r = await exec(PROMTOOL, ['--version'], { timeoutMs: 15_000 }).catch((err: Error) => ({ code: -1, stdout: '', stderr: err.message }));
  if (r.code !== 0) throw new Error(`${PROMTOOL} --version failed: ${r.stderr.trim().split('\n')[0] ?? ''}`);
}

export interface ScrapeJob {
  readonly job: string;
  /** HOST:PORT targets, loopback only. */
  readonly targets: readonly string[];
  /** Prometheus >= 2.49 only. */
  readonly scrapeProtocols?: readonly string[];
}

export interface PromOptions {
  readonly jobs: readonly ScrapeJob[];
  readonly ruleFiles?: readonly string[];
  readonly scrapeInterval?: string;
}

export interface VectorSample {
  readonly metric: Record<string, string>;
  readonly value: [number, string];
}

export type QueryData =
  | { resultType: 'vector'; result: VectorSample[] }
  | { resultType: 'scalar'; result: [number, string] }
  | { resultType: 'matrix'; result: Array<{ metric: Record<string, string>; values: Array<[number, string]> }> }
  | { resultType: 'string'; result: [number, string] };

export interface Target {
  readonly labels: Record<string, string>;
  readonly scrapePool: string;
  readonly scrapeUrl: string;
  readonly health: string;
  readonly lastError: string;
  readonly lastScrape: string;
}

export interface RuleGroup {
  readonly name: string;
  readonly rules: Array<{ name: string; query: string; health: string; lastError?: string; type: string; state?: string; alerts?: unknown[] }>;
}

export class Prometheus {
  private constructor(
    readonly url: string,
    private readonly child: ChildProcess,
    private readonly dir: string,
    private readonly log: () => string,
  ) {}

  static async start(opts: PromOptions): Promise<Prometheus> {
    let lastErr: unknown;
    // The free port can be taken between finding it and Prometheus binding it: try again then.
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        return await Prometheus.startOnce(opts);
      } catch (err) {
        lastErr = err;
        if (!/address already in use/i.test(String(err))) break;
      }
    }
    throw lastErr;
  }

  private static async startOnce(opts: PromOptions): Promise<Prometheus> {
    for (const j of opts.jobs) {
      for (const t of j.targets) if (!/^(127\.\d+\.\d+\.\d+|\[::1\]|localhost):\d+$/.test(t)) throw new Error(`target ${t} is not a loopback address`);
    }
    const dir = mkdtempSync(join(tmpdir(), 'lookout-e2e-prom-'));
    const config = {
      global: { scrape_interval: opts.scrapeInterval ?? '1s', scrape_timeout: opts.scrapeInterval ?? '1s', evaluation_interval: '1s' },
      ...(opts.ruleFiles && opts.ruleFiles.length > 0 ? { rule_files: [...opts.ruleFiles] } : {}),
      scrape_configs: opts.jobs.map((j) => ({
        job_name: j.job,
        ...(j.scrapeProtocols ? { scrape_protocols: [...j.scrapeProtocols] } : {}),
        static_configs: [{ targets: [...j.targets] }],
      })),
    };
    writeFileSync(join(dir, 'prometheus.yml'), stringify(config));
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const child = spawn(
      PROMETHEUS,
      [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let log = '';
    const keep = (b: Buffer): void => {
      log = (log + b.toString()).slice(-20_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    let exited: string | undefined;
    child.on('exit', (code, sig) => {
      exited = `prometheus exited (${code ?? sig})`;
    });
    const prom = new Prometheus(url, child, dir, () => log);
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (exited !== undefined) {
        await prom.stop();
        throw new Error(`${exited}: ${log.trim().split('\n').slice(-5).join(' | ')}`);
      }
      const ok = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(2000) }).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) break;
      if (Date.now() > deadline) {
        await prom.stop();
        throw new Error(`Prometheus not ready after 30 s: ${log.trim().split('\n').slice(-5).join(' | ')}`);
      }
      await sleep(100);
    }
    return prom;
  }

  private async api<T>(path: string): Promise<T> {
    const res = await fetch(`${this.url}${path}`, { signal: AbortSignal.timeout(10_000) });
    const body = (await res.json()) as { status: string; data: T; error?: string; errorType?: string };
    if (body.status !== 'success') throw new Error(`Prometheus ${path}: ${body.errorType ?? ''} ${body.error ?? res.status}`);
    return body.data;
  }

  query(expr: string, time?: number): Promise<QueryData> {
    const q = new URLSearchParams({ query: expr });
    if (time !== undefined) q.set('time', String(time));
    return this.api<QueryData>(`/api/v1/query?${q.toString()}`);
  }

  /** The result of an instant query as a vector (a scalar becomes one sample without labels). */
  async vector(expr: string): Promise<VectorSample[]> {
    const d = await this.query(expr);
    if (d.resultType === 'vector') return d.result;
    if (d.resultType === 'scalar') return Number.isNaN(Number(d.result[1])) ? [] : [{ metric: {}, value: d.result }];
    throw new Error(`${expr}: unexpected result type ${d.resultType}`);
  }

  async targets(): Promise<Target[]> {
    return (await this.api<{ activeTargets: Target[] }>('/api/v1/targets')).activeTargets;
  }

  async rules(): Promise<RuleGroup[]> {
    return (await this.api<{ groups: RuleGroup[] }>('/api/v1/rules')).groups;
  }

  /** Prometheus's own log so far (for failure messages). */
  get output(): string {
    return this.log();
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const done = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
      this.child.kill('SIGTERM');
      const t = await Promise.race([done.then(() => 'exited'), sleep(10_000).then(() => 'timeout')]);
      if (t === 'timeout') {
        this.child.kill('SIGKILL');
        await done;
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A Prometheus for a test file, stopped after its tests. */
export function usePrometheus(): { start(opts: PromOptions): Promise<Prometheus>; get(): Prometheus } {
  let prom: Prometheus | undefined;
  afterAll(async () => {
    await prom?.stop();
  }, 30_000);
  return {
    start: async (opts) => {
      prom = await Prometheus.start(opts);
      return prom;
    },
    get: () => {
      if (!prom) throw new Error('Prometheus has not been started (call start() in beforeAll)');
      return prom;
    },
  };
}

/**
 * A loopback HTTP proxy to `target` that replaces the scraper's Accept header with
 * `accept`: lets a Prometheus without `scrape_protocols` (< 2.49) scrape one job in a chosen
 * format. Prometheus picks its parser from the response's Content-Type, so what it parses
 * is what lookout negotiated for `accept`.
 */
export class AcceptProxy {
  private constructor(
    private readonly server: Server,
    readonly address: string,
  ) {}

  static async start(target: string, accept: string): Promise<AcceptProxy> {
    const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
    const server = createServer((req, res) => {
      const up = request({ host, port, path: req.url, method: 'GET', headers: { ...req.headers, host: target, accept } }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on('error', (err) => {
        res.writeHead(502);
        res.end(String(err));
      });
      up.end();
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const a = server.address();
    if (typeof a !== 'object' || a === null) throw new Error('proxy has no address');
    return new AcceptProxy(server, `127.0.0.1:${a.port}`);
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** `promtool check metrics` on an exposition: its exit code and everything it printed. */
export async function promtoolCheckMetrics(text: string): Promise<{ code: number; output: string }> {
  const r = await exec(PROMTOOL, ['check', 'metrics'], { input: text, timeoutMs: 30_000 });
  return { code: r.code, output: `${r.stdout}${r.stderr}` };
}
