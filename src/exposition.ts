/**
 * A purpose-built writer for the Prometheus text format (0.0.4) and OpenMetrics 1.0.
 *
 * Container series are written from the snapshot's columns with label text rendered once per
 * container; prom-client's own rendering builds every label string on every scrape, which
 * at thousands of containers costs more than the collection itself. The agent's own metrics
 * (kept in prom-client) go through the same writer via `registry.getMetricsAsJSON()`, so
 * both formats come from one place and prom-client's OpenMetrics rendering, which renames
 * counters for good, is never used.
 */
import type { Family, Labels } from './model.js';

export type Format = 'text' | 'openmetrics';

export const CONTENT_TYPE: Readonly<Record<Format, string>> = {
  text: 'text/plain; version=0.0.4; charset=utf-8',
  openmetrics: 'application/openmetrics-text; version=1.0.0; charset=utf-8',
};

/** Picks OpenMetrics only when the client asks for it, as Prometheus does with its Accept header. */
export function negotiate(accept: string | undefined): Format {
  if (!accept) return 'text';
  let best: Format = 'text';
  let bestQ = -1;
  for (const part of accept.split(',')) {
    const [type = '', ...params] = part.trim().split(';');
    const q = Number(params.map((p) => p.trim()).find((p) => p.startsWith('q='))?.slice(2) ?? '1');
    const fmt: Format | undefined = type.trim() === 'application/openmetrics-text' ? 'openmetrics' : type.trim() === 'text/plain' || type.trim() === '*/*' ? 'text' : undefined;
    if (fmt && q > bestQ) {
      best = fmt;
      bestQ = q;
    }
  }
  return best;
}

export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function escapeHelp(help: string, format: Format): string {
  const s = help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
  return format === 'openmetrics' ? s.replace(/"/g, '\\"') : s;
}

/** A metric family as the agent's own metrics give it: any sample names (histogram buckets too). */
export interface SampleFamily {
  readonly name: string;
  readonly type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  readonly help: string;
  readonly unit: string;
  readonly samples: ReadonlyArray<{ readonly name: string; readonly labels: Labels | null; readonly value: number }>;
}

function header(name: string, type: SampleFamily['type'], help: string, unit: string, format: Format): string {
  if (format === 'text') return `# HELP ${name} ${escapeHelp(help, format)}\n# TYPE ${name} ${type}\n`;
  // OpenMetrics names a counter family without `_total`; its samples keep it.
  const family = type === 'counter' && name.endsWith('_total') ? name.slice(0, -6) : name;
  const omType = type === 'untyped' ? 'unknown' : type;
  let out = `# HELP ${family} ${escapeHelp(help, format)}\n# TYPE ${family} ${omType}\n`;
  if (unit !== '' && family.endsWith(`_${unit}`)) out += `# UNIT ${family} ${unit}\n`;
  return out;
}

function labelText(a: Labels | null, b: Labels | null): string {
  const at = a === null ? '' : a.text;
  const bt = b === null ? '' : b.text;
  if (at === '') return bt === '' ? '' : `{${bt}}`;
  return bt === '' ? `{${at}}` : `{${at},${bt}}`;
}

/** Renders snapshot families (columnar). */
export function renderFamilies(families: readonly Family[], format: Format, out: string[]): void {
  for (const fam of families) {
    const n = fam.values.length;
    if (n === 0) continue;
    const { name, type, help, unit } = fam.def;
    let chunk = header(name, type, help, unit, format);
    const { targets, extras, values } = fam;
    for (let i = 0; i < n; i++) {
      chunk += `${name}${labelText(targets[i] as Labels, extras[i] ?? null)} ${formatValue(values[i] as number)}\n`;
    }
    out.push(chunk);
  }
}

/** Renders sample families (the agent's own metrics). */
export function renderSampleFamilies(families: readonly SampleFamily[], format: Format, out: string[]): void {
  for (const fam of families) {
    if (fam.samples.length === 0) continue;
    let chunk = header(fam.name, fam.type, fam.help, fam.unit, format);
    for (const s of fam.samples) chunk += `${s.name}${labelText(s.labels, null)} ${formatValue(s.value)}\n`;
    out.push(chunk);
  }
}

export function finish(out: string[], format: Format): string {
  if (format === 'openmetrics') out.push('# EOF\n');
  return out.join('');
}
