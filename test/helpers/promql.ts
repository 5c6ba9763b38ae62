/**
 * Just enough PromQL reading for the compatibility tests: which metric names an expression
 * selects, and the expressions of a Grafana dashboard and a Prometheus rule file.
 */
import { parse as parseYaml } from 'yaml';

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'atan2', 'inf', 'nan']);

/** The metric names an expression selects (not functions, keywords, label names or values). */
export function metricNames(expr: string): string[] {
  let s = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""'); // string literals
  s = s.replace(/\{[^}]*\}/g, ' '); // label matchers
  s = s.replace(/\[[^\]]*\]/g, ' '); // range and subquery windows
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' '); // grouping labels
  const names = new Set<string>();
  for (const m of s.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const word = m[0];
    const after = s.slice((m.index ?? 0) + word.length);
    if (/^\s*\(/.test(after)) continue; // a function call
    if (KEYWORDS.has(word.toLowerCase())) continue;
    if (/^[0-9]/.test(word)) continue;
    // Exponents and durations: 1e6, 5m (a digit right before the word).
    if (/[0-9.]$/.test(s.slice(0, m.index ?? 0))) continue;
    names.add(word);
  }
  return [...names].sort();
}

export interface Query {
  /** Where it comes from: the panel's title or the alert's name. */
  readonly source: string;
  readonly expr: string;
  readonly kind: 'panel' | 'alert';
}

/** Every `expr` of a Grafana dashboard, with the title of the panel around it. */
export function dashboardQueries(dashboard: unknown): Query[] {
  const out: Query[] = [];
  const visit = (o: unknown, title: string): void => {
    if (Array.isArray(o)) {
      for (const x of o) visit(x, title);
      return;
    }
    if (typeof o !== 'object' || o === null) return;
    const rec = o as Record<string, unknown>;
    const t = typeof rec['title'] === 'string' && rec['title'] !== '' ? (rec['title'] as string) : title;
    for (const [k, v] of Object.entries(rec)) {
      if (k === 'expr' && typeof v === 'string') out.push({ source: `panel "${t}"`, expr: v, kind: 'panel' });
      else visit(v, t);
    }
  };
  visit(dashboard, '');
  return out;
}

/** Every alerting and recording rule's expression of a Prometheus rule file. */
export function ruleQueries(text: string): Query[] {
  const doc = parseYaml(text) as { groups?: Array<{ name?: string; rules?: Array<{ alert?: string; record?: string; expr?: unknown }> }> };
  const out: Query[] = [];
  for (const g of doc.groups ?? []) {
    for (const r of g.rules ?? []) {
      if (typeof r.expr !== 'string') throw new Error(`rule ${r.alert ?? r.record ?? '?'} in group ${g.name ?? '?'} has no expr`);
      out.push({ source: `alert ${r.alert ?? r.record ?? '?'}`, expr: r.expr.trim(), kind: 'alert' });
    }
  }
  return out;
}

/**
 * What an alert's expression measures, without its condition: `absent(X)` -> X,
 * `X > N` (any comparison with a number at the top level) -> X; else the expression itself.
 */
export function signalOf(expr: string): string {
  const e = expr.trim();
  const absent = /^absent\((.*)\)$/s.exec(e);
  if (absent?.[1] !== undefined) return absent[1].trim();
  const cmp = /^(.*?)\s*(?:==|!=|>=|<=|>|<)\s*[0-9.eE+-]+$/s.exec(e);
  if (cmp?.[1] !== undefined) return cmp[1].trim();
  return e;
}
