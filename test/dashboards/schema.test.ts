/**
 * The dashboards' JSON against the Grafana schema that @grafana/grafana-foundation-sdk
 * carries: its TypeScript types are generated from Grafana's own schema (the dashboard kind
 * and each panel plugin's options and field config, the Prometheus and Loki queries), and the
 * SDK ships no runtime validator. So each committed JSON file is type-checked, as an object
 * literal, against those types (unknown keys, wrong types, bad enum values fail), plus the
 * structural rules of lookout's dashboards: datasource variables, units, descriptions,
 * thresholds, queries, layout. The SDK has no InfluxDB query type: InfluxQL targets are
 * checked against Grafana's own `InfluxQuery` (public/app/plugins/datasource/influxdb/types.ts),
 * written out below.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultDashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import * as units from '@grafana/grafana-foundation-sdk/units';
import ts from 'typescript';
import { beforeAll, describe, expect, it } from 'vitest';
import { dashboardsDir } from '../../dashboards/src/generate.js';
import { DATASOURCES } from '../../dashboards/src/lib.js';
import { dashboards } from '../../dashboards/src/render.js';

const DIR = dashboardsDir();
const ROOT = join(DIR, '..');
const FILES = dashboards().map((d) => d.file);
const PRIMARY = new Map(dashboards().map((d) => [d.file, d.datasource]));

interface Json {
  [k: string]: unknown;
}
const load = (file: string): Json => JSON.parse(readFileSync(join(DIR, file), 'utf8')) as Json;
const panelsOf = (d: Json): Json[] => (d['panels'] as Json[] | undefined) ?? [];

/**
 * The SDK's types, made to accept JSON: string enums become their string values, methods
 * (the Dataquery marker) disappear, and a panel's `options`/`fieldConfig.defaults.custom`
 * (typed `any` on the generic Panel) get the type of its plugin.
 */
const PRELUDE = `
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import type * as logs from '@grafana/grafana-foundation-sdk/logs';
import type * as loki from '@grafana/grafana-foundation-sdk/loki';
import type * as prometheus from '@grafana/grafana-foundation-sdk/prometheus';
import type * as stat from '@grafana/grafana-foundation-sdk/stat';
import type * as table from '@grafana/grafana-foundation-sdk/table';
import type * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';

type Fn = (...args: never[]) => unknown;
type J<T> = 0 extends 1 & T ? any
  : T extends string ? \`\${T}\`
  : T extends number | boolean | null | undefined ? T
  : T extends readonly (infer U)[] ? J<U>[]
  : T extends Fn ? never
  : { [K in keyof T as T[K] extends Fn ? never : K]: J<T[K]> };

type FieldConfigSource<C> = Omit<J<dashboard.FieldConfigSource>, 'defaults'> & {
  defaults: Omit<J<dashboard.FieldConfig>, 'custom'> & { custom?: J<C> };
};
/** Grafana's InfluxQuery (influxdb data source plugin), which the SDK does not carry. */
interface InfluxQueryPart { type: string; params?: string[]; interval?: string }
interface InfluxQueryTag { key: string; operator?: string; condition?: string; value: string }
interface InfluxQuery {
  refId: string;
  hide?: boolean;
  key?: string;
  queryType?: string;
  datasource?: { type?: string; uid?: string };
  policy?: string;
  measurement?: string;
  resultFormat?: 'time_series' | 'table' | 'logs';
  orderByTime?: string;
  tags?: InfluxQueryTag[];
  groupBy?: InfluxQueryPart[];
  select?: InfluxQueryPart[][];
  limit?: string;
  slimit?: string;
  tz?: string;
  fill?: string;
  rawQuery?: boolean;
  query?: string;
  alias?: string;
}
type PromTarget = J<prometheus.Dataquery>;
type LokiTarget = J<loki.dataquery>;
type Base = Omit<J<dashboard.Panel>, 'type' | 'targets' | 'options' | 'fieldConfig'> & { targets?: Array<PromTarget | LokiTarget | InfluxQuery> };
type Panel =
  | (Base & { type: 'timeseries'; options?: J<timeseries.Options>; fieldConfig?: FieldConfigSource<timeseries.FieldConfig> })
  | (Base & { type: 'stat'; options?: J<stat.Options>; fieldConfig?: FieldConfigSource<{}> })
  | (Base & { type: 'table'; options?: J<table.Options>; fieldConfig?: FieldConfigSource<table.FieldConfig> })
  | (Base & { type: 'logs'; options?: J<logs.Options>; fieldConfig?: FieldConfigSource<{}> });
type Row = Omit<J<dashboard.RowPanel>, 'panels'> & { panels: Panel[] };
type Dashboard = Omit<J<dashboard.Dashboard>, 'panels'> & { panels?: [] };
`;

/** The query type of each datasource type, for checking each target on its own (a union lets keys of one pass on another). */
const TARGET_TYPE: Record<string, string> = { prometheus: 'PromTarget', loki: 'LokiTarget', influxdb: 'InfluxQuery' };

/** One TypeScript module per dashboard: the dashboard without panels, then each panel, then each target by its datasource's query type. */
function moduleFor(d: Json): string {
  const lines = [PRELUDE, `export const the_dashboard: Dashboard = ${JSON.stringify({ ...d, panels: [] }, null, 2)};`];
  for (const p of panelsOf(d)) {
    lines.push(`export const panel_${String(p['id'])}: ${p['type'] === 'row' ? 'Row' : 'Panel'} = ${JSON.stringify(p, null, 2)};`);
    for (const t of (p['targets'] as Json[] | undefined) ?? []) {
      const type = TARGET_TYPE[String((t['datasource'] as Json | undefined)?.['type'])] ?? 'never';
      lines.push(`export const target_${String(p['id'])}_${String(t['refId'])}: ${type} = ${JSON.stringify(t, null, 2)};`);
    }
  }
  return lines.join('\n');
}

/** Type-checks virtual modules (name → source) beside this file; returns the diagnostics per module. */
function typeCheck(modules: Record<string, string>): Record<string, string[]> {
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: [],
  };
  const paths = Object.fromEntries(Object.keys(modules).map((name) => [join(ROOT, 'test', 'dashboards', `${name}.ts`), name]));
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (f) => f in paths || fileExists.call(host, f);
  host.readFile = (f) => (f in paths ? modules[paths[f] as string] : readFile.call(host, f));
  host.getSourceFile = (f, lang, ...rest) => {
    const name = paths[f];
    if (name !== undefined) return ts.createSourceFile(f, modules[name] as string, lang, true);
    return getSourceFile.call(host, f, lang, ...rest);
  };
  const program = ts.createProgram(Object.keys(paths), options, host);
  const out: Record<string, string[]> = Object.fromEntries(Object.keys(modules).map((n) => [n, []]));
  for (const diag of ts.getPreEmitDiagnostics(program)) {
    const name = diag.file ? paths[diag.file.fileName] : undefined;
    const where = diag.file && diag.start !== undefined ? diag.file.getLineAndCharacterOfPosition(diag.start) : undefined;
    const line = where && diag.file ? diag.file.text.split('\n')[where.line]?.trim() : '';
    const msg = `${where ? `${where.line + 1}: ` : ''}${ts.flattenDiagnosticMessageText(diag.messageText, '\n')} [${line}]`;
    (out[name ?? 'global'] ??= []).push(msg);
  }
  return out;
}

describe('dashboards against the SDK (Grafana) schema', () => {
  // A copy of one panel with an unknown key and a bad enum value: the check must catch both.
  const node = load('lookout-node.json');
  const ts0 = panelsOf(node).find((p) => p['type'] === 'timeseries') as Json;
  const influx = panelsOf(load('lookout-influxdb-container.json')).find((p) => p['type'] === 'logs') as Json;
  const influxTarget = ((influx['targets'] as Json[])[0] as Json);
  const broken = {
    ...node,
    panels: [
      { ...ts0, id: 1001, unitt: 'bytes' },
      { ...ts0, id: 1002, options: { ...(ts0['options'] as Json), tooltip: { mode: 'sometimes', sort: 'desc' } } },
      { ...influx, id: 1003, targets: [{ ...influxTarget, resultFormat: 'graphite' }] },
      { ...influx, id: 1005, targets: [{ ...influxTarget, querry: 'x' }] },
      { ...influx, id: 1004, options: { ...(influx['options'] as Json), sortOrder: 'Sideways' } },
    ],
  };
  const modules: Record<string, string> = { __negative_control__: moduleFor(broken) };
  for (const f of FILES) modules[f.replace(/\W/g, '_')] = moduleFor(load(f));
  let diagnostics: Record<string, string[]> = {};
  // One program for all: loading the SDK's declarations is most of the cost.
  beforeAll(() => {
    diagnostics = typeCheck(modules);
  });

  it.each(FILES)('%s type-checks against the SDK types', (file) => {
    expect(diagnostics[file.replace(/\W/g, '_')]).toEqual([]);
    expect(diagnostics['global'] ?? []).toEqual([]);
  });

  it('catches unknown keys and bad enum values (negative control)', () => {
    const found = (diagnostics['__negative_control__'] ?? []).join('\n');
    expect(found).toMatch(/unitt/);
    expect(found).toMatch(/sometimes/);
    expect(found).toMatch(/graphite/);
    expect(found).toMatch(/querry/);
    expect(found).toMatch(/Sideways/);
  });
});

describe.each(FILES)('%s', (file) => {
  const d = load(file);
  const text = readFileSync(join(DIR, file), 'utf8');
  const panels = panelsOf(d);
  const visible = panels.filter((p) => p['type'] !== 'row');
  const variables = ((d['templating'] as Json)['list'] as Json[] | undefined) ?? [];
  const unitIds = new Set<unknown>(Object.values(units as Record<string, unknown>).filter((v) => typeof v === 'string'));
  const primary = PRIMARY.get(file) ?? 'prometheus';
  const DS = DATASOURCES[primary];
  const LOKI = DATASOURCES.loki;
  const hasLoki = variables.some((v) => v['name'] === 'loki');
  const exprOf = (t: Json): string => String(t['expr'] ?? t['query'] ?? '');

  it('has a stable uid, a title, tags and the SDK schema version', () => {
    expect(d['uid']).toBe(file.replace(/\.json$/, ''));
    expect(String(d['uid'])).toMatch(/^[a-z0-9-]{8,40}$/);
    expect(String(d['title'])).toMatch(/^lookout \/ \S/);
    expect(String(d['description'] ?? '')).not.toBe('');
    expect(d['tags']).toContain('lookout');
    expect(d['schemaVersion']).toBe(defaultDashboard().schemaVersion);
  });

  it('takes its data sources from datasource variables (${datasource}, ${loki}), never from import inputs', () => {
    expect(text).not.toMatch(/DS_PROMETHEUS|DS_INFLUX|DS_LOKI|__inputs|__requires/);
    expect(variables[0]).toMatchObject({ type: 'datasource', name: 'datasource', query: primary });
    if (hasLoki) expect(variables.find((v) => v['name'] === 'loki')).toMatchObject({ type: 'datasource', query: 'loki' });
    for (const v of variables.filter((x) => x['type'] === 'query')) {
      expect(v['datasource'], String(v['name'])).toEqual(DS);
      if (primary === 'prometheus') expect(String(v['query'])).toMatch(/^label_values\(.+, \w+\)$/);
      else expect(String(v['query'])).toMatch(/^SHOW TAG VALUES FROM "\w+" WITH KEY = "\w+"( WHERE .+)?$/);
    }
    const names = variables.map((v) => v['name']);
    expect(new Set(names).size).toBe(names.length);
  });

  it('uses only variables it defines, or Grafana built-ins', () => {
    const builtins = primary === 'prometheus' ? ['__rate_interval', '__interval', '__range', '__auto'] : ['timeFilter', '__interval'];
    const defined = new Set([...variables.map((v) => String(v['name'])), ...builtins]);
    const exprs = [
      ...visible.flatMap((p) => ((p['targets'] as Json[] | undefined) ?? []).map(exprOf)),
      ...variables.filter((v) => v['type'] === 'query').map((v) => String(v['query'])),
    ];
    for (const e of exprs) {
      // `$tag_x` and `$col` only occur in InfluxDB aliases, not in queries.
      for (const m of e.matchAll(/\$\{?(\w+)/g)) expect(defined, `$${m[1]} in ${e}`).toContain(m[1]);
    }
  });

  it('gives every panel a unique id, a title, a description, the datasource, and (but logs) a unit and thresholds', () => {
    const ids = panels.map((p) => p['id']);
    expect(new Set(ids).size).toBe(ids.length);
    expect(visible.length).toBeGreaterThan(0);
    for (const p of visible) {
      const title = String(p['title']);
      expect(['timeseries', 'stat', 'table', 'logs'], title).toContain(p['type']);
      expect(title).not.toBe('');
      expect(String(p['description'] ?? ''), title).toMatch(/\S{3}/);
      expect([DS, ...(hasLoki ? [LOKI] : [])], title).toContainEqual(p['datasource']);
      if (p['type'] === 'logs') {
        expect(p['datasource'], `${title}: logs come from Loki or InfluxDB`).not.toEqual(DATASOURCES.prometheus);
        continue;
      }
      const defaults = (p['fieldConfig'] as Json)['defaults'] as Json;
      expect(unitIds, `${title}: unit ${String(defaults['unit'])}`).toContain(defaults['unit']);
      const steps = ((defaults['thresholds'] as Json)['steps'] as Json[]) ?? [];
      expect(steps[0]?.['value'], `${title}: base threshold`).toBeNull();
      const values = steps.slice(1).map((s) => s['value'] as number);
      expect(values, `${title}: thresholds ascending`).toEqual([...values].sort((a, b) => a - b));
      for (const o of ((p['fieldConfig'] as Json)['overrides'] as Json[]) ?? []) {
        for (const prop of o['properties'] as Json[]) {
          if (prop['id'] === 'unit') expect(unitIds, `${title}: override unit`).toContain(prop['value']);
        }
      }
    }
  });

  it('gives every panel queries with an expression, a refId and the panel\'s datasource', () => {
    for (const p of visible) {
      const title = String(p['title']);
      const targets = (p['targets'] as Json[] | undefined) ?? [];
      expect(targets.length, title).toBeGreaterThan(0);
      const refIds = targets.map((t) => t['refId']);
      expect(new Set(refIds).size, title).toBe(refIds.length);
      for (const t of targets) {
        expect(exprOf(t).trim(), title).not.toBe('');
        expect(t['datasource'], title).toEqual(p['datasource']);
        expect(String(t['refId']), title).toMatch(/^[A-Z]$/);
        const type = (t['datasource'] as Json)['type'];
        if (type === 'influxdb') {
          expect(t, title).toMatchObject({ rawQuery: true, resultFormat: p['type'] === 'table' ? 'table' : p['type'] === 'logs' ? 'logs' : 'time_series' });
          expect(t['expr'], title).toBeUndefined();
          // Every panel query is bounded by the dashboard's time range.
          expect(String(t['query']), title).toContain('$timeFilter');
        } else if (type === 'loki') {
          expect(t, title).toMatchObject({ queryType: 'range' });
        } else if (p['type'] === 'table') expect(t, title).toMatchObject({ instant: true, format: 'table' });
        else expect(t, title).toMatchObject({ range: true });
      }
    }
  });

  it('lays panels out on the 24-column grid without overlaps', () => {
    const taken = new Set<string>();
    for (const p of panels) {
      const g = p['gridPos'] as { x: number; y: number; w: number; h: number };
      expect(g.x + g.w, String(p['title'])).toBeLessThanOrEqual(24);
      for (let x = g.x; x < g.x + g.w; x++) {
        for (let y = g.y; y < g.y + g.h; y++) {
          const cell = `${x},${y}`;
          expect(taken.has(cell), `${String(p['title'])} overlaps at ${cell}`).toBe(false);
          taken.add(cell);
        }
      }
    }
  });
});
