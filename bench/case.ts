/**
 * One benchmark case, run by bench/run.ts in a fresh child process so that memory figures
 * belong to that case alone. Talks to the parent over the IPC channel.
 *
 *   node case.js direct ROOT LIST K [MAX_OPEN]   collectors + renderer in-process: K timed scrapes
 *   node case.js http ROOT [MAX_OPEN]            the real agent on 127.0.0.1:0; the parent scrapes it
 *   node case.js exporters ROOT SINK K           collectors + the three push exporters, sending to SINK (http://127.0.0.1:PORT)
 * MAX_OPEN, when given, sets collectors.cgroups.max_open_files; otherwise all defaults apply.
 */
import { createContext } from '../src/context.js';
import { relaxHeap } from '../src/heap.js';
import { closeSync, openSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { getHeapStatistics } from 'node:v8';
import { gzipSync } from 'node:zlib';
import { collectors } from '../collectors/index.js';
import { ExpositionWriter, writeFamilies } from '../src/exposition.js';
import type { Collector, ComponentContext } from '../src/component.js';
import { type Config, validate } from '../src/config.js';
import { ContainerDirectory } from '../src/containers.js';
import { createLogger, type Logger } from '../src/log.js';
import { type MetricDef, type Snapshot, SnapshotBuilder } from '../src/model.js';
import type { PushExporter } from '../src/push.js';
import { SelfMetrics } from '../src/selfmetrics.js';
import { VERSION } from '../src/version.js';
import { exporters as exporterRegistry } from '../exporters/index.js';
import { PUSH_EXPORTERS, type PushType } from './exporters.js';
import { isTransient } from './tree.js';

export interface Memory {
  /** Peak resident set size of the process, bytes (VmHWM). */
  peakRss: number;
  rss: number;
  heapUsed: number;
  external: number;
  /** RSS right after the modules loaded, before any collector ran: Node's own share. */
  baselineRss: number;
}

export interface DirectResult {
  type: 'direct';
  /** The collectors the default config enables, as the agent would run them. */
  collectors: string[];
  /** Milliseconds per scrape (collection + rendering + join), one per repetition. */
  scrape: number[];
  collect: number[];
  render: number[];
  gzip: number[];
  /** The first collection: opens every file and reads Docker metadata. */
  firstCollectMs: number;
  /** CPU time per collection, ms, user and system (getrusage), averaged over the repetitions. */
  collectUserMs: number;
  collectSystemMs: number;
  series: number;
  bytes: number;
  gzipBytes: number;
  errors: Record<string, { count: number; first: string }>;
  /** Descriptors held open into the tree after the warm-up (-1: could not be listed), against the files listed. */
  fds: { open: number; listed: number; missing: number; extra: number };
  memory: Memory;
  /** V8 heap in use after a full GC at the end, with the collectors' state still held. */
  liveHeap?: number;
}

/** One exporter's export of one snapshot, measured alone (the others idle). */
export interface ExportSample {
  /** Wall clock from `export(snapshot)` until its last batch was accepted by the sink, ms. */
  ms: number;
  /** CPU of the process over that time, user + system, ms. */
  cpuMs: number;
  /** Items the exporter counted as sent (`lookout_exporter_sent_total`): field values, series, data points. */
  items: number;
}

export interface ExportersResult {
  type: 'exporters';
  collectors: string[];
  series: number;
  /** Per cycle: CPU of the collection (user + system, ms) and its wall clock. */
  collectCpuMs: number[];
  collectMs: number[];
  /** Per cycle: CPU of rendering the snapshot as Prometheus text (what a scrape adds to the collection). */
  renderCpuMs: number[];
  /** Per exporter, its exports measured alone (every other cycle). */
  alone: Record<PushType, ExportSample[]>;
  /** All three exporting the same snapshot at once (the other cycles): CPU and wall clock, ms. */
  allCpuMs: number[];
  allMs: number[];
  /** Exports each exporter made in all (the sink's byte count divided by this is bytes per export). */
  exports: number;
  errors: Record<string, { count: number; first: string }>;
  /** Problems the exporters reported (retries, drops, failures): must be none. */
  exporterProblems: string[];
  memory: Memory;
}

export interface HttpReady {
  type: 'ready';
  address: string;
  startMs: number;
}

export interface HttpStats {
  type: 'stats';
  memory: Memory;
}

const mode = process.argv[2];
const root = process.argv[3] ?? '';
const baselineRss = process.memoryUsage().rss;

/** Without opening a file: process.memoryUsage() reads /proc/self/statm and fails with EMFILE when the collector holds every descriptor. */
/**
 * Peak RSS of this process image: VmHWM. Not getrusage's ru_maxrss, which Linux carries over
 * from the forking parent (the bench runner, up to 200 MB by the later cases) into the child.
 */
function peakRss(): number {
  const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'latin1'));
  return m ? Number(m[1]) * 1024 : Number.NaN;
}

function memory(): Memory {
  const h = getHeapStatistics();
  let rss = Number.NaN;
  let peak = Number.NaN;
  try {
    rss = process.memoryUsage.rss();
    peak = peakRss();
  } catch {
    // EMFILE
  }
  return { peakRss: peak, rss, heapUsed: h.used_heap_size, external: h.external_memory, baselineRss };
}

/**
 * Config overrides: the agent's writable state directory beside the tree (nothing is written
 * to /var/lib/lookout), and, for the `no-metadata` variant, the runtime collector off, so
 * that the cost of naming containers can be read against the same scrape without it.
 */
function overrides(variant: string | undefined): Record<string, unknown> {
  return { state_dir: join(dirname(root), 'state'), ...(variant === 'no-metadata' ? { collectors: { docker: { enabled: false } } } : {}) };
}

function send(msg: unknown): Promise<void> {
  return new Promise((resolve, reject) => process.send?.(msg, (err: Error | null) => (err ? reject(err) : resolve())));
}

/** Paths of our open descriptors that point into the tree; undefined when they cannot be listed. */
function openInto(dir: string): string[] | undefined {
  const out: string[] = [];
  let fds: string[];
  try {
    fds = readdirSync('/proc/self/fd');
  } catch {
    return undefined; // EMFILE: no descriptor left to list them with
  }
  for (const fd of fds) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(dir)) out.push(target);
    } catch {
      // closed meanwhile (the readdir's own descriptor)
    }
  }
  return out;
}

/** Compares the descriptors held open into the tree with the listed files a collector keeps open. */
function checkFds(listFd: number): DirectResult['fds'] {
  const listed = readFileSync(listFd, 'utf8').split('\n').filter((l) => l.length > 0);
  const open = openInto(root) ?? [];
  const listable = open.length > 0 || openInto('/') !== undefined;
  const held = [...new Set(listed.filter((p) => !isTransient(p)))];
  const heldSet = new Set(held);
  const openSet = new Set(open);
  return {
    open: listable ? open.length : -1,
    listed: held.length,
    missing: held.filter((p) => !openSet.has(p)).length,
    extra: open.filter((p) => !heldSet.has(p)).length,
  };
}

/** The collectors the default config enables, created and started as `Agent.start` does (without the HTTP server and the agent's own metrics). */
async function startCollectors(config: Config): Promise<{ types: string[]; ctx: ComponentContext; log: Logger; collect: () => Promise<Snapshot>; errors: DirectResult['errors']; stop: () => Promise<void> }> {
  const types: string[] = [];
  const log = createLogger(config.log.level);
  const ctx: ComponentContext = createContext({ root: config.root, now: Date.now, log, containers: new ContainerDirectory(config.container_labels), stateDir: config.state_dir });
  const running: Collector[] = [];
  const catalogue = new Set<MetricDef>();
  for (const f of collectors) {
    const c = (config.collectors as Record<string, { enabled: boolean | 'auto' }>)[f.type];
    if (c === undefined || c.enabled === false) continue;
    running.push(f.create(c, { ...ctx, log: log.child({ collector: f.type }) }));
    types.push(f.type);
    for (const d of f.metrics) catalogue.add(d);
  }
  const ac = new AbortController();
  for (const c of running) await c.start(ac.signal);

  const errors: DirectResult['errors'] = {};
  const onError = (kind: string, err: unknown): void => {
    const e = (errors[kind] ??= { count: 0, first: err instanceof Error ? `${err.message}${err.cause instanceof Error ? `: ${err.cause.message}` : ''}` : String(err) });
    e.count++;
  };
  const collect = async (): Promise<Snapshot> => {
    const b = new SnapshotBuilder(Date.now(), onError);
    for (const c of running) {
      try {
        await c.collect(b);
      } catch (err) {
        b.error('collect', err);
      }
    }
    return b.build([...catalogue]);
  };
  const stop = async (): Promise<void> => {
    ac.abort();
    for (const c of running) await c.shutdown();
  };
  return { types, ctx, log, collect, errors, stop };
}

async function direct(listFile: string, k: number, variant: string | undefined): Promise<DirectResult> {
  // Opened before collecting (the collector may take every descriptor the process may open),
  // read only for the check, so that the list's strings are not part of the memory measured.
  const listFd = openSync(listFile, 'r');
  const config = validate({ root, log: { level: 'warn' }, ...overrides(variant) }, 'bench');
  const { types, collect, errors, stop } = await startCollectors(config);

  const t0 = performance.now();
  await collect();
  const firstCollectMs = performance.now() - t0;

  const fds = checkFds(listFd);
  closeSync(listFd);

  const res: DirectResult = {
    type: 'direct', collectors: types, scrape: [], collect: [], render: [], gzip: [], firstCollectMs, collectUserMs: 0, collectSystemMs: 0,
    series: 0, bytes: 0, gzipBytes: 0, errors, fds, memory: memory(),
  };
  let user = 0;
  let system = 0;
  for (let i = 0; i < k; i++) {
    const a = performance.now();
    const cpu0 = process.cpuUsage();
    const snap = await collect();
    const cpu = process.cpuUsage(cpu0);
    const b = performance.now();
    const w = new ExpositionWriter(res.bytes || 1 << 16);
    writeFamilies(snap.families, 'text', w);
    const text = w.toBuffer();
    const c = performance.now();
    const gz = gzipSync(text, { level: 1 });
    w.release();
    const d = performance.now();
    user += cpu.user;
    system += cpu.system;
    res.scrape.push(c - a);
    res.collect.push(b - a);
    res.render.push(c - b);
    res.gzip.push(d - c);
    res.series = snap.seriesCount;
    res.bytes = text.length;
    res.gzipBytes = gz.length;
  }
  res.collectUserMs = user / 1000 / k;
  res.collectSystemMs = system / 1000 / k;
  res.memory = memory();
  // What stays live between scrapes (run with --expose-gc): the rest of the peak is garbage.
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    res.liveHeap = getHeapStatistics().used_heap_size;
  }
  await stop();
  return res;
}

const cpuMsSince = (c0: NodeJS.CpuUsage): number => {
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000;
};

/** Sum of a prom-client counter's values with `exporter=type`. */
async function counted(metric: { get(): Promise<{ values: Array<{ value: number; labels: Record<string, unknown> }> }> }, type: string): Promise<number> {
  return (await metric.get()).values.filter((v) => v.labels['exporter'] === type).reduce((a, v) => a + v.value, 0);
}

/**
 * The push exporters' cost: every cycle collects a snapshot (timed as in `direct`) and renders
 * it as Prometheus text (the scrape), then pushes it: on even cycles through each exporter
 * alone, one after the other, on odd cycles through all three at once. An export is measured
 * from `export(snapshot)` until the exporter's queue is empty, i.e. the sink acknowledged its
 * last batch. The exporters are the registry's, made from `validate()`'s defaults (influxdb:
 * api v1 through the `influx` client, telegraf layout; remote_write; OTLP without gzip), with
 * an interval of an hour so that their own timer never fires during the run.
 */
async function exportersCase(sink: string, k: number): Promise<ExportersResult> {
  const push = { enabled: true, interval: '1h' };
  const config = validate(
    {
      root,
      log: { level: 'warn' },
      ...overrides(undefined),
      exporters: {
        influxdb: { ...push, url: sink },
        remotewrite: { ...push, url: `${sink}/api/v1/write` },
        otlp: { ...push, url: `${sink}/v1/metrics` },
      },
    },
    'bench',
  );
  const { types, ctx, log, collect, errors, stop } = await startCollectors(config);
  const self = new SelfMetrics(VERSION);
  let current = await collect(); // warm-up: opens the files, reads the metadata
  const made: Array<{ type: PushType; e: PushExporter }> = [];
  for (const f of exporterRegistry) {
    const type = PUSH_EXPORTERS.find((t) => t === f.type);
    if (type === undefined) continue;
    const e = f.create((config.exporters as Record<string, unknown>)[type], {
      ...ctx,
      log: log.child({ exporter: type }),
      self,
      snapshot: async () => current,
      collecting: () => undefined,
      route: () => undefined,
    }) as PushExporter;
    made.push({ type, e });
  }
  // As Agent.start does with push exporters on (src/heap.ts).
  relaxHeap();
  // start() pushes the warm-up snapshot in the background; one more push, awaited, ends the warm-up (connections, caches).
  for (const { e } of made) await e.start();
  const drained = async (e: PushExporter): Promise<void> => {
    while (e.delivery.pending > 0) await new Promise((r) => setTimeout(r, 1));
  };
  await new Promise((r) => setTimeout(r, 200));
  current = await collect();
  for (const { e } of made) {
    await e.export(current);
    await drained(e);
  }
  let exports = 2;

  const res: ExportersResult = {
    type: 'exporters', collectors: types, series: current.seriesCount, collectCpuMs: [], collectMs: [], renderCpuMs: [],
    alone: { influxdb: [], remotewrite: [], otlp: [] }, allCpuMs: [], allMs: [], exports: 0, errors, exporterProblems: [], memory: memory(),
  };
  let bytes = 1 << 16;
  for (let i = 0; i < 2 * k; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    current = await collect();
    res.collectMs.push(performance.now() - t0);
    res.collectCpuMs.push(cpuMsSince(c0));
    const r0 = process.cpuUsage();
    // Sized and given back as the endpoint does (exporters/prometheus): a 13 MB document left
    // to the garbage collector per cycle would be external memory the exporters' windows pay for.
    const w = new ExpositionWriter(bytes + (bytes >> 3));
    writeFamilies(current.families, 'text', w);
    bytes = w.length;
    w.release();
    res.renderCpuMs.push(cpuMsSince(r0));
    res.series = current.seriesCount;
    const snap = current;
    if (i % 2 === 0) {
      for (const { type, e } of made) {
        const sent0 = await counted(self.exporterSent, type);
        const a0 = process.cpuUsage();
        const t = performance.now();
        await e.export(snap);
        await drained(e);
        const ms = performance.now() - t;
        const cpuMs = cpuMsSince(a0);
        res.alone[type].push({ ms, cpuMs, items: (await counted(self.exporterSent, type)) - sent0 });
      }
    } else {
      const a0 = process.cpuUsage();
      const t = performance.now();
      await Promise.all(made.map(async ({ e }) => {
        await e.export(snap);
        await drained(e);
      }));
      res.allMs.push(performance.now() - t);
      res.allCpuMs.push(cpuMsSince(a0));
    }
    exports++;
  }
  res.exports = exports;
  for (const { type } of made) {
    for (const [what, m] of [['retries', self.exporterRetries], ['failed', self.exporterFailed], ['dropped', self.exporterDropped]] as const) {
      const n = await counted(m, type);
      if (n > 0) res.exporterProblems.push(`${type}: ${n} ${what}`);
    }
  }
  res.memory = memory();
  for (const { e } of made) await e.shutdown();
  await stop();
  return res;
}

async function http(variant: string | undefined): Promise<void> {
  // Imported here so the direct case's memory does not include the agent's HTTP server.
  const { Agent } = await import('../src/agent.js');
  const config = validate({ root, collect: { min_interval: '0s' }, log: { level: 'warn' }, ...overrides(variant) }, 'bench');
  // validate() refuses port 0 ("the port must be 1-65535"); Agent.start accepts it.
  config.server.listen = '127.0.0.1:0';
  const t0 = performance.now();
  const agent = await Agent.start(config, { log: createLogger(config.log.level) });
  const ready: HttpReady = { type: 'ready', address: agent.address, startMs: performance.now() - t0 };
  process.on('message', (m) => {
    void (async () => {
      if (m === 'stats') await send({ type: 'stats', memory: memory() } satisfies HttpStats);
      else if (m === 'stop') {
        await agent.stop();
        process.disconnect();
      }
    })();
  });
  await send(ready);
}

if (mode === 'direct') {
  const result = await direct(process.argv[4] ?? '', Number(process.argv[5] ?? 5), process.argv[6]);
  await send(result);
  process.disconnect();
} else if (mode === 'http') {
  await http(process.argv[4]);
} else if (mode === 'exporters') {
  const result = await exportersCase(process.argv[4] ?? '', Number(process.argv[5] ?? 5));
  await send(result);
  process.disconnect();
} else {
  console.error('usage: case.js direct ROOT LIST K [MAX_OPEN] | http ROOT [MAX_OPEN] | exporters ROOT SINK K');
  process.exit(2);
}
