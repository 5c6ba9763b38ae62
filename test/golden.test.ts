/**
 * Golden tests: every `collectors/<type>/testdata/<case>/` that holds `config.yaml`, `root/`
 * and `expected.prom` is replayed here. The case's config.yaml is validated as the agent's
 * own config with `root` pointing at the case's `root/`; the collectors it names under
 * `collectors:` (and leaves enabled) are created from the registry with a fixed clock, run
 * through start, one collect and shutdown into a SnapshotBuilder, and the snapshot is
 * rendered in the Prometheus text format and compared with expected.prom. Errors the
 * collectors report are counted per `<collector>/<kind>` and compared with
 * `expected-errors.json` (no file: no errors allowed).
 *
 * Only the collectors a case names run, so that a new collector (enabled by default)
 * added to the registry does not change every other collector's goldens.
 *
 * `UPDATE_GOLDEN=1 npx vitest run test/golden.test.ts` rewrites expected.prom and
 * expected-errors.json from what the collectors produce: review the diff before
 * committing it, and keep the hand checks in collectors/cgroups/cgroups.test.ts passing.
 */
import { existsSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { detectLayout } from '../collectors/cgroups/layout.js';
import { collectors } from '../collectors/index.js';
import { catalogue } from '../src/agent.js';
import type { ComponentContext } from '../src/component.js';
import { validate } from '../src/config.js';
import { ContainerDirectory } from '../src/containers.js';
import { createContext } from '../src/context.js';
import { render } from '../src/exposition.js';
import { SnapshotBuilder } from '../src/model.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const UPDATE = process.env['UPDATE_GOLDEN'] === '1';

/** The fake clock: every collection happens at 2026-11-25T00:05:00Z, just after v1-hybrid-docker was captured. */
const GOLDEN_NOW_MS = Date.UTC(2026, 10, 25, 0, 5, 0);

/**
 * Placeholder in expected.prom for `container_start_time_seconds` of a cgroup that has no
 * runtime start time, where the collector reports the creation time of the cgroup
 * directory: its ctime, which git cannot store (a checkout sets it, and nothing can set
 * it back). Rather than leave those lines out, the runner checks each such value against
 * the ctime of that very directory in the checkout, `floor(ctimeMs / 1000)` of
 * `<walk hierarchy>/<id>`, and only then writes it as this placeholder before comparing.
 * Before the run, the runner sets every cgroup directory's mtime to MTIME_S, which lies
 * years before any checkout: a collector that used mtime (or any time but ctime) would
 * print a number, not the placeholder, and fail the comparison.
 */
const CTIME = '<cgroup-dir-ctime>';
const MTIME_S = 1_500_000_000;

interface Case {
  readonly name: string;
  readonly dir: string;
}

function cases(): Case[] {
  const out: Case[] = [];
  const base = join(repo, 'collectors');
  for (const collector of readdirSync(base).sort()) {
    const td = join(base, collector, 'testdata');
    if (!existsSync(td)) continue;
    for (const c of readdirSync(td).sort()) {
      const dir = join(td, c);
      // Under UPDATE_GOLDEN a new case needs no expected.prom yet.
      const needed = UPDATE ? ['config.yaml', 'root'] : ['config.yaml', 'root', 'expected.prom'];
      if (needed.every((f) => existsSync(join(dir, f)))) out.push({ name: `${collector}/${c}`, dir });
    }
  }
  return out;
}

function dirsUnder(dir: string, out: string[] = []): string[] {
  out.push(dir);
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) dirsUnder(join(dir, e.name), out);
  return out;
}

/** The hierarchy the cgroup collector walks in this root, if it has a cgroup tree. */
function walkRoot(root: string): string | undefined {
  const cg = join(root, 'sys/fs/cgroup');
  return existsSync(cg) ? detectLayout(cg).walkRoot : undefined;
}

/** Replaces each start time equal to its cgroup directory's ctime by the placeholder (see CTIME). */
function normalizeCtimes(text: string, walk: string | undefined): string {
  if (walk === undefined) return text;
  return text.replace(/^(container_start_time_seconds\{id="([^"]*)"[^}]*\}) (\S+)$/gm, (line, head: string, id: string, value: string) => {
    let ctime: number;
    try {
      ctime = Math.floor(statSync(join(walk, id)).ctimeMs / 1000);
    } catch {
      return line;
    }
    return Number(value) === ctime ? `${head} ${CTIME}` : line;
  });
}

async function run(c: Case): Promise<{ text: string; errors: Record<string, number> }> {
  const root = join(c.dir, 'root');
  const doc = (parseYaml(readFileSync(join(c.dir, 'config.yaml'), 'utf8')) ?? {}) as Record<string, unknown>;
  const config = validate({ ...doc, root }, relative(repo, join(c.dir, 'config.yaml')));
  const named = Object.keys((doc['collectors'] ?? {}) as Record<string, unknown>);
  const log = pino({ level: 'silent' });
  const ctx: ComponentContext = createContext({ root: config.root, now: () => GOLDEN_NOW_MS, log, containers: new ContainerDirectory(config.container_labels) });
  const running = collectors
    .filter((f) => named.includes(f.type))
    .map((f) => ({ f, cfg: (config.collectors as Record<string, { enabled: unknown }>)[f.type] }))
    .filter(({ cfg }) => cfg !== undefined && cfg.enabled !== false)
    .map(({ f, cfg }) => ({ type: f.type, collector: f.create(cfg, { ...ctx, log: log.child({ collector: f.type }) }) }));
  expect(running.length, `${c.name}: config.yaml enables no registered collector`).toBeGreaterThan(0);

  const errors: Record<string, number> = {};
  let current = '';
  const builder = new SnapshotBuilder(GOLDEN_NOW_MS, (kind) => {
    const key = `${current}/${kind}`;
    errors[key] = (errors[key] ?? 0) + 1;
  });
  const abort = new AbortController();
  for (const { collector } of running) await collector.start(abort.signal);
  for (const { type, collector } of running) {
    current = type;
    await collector.collect(builder);
  }
  for (const { collector } of running) await collector.shutdown();
  abort.abort();

  return { text: normalizeCtimes(render(builder.build(catalogue()).families, 'text'), walkRoot(root)), errors };
}

describe('golden', () => {
  const all = cases();

  it('finds the golden cases', () => {
    expect(all.map((c) => c.name)).toEqual(expect.arrayContaining(['cgroups/v1-hybrid-docker', 'cgroups/v2-systemd', 'cgroups/v1-cgroupfs-kube', 'cgroups/malformed', 'host/real', 'host/two-socket']));
  });

  for (const c of all) {
    it(c.name, async () => {
      const cg = join(c.dir, 'root/sys/fs/cgroup');
      if (existsSync(cg)) for (const d of dirsUnder(cg)) utimesSync(d, MTIME_S, MTIME_S);
      const { text, errors } = await run(c);
      const expectedFile = join(c.dir, 'expected.prom');
      const errorsFile = join(c.dir, 'expected-errors.json');
      if (UPDATE) {
        writeFileSync(expectedFile, text);
        if (Object.keys(errors).length > 0) writeFileSync(errorsFile, `${JSON.stringify(errors, Object.keys(errors).sort(), 2)}\n`);
      }
      expect(text).toBe(readFileSync(expectedFile, 'utf8'));
      const expectedErrors = existsSync(errorsFile) ? (JSON.parse(readFileSync(errorsFile, 'utf8')) as Record<string, number>) : {};
      expect(errors).toEqual(expectedErrors);
    });
  }
});
