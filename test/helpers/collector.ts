/**
 * A metadata collector run by hand on a fake clock, for the runtime collectors' tests: each
 * collect() advances the clock, gathers into a fresh snapshot and keeps the errors it reported;
 * what the collector logs is kept too. Registers its shutdown with the caller's cleanups.
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Collector, CollectorFactory, ComponentContext } from '../../src/component.js';
import { ContainerDirectory } from '../../src/containers.js';
import { createContext } from '../../src/context.js';
import { type Snapshot, SnapshotBuilder } from '../../src/model.js';

export type Cleanups = Array<() => Promise<void> | void>;

export interface LogLine {
  level: number;
  msg: string;
}

export interface Harness {
  ctx: ComponentContext;
  dir: ContainerDirectory;
  collector: Collector;
  errors: Array<{ kind: string; err: unknown }>;
  logs: LogLine[];
  /** Collectors that gather into the same snapshot before this one (a runtime beside the kubelet's logs). */
  extra: Collector[];
  collect(advanceMs?: number): Promise<Snapshot>;
}

export function harness<C>(
  factory: CollectorFactory<C>,
  config: C,
  root: string,
  cleanups: Cleanups,
  opts: { advanceMs?: number; containerLabels?: readonly string[] } = {},
): Harness {
  let clock = 1_800_000_000_000;
  const logs: LogLine[] = [];
  const log = pino({ level: 'info' }, { write: (s: string) => logs.push(JSON.parse(s) as LogLine) });
  const ctx = createContext({ root, now: () => clock, log, containers: new ContainerDirectory(opts.containerLabels ?? []) });
  const collector = factory.create(config, ctx);
  cleanups.push(() => collector.shutdown());
  const errors: Harness['errors'] = [];
  const extra: Collector[] = [];
  const collect = async (advanceMs = opts.advanceMs ?? 1000): Promise<Snapshot> => {
    clock += advanceMs;
    const b = new SnapshotBuilder(clock, (kind, err) => errors.push({ kind, err }));
    for (const c of extra) await c.collect(b);
    await collector.collect(b);
    return b.build();
  };
  return { ctx, dir: ctx.containers, collector, errors, logs, extra, collect };
}

/** A private host root, copied from fixture trees (symlinks kept as written), removed after the test. */
export function tmpRoot(cleanups: Cleanups, prefix: string, ...from: string[]): string {
  const root = mkdtempSync(join(tmpdir(), `lookout-${prefix}-`));
  cleanups.push(() => rmSync(root, { recursive: true, force: true }));
  for (const f of from) cpSync(f, root, { recursive: true, verbatimSymlinks: true });
  return root;
}
