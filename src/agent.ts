/**
 * The agent's lifecycle: build components from the config, start them, serve, and stop in
 * order (stop accepting, flush exporters, release collectors, close the server) within a
 * deadline.
 */
import { readFileSync } from 'node:fs';
import { LookoutError } from './errors.js';
import { collectors as collectorRegistry } from '../collectors/index.js';
import { exporters as exporterRegistry } from '../exporters/index.js';
import type { ComponentContext, Exporter, ExporterContext, HttpRoute } from './component.js';
import type { Config } from './config.js';
import { ContainerDirectory } from './containers.js';
import { createContext } from './context.js';
import { LogRouter } from './logs.js';
import { parseDuration, readSecret } from './schema.js';
import type { Logger } from './log.js';
import type { MetricDef, Snapshot } from './model.js';
import { Pipeline, type RunningCollector } from './pipeline.js';
import { SelfMetrics } from './selfmetrics.js';
import { coreRoutes, HttpServer, type ServerSecurity } from './server.js';
import { MemoryBudget } from './budget.js';
import { relaxHeap } from './heap.js';
import { VERSION } from './version.js';

export interface AgentOptions {
  readonly log: Logger;
  readonly now?: () => number;
  /** Interval of the info-level summary line. */
  readonly summaryIntervalMs?: number;
}

/** Every metric the registered collectors can emit, in registry order: the catalogue. A def two collectors share is listed once. */
export function catalogue(): MetricDef[] {
  return [...new Set(collectorRegistry.flatMap((c) => c.metrics))];
}

/** Reads the TLS files and credentials the config names; errors name the key. */
export function serverSecurity(config: Config): ServerSecurity {
  const { tls, auth } = config.server;
  const sec: { tls?: ServerSecurity['tls']; basic?: ServerSecurity['basic']; bearerToken?: string } = {};
  if ((tls.cert_file === '') !== (tls.key_file === '')) {
    throw new LookoutError('LOOKOUT_ERR_CONFIG', 'config keys "server.tls.cert_file" and "server.tls.key_file" go together: set both for HTTPS, or neither');
  }
  if (tls.cert_file !== '') {
    const read = (key: string, file: string): Buffer => {
      try {
        return readFileSync(file);
      } catch (err) {
        throw new LookoutError('LOOKOUT_ERR_CONFIG', `config key "server.tls.${key}": cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
      }
    };
    sec.tls = { cert: read('cert_file', tls.cert_file), key: read('key_file', tls.key_file) };
  }
  const password = readSecret('server.auth.password', auth.password, auth.password_file);
  if ((auth.username === '') !== (password === '')) {
    throw new LookoutError('LOOKOUT_ERR_CONFIG', 'config keys "server.auth.username" and "server.auth.password" go together: set both for basic auth, or neither');
  }
  if (auth.username !== '') sec.basic = { username: auth.username, password };
  const token = readSecret('server.auth.bearer_token', auth.bearer_token, auth.bearer_token_file);
  if (token !== '') sec.bearerToken = token;
  return sec;
}

export class Agent {
  private ready = false;
  private stopped: Promise<void> | undefined;
  private summaryTimer: NodeJS.Timeout | undefined;
  private readonly abort = new AbortController();
  /** The memory watchdog (limits.*); set by start(). */
  private budget: MemoryBudget | undefined;
  /** The address the server listens on, once started (resolves port 0). */
  address = '';

  private constructor(
    private readonly log: Logger,
    private readonly collectors: RunningCollector[],
    private readonly exporters: Array<{ type: string; exporter: Exporter }>,
    private readonly pipeline: Pipeline,
    readonly self: SelfMetrics,
  ) {}

  /** Started after the collectors: the log collector's first lines need not wait for it. */
  private server: HttpServer | undefined;

  static async start(config: Config, opts: AgentOptions): Promise<Agent> {
    const now = opts.now ?? Date.now;
    const log = opts.log;
    const self = new SelfMetrics(VERSION);
    const router = new LogRouter();
    const exporters: Array<{ type: string; exporter: Exporter }> = [];
    // The memory budget: sheds the exporters' queues, pauses log reading, caps series.
    const budget: MemoryBudget = new MemoryBudget({
      maxRssBytes: config.limits.max_rss_bytes,
      softRatio: config.limits.soft_ratio,
      intervalMs: parseDuration(config.limits.check_interval),
      self,
      log,
      now,
      queues: () => exporters.flatMap(({ exporter }) => exporter.queues?.() ?? []),
      series: (): number => pipeline.latest?.seriesCount ?? 0,
    });
    const logs = budget.gate(router);
    const base: ComponentContext = createContext({ root: config.root, now, log, containers: new ContainerDirectory(config.container_labels), logs, stateDir: config.state_dir });
    const collectors: RunningCollector[] = [];
    for (const f of collectorRegistry) {
      const c = (config.collectors as Record<string, { enabled: boolean | 'auto' }>)[f.type];
      if (c !== undefined && c.enabled !== false) collectors.push({ type: f.type, collector: f.create(c, { ...base, log: log.child({ collector: f.type }) }) });
    }
    const pipeline = new Pipeline(collectors, catalogue(), self, log, now, parseDuration(config.collect.min_interval), config.collect.max_series, () => budget.seriesCap);
    const routes: HttpRoute[] = [];
    let routesOpen = true;
    for (const f of exporterRegistry) {
      const c = (config.exporters as Record<string, { enabled: boolean }>)[f.type];
      if (!c?.enabled) continue;
      const ctx: ExporterContext = {
        ...base,
        log: log.child({ exporter: f.type }),
        self,
        snapshot: (maxWaitMs?: number): Promise<Snapshot> => pipeline.snapshot(maxWaitMs),
        collecting: () => pipeline.collecting,
        route: (r) => {
          if (!routesOpen) throw new Error(`exporter ${f.type} registered route ${r.path} after start`);
          routes.push(r);
        },
      };
      const exporter = f.create(c, ctx);
      exporters.push({ type: f.type, exporter });
      if (exporter.writeLogs) router.add({ type: f.type, writeLogs: (r) => (exporter.writeLogs as NonNullable<typeof exporter.writeLogs>).call(exporter, r) });
    }
    routesOpen = false;
    if (exporters.some(({ exporter }) => exporter.encodesSnapshots === true) && relaxHeap()) {
      log.debug('push exporters enabled: V8 heap sizing left at its defaults (src/heap.ts)');
    }
    const security = serverSecurity(config);
    const agent = new Agent(log, collectors, exporters, pipeline, self);
    agent.budget = budget;
    try {
      for (const { collector } of collectors) await collector.start(agent.abort.signal);
      for (const { exporter } of exporters) await exporter.start(agent.abort.signal);
      const all = [...coreRoutes({ ready: () => agent.ready, snapshot: () => pipeline.snapshot(), recentLogs: (id) => router.recent.get(id) }, VERSION), ...routes];
      agent.server = await HttpServer.start(all, config.server.listen, security, log);
      agent.address = agent.server.address;
    } catch (err) {
      await agent.stop();
      throw err;
    }
    log.info({ address: agent.address, version: VERSION, root: config.root, collectors: collectors.map((c) => c.type), exporters: exporters.map((e) => e.type) }, 'lookout listening');
    await agent.firstCollection();
    agent.startSummary(opts.summaryIntervalMs ?? 60_000);
    budget.start();
    return agent;
  }

  private async firstCollection(): Promise<void> {
    const t0 = performance.now();
    const snap = await this.pipeline.snapshot();
    this.ready = true;
    this.log.info({ series: snap.seriesCount, ms: Math.round(performance.now() - t0) }, 'first collection finished; ready');
  }

  /** One info line per interval: what the agent did, so the log shows it alive without a line per sample. */
  private startSummary(intervalMs: number): void {
    let lastCollections = 0;
    this.summaryTimer = setInterval(() => {
      void (async () => {
        const collections = (await this.self.collections.get()).values[0]?.value ?? 0;
        const errors = (await this.self.collectorErrors.get()).values.reduce((a, v) => a + v.value, 0);
        const latest = this.pipeline.latest;
        this.log.info({ collections: collections - lastCollections, series: latest?.seriesCount ?? 0, errors_total: errors, rss_bytes: process.memoryUsage.rss() }, 'summary');
        lastCollections = collections;
      })();
    }, intervalMs);
    this.summaryTimer.unref();
  }

  /** Stops in order within `deadlineMs`; safe to call more than once. */
  stop(deadlineMs = 700): Promise<void> {
    this.stopped ??= this.doStop(deadlineMs);
    return this.stopped;
  }

  private async doStop(deadlineMs: number): Promise<void> {
    this.ready = false;
    this.server?.draining();
    if (this.summaryTimer) clearInterval(this.summaryTimer);
    this.budget?.stop();
    this.abort.abort();
    const work = (async () => {
      // In parallel: each push exporter flushes its queue within its own deadline.
      await Promise.all(
        this.exporters.map(({ type, exporter }) => exporter.shutdown().catch((err: unknown) => this.log.error({ exporter: type, err: String(err) }, 'exporter shutdown failed'))),
      );
      for (const { type, collector } of this.collectors) {
        await collector.shutdown().catch((err: unknown) => this.log.error({ collector: type, err: String(err) }, 'collector shutdown failed'));
      }
      await this.server?.close();
    })();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), deadlineMs);
    });
    const result = await Promise.race([work.then(() => 'done' as const), deadline]);
    clearTimeout(timer);
    if (result === 'timeout') this.log.warn({ deadlineMs }, 'shutdown deadline passed; exiting with work pending');
    else this.log.info('lookout stopped');
  }
}

