/**
 * The committed dashboards and alert rules are exactly what the generator writes, and the
 * generator is deterministic. After changing dashboards/src, run `npm run dashboards`.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { dashboardsDir, main, staleFiles } from '../../dashboards/src/generate.js';
import { dashboards, renderAll, renderRules, RULES_FILE } from '../../dashboards/src/render.js';

const DIR = dashboardsDir();
const REGENERATE = 'out of date: run `npm run dashboards` and commit the result';

describe('generated dashboards and rules', () => {
  it('match the committed files byte for byte', () => {
    const files = renderAll();
    for (const [rel, content] of files) {
      expect(readFileSync(join(DIR, rel), 'utf8'), `${rel}: ${REGENERATE}`).toBe(content);
    }
    expect(staleFiles(DIR, files)).toEqual([]);
  });

  it('are the only dashboard JSON files (a stray one would be provisioned too)', () => {
    const generated = [...renderAll().keys()].filter((f) => f.endsWith('.json')).sort();
    const onDisk = readdirSync(DIR).filter((f) => f.endsWith('.json')).sort();
    expect(onDisk).toEqual(generated);
  });

  it('are deterministic', () => {
    const a = renderAll();
    const b = renderAll();
    expect([...b]).toEqual([...a]);
  });

  it('use the configured alert selector everywhere', () => {
    const text = renderRules({ selector: 'job="cadvisor"', runbookUrl: 'https://example.invalid/runbooks' });
    expect(text).not.toContain('job="lookout"');
    expect(text).toContain('container_oom_events_total{job="cadvisor", name!=""}');
    expect(text).toContain('runbook_url: https://example.invalid/runbooks#lookoutcontaineroomkilled');
  });
});

describe('the generator command', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('writes every file, and --check reports a changed one', () => {
    const out = mkdtempSync(join(tmpdir(), 'lookout-dashboards-'));
    dirs.push(out);
    const write = process.stdout.write;
    const err = process.stderr.write;
    let stderr = '';
    process.stdout.write = (() => true) as typeof process.stdout.write;
    process.stderr.write = ((s: string) => {
      stderr += s;
      return true;
    }) as typeof process.stderr.write;
    try {
      expect(main(['--out', out])).toBe(0);
      expect(main(['--out', out, '--check'])).toBe(0);
      writeFileSync(join(out, RULES_FILE), '# edited by hand\n');
      expect(main(['--out', out, '--check'])).toBe(1);
    } finally {
      process.stdout.write = write;
      process.stderr.write = err;
    }
    expect(stderr).toContain(`out of date: ${join(out, RULES_FILE)}`);
    expect(readdirSync(out).filter((f) => f.endsWith('.json')).sort()).toEqual(
      [...renderAll().keys()].filter((f) => f.endsWith('.json')).sort(),
    );
  });

  it('rejects an unknown flag', () => {
    expect(() => main(['--bogus'])).toThrow(/bogus/);
  });
});

describe('provisioning', () => {
  it('declares a file provider for the dashboards folder', () => {
    const doc = parse(readFileSync(join(DIR, 'provisioning', 'dashboards', 'lookout.yaml'), 'utf8')) as {
      apiVersion: number;
      providers: Array<{ name: string; type: string; options: { path: string } }>;
    };
    expect(doc.apiVersion).toBe(1);
    expect(doc.providers).toHaveLength(1);
    expect(doc.providers[0]).toMatchObject({ name: 'lookout', type: 'file', options: { path: '/var/lib/grafana/dashboards/lookout' } });
  });

  it('has an example data source for every data source type the dashboards use', () => {
    const doc = parse(readFileSync(join(DIR, 'provisioning', 'datasources', 'lookout.yaml'), 'utf8')) as {
      apiVersion: number;
      datasources: Array<{ name: string; type: string; uid: string; url: string; jsonData?: Record<string, unknown> }>;
    };
    expect(doc.apiVersion).toBe(1);
    const used = new Set<string>();
    for (const d of dashboards()) {
      for (const v of d.json.templating.list ?? []) if (v.type === 'datasource' && typeof v.query === 'string') used.add(v.query);
    }
    expect([...used].sort()).toEqual(['influxdb', 'loki', 'prometheus']);
    expect(doc.datasources.map((x) => x.type).sort()).toEqual([...used].sort());
    for (const x of doc.datasources) expect(x.url, x.name).toMatch(/^https?:\/\//);
    // The InfluxDB dashboards speak InfluxQL: a 1.x database (or a 2.x DBRP mapping), not Flux.
    expect(doc.datasources.find((x) => x.type === 'influxdb')?.jsonData).toMatchObject({ dbName: 'lookout' });
  });
});
