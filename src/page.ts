/**
 * The live page at `/` (like cAdvisor's UI): the node's containers with CPU, memory against
 * limit, restarts and recent log lines, refreshed every few seconds, usable without Grafana. The page is one
 * static HTML document; it polls `/api/containers`, which is computed from the same
 * snapshots as /metrics (CPU as a rate between the last two snapshots it saw).
 */
import type { RecentLine } from './logs.js';
import type { Family, Snapshot } from './model.js';

export interface ContainerRow {
  id: string;
  name: string;
  image: string;
  namespace?: string;
  pod?: string;
  container?: string;
  /** CPU cores in use, averaged since the previous snapshot; undefined on the first. */
  cpuCores?: number;
  cpuLimitCores?: number;
  memoryWorkingSetBytes?: number;
  memoryLimitBytes?: number;
  restarts?: number;
  oomKills?: number;
  lastTermination?: string;
  /** The container's last log lines, when a log destination is configured (the logs collector reads only then). */
  logs?: readonly RecentLine[];
}

export interface ContainersView {
  time: number;
  machine: { cpuCores?: number; memoryBytes?: number };
  containers: ContainerRow[];
}

function byId(f: Family | undefined, extra?: (e: Record<string, string>) => boolean): Map<string, number> {
  const m = new Map<string, number>();
  if (!f) return m;
  for (let i = 0; i < f.values.length; i++) {
    const e = f.extras[i];
    if (extra && !extra(e ? e.toObject() : {})) continue;
    m.set(f.targets[i]?.get('id') ?? '', f.values[i] as number);
  }
  return m;
}

/** Builds the page's data from the current snapshot and, for CPU rates, the previous one. */
export function containersView(cur: Snapshot, prev: Snapshot | undefined, recent?: (id: string) => readonly RecentLine[]): ContainersView {
  const fam = (name: string): Family | undefined => cur.families.find((f) => f.def.name === name);
  const prevFam = prev?.families.find((f) => f.def.name === 'container_cpu_usage_seconds_total');
  const cpu = byId(fam('container_cpu_usage_seconds_total'));
  const cpuPrev = byId(prevFam);
  const ws = byId(fam('container_memory_working_set_bytes'));
  const limit = byId(fam('container_spec_memory_limit_bytes'));
  const quota = byId(fam('container_spec_cpu_quota'));
  const period = byId(fam('container_spec_cpu_period'));
  const restarts = byId(fam('container_restarts_total'));
  const ooms = byId(fam('container_oom_events_total'));
  const reasons = new Map<string, string>();
  const rf = fam('container_last_terminated_reason');
  if (rf) for (let i = 0; i < rf.values.length; i++) reasons.set(rf.targets[i]?.get('id') ?? '', rf.extras[i]?.get('reason') ?? '');
  const seen = new Map<string, ContainerRow>();
  const last = fam('container_last_seen');
  for (const t of last?.targets ?? []) {
    const id = t.get('id') ?? '';
    const image = t.get('image') ?? '';
    const name = t.get('name') ?? '';
    if (image === '' && name === '') continue; // a raw cgroup
    const dt = prev ? (cur.time - prev.time) / 1000 : 0;
    const c = cpu.get(id);
    const p = cpuPrev.get(id);
    const q = quota.get(id);
    const per = period.get(id);
    const row: ContainerRow = {
      id,
      name,
      image,
      namespace: t.get('namespace'),
      pod: t.get('pod'),
      container: t.get('container'),
      cpuCores: c !== undefined && p !== undefined && dt > 0 ? Math.max(0, (c - p) / dt) : undefined,
      cpuLimitCores: q !== undefined && per ? q / per : undefined,
      memoryWorkingSetBytes: ws.get(id),
      memoryLimitBytes: limit.get(id) || undefined,
      restarts: restarts.get(id),
      oomKills: ooms.get(id),
      lastTermination: reasons.get(id),
      logs: recent?.(id),
    };
    seen.set(id, row);
  }
  const machine = {
    cpuCores: fam('machine_cpu_cores')?.values[0],
    memoryBytes: fam('machine_memory_bytes')?.values[0],
  };
  const containers = [...seen.values()].sort((a, b) => (b.cpuCores ?? 0) - (a.cpuCores ?? 0) || a.name.localeCompare(b.name));
  return { time: cur.time, machine, containers };
}

/** The page itself: static, no external resources (it must work on an air-gapped node). */
export const PAGE_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lookout</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#222;background:#fafafa}
h1{font-size:1.3rem;margin:0 0 .3rem}small{color:#666}
table{border-collapse:collapse;width:100%;margin-top:1rem;background:#fff}
th,td{text-align:left;padding:.35rem .6rem;border-bottom:1px solid #e5e5e5;white-space:nowrap}
th{background:#f0f0f0;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
.bar{display:inline-block;width:90px;height:8px;background:#e8e8e8;border-radius:4px;vertical-align:middle;margin-right:.4rem}
.bar i{display:block;height:8px;border-radius:4px;background:#3b82f6}.bar i.hot{background:#dc2626}
.bad{color:#b91c1c;font-weight:600}footer{margin-top:1rem;color:#666}
tr.logs td{white-space:pre-wrap;font:12px/1.3 ui-monospace,monospace;color:#555;padding-top:0;border-bottom:1px solid #e5e5e5}
tr.logs .stderr{color:#b91c1c}tr.has-logs td{border-bottom:none}
</style></head><body>
<h1>lookout <small id="host"></small></h1>
<div id="summary">loading…</div>
<table><thead><tr><th>container</th><th>image</th><th>CPU (cores)</th><th>memory (working set / limit)</th><th>restarts</th><th>OOM kills</th><th>last exit</th></tr></thead>
<tbody id="rows"></tbody></table>
<footer>Recent log lines show when a log destination is configured (e.g. <code>--log-output-file</code>). Updated <span id="updated">never</span> · <a href="/metrics">/metrics</a> · <a href="/healthz">/healthz</a> · <a href="/readyz">/readyz</a></footer>
<script>
const fmtBytes = (b) => b === undefined || b === null ? '–' : b >= 1073741824 ? (b / 1073741824).toFixed(2) + ' GiB' : (b / 1048576).toFixed(1) + ' MiB';
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
function bar(frac) {
  if (frac === undefined || !isFinite(frac)) return '';
  const pct = Math.min(100, Math.max(0, frac * 100));
  return '<span class="bar"><i class="' + (pct > 90 ? 'hot' : '') + '" style="width:' + pct.toFixed(0) + '%"></i></span>';
}
async function refresh() {
  try {
    const r = await fetch('/api/containers', { cache: 'no-store' });
    const v = await r.json();
    const rows = v.containers.map((c) => {
      const who = c.pod ? esc(c.namespace) + '/' + esc(c.pod) + '/' + esc(c.container ?? '') : esc(c.name);
      const cpu = c.cpuCores === undefined || c.cpuCores === null ? '…' : c.cpuCores.toFixed(3);
      const cpuLim = c.cpuLimitCores ? ' / ' + c.cpuLimitCores.toFixed(2) : '';
      const mem = fmtBytes(c.memoryWorkingSetBytes) + (c.memoryLimitBytes ? ' / ' + fmtBytes(c.memoryLimitBytes) : '');
      const exit = c.lastTermination ? '<span class="' + (c.lastTermination === 'Completed' ? '' : 'bad') + '">' + esc(c.lastTermination) + '</span>' : '';
      const logs = (c.logs ?? []).map((l) => '<div class="' + esc(l.stream) + '">' + esc(l.time.slice(11, 19)) + ' ' + esc(l.message) + '</div>').join('');
      return '<tr data-id="' + esc(c.id) + '"' + (logs ? ' class="has-logs"' : '') + '><td title="' + esc(c.id) + '">' + who + '</td><td>' + esc(c.image) + '</td>' +
        '<td class="num">' + bar(c.cpuLimitCores ? c.cpuCores / c.cpuLimitCores : undefined) + cpu + cpuLim + '</td>' +
        '<td class="num">' + bar(c.memoryLimitBytes ? c.memoryWorkingSetBytes / c.memoryLimitBytes : undefined) + mem + '</td>' +
        '<td class="num">' + (c.restarts ?? '–') + '</td><td class="num ' + (c.oomKills ? 'bad' : '') + '">' + (c.oomKills ?? 0) + '</td><td>' + exit + '</td></tr>' +
        (logs ? '<tr class="logs" data-logs-of="' + esc(c.id) + '"><td colspan="7">' + logs + '</td></tr>' : '');
    });
    document.getElementById('rows').innerHTML = rows.join('');
    document.getElementById('summary').textContent = v.containers.length + ' containers · ' + (v.machine.cpuCores ?? '?') + ' CPUs · ' + fmtBytes(v.machine.memoryBytes) + ' memory';
    document.getElementById('updated').textContent = new Date(v.time).toLocaleTimeString();
    document.getElementById('updated').dataset.time = String(v.time);
  } catch (e) {
    document.getElementById('summary').textContent = 'cannot reach the agent: ' + e;
  }
}
refresh();
setInterval(refresh, 2000);
</script></body></html>
`;
