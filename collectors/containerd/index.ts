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
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { CollectorFactory, ComponentContext } from '../../src/component.js';
import { isVanished } from '../../src/errors.js';
import { listDir, type Located, RefreshingCollector, type Report } from '../../src/refresh.js';
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

export class ContainerdCollector extends RefreshingCollector {
  private stateDir = '';
  private readonly exclude: ReadonlySet<string>;
  private readonly bundles = new Map<string, Bundle>();

  constructor(
    private readonly config: ContainerdConfig,
    ctx: ComponentContext,
  ) {
    super('containerd', config.enabled, config.refresh_interval, ctx);
    this.exclude = new Set(config.exclude_namespaces);
  }

  protected locate(): Located {
    this.stateDir = hostPath(this.ctx.root, this.config.state_dir);
    return { present: existsSync(this.stateDir), paths: { state_dir: this.stateDir } };
  }

  /** Lists the bundles, parses new or changed ones, forgets the ones that went away. */
  protected refresh(report: Report): void {
    const dir = this.ctx.containers;
    const live = new Set<string>();
    for (const ns of listDir(this.stateDir, report)) {
      if (this.exclude.has(ns)) continue;
      for (const id of listDir(join(this.stateDir, ns), report)) {
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
}

export const containerdCollector: CollectorFactory<ContainerdConfig> = {
  type: 'containerd',
  description:
    "containerd metadata (Kubernetes namespace, pod, container, pod UID and image from the CRI annotations; nerdctl names) from the OCI bundles its shims keep, without its API.",
  configSchema,
  metrics: [],
  create: (config, ctx) => new ContainerdCollector(config, ctx),
};
