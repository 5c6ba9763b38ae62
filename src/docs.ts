/**
 * Generates docs/metrics.md from the metric catalogue and docs/configuration.md from the
 * config schema, so the reference cannot drift from the code (a test compares them).
 * Run with `npm run docs`.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { TSchema } from '@sinclair/typebox';
import { collectors } from '../collectors/index.js';
import { configSchema, OPTIONS } from './config.js';
import { SelfMetrics } from './selfmetrics.js';

function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

export async function metricsDoc(): Promise<string> {
  const lines = [
    '# Metrics',
    '',
    'Generated from the metric catalogue by `npm run docs`; do not edit by hand.',
    '',
    'Container and cgroup series carry `id` (the cgroup path, e.g. `/docker/<id>` or',
    '`/system.slice/docker-<id>.scope`), `image` and `name`, as cAdvisor labels them. Raw cgroups',
    '(the root `/`, systemd services, slices) have `image=""` and `name=""`, so `image!=""` selects',
    'containers. Machine metrics carry no labels. Values are in base units (seconds, bytes) except',
    'where cAdvisor uses another (CPU quota and period in microseconds), kept for compatibility.',
    '',
  ];
  for (const c of collectors) {
    lines.push(`## Collector \`${c.type}\``, '', c.description, '', '| name | type | unit | labels | description | source |', '|---|---|---|---|---|---|');
    for (const m of c.metrics) {
      lines.push(`| \`${m.name}\` | ${m.type} | ${m.unit || '-'} | ${m.labels.map((l) => `\`${l}\``).join(', ') || '-'} | ${cell(m.help)} | ${cell(m.source)} |`);
    }
    lines.push('');
  }
  lines.push('## The agent itself', '', 'Under the `lookout_` prefix, including prom-client\'s process and Node.js metrics (`lookout_process_cpu_seconds_total`, `lookout_process_resident_memory_bytes`, ...).', '', '| name | type | description |', '|---|---|---|');
  for (const f of await new SelfMetrics('doc').families()) {
    if (f.name.startsWith('lookout_process_') || f.name.startsWith('lookout_nodejs_')) continue;
    lines.push(`| \`${f.name}\` | ${f.type} | ${cell(f.help)} |`);
  }
  lines.push('');
  return lines.join('\n');
}

interface SchemaNode {
  type?: string;
  description?: string;
  default?: unknown;
  properties?: Record<string, SchemaNode>;
  anyOf?: Array<{ const?: unknown }>;
  pattern?: string;
  minimum?: number;
  maximum?: number;
}

function walkSchema(node: SchemaNode, path: string, rows: string[]): void {
  if (node.type === 'object' && node.properties) {
    if (path && node.description) rows.push(`| \`${path}\` | section | | ${cell(node.description)} |`);
    for (const [k, child] of Object.entries(node.properties)) walkSchema(child, path ? `${path}.${k}` : k, rows);
    return;
  }
  const type = node.anyOf ? node.anyOf.map((a) => JSON.stringify(a.const)).join(' \\| ') : node.type ?? '';
  const range = [node.minimum !== undefined ? `>= ${node.minimum}` : '', node.maximum !== undefined ? `<= ${node.maximum}` : ''].filter(Boolean).join(', ');
  rows.push(`| \`${path}\` | ${type}${range ? ` (${range})` : ''} | \`${JSON.stringify(node.default)}\` | ${cell(node.description ?? '')} |`);
}

export function configurationDoc(): string {
  const rows: string[] = [];
  walkSchema(configSchema as TSchema as SchemaNode, '', rows);
  const flags = OPTIONS.map((o) => `| \`--${o.flag} ${o.arg}\` | \`${o.env}\` | ${o.key ? `\`${o.key.join('.')}\`` : '-'} | ${cell(o.help)} |`);
  return [
    '# Configuration',
    '',
    'Generated from the config schema by `npm run docs`; do not edit by hand.',
    '',
    'Sources, in rising precedence: defaults, the YAML file (`--config FILE`), environment variables,',
    'flags. In the YAML file, `${VAR}` and `${VAR:-default}` are replaced by environment variables',
    '(`$${` is a literal `${`). Unknown keys and bad values stop the agent with a message naming the',
    'key, the value and what is allowed; `lookout validate --config FILE` checks a file without starting.',
    '',
    '## Flags and environment variables',
    '',
    '| flag | environment | config key | description |',
    '|---|---|---|---|',
    ...flags,
    '',
    '## Settings',
    '',
    '| key | type | default | description |',
    '|---|---|---|---|',
    ...rows,
    '',
    '## Example',
    '',
    '```yaml',
    'root: /host',
    'server:',
    '  listen: 0.0.0.0:9337   # expose beyond loopback only behind a firewall or proxy',
    'log:',
    '  level: info',
    'collectors:',
    '  cgroups:',
    '    raw_cgroups: false    # containers and the root cgroup only',
    '```',
    '',
  ].join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const docs = new URL('../../docs/', import.meta.url);
  writeFileSync(new URL('metrics.md', docs), await metricsDoc());
  writeFileSync(new URL('configuration.md', docs), configurationDoc());
  process.stdout.write('wrote docs/metrics.md and docs/configuration.md\n');
}
