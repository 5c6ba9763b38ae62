/**
 * Finds cgroups by walking one hierarchy and recognizes the container layouts of each
 * runtime and cgroup driver, as cAdvisor's container handlers do.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { isVanished } from '../../src/errors.js';

export type Runtime = 'docker' | 'containerd' | 'crio' | 'podman' | 'kubernetes';

export interface CgroupRef {
  /** Path relative to the hierarchy root, `/`-prefixed: the `id` label, as cAdvisor names it. */
  readonly path: string;
  /** Set for a container; undefined for a raw cgroup (the root, a systemd service, a slice). */
  readonly container?: ContainerRef;
  /** For a pod-level cgroup (`.../pod<uid>`), the pod's UID, so it can carry namespace and pod labels. */
  readonly podUid?: string;
}

export interface ContainerRef {
  /** The runtime that the path's shape names; `kubernetes` when only the pod layout says it. */
  readonly runtime: Runtime;
  /** The 64-hex container id. */
  readonly id: string;
  /** Pod UID, from a `pod<uid>` component, for Kubernetes containers. */
  readonly podUid?: string;
  readonly qosClass?: 'guaranteed' | 'burstable' | 'besteffort';
}

const HEX64 = '([0-9a-f]{64})';
/** Leaf-name patterns; the conmon scopes of CRI-O and Podman (`crio-conmon-`, `libpod-conmon-`) do not match. */
const SCOPES: ReadonlyArray<readonly [RegExp, Runtime]> = [
  [new RegExp(`^docker-${HEX64}\\.scope$`), 'docker'],
  [new RegExp(`^cri-containerd-${HEX64}\\.scope$`), 'containerd'],
  [new RegExp(`^nerdctl-${HEX64}\\.scope$`), 'containerd'],
  [new RegExp(`^crio-${HEX64}(?:\\.scope)?$`), 'crio'],
  [new RegExp(`^libpod-${HEX64}(?:\\.scope)?$`), 'podman'],
];
const BARE_ID = new RegExp(`^${HEX64}$`);
/** A pod's UID: a UUID, or the 32-hex config hash the kubelet gives static pods. */
const POD = /pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}|[0-9a-f]{32})(?:\.slice)?$/;

/** The pod UID of a pod-level cgroup path, if its last component is one. */
export function podOf(path: string): string | undefined {
  const leaf = path.slice(path.lastIndexOf('/') + 1);
  const m = POD.exec(leaf);
  return m && m.index === leaf.length - m[0].length && /^(?:kubepods.*-)?pod/.test(leaf) ? (m[1] ?? '').replace(/_/g, '-') : undefined;
}

/** Classifies one cgroup path; undefined for a raw cgroup. */
export function classify(path: string): ContainerRef | undefined {
  const parts = path.split('/').filter((p) => p.length > 0);
  const leaf = parts[parts.length - 1];
  if (leaf === undefined) return undefined;
  const parent = parts[parts.length - 2];
  let runtime: Runtime | undefined;
  let id: string | undefined;
  for (const [re, rt] of SCOPES) {
    const m = re.exec(leaf);
    if (m) {
      runtime = rt;
      id = m[1];
      break;
    }
  }
  const pod = parent !== undefined ? POD.exec(parent) : null;
  if (runtime === undefined) {
    const bare = BARE_ID.exec(leaf);
    if (bare && (parent === 'docker' || pod)) {
      runtime = parent === 'docker' ? 'docker' : 'kubernetes';
      id = bare[1];
    }
  }
  if (runtime === undefined || id === undefined) return undefined;
  if (!pod) return { runtime, id };
  const qos = parts.some((p) => p.includes('besteffort')) ? 'besteffort' : parts.some((p) => p.includes('burstable')) ? 'burstable' : 'guaranteed';
  return { runtime, id, podUid: (pod[1] ?? '').replace(/_/g, '-'), qosClass: qos };
}

/**
 * Walks the tree under `hierarchyRoot`. Containers are leaves for this walk: their own
 * sub-cgroups (systemd inside a container, say) belong to them. A directory that vanishes
 * mid-walk is skipped.
 */
export function walk(hierarchyRoot: string, includeRaw: boolean): CgroupRef[] {
  const out: CgroupRef[] = [{ path: '/' }];
  const visit = (rel: string): void => {
    let entries;
    try {
      entries = readdirSync(join(hierarchyRoot, rel), { withFileTypes: true });
    } catch (err) {
      if (isVanished(err)) return;
      throw err;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const path = rel === '/' ? `/${e.name}` : `${rel}/${e.name}`;
      const container = classify(path);
      if (container) out.push({ path, container });
      else {
        if (includeRaw) {
          const podUid = podOf(path);
          out.push(podUid === undefined ? { path } : { path, podUid });
        }
        visit(path);
      }
    }
  };
  visit('/');
  return out;
}
