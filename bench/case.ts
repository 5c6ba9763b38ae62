/**
 * One benchmark case, run by bench/run.ts in a fresh child process so that memory figures
 * belong to that case alone. Talks to the parent over the IPC channel.
 *
 *   node case.js direct ROOT LIST K [MAX_OPEN]   collectors + renderer in-process: K timed scrapes
 *   node case.js http ROOT [MAX_OPEN]            the real agent on 127.0.0.1:0; the parent scrapes it
 * MAX_OPEN, when given, sets collectors.cgroups.max_open_files; otherwise all defaults apply.
 */
import { createContext } from '../src/context.js';
import { closeSync, openSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { getHeapStatistics } from 'node:v8';
import { gzipSync } from 'node:zlib';
import { collectors } from '../collectors/index.js';
import { ExpositionWriter, writeFamilies } from '../src/exposition.js';
import type { Collector, ComponentContext } from '../src/component.js';
import { validate } from '../src/config.js';
import { ContainerDirectory } from '../src/containers.js';
import { createLogger } from '../src/log.js';
import { type MetricDef, SnapshotBuilder } from '../src/model.js';
import { isTransient } from './tree.js';

export interface Memory {
  /** Peak resident set size of the process, bytes (getrusage ru_maxrss). */
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
function memory(): Memory {
  const h = getHeapStatistics();
  let rss = Number.NaN;
  try {
    rss = process.memoryUsage.rss();
  } catch {
    // EMFILE
  }
  return { peakRss: process.resourceUsage().maxRSS * 1024, rss, heapUsed: h.used_heap_size, external: h.external_memory, baselineRss };
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

async function direct(listFile: string, k: number, variant: string | undefined): Promise<DirectResult> {
  const types: string[] = [];
  // Opened before collecting (the collector may take every descriptor the process may open),
  // read only for the check, so that the list's strings are not part of the memory measured.
  const listFd = openSync(listFile, 'r');
  const config = validate({ root, log: { level: 'warn' }, ...overrides(variant) }, 'bench');
  const log = createLogger(config.log.level);
  // As Agent.start builds them, without the HTTP server and the agent's own metrics.
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
  const collect = async (): Promise<ReturnType<SnapshotBuilder['build']>> => {
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
  for (const c of running) await c.shutdown();
  return res;
}

async function http(variant: string | undefined): Promise<void> {
  // Imported here so the direct case's memory does not include fastify.
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
} else {
  console.error('usage: case.js direct ROOT LIST K [MAX_OPEN] | http ROOT [MAX_OPEN]');
  process.exit(2);
}
