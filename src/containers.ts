/**
 * The container directory: what the runtime collectors know about each container (name,
 * image, labels, Kubernetes identity, lifecycle), shared through the component context so
 * that every collector labels a container the same way. Runtime collectors write it; the
 * cgroup collector and the lifecycle metrics read it. Nothing here does I/O.
 */
import { Labels, sanitizeLabelName } from './model.js';

export type Runtime = 'docker' | 'containerd' | 'crio' | 'podman' | 'kubernetes';

export interface ContainerMeta {
  readonly runtime?: Runtime;
  /** cAdvisor's `name`: the Docker or Podman name; the container id for CRI runtimes. */
  readonly name?: string;
  readonly image?: string;
  readonly imageId?: string;
  /** Runtime labels (Docker labels, pod labels); exported only through the allow-list. */
  readonly labels?: Readonly<Record<string, string>>;
  readonly namespace?: string;
  readonly pod?: string;
  readonly container?: string;
  readonly podUid?: string;
  /** created, running, paused, restarting, exited, dead, removing (Docker's words). */
  readonly state?: string;
  readonly restartCount?: number;
  /** Seconds since the epoch. */
  readonly startedAt?: number;
  readonly finishedAt?: number;
  readonly exitCode?: number;
  readonly oomKilled?: boolean;
  /** A process in the container, for its network namespace. */
  readonly pid?: number;
  /** Where the runtime puts the container's cgroup, for series of a container whose cgroup was never read. */
  readonly cgroupPath?: string;
}

interface Entry {
  meta: ContainerMeta;
  version: number;
  /** Identity labels by cgroup path, valid for `version`. */
  labels?: { path: string; version: number; value: Labels };
  /** OOM kills last read from the kernel's counter while the cgroup existed. */
  kernelOomKills: number;
  /** OOM events the runtime reported (Docker's `oom` event) since the agent started. */
  runtimeOomEvents: number;
  /** The last cgroup path seen for it, and when (ms), set by the cgroup collector. */
  cgroupPath?: string;
  cgroupSeenAt: number;
}

export class ContainerDirectory {
  private readonly entries = new Map<string, Entry>();
  private readonly allowed: ReadonlyArray<readonly [string, string]>;

  /** @param allowLabels runtime label keys to export, as `container_label_<sanitized key>`. */
  constructor(allowLabels: readonly string[] = []) {
    this.allowed = allowLabels.map((k) => [k, `container_label_${sanitizeLabelName(k)}`] as const);
  }

  private entry(id: string): Entry {
    let e = this.entries.get(id);
    if (e === undefined) {
      e = { meta: {}, version: 0, kernelOomKills: 0, runtimeOomEvents: 0, cgroupSeenAt: 0 };
      this.entries.set(id, e);
    }
    return e;
  }

  /** Merges what a runtime collector learned; undefined fields keep their value. */
  update(id: string, meta: ContainerMeta): void {
    const e = this.entry(id);
    const merged: Record<string, unknown> = { ...e.meta };
    let changed = false;
    for (const [k, v] of Object.entries(meta)) {
      if (v === undefined) continue;
      const old = merged[k];
      if (old !== v && JSON.stringify(old) !== JSON.stringify(v)) {
        merged[k] = v;
        changed = true;
      }
    }
    if (changed) {
      e.meta = merged as ContainerMeta;
      e.version++;
    }
  }

  /** The runtime removed the container: forget it. */
  remove(id: string): void {
    this.entries.delete(id);
  }

  get(id: string): ContainerMeta | undefined {
    return this.entries.get(id)?.meta;
  }

  ids(): IterableIterator<string> {
    return this.entries.keys();
  }

  /**
   * Identity labels of a container's series, as the kubelet's cAdvisor names them; cached
   * until the metadata changes. `fallbackName` (the container id) names a container no
   * runtime collector knows, so that it never looks like a raw cgroup.
   */
  identity(id: string, cgroupPath: string, fallbackName = ''): Labels {
    const e = this.entries.get(id);
    if (e?.labels && e.labels.version === e.version && e.labels.path === cgroupPath) return e.labels.value;
    const m = e?.meta ?? {};
    const pairs: Array<[string, string]> = [
      ['id', cgroupPath],
      ['image', m.image ?? ''],
      ['name', m.name ?? fallbackName],
    ];
    if (m.namespace !== undefined) pairs.push(['namespace', m.namespace]);
    if (m.pod !== undefined) pairs.push(['pod', m.pod]);
    if (m.container !== undefined) pairs.push(['container', m.container]);
    for (const [key, label] of this.allowed) {
      const v = m.labels?.[key];
      if (v !== undefined) pairs.push([label, v]);
    }
    const value = new Labels(pairs);
    if (e) e.labels = { path: cgroupPath, version: e.version, value };
    return value;
  }

  /**
   * Called by the cgroup collector for each container cgroup it read. Only containers a
   * runtime collector knows are recorded: the directory holds nothing that no runtime
   * collector will ever remove.
   */
  sawCgroup(id: string, path: string, at: number, oomKills: number | undefined): void {
    const e = this.entries.get(id);
    if (!e) return;
    e.cgroupPath = path;
    e.cgroupSeenAt = at;
    if (oomKills !== undefined && oomKills > e.kernelOomKills) e.kernelOomKills = oomKills;
  }

  /** When the container's cgroup was last read (ms since the epoch), 0 if never. */
  cgroupSeenAt(id: string): number {
    return this.entries.get(id)?.cgroupSeenAt ?? 0;
  }

  lastCgroupPath(id: string): string | undefined {
    return this.entries.get(id)?.cgroupPath;
  }

  /**
   * Why the container last terminated, in Kubernetes' words: OOMKilled when the runtime says
   * so, or when it exited with SIGKILL's 137 after an OOM event (dockerd records
   * OOMKilled=false when the exit beats the OOM notification); else Completed or Error.
   */
  lastTerminationReason(id: string): 'OOMKilled' | 'Completed' | 'Error' | undefined {
    const e = this.entries.get(id);
    const m = e?.meta;
    if (!e || m?.exitCode === undefined || m.finishedAt === undefined) return undefined;
    if (m.oomKilled || (m.exitCode === 137 && e.runtimeOomEvents > 0)) return 'OOMKilled';
    return m.exitCode === 0 ? 'Completed' : 'Error';
  }

  /** Counts a runtime OOM event (Docker's `oom`). */
  runtimeOom(id: string): void {
    this.entry(id).runtimeOomEvents++;
  }

  /**
   * OOM kills of a container whose cgroup is gone. The kernel's counter as last read, plus
   * the kill that ended the container when the runtime says it was OOM-killed after that
   * read (its cgroup is usually removed before any collection can see the final kill);
   * never less than the runtime's own OOM events. The kernel and the runtime count the same
   * kills, so the two are never added.
   */
  oomKillsAfterExit(id: string): number {
    const e = this.entries.get(id);
    if (!e) return 0;
    const finalKill = e.meta.oomKilled === true && (e.meta.finishedAt ?? Infinity) * 1000 > e.cgroupSeenAt ? 1 : 0;
    return Math.max(e.kernelOomKills + finalKill, e.runtimeOomEvents);
  }
}

/**
 * The string-valued entries of a JSON object (runtime labels, annotations), in an object
 * without a prototype so that any key, `__proto__` included, is kept as a label.
 */
export function stringMap(v: unknown): Record<string, string> {
  const out = Object.create(null) as Record<string, string>;
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x;
  }
  return out;
}
