/**
 * What the metadata collectors that read a runtime's state from disk share (containerd's
 * bundles, CRI-O's storage, the kubelet's log directories, Podman's storage): activation by
 * `enabled: auto|true|false` (auto = when the runtime's files exist under the host root), a
 * first refresh at start, then at most one refresh per `refresh_interval`, driven by
 * collect() so that an idle agent does no work, and errors met outside a collection
 * reported in the next one.
 */
import { readdirSync } from 'node:fs';
import type { Collector, ComponentContext } from './component.js';
import { isVanished } from './errors.js';
import type { Accumulator } from './model.js';
import { parseDuration } from './schema.js';

/** Receives an error met while refreshing; the refresh goes on. */
export type Report = (err: unknown) => void;

/** Where a runtime keeps its state, and whether any of it exists. */
export interface Located {
  readonly present: boolean;
  /** The paths looked at, for the log line when the runtime is enabled but absent. */
  readonly paths: Readonly<Record<string, string>>;
}

export abstract class RefreshingCollector implements Collector {
  protected active = false;
  private lastRefresh = 0;
  private readonly refreshMs: number;
  /** Errors met outside a collection (start, background work), reported in the next one. */
  protected readonly errors: unknown[] = [];

  constructor(
    private readonly runtime: string,
    private readonly enabled: boolean | 'auto',
    refreshInterval: string,
    protected readonly ctx: ComponentContext,
  ) {
    this.refreshMs = parseDuration(refreshInterval);
  }

  /** Resolves the runtime's paths under the host root; called once by start(). */
  protected abstract locate(): Located;

  /** Re-reads the runtime's state and updates the container directory. Must not throw. */
  protected abstract refresh(report: Report): void;

  /** Called after every refresh, for background work such as asking a socket. */
  protected afterRefresh(): void {}

  async start(): Promise<void> {
    if (this.enabled === false) return;
    const where = this.locate();
    this.active = this.enabled === true || where.present;
    if (!this.active) return;
    if (!where.present) this.ctx.log.warn(where.paths, `${this.runtime} enabled but none of its paths exists yet; waiting for them`);
    this.refresh((err) => this.errors.push(err));
    this.lastRefresh = this.ctx.now();
    this.afterRefresh();
  }

  async collect(acc: Accumulator): Promise<void> {
    if (!this.active) return;
    for (const err of this.errors.splice(0)) acc.error('metadata', err);
    if (acc.time - this.lastRefresh >= this.refreshMs) {
      this.lastRefresh = acc.time;
      this.refresh((err) => acc.error('metadata', err));
      this.afterRefresh();
    }
  }

  async shutdown(): Promise<void> {
    this.active = false;
  }
}

/** A directory's entries; none when it does not exist (a runtime not started yet, or gone). */
export function listDir(path: string, report: Report): string[] {
  try {
    return readdirSync(path);
  } catch (err) {
    if (!isVanished(err)) report(err);
    return [];
  }
}
