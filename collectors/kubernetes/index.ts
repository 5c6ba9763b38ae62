/**
 * Kubernetes identity without any API: the kubelet's log directories name every container it
 * runs (`/var/log/containers/<pod>_<namespace>_<container>-<id>.log`, a symlink into
 * `/var/log/pods/<namespace>_<pod>_<uid>/<container>/<attempt>.log`) and every pod it has
 * (`/var/log/pods/<namespace>_<pod>_<uid>/`). Whatever the runtime, this gives each container
 * id its namespace, pod, container name, pod UID and restart count, and each pod UID its
 * namespace and pod name, so that pod-level cgroups (`…/pod<uid>`) can be labelled too.
 *
 * It sets no `runtime` and no `name`: the runtime collectors own those, and the directory
 * merges field by field. Entries are keyed by container id, and by pod UID for pods (UIDs
 * and 64-hex ids cannot collide). An entry is removed when its symlink or pod directory goes,
 * unless a runtime collector claims it (it then removes it when the runtime forgets it).
 * Both directories are listed at start and at most once per `refresh_interval`; only new
 * symlinks are read.
 */
import { existsSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { CollectorFactory, ComponentContext } from '../../src/component.js';
import type { ContainerMeta } from '../../src/containers.js';
import { errnoCode, isVanished } from '../../src/errors.js';
import { listDir, type Located, RefreshingCollector, type Report } from '../../src/refresh.js';
import { configSchema, type KubernetesConfig } from './config.js';
import { hostPath } from '../../src/hostpath.js';
import { type LinkName, type LogTarget, parseLinkName, parseLinkTarget, parsePodDir, type PodDir } from './logs.js';

/** A container log symlink: what its name says, and its target when that could be read. */
interface Link {
  readonly name: LinkName;
  readonly target?: LogTarget;
}

export class KubernetesCollector extends RefreshingCollector {
  private podsDir = '';
  private linksDir = '';
  /** By symlink file name; null for a name that is not a kubelet symlink. */
  private readonly links = new Map<string, Link | null>();
  /** What was last written to the directory, by key (container id or pod UID). */
  private readonly written = new Map<string, string>();

  constructor(
    private readonly config: KubernetesConfig,
    ctx: ComponentContext,
  ) {
    super('kubernetes', config.enabled, config.refresh_interval, ctx);
  }

  protected locate(): Located {
    this.podsDir = hostPath(this.ctx.root, this.config.pod_logs_dir);
    this.linksDir = hostPath(this.ctx.root, this.config.container_logs_dir);
    return { present: existsSync(this.podsDir) || existsSync(this.linksDir), paths: { pod_logs_dir: this.podsDir, container_logs_dir: this.linksDir } };
  }

  protected refresh(report: Report): void {
    const names = new Set(listDir(this.linksDir, report));
    for (const name of names) {
      if (this.links.has(name)) continue;
      const link = this.readLink(name, report);
      if (link !== undefined) this.links.set(name, link);
    }
    for (const name of [...this.links.keys()]) if (!names.has(name)) this.links.delete(name);

    const pods: PodDir[] = [];
    const uidByPod = new Map<string, string | null>();
    for (const entry of listDir(this.podsDir, report)) {
      const p = parsePodDir(entry);
      if (p === undefined) continue;
      pods.push(p);
      const key = `${p.namespace}/${p.pod}`;
      // Two UIDs for one name (a pod deleted and created again): neither is certain.
      uidByPod.set(key, uidByPod.has(key) ? null : p.uid);
    }

    const wanted = new Map<string, ContainerMeta>();
    const attempts = new Map<string, number>();
    const podUid = (l: Link): string | undefined => l.target?.podUid ?? uidByPod.get(`${l.name.namespace}/${l.name.pod}`) ?? undefined;
    const group = (l: Link): string => `${podUid(l) ?? `${l.name.namespace}/${l.name.pod}`}\u0000${l.name.container}`;
    for (const l of this.links.values()) {
      if (l?.target === undefined) continue;
      const g = group(l);
      attempts.set(g, Math.max(attempts.get(g) ?? 0, l.target.attempt));
    }
    for (const l of this.links.values()) {
      if (l === null) continue;
      wanted.set(l.name.id, {
        namespace: l.name.namespace,
        pod: l.name.pod,
        container: l.name.container,
        podUid: podUid(l),
        restartCount: attempts.get(group(l)),
      });
    }
    for (const p of pods) wanted.set(p.uid, { namespace: p.namespace, pod: p.pod, podUid: p.uid });

    const dir = this.ctx.containers;
    for (const [key, meta] of wanted) {
      const text = JSON.stringify(meta);
      if (this.written.get(key) === text) continue;
      dir.update(key, meta);
      this.written.set(key, text);
    }
    for (const key of [...this.written.keys()]) {
      if (wanted.has(key)) continue;
      this.written.delete(key);
      if (dir.get(key) !== undefined && dir.get(key)?.runtime === undefined) dir.remove(key);
    }
  }

  /** Undefined when the symlink vanished meanwhile: it is looked at again if it comes back. */
  private readLink(file: string, report: Report): Link | null | undefined {
    const name = parseLinkName(file);
    if (name === undefined) return null;
    try {
      const target = parseLinkTarget(readlinkSync(join(this.linksDir, file)));
      return target === undefined ? { name } : { name, target };
    } catch (err) {
      if (isVanished(err)) return undefined;
      // A regular file where the kubelet puts symlinks: its name is all there is.
      if (errnoCode(err) !== 'EINVAL') report(err);
      return { name };
    }
  }
}

export const kubernetesCollector: CollectorFactory<KubernetesConfig> = {
  type: 'kubernetes',
  description:
    "Kubernetes identity without any API: namespace, pod, container, pod UID and restart count of each container, and the pod of each pod UID, from the kubelet's log directories.",
  configSchema,
  metrics: [],
  create: (config, ctx) => new KubernetesCollector(config, ctx),
};
