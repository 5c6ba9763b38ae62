/**
 * `npm run bench -- exporters`: what the push exporters cost at 1000 containers. A child
 * process (case.ts `exporters`) collects the synthetic tree and pushes each snapshot through
 * the InfluxDB, remote_write and OTLP exporters, made from their defaults, to a sink in this
 * process (sink.ts, 127.0.0.1) that accepts and discards. Target (issue 5): the three
 * exporters together cost less CPU per cycle than the collection itself.
 */
import { fork } from 'node:child_process';
import type { ExportersResult } from './case.js';
import { startSink } from './sink.js';
import type { Tree } from './tree.js';

/** The push exporters measured, in this order. (Here, not in case.ts: importing case.js runs a case.) */
export const PUSH_EXPORTERS = ['influxdb', 'remotewrite', 'otlp'] as const;
export type PushType = (typeof PUSH_EXPORTERS)[number];

export interface ExportersRun {
  tree: Tree;
  k: number;
  result: ExportersResult;
  /** Request body bytes the sink received per export, by exporter. */
  bytesPerExport: Record<PushType, number>;
  requestsPerExport: Record<PushType, number>;
}

const PATHS: Record<PushType, string> = { influxdb: '/write', remotewrite: '/api/v1/write', otlp: '/v1/metrics' };
const LABEL: Record<PushType, string> = { influxdb: 'InfluxDB line protocol (api v1, telegraf layout)', remotewrite: 'remote_write (protobuf + snappy)', otlp: 'OTLP/HTTP protobuf' };

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? Number.NaN : s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

const f1 = (x: number): string => (x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : x.toFixed(0));
const thousands = (x: number): string => Math.round(x).toLocaleString('en-US');

export async function runExporters(caseJs: string, tree: Tree, k: number, execArgv: string[]): Promise<ExportersRun> {
  const sink = await startSink();
  try {
    const result = await new Promise<ExportersResult>((resolve, reject) => {
      const child = fork(caseJs, ['exporters', tree.root, sink.url, String(k)], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      let r: ExportersResult | undefined;
      child.on('message', (m) => {
        r = m as ExportersResult;
      });
      child.on('error', reject);
      child.on('exit', (code) => (r ? resolve(r) : reject(new Error(`exporters case ${tree.layout}-${tree.containers} exited with ${code}`))));
    });
    const bytesPerExport = {} as Record<PushType, number>;
    const requestsPerExport = {} as Record<PushType, number>;
    for (const t of PUSH_EXPORTERS) {
      const c = sink.counts.get(PATHS[t]) ?? { requests: 0, bytes: 0 };
      bytesPerExport[t] = c.bytes / result.exports;
      requestsPerExport[t] = c.requests / result.exports;
    }
    return { tree, k, result, bytesPerExport, requestsPerExport };
  } finally {
    await sink.close();
  }
}

/** One line for the console. */
export function exportersSummary(r: ExportersRun): string {
  const x = r.result;
  const parts = PUSH_EXPORTERS.map((t) => {
    const s = x.alone[t];
    return `${t} ${f1(median(s.map((e) => e.cpuMs)))} ms CPU, ${thousands(median(s.map((e) => e.items / (e.ms / 1000))))} samples/s`;
  });
  return `collect ${f1(median(x.collectCpuMs))} ms CPU; ${parts.join('; ')}; all three ${f1(median(x.allCpuMs))} ms CPU`;
}

export function exportersTables(runs: readonly ExportersRun[]): string[] {
  const out: string[] = [];
  out.push(
    '**Push exporters at 1000 containers** (per collection cycle; medians over the cycles; CPU = user + system of the agent process, `process.cpuUsage`; an export runs from `export(snapshot)` until the sink acknowledged its last batch; each exporter measured alone on even cycles, all three at once on odd cycles)',
    '',
    '| layout | series | exporter | items per export | requests | body per export (KB) | wall (ms) | samples/s | CPU per export (ms) | CPU / collection |',
    '|---|--:|---|--:|--:|--:|--:|--:|--:|--:|',
  );
  for (const r of runs) {
    const x = r.result;
    const col = median(x.collectCpuMs);
    for (const t of PUSH_EXPORTERS) {
      const s = x.alone[t];
      const cpu = median(s.map((e) => e.cpuMs));
      out.push(
        `| ${r.tree.layout} | ${x.series} | ${LABEL[t]} | ${thousands(median(s.map((e) => e.items)))} | ${r.requestsPerExport[t].toFixed(0)} | ${thousands(r.bytesPerExport[t] / 1024)} | ${f1(median(s.map((e) => e.ms)))} | ${thousands(median(s.map((e) => e.items / (e.ms / 1000))))} | ${f1(cpu)} | ${(cpu / col).toFixed(2)}x |`,
      );
    }
    const all = median(x.allCpuMs);
    const sum = PUSH_EXPORTERS.reduce((a, t) => a + median(x.alone[t].map((e) => e.cpuMs)), 0);
    out.push(`| ${r.tree.layout} | ${x.series} | **all three at once** | | | | ${f1(median(x.allMs))} | | ${f1(all)} (alone, summed: ${f1(sum)}) | **${(all / col).toFixed(2)}x** |`);
  }
  out.push(
    '',
    '| layout | collection: CPU (ms) | collection: wall (ms) | rendering the Prometheus text: CPU (ms) | scrape (collection + rendering): CPU (ms) | all three exporters: CPU (ms) | exporters / collection | exporters / scrape | peak RSS of the case (MB) | exporter problems |',
    '|---|--:|--:|--:|--:|--:|--:|--:|--:|---|',
  );
  for (const r of runs) {
    const x = r.result;
    const col = median(x.collectCpuMs);
    const ren = median(x.renderCpuMs);
    const all = median(x.allCpuMs);
    out.push(
      `| ${r.tree.layout} | ${f1(col)} | ${f1(median(x.collectMs))} | ${f1(ren)} | ${f1(col + ren)} | ${f1(all)} | ${(all / col).toFixed(2)}x | ${(all / (col + ren)).toFixed(2)}x | ${(x.memory.peakRss / 1024 / 1024).toFixed(0)} | ${x.exporterProblems.join('; ') || 'none'} |`,
    );
  }
  return out;
}

export function exportersVerdict(runs: readonly ExportersRun[]): string[] {
  return runs.map((r) => {
    const x = r.result;
    const col = median(x.collectCpuMs);
    const all = median(x.allCpuMs);
    const errs = Object.values(x.errors).reduce((a, e) => a + e.count, 0);
    return (
      `- **${r.tree.layout}, ${r.tree.containers} containers**: the three exporters together take ${f1(all)} ms of CPU per cycle against ${f1(col)} ms for the collection (${(all / col).toFixed(2)}x): ` +
      `${all < col ? 'the target (less than the collection) **holds**' : 'the target (less than the collection) **does not hold**'}` +
      `${errs > 0 ? `; ${errs} collector errors during the run` : ''}${x.exporterProblems.length > 0 ? `; exporter problems: ${x.exporterProblems.join('; ')}` : ''}.`
    );
  });
}
