/**
 * `npm run bench [-- PART...]`, parts `scrape`, `exporters`, `logs` (default: all three):
 * - scrape: cost and memory of lookout at 100, 1000 and 5000 containers on synthetic v1
 *   (hybrid) and v2 host roots, against a minimal C reader of the same files;
 * - exporters: the push exporters (InfluxDB, remote_write, OTLP) at 1000 containers, to a
 *   loopback sink, against the collection (bench/exporters.ts);
 * - logs: the log pipeline on a backlog of 1,000,000 lines, CRI and Docker json-file, against
 *   rsyslog imfile -> omfile (bench/logs.ts).
 * Prints markdown tables and rewrites each part's results section of docs/benchmarks.md when
 * that part ran with its default settings, so the figures there always come from a real run.
 *
 * Environment (all optional):
 *   BENCH_SIZES=100,1000       container counts (default 100,1000,5000)
 *   BENCH_LAYOUTS=v1           layouts (default v1,v2)
 *   BENCH_K=5                  scrapes per case (default 15, and 7 at 5000 containers)
 *   BENCH_HTTP=0               skip the HTTP endpoint cases
 *   BENCH_DIR=/path            where trees and the C reader go (default $TMPDIR/lookout-bench)
 *   BENCH_CLEAN=1              delete the trees at the end (default: keep them for the next run)
 *   BENCH_CPU_PROF=1           run the cases under --cpu-prof (profiles in BENCH_DIR/profiles)
 *   BENCH_WRITE_DOCS=1|0       force or suppress the docs update (default: only on a full run)
 *   BENCH_EXPORT_K=8           exporters: cycles of each kind (alone, all at once); default 8
 *   BENCH_LOG_LINES=1000000    logs: lines per file (default 1000000)
 *   BENCH_LOG_REPS=3           logs: runs per format and contender (default 3)
 *   BENCH_LOG_FORMATS=cri      logs: formats (default cri,docker)
 *   BENCH_LOG_NODE_ARGS='...'  logs: extra node flags for the agent (e.g. --cpu-prof --cpu-prof-dir=/tmp/p)
 */
import { execFileSync, fork } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { Agent as HttpAgent, request } from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import type { DirectResult, HttpReady, HttpStats, Memory } from './case.js';
import { type ExportersRun, exportersSummary, exportersTables, exportersVerdict, runExporters } from './exporters.js';
import { ensureLogFiles, type LogFiles, type LogFormat, type LogRun, rsyslogVersion, runLookout, runRsyslog } from './logs.js';
import { ensureTree, type Tree, type TreeLayout } from './tree.js';
import { HEAP_TUNING } from '../src/heap.js';

const DEFAULT_SIZES = [100, 1000, 5000];
const DEFAULT_LAYOUTS: TreeLayout[] = ['v1', 'v2'];
/** Repetitions of the raw readers (after one unrecorded warm-up), 3 at 5000 containers. */
const READER_REPS = 7;
/** What Prometheus 2.x sends by default: it prefers OpenMetrics, as a real scrape does. */
const PROMETHEUS_ACCEPT = 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.25';
const TARGET_RATIO = 3;
const TARGET_RSS_MB = 120;
const MARK_START = '<!-- bench:results:start -->';
const MARK_END = '<!-- bench:results:end -->';

const env = process.env;
const PARTS = ['scrape', 'exporters', 'logs'] as const;
type Part = (typeof PARTS)[number];
const argParts = process.argv.slice(2);
for (const p of argParts) if (!(PARTS as readonly string[]).includes(p)) throw new Error(`unknown part ${p}: expected ${PARTS.join(', ')}`);
const parts = new Set<Part>(argParts.length > 0 ? (argParts as Part[]) : PARTS);
const sizes = env['BENCH_SIZES'] ? env['BENCH_SIZES'].split(',').map((s) => Number(s.trim())) : DEFAULT_SIZES;
const layouts = (env['BENCH_LAYOUTS'] ? env['BENCH_LAYOUTS'].split(',').map((s) => s.trim()) : DEFAULT_LAYOUTS) as TreeLayout[];
const dir = env['BENCH_DIR'] ?? join(tmpdir(), 'lookout-bench');
const withHttp = env['BENCH_HTTP'] !== '0';
const fullRun = sizes.join() === DEFAULT_SIZES.join() && layouts.join() === DEFAULT_LAYOUTS.join() && withHttp && !env['BENCH_K'] && !env['BENCH_CPU_PROF'];
/** Whether a part's results section is rewritten: forced, suppressed, or when it ran with its defaults. */
const writeDocsFor = (defaults: boolean): boolean => env['BENCH_WRITE_DOCS'] === '1' || (env['BENCH_WRITE_DOCS'] !== '0' && defaults);
const writeDocs = writeDocsFor(fullRun);
const exportK = Number(env['BENCH_EXPORT_K'] ?? 8);
const exportDefaults = layouts.join() === DEFAULT_LAYOUTS.join() && !env['BENCH_EXPORT_K'] && !env['BENCH_CPU_PROF'];
const logLines = Number(env['BENCH_LOG_LINES'] ?? 1_000_000);
const logReps = Number(env['BENCH_LOG_REPS'] ?? 3);
const logFormats = (env['BENCH_LOG_FORMATS'] ? env['BENCH_LOG_FORMATS'].split(',').map((s) => s.trim()) : ['cri', 'docker']) as LogFormat[];
const logNodeArgs = env['BENCH_LOG_NODE_ARGS'] ? env['BENCH_LOG_NODE_ARGS'].split(' ').filter(Boolean) : [];
const logDefaults = !env['BENCH_LOG_LINES'] && !env['BENCH_LOG_REPS'] && !env['BENCH_LOG_FORMATS'] && !env['BENCH_LOG_NODE_ARGS'];
for (const f of logFormats) if (f !== 'cri' && f !== 'docker') throw new Error(`BENCH_LOG_FORMATS: ${f} is not cri or docker`);
for (const n of sizes) if (!Number.isInteger(n) || n < 1) throw new Error(`BENCH_SIZES: ${n} is not a positive integer`);
for (const l of layouts) if (l !== 'v1' && l !== 'v2') throw new Error(`BENCH_LAYOUTS: ${l} is not v1 or v2`);

const here = (rel: string): string => fileURLToPath(new URL(rel, import.meta.url));
const CASE_JS = here('./case-entry.js');
const CLI_JS = here('../src/cli.js');
const READER_C = here('../../bench/reader.c');
const DOCS = here('../../docs/benchmarks.md');

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** Nearest-rank 90th percentile. */
function p90(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(0.9 * s.length) - 1)] as number;
}

function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch {
    return '';
  }
}

function machine(): Record<string, string> {
  const cpuModel = cpus()[0]?.model.trim() ?? 'unknown';
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    nproc: sh('nproc', []) || String(cpus().length),
    cpu: cpuModel,
    kernel: sh('uname', ['-r']),
    node: process.version,
    gcc: sh('gcc', ['-dumpfullversion']),
    memory: `${Math.round(Number(/MemTotal:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0) / 1024 / 1024)} GiB`,
    fs: sh('findmnt', ['-no', 'FSTYPE', '--target', dir]) || sh('stat', ['-f', '-c', '%T', dir]),
    nofile: `${sh('sh', ['-c', 'ulimit -Sn'])} soft / ${sh('sh', ['-c', 'ulimit -Hn'])} hard`,
    load: loadavg().map((x) => x.toFixed(2)).join(' '),
  };
}

function compileReader(): string {
  const bin = join(dir, 'reader');
  if (!existsSync(bin) || statSync(bin).mtimeMs < statSync(READER_C).mtimeMs) {
    execFileSync('gcc', ['-O2', '-o', bin, READER_C], { stdio: 'inherit' });
  }
  return bin;
}

/** Per-repetition seconds of the C reader, warm-up dropped. */
function cReader(bin: string, list: string, mode: 'open' | 'kept', reps: number): number[] {
  const out = execFileSync(bin, [list, String(reps + 1), mode], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return out.trim().split('\n').slice(1).map((l) => Number(l) * 1000);
}

/** Node's obvious loop, in a fresh process: readFileSync over the same list. Milliseconds per repetition. */
function nodeReadLoop(list: string, reps: number): number[] {
  const script = `
    const { readFileSync, readlinkSync } = require('node:fs');
    const paths = readFileSync(process.argv[1], 'utf8').split('\\n').filter(Boolean);
    const out = [];
    for (let r = 0; r <= ${reps}; r++) {
      const t = performance.now();
      let bytes = 0;
      for (const p of paths) bytes += p.endsWith('/ns/net') ? readlinkSync(p).length : readFileSync(p, 'latin1').length;
      out.push(performance.now() - t);
    }
    console.log(JSON.stringify(out.slice(1)));`;
  return JSON.parse(execFileSync(process.execPath, ['-e', script, list], { encoding: 'utf8' })) as number[];
}

function runDirect(tree: Tree, k: number, variant: Variant | undefined): Promise<DirectResult> {
  const name = `${tree.layout}-${tree.containers}${variant === undefined ? '' : `-${variant}`}`;
  const execArgv = ['--expose-gc', ...AGENT_FLAGS, ...(env['BENCH_CPU_PROF'] ? ['--cpu-prof', '--cpu-prof-dir', join(dir, 'profiles'), '--cpu-prof-name', `${name}.cpuprofile`] : [])];
  const args = ['direct', tree.root, tree.listFile, String(k), ...(variant === undefined ? [] : [variant])];
  return new Promise((resolve, reject) => {
    const child = fork(CASE_JS, args, { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let result: DirectResult | undefined;
    child.on('message', (m) => {
      result = m as DirectResult;
    });
    child.on('error', reject);
    child.on('exit', (code) => (result ? resolve(result) : reject(new Error(`direct case ${name} exited with ${code}`))));
  });
}

interface HttpResult {
  ms: number[];
  /** Why scraping failed, if it did. */
  failure?: string;
  startMs: number;
  contentType: string;
  encoding: string;
  gzipBytes: number;
  bytes: number;
  series: number;
  errorLines: string[];
  memory?: Memory;
}

function scrape(agent: HttpAgent, address: string): Promise<{ ms: number; body: Buffer; contentType: string; encoding: string }> {
  const i = address.lastIndexOf(':');
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = request(
      {
        agent,
        host: address.slice(0, i),
        port: Number(address.slice(i + 1)),
        path: '/metrics',
        headers: { accept: PROMETHEUS_ACCEPT, 'accept-encoding': 'gzip', 'user-agent': 'lookout-bench' },
        timeout: 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const ms = performance.now() - t0;
          if (res.statusCode !== 200) reject(new Error(`GET /metrics: HTTP ${res.statusCode}`));
          else resolve({ ms, body: Buffer.concat(chunks), contentType: String(res.headers['content-type']), encoding: String(res.headers['content-encoding'] ?? '') });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('GET /metrics: no answer within 30 s')));
    req.on('error', reject);
    req.end();
  });
}

/**
 * The cases tune V8's heap as the `lookout` command does (bench/case.ts imports
 * src/heap-tuned.ts first), so that they measure what users run. BENCH_NODE_DEFAULTS=1 gives
 * them V8's own values explicitly, which the tuning leaves alone.
 */
const AGENT_FLAGS = env['BENCH_NODE_DEFAULTS'] === '1' ? HEAP_TUNING.map((t) => t.v8Default) : [];

/** How long the HTTP case scrapes before it records (at least 3 scrapes). */
const HTTP_WARMUP_MS = 5000;

/** One HTTP agent (bench/case.ts http) in its child process. */
interface HttpChild {
  readonly address: string;
  readonly startMs: number;
  readonly agent: HttpAgent;
  stop(): Promise<Memory | undefined>;
}

async function startHttp(tree: Tree, variant: Variant | undefined): Promise<HttpChild> {
  const args = ['http', tree.root, ...(variant === undefined ? [] : [variant])];
  const name = `${tree.layout}-${tree.containers}${variant === undefined ? '' : `-${variant}`}-http`;
  const execArgv = [...AGENT_FLAGS, ...(env['BENCH_CPU_PROF'] ? ['--cpu-prof', '--cpu-prof-dir', join(dir, 'profiles'), '--cpu-prof-name', `${name}.cpuprofile`] : [])];
  const child = fork(CASE_JS, args, { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const next = <T>(): Promise<T> =>
    new Promise((resolve, reject) => {
      const onExit = (code: number | null): void => reject(new Error(`http case ${name} exited with ${code}`));
      child.once('exit', onExit);
      child.once('message', (m) => {
        child.off('exit', onExit);
        resolve(m as T);
      });
    });
  const ready = await next<HttpReady>();
  const agent = new HttpAgent({ keepAlive: true, maxSockets: 1 });
  return {
    address: ready.address,
    startMs: ready.startMs,
    agent,
    stop: async () => {
      agent.destroy();
      child.send('stats');
      const memory = (await next<HttpStats>()).memory;
      child.send('stop');
      await exited;
      return memory;
    },
  };
}

/**
 * The HTTP agents of every variant side by side, scraped in turn (the order alternating each
 * round), so that each variant's scrapes see the same moments of the machine's load: on this
 * shared VM, variants measured one after the other differed by up to 30% either way, more
 * than what is compared (metadata on or off: the issue allows 10%).
 */
async function runHttp(tree: Tree, k: number, variants: ReadonlyArray<Variant | undefined>): Promise<HttpResult[]> {
  const children: HttpChild[] = [];
  for (const v of variants) children.push(await startHttp(tree, v));
  const results: HttpResult[] = children.map((c) => ({ ms: [], startMs: c.startMs, contentType: '', encoding: '', gzipBytes: 0, bytes: 0, series: 0, errorLines: [] }));
  const last: Array<Awaited<ReturnType<typeof scrape>> | undefined> = children.map(() => undefined);
  const each = async (round: number, record: boolean): Promise<void> => {
    for (let j = 0; j < children.length; j++) {
      const i = round % 2 === 0 ? j : children.length - 1 - j;
      const c = children[i] as HttpChild;
      const r = results[i] as HttpResult;
      if (r.failure !== undefined) continue;
      try {
        const s = await scrape(c.agent, c.address);
        if (record) {
          r.ms.push(s.ms);
          last[i] = s;
        }
      } catch (err) {
        r.failure = err instanceof Error ? `${err.message}${'code' in err ? ` (${String(err.code)})` : ''}` : String(err);
      }
    }
  };
  // Warm-up, not recorded: the first seconds after start are the runtimes' first refresh,
  // V8 compiling the hot paths and sizing its heap; Prometheus sees what comes after.
  const warm = performance.now() + HTTP_WARMUP_MS;
  for (let round = 0; round < 3 || performance.now() < warm; round++) await each(round, false);
  for (let round = 0; round < k; round++) await each(round, true);
  for (let i = 0; i < children.length; i++) {
    const r = results[i] as HttpResult;
    const l = last[i];
    if (l) {
      const body = l.encoding === 'gzip' ? gunzipSync(l.body) : l.body;
      const lines = body.toString('utf8').split('\n');
      Object.assign(r, {
        contentType: l.contentType,
        encoding: l.encoding,
        gzipBytes: l.body.length,
        bytes: body.length,
        series: lines.filter((x) => x.length > 0 && !x.startsWith('#')).length,
        errorLines: lines.filter((x) => x.startsWith('lookout_collector_errors_total')),
      });
    }
    const memory = await (children[i] as HttpChild).stop();
    if (memory) r.memory = memory;
  }
  return results;
}

type Variant = 'no-metadata';

interface CaseResult {
  tree: Tree;
  /** The variant, when not the defaults: `no-metadata` runs without the runtime collector. */
  variant?: Variant;
  k: number;
  c: number[];
  cKept: number[];
  node: number[];
  direct: DirectResult;
  http?: HttpResult;
}

const mb = (b: number): string => (b / 1024 / 1024).toFixed(0);
const kb = (b: number): string => (b / 1024).toFixed(0);
const ms = (x: number): string => (x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : x.toFixed(0));
const ratio = (a: number, b: number): string => `${(a / b).toFixed(1)}x`;
const label = (r: CaseResult): string => (r.variant === undefined ? r.tree.layout : `${r.tree.layout}, without runtime metadata`);
const errorCount = (r: CaseResult): number => Object.values(r.direct.errors).reduce((a, e) => a + e.count, 0);
/** Errors per scrape over the warm-up and the K scrapes; some kinds happen once, at the first collection. */
const perScrape = (count: number, r: CaseResult): string => {
  const x = count / (r.k + 1);
  return x >= 10 ? String(Math.round(x)) : x.toFixed(1);
};

function httpCell(r: CaseResult): string {
  if (!r.http) return 'n/a';
  if (r.http.ms.length === 0) return `failed${r.http.failure ? `: ${r.http.failure}` : ''}`;
  return `${ms(median(r.http.ms))} (${ms(p90(r.http.ms))})`;
}

function tables(results: readonly CaseResult[]): string {
  const out: string[] = [];
  out.push(
    '**Time per scrape** (milliseconds; median, p90 in brackets; ratios are of medians, against the raw readers of the same tree in the same run)',
    '',
    '| layout | containers | files (kept open) | series | scrape: collect + render | collect | render | gzip -1 | HTTP /metrics, gzip | C reader | C pread, fds kept | Node readFileSync loop | scrape / C | HTTP / C | scrape / Node loop |',
    '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
  );
  for (const r of results) {
    const d = r.direct;
    const c = median(r.c);
    const httpOk = r.http !== undefined && r.http.ms.length > 0;
    if (errorCount(r) > 0) {
      // Figures of a collection that failed part-way say nothing about the cost of a full one.
      out.push(
        `| ${label(r)} | ${r.tree.containers} | ${r.tree.files} (${r.tree.held}) | ${d.series} | failed: ${perScrape(errorCount(r), r)} errors per scrape | | | | ${httpCell(r)} | ${ms(c)} | ${ms(median(r.cKept))} | ${ms(median(r.node))} | n/a | n/a | n/a |`,
      );
      continue;
    }
    out.push(
      `| ${label(r)} | ${r.tree.containers} | ${r.tree.files} (${r.tree.held}) | ${d.series} | ${ms(median(d.scrape))} (${ms(p90(d.scrape))}) | ${ms(median(d.collect))} | ${ms(median(d.render))} | ${ms(median(d.gzip))} | ${httpCell(r)} | ${ms(c)} | ${ms(median(r.cKept))} | ${ms(median(r.node))} | ${ratio(median(d.scrape), c)} | ${httpOk && r.http ? ratio(median(r.http.ms), c) : 'n/a'} | ${ratio(median(d.scrape), median(r.node))} |`,
    );
  }
  out.push(
    '',
    '**Memory, output, CPU and errors** (peak RSS = VmHWM of the process; baseline = RSS after loading the modules, before collecting; CPU = getrusage over one collection)',
    '',
    '| layout | containers | peak RSS, direct (MB) | peak RSS, HTTP agent (MB) | baseline RSS (MB) | V8 heap used after the scrapes / live after GC (MB) | first collection (ms) | CPU per collection, user + sys (ms) | exposition (KB) | gzip -1 (KB) | HTTP body, gzip (KB) | collector errors per scrape |',
    '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|',
  );
  for (const r of results) {
    const d = r.direct;
    const errs = Object.entries(d.errors).map(([kind, e]) => `${kind}: ${perScrape(e.count, r)}`);
    if (r.http && r.http.errorLines.length > 0) errs.push(`HTTP agent's counters: ${r.http.errorLines.map((l) => l.replace(/^lookout_collector_errors_total/, '')).join(' ')}`);
    out.push(
      `| ${label(r)} | ${r.tree.containers} | ${mb(d.memory.peakRss)} | ${r.http?.memory ? mb(r.http.memory.peakRss) : 'n/a'} | ${mb(d.memory.baselineRss)} | ${mb(d.memory.heapUsed)} / ${d.liveHeap === undefined ? '?' : mb(d.liveHeap)} | ${ms(d.firstCollectMs)} | ${ms(d.collectUserMs)} + ${ms(d.collectSystemMs)} | ${kb(d.bytes)} | ${kb(d.gzipBytes)} | ${r.http && r.http.gzipBytes > 0 ? kb(r.http.gzipBytes) : 'n/a'} | ${errs.length ? errs.join('; ') : 'none'} |`,
    );
  }
  return out.join('\n');
}

function verdict(results: readonly CaseResult[]): string {
  const lines: string[] = [];
  for (const r of results.filter((x) => x.tree.containers === 1000)) {
    const c = median(r.c);
    const s = median(r.direct.scrape);
    const h = r.http && r.http.ms.length > 0 ? median(r.http.ms) : undefined;
    const rss = Math.max(r.direct.memory.peakRss, r.http?.memory?.peakRss ?? 0) / 1024 / 1024;
    const errors = errorCount(r);
    if (errors > 0) {
      lines.push(
        `- **${label(r)}, 1000 containers**: **fails**: ${perScrape(errors, r)} collector errors per scrape and ${r.direct.series} series after the first collection` +
          (r.http ? (r.http.ms.length > 0 ? '' : `; the HTTP endpoint did not answer (${r.http.failure ?? 'no response'})`) : '') +
          '. See the errors below.',
      );
      continue;
    }
    const okTime = s <= TARGET_RATIO * c;
    const okRss = rss < TARGET_RSS_MB;
    lines.push(
      `- **${label(r)}, 1000 containers**: scrape ${ms(s)} ms = ${ratio(s, c)} the C reader (${ms(c)} ms): ` +
        `${okTime ? 'within' : '**over**'} the ${TARGET_RATIO}x target` +
        (h !== undefined ? `; with gzip through HTTP ${ms(h)} ms = ${ratio(h, c)}` : r.http ? `; **HTTP scrape failed** (${r.http.failure ?? 'no response'})` : '') +
        `. Peak RSS ${rss.toFixed(0)} MB: ${okRss ? 'under' : '**over**'} the ${TARGET_RSS_MB} MB target.`,
    );
  }
  return lines.join('\n');
}

function section(m: Record<string, string>, results: readonly CaseResult[], loadEnd: string): string {
  const errNotes = results.flatMap((r) =>
    Object.entries(r.direct.errors).map(([kind, e]) => {
      const first = e.first.split(r.tree.root).join('ROOT').replace(/(: EMFILE: too many open files), \w+ '[^']*'$/, '$1');
      return `- ${label(r)}, ${r.tree.containers} containers, ${kind}: ${perScrape(e.count, r)} per scrape; the first: "${first}"`;
    }),
  );
  const fdNotes = results
    .filter((r) => r.direct.fds.missing > 0 || r.direct.fds.extra > 0)
    .map((r) =>
      r.direct.fds.open < 0
        ? `- ${label(r)}, ${r.tree.containers} containers: not checked, no descriptor was left to list them with.`
        : `- ${label(r)}, ${r.tree.containers} containers: the collector held ${r.direct.fds.open} descriptors into the tree for ${r.direct.fds.listed} files it would keep open (${r.direct.fds.missing} not held, ${r.direct.fds.extra} not listed).`,
    );
  const checked = results.filter((r) => r.direct.fds.missing === 0 && r.direct.fds.extra === 0).map((r) => `${label(r)}-${r.tree.containers}`);
  return [
    MARK_START,
    '',
    `Written by \`npm run bench\` on ${m['date']}; do not edit by hand, run it again.`,
    '',
    `Machine: ${m['nproc']} CPUs (\`nproc\`), ${m['cpu']}, ${m['memory']} RAM, Linux ${m['kernel']}, Node ${m['node']}, gcc ${m['gcc']}; ` +
      `trees on ${m['fs']} (regular files, page cache warm); open-file limit ${m['nofile']}; load average (1, 5, 15 min) ${m['load']} at the start, ${loadEnd} at the end.`,
    '',
    'Command: `npm run bench`',
    '',
    `Collectors (created as the default config enables them): ${results[0]?.direct.collectors.join(', ') ?? 'none'}.`,
    '',
    tables(results),
    '',
    `Targets at 1000 containers: a scrape within ${TARGET_RATIO}x the C reader, peak RSS under ${TARGET_RSS_MB} MB.`,
    '',
    verdict(results),
    ...(errNotes.length ? ['', 'Collector errors during the run:', '', ...errNotes] : []),
    '',
    `Same files: where every file fits in the descriptor budget (${checked.join(', ') || 'none'}), the descriptors the collector held after its first collection were exactly the listed files it keeps open.`,
    ...(fdNotes.length ? ['', ...fdNotes] : []),
    '',
    MARK_END,
  ].join('\n');
}

/** Replaces the text between `start` and `end` (markers included in `text`), or appends it under `heading`. */
function updateDocs(text: string, start = MARK_START, end = MARK_END, heading = '## Results'): void {
  let doc = existsSync(DOCS) ? readFileSync(DOCS, 'utf8') : '# Benchmarks\n';
  const a = doc.indexOf(start);
  const b = doc.indexOf(end);
  if (a >= 0 && b > a) doc = doc.slice(0, a) + text + doc.slice(b + end.length);
  else doc = `${doc.trimEnd()}\n\n${heading}\n\n${text}\n`;
  writeFileSync(DOCS, doc);
}

async function runScrape(): Promise<void> {
  const m = machine();
  const bin = compileReader();
  console.error(`lookout bench: layouts ${layouts.join(',')}, sizes ${sizes.join(',')}, trees in ${dir}`);
  const results: CaseResult[] = [];
  for (const layout of layouts) {
    for (const n of sizes) {
      const k = Number(env['BENCH_K'] ?? (n >= 5000 ? 7 : 15));
      const tree = ensureTree(dir, layout, n);
      console.error(`${layout}-${n}: ${tree.files} files (${tree.held} kept open by the collector), ${tree.generatedSeconds > 0 ? `generated in ${tree.generatedSeconds.toFixed(1)} s` : 'tree reused'}`);
      // The defaults, then the same scrape without the runtime collector: naming containers
      // must cost next to nothing per scrape (the issue allows 10%).
      const variants: Array<Variant | undefined> = [undefined, 'no-metadata'];
      // The raw readers once per tree; the C reader before and after the cases, so that
      // its median sees the machine's load as the cases did.
      const reps = n >= 5000 ? 3 : READER_REPS;
      let t = performance.now();
      const lap = (): string => {
        const s = ((performance.now() - t) / 1000).toFixed(1);
        t = performance.now();
        return `${s} s`;
      };
      const c = cReader(bin, tree.listFile, 'open', reps);
      const cKept = cReader(bin, tree.listFile, 'kept', reps);
      const node = nodeReadLoop(tree.listFile, n >= 5000 ? 2 : reps);
      console.error(`  raw readers measured in ${lap()}`);
      const cases: CaseResult[] = [];
      for (const variant of variants) {
        const direct = await runDirect(tree, k, variant);
        const name = variant === undefined ? '  defaults' : `  ${variant}`;
        const errs = Object.entries(direct.errors).map(([kind, e]) => `${kind} ${Math.round(e.count / (k + 1))}/scrape`).join(', ');
        console.error(`${name}: scrape ${ms(median(direct.scrape))} ms (collect ${ms(median(direct.collect))}, render ${ms(median(direct.render))}, gzip ${ms(median(direct.gzip))}), peak RSS ${mb(direct.memory.peakRss)} MB, ${direct.series} series${errs ? `, errors: ${errs}` : ''} [${lap()}]`);
        cases.push({ tree, ...(variant === undefined ? {} : { variant }), k, c, cKept, node, direct });
      }
      if (withHttp) {
        const https = await runHttp(tree, k, variants);
        cases.forEach((cs, i) => {
          const http = https[i] as HttpResult;
          cs.http = http;
          console.error(
            http.ms.length > 0
              ? `    HTTP, ${cs.variant ?? 'defaults'}: ${ms(median(http.ms))} ms (${http.contentType}, ${http.encoding || 'identity'}), peak RSS ${http.memory ? mb(http.memory.peakRss) : '?'} MB`
              : `    HTTP, ${cs.variant ?? 'defaults'}: failed: ${http.failure}`,
          );
        });
        console.error(`    HTTP agents side by side [${lap()}]`);
      }
      c.push(...cReader(bin, tree.listFile, 'open', reps));
      console.error(`  raw readers: C ${ms(median(c))} ms, C pread ${ms(median(cKept))} ms, Node readFileSync ${ms(median(node))} ms`);
      results.push(...cases);
    }
  }
  m['loadEnd'] = loadavg().map((x) => x.toFixed(2)).join(' ');
  const text = section(m, results, m['loadEnd']);
  console.log(`\n${text}\n`);
  writeFileSync(join(dir, 'results.json'), JSON.stringify({ machine: m, results }, null, 1));
  if (writeDocs) {
    updateDocs(text);
    console.error(`docs/benchmarks.md updated; raw figures in ${join(dir, 'results.json')}`);
  } else {
    console.error(`docs/benchmarks.md not updated (partial run; BENCH_WRITE_DOCS=1 forces it); raw figures in ${join(dir, 'results.json')}`);
  }
  if (env['BENCH_CLEAN'] === '1') {
    for (const layout of layouts) for (const n of sizes) rmSync(join(dir, `${layout}-${n}`), { recursive: true, force: true });
    console.error(`trees removed from ${dir}`);
  }
}

const EXP_START = '<!-- bench:exporters:start -->';
const EXP_END = '<!-- bench:exporters:end -->';
const LOGS_START = '<!-- bench:logs:start -->';
const LOGS_END = '<!-- bench:logs:end -->';

function machineLine(m: Record<string, string>, loadEnd: string): string {
  return `Machine: ${m['nproc']} CPUs (\`nproc\`), ${m['cpu']}, ${m['memory']} RAM, Linux ${m['kernel']}, Node ${m['node']}; files on ${m['fs']}; load average (1, 5, 15 min) ${m['load']} at the start, ${loadEnd} at the end (other engineers' tests share the machine).`;
}

async function runExportersPart(): Promise<void> {
  const m = machine();
  const runs: ExportersRun[] = [];
  const execArgv = [...AGENT_FLAGS, ...(env['BENCH_CPU_PROF'] ? ['--cpu-prof', '--cpu-prof-dir', join(dir, 'profiles')] : [])];
  for (const layout of layouts) {
    const tree = ensureTree(dir, layout, 1000);
    console.error(`exporters, ${layout}-1000: ${exportK} cycles with each exporter alone, ${exportK} with all three at once`);
    const r = await runExporters(CASE_JS, tree, exportK, execArgv);
    console.error(`  ${exportersSummary(r)}`);
    runs.push(r);
  }
  const loadEnd = loadavg().map((x) => x.toFixed(2)).join(' ');
  const text = [
    EXP_START,
    '',
    `Written by \`npm run bench -- exporters\` (or a full \`npm run bench\`) on ${m['date']}; do not edit by hand, run it again.`,
    '',
    machineLine(m, loadEnd),
    '',
    ...exportersTables(runs),
    '',
    'Target (issue 5): all three exporters on cost less CPU than the collection itself.',
    '',
    ...exportersVerdict(runs),
    '',
    EXP_END,
  ].join('\n');
  console.log(`\n${text}\n`);
  writeFileSync(join(dir, 'exporters.json'), JSON.stringify({ machine: m, runs }, null, 1));
  if (writeDocsFor(exportDefaults)) {
    updateDocs(text, EXP_START, EXP_END, '## Results: push exporters');
    console.error('docs/benchmarks.md updated (exporters)');
  }
}

/** Reference figures per million CRI lines on this machine kind (issue 4). */
const FLUENT_BIT = { cpu: 7.6, rssMb: 39 };
const RSYSLOG_REF = { cpu: 9.3, rssMb: 88 };
const LOG_TARGET_CPU = 7.6;
const LOG_TARGET_RSS_MB = 100;

function logTables(files: LogFiles, runs: readonly LogRun[]): { table: string[]; verdict: string[] } {
  const table: string[] = [
    `**Log pipeline, ${files.lines.toLocaleString('en-US')} lines per file** (medians of ${logReps} runs per row, the contenders alternating which goes first; CPU = utime + stime of the process from /proc/PID/stat when the last line reached the output; start-up = the same at the first output line; peak RSS = VmHWM at the end)`,
    '',
    '| format | file (MiB) | contender | lines/s, from start | lines/s, first to last line | CPU-s per million lines | of which start-up | without start-up | peak RSS, median / max (MB) | wall (s) | runs ok |',
    '|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|',
  ];
  const verdict: string[] = [];
  const med = (xs: number[]): number => (xs.length ? median(xs) : Number.NaN);
  const perM = 1e6 / files.lines;
  const n = (x: number): string => Math.round(x).toLocaleString('en-US');
  for (const format of logFormats) {
    const stats: Record<string, { lps: number; steady: number; cpu: number; work: number; rss: number; rssMax: number }> = {};
    for (const who of ['lookout', 'rsyslog'] as const) {
      const all = runs.filter((r) => r.format === format && r.who === who);
      if (all.length === 0) continue;
      const ok = all.filter((r) => r.failure === undefined);
      const st = {
        lps: med(ok.map((r) => files.lines / r.seconds)),
        steady: med(ok.map((r) => files.lines / (r.seconds - r.firstSeconds))),
        cpu: med(ok.map((r) => r.cpu * perM)),
        work: med(ok.map((r) => (r.cpu - r.cpuAtFirst) * perM)),
        rss: med(ok.map((r) => r.peakRss / 1024 / 1024)),
        rssMax: Math.max(...ok.map((r) => r.peakRss / 1024 / 1024)),
      };
      stats[who] = st;
      table.push(
        `| ${format === 'cri' ? 'CRI' : 'Docker json-file'} | ${(files[format].bytes / 1024 / 1024).toFixed(0)} | ${who === 'lookout' ? 'lookout (tail -> file, checkpoints on)' : 'rsyslog imfile -> omfile'} | ${n(st.lps)} | ${n(st.steady)} | ${st.cpu.toFixed(2)} | ${med(ok.map((r) => r.cpuAtFirst * perM)).toFixed(2)} | ${st.work.toFixed(2)} | ${st.rss.toFixed(0)} / ${st.rssMax.toFixed(0)} | ${med(ok.map((r) => r.seconds)).toFixed(1)} | ${ok.length} / ${all.length} |`,
      );
      for (const r of all) if (r.failure !== undefined) verdict.push(`- ${format}, ${who}: a run failed: ${r.failure}`);
    }
    const l = stats['lookout'];
    const r = stats['rsyslog'];
    // Ratios within each repetition (the two ran back to back, under the same load), then their median.
    const pairs = [...new Set(runs.map((x) => x.rep))].flatMap((rep) => {
      const a = runs.find((x) => x.rep === rep && x.format === format && x.who === 'lookout' && x.failure === undefined);
      const b = runs.find((x) => x.rep === rep && x.format === format && x.who === 'rsyslog' && x.failure === undefined);
      return a && b ? [{ start: b.seconds / a.seconds, steady: (b.seconds - b.firstSeconds) / (a.seconds - a.firstSeconds), cpu: a.cpu / b.cpu }] : [];
    });
    if (l) {
      const name = format === 'cri' ? 'CRI' : 'Docker json-file';
      let vs = 'rsyslog not measured.';
      if (r && pairs.length > 0) {
        const start = med(pairs.map((p) => p.start));
        const steady = med(pairs.map((p) => p.steady));
        vs =
          `against rsyslog, run by run (median of ${pairs.length} back-to-back pairs): ${start.toFixed(2)}x its lines/s from start (${start > 1 ? 'faster' : '**slower**'}), ` +
          `${steady.toFixed(2)}x from the first line to the last (${steady > 1 ? 'faster' : '**slower**'}), ${med(pairs.map((p) => p.cpu)).toFixed(2)}x its CPU.`;
      }
      verdict.push(
        `- **${name}**: lookout ${l.cpu.toFixed(2)} CPU-s per million lines (${l.work.toFixed(2)} without start-up): ${l.cpu <= LOG_TARGET_CPU ? 'within' : '**over**'} the ${LOG_TARGET_CPU} s target; ` +
          `peak RSS ${l.rss.toFixed(0)} MB in the median run, ${l.rssMax.toFixed(0)} MB at most: ${l.rssMax < LOG_TARGET_RSS_MB ? 'under' : '**over**'} ${LOG_TARGET_RSS_MB} MB; ${vs}`,
      );
    }
  }
  return { table, verdict };
}

async function runLogsPart(): Promise<void> {
  const m = machine();
  const files = ensureLogFiles(dir, logLines);
  console.error(
    `logs: ${files.lines} lines, CRI ${(files.cri.bytes / 1024 / 1024).toFixed(0)} MB, Docker ${(files.docker.bytes / 1024 / 1024).toFixed(0)} MB, ${files.generatedSeconds > 0 ? `generated in ${files.generatedSeconds.toFixed(1)} s` : 'reused'}`,
  );
  const rv = rsyslogVersion();
  if (rv === undefined) console.error('logs: rsyslogd not found (apt-get install rsyslog); lookout measured alone');
  const work = join(dir, 'logs', 'runs');
  const timeoutMs = Math.max(60_000, (files.lines / 1e6) * 300_000);
  const runs: LogRun[] = [];
  for (let rep = 0; rep < logReps; rep++) {
    for (const format of logFormats) {
      const order: Array<'lookout' | 'rsyslog'> = rv === undefined ? ['lookout'] : rep % 2 === 0 ? ['lookout', 'rsyslog'] : ['rsyslog', 'lookout'];
      for (const who of order) {
        const r = who === 'lookout' ? await runLookout(CLI_JS, work, format, files, timeoutMs, logNodeArgs) : await runRsyslog(work, format, files, timeoutMs);
        r.rep = rep;
        runs.push(r);
        console.error(
          `  ${format} ${who}: ${r.failure ? `FAILED (${r.failure}); ` : ''}${Math.round(files.lines / r.seconds).toLocaleString('en-US')} lines/s, ${r.cpu.toFixed(2)} CPU-s (${r.cpuAtFirst.toFixed(2)} before the first line), peak RSS ${(r.peakRss / 1024 / 1024).toFixed(0)} MB, ${r.seconds.toFixed(1)} s`,
        );
      }
    }
  }
  rmSync(work, { recursive: true, force: true });
  const loadEnd = loadavg().map((x) => x.toFixed(2)).join(' ');
  const { table, verdict } = logTables(files, runs);
  const text = [
    LOGS_START,
    '',
    `Written by \`npm run bench -- logs\` (or a full \`npm run bench\`) on ${m['date']}; do not edit by hand, run it again.`,
    '',
    `${machineLine(m, loadEnd)} ${rv ?? 'rsyslog not installed'}.`,
    '',
    ...table,
    '',
    `Targets (issue 4), per million lines on both formats: at most ${LOG_TARGET_CPU} CPU-s (Fluent Bit's ${FLUENT_BIT.cpu} CPU-s and ${FLUENT_BIT.rssMb} MB on CRI lines on this machine kind; rsyslog's reference ${RSYSLOG_REF.cpu} CPU-s and ${RSYSLOG_REF.rssMb} MB), peak RSS under ${LOG_TARGET_RSS_MB} MB, and faster than rsyslog side by side.`,
    '',
    ...verdict,
    '',
    LOGS_END,
  ].join('\n');
  console.log(`\n${text}\n`);
  writeFileSync(join(dir, 'logs.json'), JSON.stringify({ machine: m, files, runs }, null, 1));
  if (writeDocsFor(logDefaults)) {
    updateDocs(text, LOGS_START, LOGS_END, '## Results: log pipeline');
    console.error('docs/benchmarks.md updated (logs)');
  }
}

async function main(): Promise<void> {
  mkdirSync(dir, { recursive: true });
  console.error(`lookout bench: parts ${[...parts].join(', ')}; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  if (parts.has('scrape')) await runScrape();
  if (parts.has('exporters')) await runExportersPart();
  if (parts.has('logs')) await runLogsPart();
}

await main();
