/**
 * containerd metadata without a gRPC client: the OCI bundles its shims keep under the task
 * state directory (`/run/containerd/io.containerd.runtime.v2.task/<namespace>/<id>/`) name
 * every running container. Kubernetes containers and sandboxes get namespace, pod, container,
 * pod UID and image from the CRI plugin's annotations; nerdctl containers their nerdctl name.
 * Docker's own namespace (`moby`) is left to the docker collector.
 *
 * A bundle exists from task creation to task deletion, so a container is `running` while its
 * bundle is there and is forgotten when it goes. The directory is listed at start and then at
 * most once per `refresh_interval`, from collect(); only config.json files whose mtime or
 * size changed are parsed again. No containerd API is called.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Collector, CollectorFactory, ComponentContext } from '../../src/component.js';
import { isVanished } from '../../src/errors.js';
import type { Accumulator } from '../../src/model.js';
import { parseDuration } from '../../src/schema.js';
import { fileVersion } from '../kubernetes/cri.js';
import { hostPath } from '../../src/hostpath.js';
import { configSchema, type ContainerdConfig } from './config.js';
import { parseBundle, parsePid } from './meta.js';

interface Bundle {
  namespace: string;
  /** config.json's version last parsed (even when it did not parse: reported once). */
  version: string;
  pid?: number;
}

export class ContainerdCollector implements Collector {
  private active = false;
  private stateDir = '';
  private lastRefresh = 0;
  private readonly refreshMs: number;
  private readonly exclude: ReadonlySet<string>;
  private readonly bundles = new Map<string, Bundle>();
  /** Errors met in start(), reported in the first collection. */
  private readonly startErrors: unknown[] = [];

  constructor(
    private readonly config: ContainerdConfig,
    private readonly ctx: ComponentContext,
  ) {
    this.refreshMs = parseDuration(config.refresh_interval);
    this.exclude = new Set(config.exclude_namespaces);
  }

  async start(): Promise<void> {
    if (this.config.enabled === false) return;
    this.stateDir = hostPath(this.ctx.root, this.config.state_dir);
    const present = existsSync(this.stateDir);
    this.active = this.config.enabled === true || present;
    if (!this.active) return;
    if (!present) this.ctx.log.warn({ state_dir: this.stateDir }, 'containerd enabled but its task state directory does not exist; waiting for it');
    this.refresh((err) => this.startErrors.push(err));
    this.lastRefresh = this.ctx.now();
  }

  async collect(acc: Accumulator): Promise<void> {
    if (!this.active) return;
    for (const err of this.startErrors.splice(0)) acc.error('metadata', err);
    if (acc.time - this.lastRefresh >= this.refreshMs) {
      this.lastRefresh = acc.time;
      this.refresh((err) => acc.error('metadata', err));
    }
  }

  async shutdown(): Promise<void> {
    this.active = false;
  }

  /** Lists the bundles, parses new or changed ones, forgets the ones that went away. */
  private refresh(report: (err: unknown) => void): void {
    const dir = this.ctx.containers;
    const live = new Set<string>();
    for (const ns of this.list(this.stateDir, report)) {
      if (this.exclude.has(ns)) continue;
      for (const id of this.list(join(this.stateDir, ns), report)) {
        const bundle = join(this.stateDir, ns, id);
        let version: string;
        try {
          version = fileVersion(statSync(join(bundle, 'config.json')));
        } catch (err) {
          // Being created or deleted: no container to name this time.
          if (!isVanished(err)) report(err);
          continue;
        }
        live.add(id);
        let b = this.bundles.get(id);
        if (b === undefined || b.version !== version || b.namespace !== ns) {
          b = { namespace: ns, version };
          this.bundles.set(id, b);
          try {
            dir.update(id, parseBundle(readFileSync(join(bundle, 'config.json'), 'utf8'), id, ns));
          } catch (err) {
            if (isVanished(err)) live.delete(id);
            else report(err);
            continue;
          }
        }
        // The shim writes init.pid once runc has created the task, after config.json.
        if (b.pid === undefined) {
          try {
            b.pid = parsePid(readFileSync(join(bundle, 'init.pid'), 'utf8'));
            if (b.pid !== undefined) dir.update(id, { pid: b.pid });
          } catch (err) {
            if (!isVanished(err)) report(err);
          }
        }
      }
    }
    for (const id of [...this.bundles.keys()]) {
      if (live.has(id)) continue;
      this.bundles.delete(id);
      if (dir.get(id)?.runtime === 'containerd') dir.remove(id);
    }
  }

  private list(path: string, report: (err: unknown) => void): string[] {
    try {
      return readdirSync(path);
    } catch (err) {
      if (!isVanished(err)) report(err);
      return [];
    }
  }
}

export const containerdCollector: CollectorFactory<ContainerdConfig> = {
  type: 'containerd',
  description:
    "containerd metadata (Kubernetes namespace, pod, container, pod UID and image from the CRI annotations; nerdctl names) from the OCI bundles its shims keep, without its API.",
  configSchema,
  metrics: [],
  create: (config, ctx) => new ContainerdCollector(config, ctx),
};
