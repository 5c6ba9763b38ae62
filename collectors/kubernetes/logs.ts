/**
 * The kubelet's log layout, which names every container it runs without any API
 * (pkg/kubelet/kuberuntime: BuildPodLogsDirectory, BuildContainerLogsDirectory,
 * buildContainerLogsPath, logSymlink):
 *
 * - `<podLogsDir>/<namespace>_<pod>_<uid>/<container>/<attempt>.log`, the file the runtime
 *   writes (attempt = the container's restart count when it was started);
 * - `/var/log/containers/<pod>_<namespace>_<container>-<container id>.log`, a symlink to it.
 *
 * Kubernetes names cannot contain `_`, so the first two `_`-fields are unambiguous and the
 * container id is the 64 hex digits after the last `-`. The kubelet cuts symlink names at
 * 255 characters, losing the id of very long names: those are not recognized.
 */

export interface LinkName {
  readonly pod: string;
  readonly namespace: string;
  readonly container: string;
  readonly id: string;
}

export interface LogTarget {
  readonly namespace?: string;
  readonly pod?: string;
  readonly podUid: string;
  readonly container: string;
  readonly attempt: number;
}

export interface PodDir {
  readonly namespace: string;
  readonly pod: string;
  readonly uid: string;
}

const LINK = /^([^_/]+)_([^_/]+)_([^_/]+)-([0-9a-f]{64})\.log$/;
const TARGET = /(?:^|\/)([^/_]+)_([^/_]+)_([^/_]+)\/([^/]+)\/(\d+)\.log$/;
/** Kubelets before 1.14: `/var/log/pods/<uid>/<container>/<attempt>.log`, earlier `<container>_<attempt>.log`. */
const LEGACY_TARGET = /(?:^|\/)([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\/([^/_]+)[/_](\d+)\.log$/;
const POD_DIR = /^([^_/]+)_([^_/]+)_([^_/]+)$/;

/** A `/var/log/containers` entry's name; undefined for anything else. */
export function parseLinkName(name: string): LinkName | undefined {
  const m = LINK.exec(name);
  if (!m) return undefined;
  return { pod: m[1] as string, namespace: m[2] as string, container: m[3] as string, id: m[4] as string };
}

/** Where such a symlink points: the pod's UID and the attempt number. */
export function parseLinkTarget(target: string): LogTarget | undefined {
  let m = TARGET.exec(target);
  if (m) return { namespace: m[1] as string, pod: m[2] as string, podUid: m[3] as string, container: m[4] as string, attempt: Number(m[5]) };
  m = LEGACY_TARGET.exec(target);
  if (m) return { podUid: m[1] as string, container: m[2] as string, attempt: Number(m[3]) };
  return undefined;
}

/** A pod log directory's name. Static pods' UIDs are config hashes, not UUIDs. */
export function parsePodDir(name: string): PodDir | undefined {
  const m = POD_DIR.exec(name);
  if (!m) return undefined;
  return { namespace: m[1] as string, pod: m[2] as string, uid: m[3] as string };
}
