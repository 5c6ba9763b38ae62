/**
 * Writes the dashboards (dashboards/*.json) and the alert rules
 * (dashboards/alerts/lookout.rules.yaml).
 *
 *   node dist/dashboards/src/generate.js [--out DIR] [--selector 'job="lookout"'] [--runbook-url URL] [--check]
 *
 * --out       where to write (default: the dashboards/ folder of this checkout)
 * --selector  label matchers every alert expression uses (default job="lookout")
 * --check     write nothing; exit 1 and name the files that differ from a fresh generation
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_ALERT_CONFIG, type AlertConfig } from './alerts.js';
import { renderAll } from './render.js';

/** The checkout's dashboards/ folder: the nearest ancestor with package.json and dashboards/. */
export function dashboardsDir(from: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = resolve(from);
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'dashboards', 'src'))) return join(dir, 'dashboards');
    const up = dirname(dir);
    if (up === dir) throw new Error(`no dashboards/ folder above ${from}; pass --out`);
    dir = up;
  }
}

/** Files whose content on disk differs from `files` (missing ones included). */
export function staleFiles(outDir: string, files: ReadonlyMap<string, string>): string[] {
  return [...files].filter(([rel, content]) => {
    const path = join(outDir, rel);
    return !existsSync(path) || readFileSync(path, 'utf8') !== content;
  }).map(([rel]) => rel);
}

export function main(argv: readonly string[]): number {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      out: { type: 'string' },
      selector: { type: 'string' },
      'runbook-url': { type: 'string' },
      check: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const cfg: AlertConfig = {
    selector: values.selector ?? DEFAULT_ALERT_CONFIG.selector,
    runbookUrl: values['runbook-url'] ?? DEFAULT_ALERT_CONFIG.runbookUrl,
  };
  const out = values.out !== undefined ? resolve(values.out) : dashboardsDir();
  const files = renderAll(cfg);
  if (values.check) {
    const stale = staleFiles(out, files);
    for (const f of stale) process.stderr.write(`out of date: ${join(out, f)}\n`);
    return stale.length === 0 ? 0 : 1;
  }
  for (const [rel, content] of files) {
    const path = join(out, rel);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, content);
    process.stdout.write(`wrote ${path}\n`);
  }
  return 0;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
