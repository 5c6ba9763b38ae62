import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { collectors } from '../collectors/index.js';
import { catalogue } from './agent.js';
import { configurationDoc, metricsDoc } from './docs.js';

const IDENTITY = ['id', 'name', 'image', 'namespace', 'pod', 'container'];
/** Units promtool's lint rejects in names, with the base unit to use instead. */
const NON_BASE = /_(milliseconds|microseconds|nanoseconds|minutes|hours|days|kilobytes|megabytes|gigabytes|kibibytes|mebibytes|percent|celsius)(_|$)/;

describe('metric catalogue', () => {
  const all = catalogue();

  it('names each metric once across all collectors', () => {
    const names = all.map((m) => m.name);
    expect(new Set(names).size).toBe(names.length);
  });

  it('follows the Prometheus naming rules promtool checks', () => {
    for (const m of all) {
      expect(m.name, m.name).toMatch(/^[a-z_][a-z0-9_]*$/);
      expect(m.help.length, `${m.name} has HELP`).toBeGreaterThan(10);
      expect(m.name.endsWith('_total'), `${m.name}: _total iff counter`).toBe(m.type === 'counter');
      expect(m.name, `${m.name}: base units`).not.toMatch(NON_BASE);
      expect(m.name, `${m.name}: no type in name`).not.toMatch(/_(counter|gauge|histogram|summary)(_|$)/);
      if (m.unit && m.name.includes(`_${m.unit}`)) expect(m.name).toMatch(new RegExp(`_${m.unit}(_total)?$`));
      for (const l of m.labels) expect(IDENTITY, `${m.name}: label ${l} would clash with the identity labels`).not.toContain(l);
    }
  });

  it('every collector has a description and a config schema that rejects unknown keys', () => {
    for (const c of collectors) {
      expect(c.description.length).toBeGreaterThan(10);
      expect(c.configSchema.additionalProperties).toBe(false);
    }
  });
});

describe('generated docs', () => {
  it('docs/metrics.md matches the catalogue (run `npm run docs` after changing a metric)', async () => {
    expect(readFileSync(new URL('../docs/metrics.md', import.meta.url), 'utf8')).toBe(await metricsDoc());
  });

  it('docs/configuration.md matches the schema (run `npm run docs` after changing a setting)', () => {
    expect(readFileSync(new URL('../docs/configuration.md', import.meta.url), 'utf8')).toBe(configurationDoc());
  });
});
