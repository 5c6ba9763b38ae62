/**
 * The alert rules: mixin conventions (names, severities, annotations, for:, selector),
 * `promtool check rules`, and `promtool test rules` with unit tests that cover every alert
 * both firing and not firing.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { alertNames, DEFAULT_ALERT_CONFIG } from '../../dashboards/src/alerts.js';
import { dashboardsDir } from '../../dashboards/src/generate.js';
import { RULES_FILE } from '../../dashboards/src/render.js';
import { describeWith, requireOrSkip } from '../helpers/require.js';
import { promtool, promtoolUsable } from './promtool.js';

const DIR = dashboardsDir();
const RUNBOOKS = join(DIR, '..', 'docs', 'runbooks.md');
const RULES = join(DIR, RULES_FILE);
const TESTS_DIR = join(DIR, 'alerts', 'tests');
const TESTS = readdirSync(TESTS_DIR).filter((f) => f.endsWith('.yaml')).sort().map((f) => join(TESTS_DIR, f));

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const rules = (parse(readFileSync(RULES, 'utf8')) as { groups: Array<{ name: string; rules: Rule[] }> }).groups.flatMap((g) => g.rules);

describe('alert rules', () => {
  it('are the generator\'s alerts, in order', () => {
    expect(rules.map((r) => r.alert)).toEqual(alertNames());
    expect(rules.length).toBeGreaterThanOrEqual(10);
  });

  it.each(rules.map((r) => [r.alert, r] as const))('%s follows the conventions', (name, r) => {
    expect(name).toMatch(/^Lookout[A-Z][A-Za-z]+$/);
    expect(['critical', 'warning', 'info']).toContain(r.labels?.['severity']);
    expect(r.for, 'for:').toMatch(/^\d+[smh]$/);
    expect(r.annotations?.['summary'] ?? '').toMatch(/\S/);
    expect(r.annotations?.['description'] ?? '').toMatch(/\S/);
    expect(r.annotations?.['runbook_url']).toBe(`${DEFAULT_ALERT_CONFIG.runbookUrl}#${name.toLowerCase()}`);
    // Every selector in the expression carries the configurable one.
    const selectors = [...r.expr.matchAll(/\b([a-z_:]+)\{([^}]*)\}/g)];
    expect(selectors.length).toBeGreaterThan(0);
    for (const m of selectors) expect(m[2], `${m[1]} in ${name}`).toContain(DEFAULT_ALERT_CONFIG.selector);
  });

  it('name the container in every container alert (name, or namespace/pod/container, and the cgroup id)', () => {
    for (const r of rules.filter((x) => x.alert.startsWith('LookoutContainer'))) {
      const text = `${r.annotations?.['summary']} ${r.annotations?.['description']}`;
      for (const label of ['name', 'namespace', 'pod', 'container', 'instance', 'id']) {
        expect(r.annotations?.['description'], `${r.alert}: ${label}`).toContain(label === 'id' ? '$labels.id' : `$labels.${label}`);
      }
      expect(text).toContain('$labels.name');
    }
  });

  it('each link to a section of docs/runbooks.md (GitHub\'s heading anchors), one per alert, in file order', () => {
    const md = readFileSync(RUNBOOKS, 'utf8');
    // GitHub's anchor of a heading: lower case, punctuation but - and _ removed, spaces to -.
    const slug = (h: string): string => h.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
    const sections = [...md.matchAll(/^## (.+)$/gm)].map((m) => m[1] as string);
    const anchors = new Set(sections.map(slug));
    for (const r of rules) {
      const url = r.annotations?.['runbook_url'] ?? '';
      expect(url.startsWith(`${DEFAULT_ALERT_CONFIG.runbookUrl}#`), url).toBe(true);
      expect(DEFAULT_ALERT_CONFIG.runbookUrl.endsWith('/docs/runbooks.md')).toBe(true);
      expect(anchors, `${r.alert}: no section for ${url}`).toContain(url.slice(url.indexOf('#') + 1));
    }
    expect(sections).toEqual(alertNames());
    // Each section says what it means, how to check and how to fix.
    for (const part of md.split(/^## /m).slice(1)) {
      const name = part.split('\n')[0];
      for (const h of ['**What it means.**', '**How to check.**', '**How to fix.**']) expect(part, `${name}: ${h}`).toContain(h);
    }
    // Links between sections resolve too.
    for (const m of md.matchAll(/\]\(#([^)]+)\)/g)) expect(anchors, `link #${m[1]}`).toContain(m[1]);
  });

  it('have unit tests for every alert, firing and not firing', () => {
    const firing = new Set<string>();
    const quiet = new Set<string>();
    for (const file of TESTS) {
      const doc = parse(readFileSync(file, 'utf8')) as {
        rule_files: string[];
        tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts?: unknown[] }> }>;
      };
      expect(doc.rule_files, file).toEqual(['../lookout.rules.yaml']);
      for (const t of doc.tests) {
        for (const a of t.alert_rule_test ?? []) (a.exp_alerts?.length ? firing : quiet).add(a.alertname);
      }
    }
    for (const name of alertNames()) {
      expect(firing, `${name} firing`).toContain(name);
      expect(quiet, `${name} not firing`).toContain(name);
    }
  });
});

const avail = await requireOrSkip('promtool', promtoolUsable);

describeWith(avail, 'alert rules (promtool)', () => {
  it('pass promtool check rules', async () => {
    const r = await promtool(['check', 'rules', RULES]);
    expect(`${r.stdout}${r.stderr}`).toContain(`SUCCESS: ${rules.length} rules found`);
    expect(r.code).toBe(0);
  });

  it('pass their unit tests (promtool test rules)', async () => {
    const r = await promtool(['test', 'rules', ...TESTS]);
    expect(r.code, `${r.stdout}${r.stderr}`).toBe(0);
    expect(r.stdout.match(/SUCCESS/g)?.length).toBe(TESTS.length);
  });
});
