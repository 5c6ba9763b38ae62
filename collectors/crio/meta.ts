/**
 * What CRI-O says about a container, in the two places it says it:
 *
 * - its info endpoint, `GET /containers/<id>` (CRI-O's `types.ContainerInfo`: name, pid,
 *   image, image_ref, created_time, labels, annotations, crio_annotations, log_path, root,
 *   sandbox, ip_addresses): `labels` are the CRI labels the kubelet set
 *   (`io.kubernetes.pod.*`, `io.kubernetes.container.name`; a sandbox's are the pod's labels
 *   plus `io.kubernetes.container.name=POD`), `annotations` the kubelet's CRI annotations
 *   (`io.kubernetes.container.restartCount`, ...), `crio_annotations` the OCI spec's;
 * - the OCI spec it saves in containers/storage,
 *   `<storage_root>/overlay-containers/<id>/userdata/config.json`, whose annotations hold the
 *   same facts (`io.kubernetes.cri-o.*`, with the labels and the kubelet's annotations as JSON
 *   strings in `io.kubernetes.cri-o.Labels` and `io.kubernetes.cri-o.Annotations`).
 *
 * Podman keeps its containers in the same storage; their specs say
 * `io.container.manager: libpod` and are not CRI-O's.
 */
import type { ContainerMeta } from '../../src/containers.js';
import { LookoutError } from '../../src/errors.js';
import { expandSlice, runcCgroupPath, str } from '../kubernetes/cri.js';
import { stringMap } from '../../src/containers.js';

/** CRI-O's spec annotations (pkg/annotations, internal/annotations). */
export const CRIO = {
  manager: 'io.container.manager',
  containerType: 'io.kubernetes.cri-o.ContainerType',
  containerName: 'io.kubernetes.cri-o.ContainerName',
  image: 'io.kubernetes.cri-o.Image',
  imageName: 'io.kubernetes.cri-o.ImageName',
  imageRef: 'io.kubernetes.cri-o.ImageRef',
  labels: 'io.kubernetes.cri-o.Labels',
  annotations: 'io.kubernetes.cri-o.Annotations',
  kubeName: 'io.kubernetes.cri-o.KubeName',
  namespace: 'io.kubernetes.cri-o.Namespace',
  cgroupParent: 'io.kubernetes.cri-o.CgroupParent',
} as const;

/** The kubelet's CRI labels and annotations (pkg/kubelet/types, kuberuntime/labels.go). */
export const KUBE = {
  podName: 'io.kubernetes.pod.name',
  podNamespace: 'io.kubernetes.pod.namespace',
  podUid: 'io.kubernetes.pod.uid',
  containerName: 'io.kubernetes.container.name',
  restartCount: 'io.kubernetes.container.restartCount',
} as const;

export interface ContainerInfoDoc {
  name?: unknown;
  pid?: unknown;
  image?: unknown;
  image_ref?: unknown;
  created_time?: unknown;
  labels?: unknown;
  annotations?: unknown;
  crio_annotations?: unknown;
  sandbox?: unknown;
}

export interface CrioInfoDoc {
  storage_driver?: unknown;
  storage_root?: unknown;
  cgroup_driver?: unknown;
}

function count(v: string | undefined): number | undefined {
  if (v === undefined || !/^\d+$/.test(v)) return undefined;
  return Number(v);
}

/**
 * Where CRI-O puts a container's cgroup given the pod's cgroup parent: `crio-<id>.scope` in
 * the pod slice with the systemd driver, `<parent>/crio-<id>` with cgroupfs. The driver is
 * CRI-O's `cgroup_driver`, or guessed from the parent's form when unknown.
 */
export function crioCgroupPath(id: string, driver: string | undefined, parent: string | undefined): string | undefined {
  if (parent === undefined) return undefined;
  const systemd = driver === 'systemd' || (driver === undefined && parent.endsWith('.slice') && !parent.includes('/'));
  if (systemd) {
    const slice = expandSlice(parent);
    return slice === undefined ? undefined : `${slice === '/' ? '' : slice}/crio-${id}.scope`;
  }
  const p = parent.split('/').filter((x) => x.length > 0).join('/');
  return p === '' ? `/crio-${id}` : `/${p}/crio-${id}`;
}

/** What both sources agree on, from labels and the kubelet's annotations. */
function kubeIdentity(labels: Record<string, string>, kube: Record<string, string>): ContainerMeta {
  return {
    namespace: str(labels[KUBE.podNamespace]),
    pod: str(labels[KUBE.podName]),
    podUid: str(labels[KUBE.podUid]),
    container: str(labels[KUBE.containerName]),
    restartCount: count(kube[KUBE.restartCount]),
  };
}

function jsonMap(text: string | undefined): Record<string, string> {
  if (text === undefined) return {};
  try {
    return stringMap(JSON.parse(text));
  } catch {
    return {};
  }
}

/**
 * Parses a container's saved spec. Null when it is not a CRI-O container (Podman's, in the
 * same storage); a file that is not an OCI spec is a LOOKOUT_ERR_METADATA error.
 */
export function parseUserdataConfig(text: string, id: string): ContainerMeta | null {
  const what = `CRI-O spec of ${id.slice(0, 12)}`;
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new LookoutError('LOOKOUT_ERR_METADATA', `${what}: config.json is not JSON`, { cause: err });
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc) || typeof (doc as { ociVersion?: unknown }).ociVersion !== 'string') {
    throw new LookoutError('LOOKOUT_ERR_METADATA', `${what}: config.json is not an OCI runtime spec (no ociVersion)`);
  }
  const spec = doc as { annotations?: unknown; linux?: { cgroupsPath?: unknown } };
  const ann = stringMap(spec.annotations);
  const type = ann[CRIO.containerType];
  if (ann[CRIO.manager] === 'libpod' || (type !== 'container' && type !== 'sandbox')) return null;
  // CRI-O also copies the labels and the kubelet's annotations to top-level annotations.
  const labels = ann[CRIO.labels] === undefined ? undefined : jsonMap(ann[CRIO.labels]);
  const id_ = kubeIdentity({ ...ann, ...labels }, { ...ann, ...jsonMap(ann[CRIO.annotations]) });
  return {
    runtime: 'crio',
    // The kubelet names CRI-O containers by CRI-O's own name (k8s_<container>_<pod>_...),
    // the first alias cAdvisor's CRI-O handler gives them.
    name: str(ann[CRIO.containerName]) ?? id,
    image: str(ann[CRIO.imageName]) ?? (type === 'sandbox' ? str(ann[CRIO.image]) : undefined),
    imageId: str(ann[CRIO.imageRef]),
    labels,
    ...id_,
    namespace: id_.namespace ?? str(ann[CRIO.namespace]),
    pod: id_.pod ?? str(ann[CRIO.kubeName]),
    cgroupPath: runcCgroupPath(spec.linux?.cgroupsPath) ?? crioCgroupPath(id, undefined, str(ann[CRIO.cgroupParent])),
  };
}

/** Parses `GET /containers/<id>`; a document CRI-O would not send is a LOOKOUT_ERR_METADATA error. */
export function parseContainerInfo(doc: unknown, id: string, driver: string | undefined): ContainerMeta {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc) || typeof (doc as ContainerInfoDoc).name !== 'string') {
    throw new LookoutError('LOOKOUT_ERR_METADATA', `crio /containers/${id.slice(0, 12)}: not a container info document (no name)`);
  }
  const d = doc as ContainerInfoDoc;
  const labels = stringMap(d.labels);
  const crio = stringMap(d.crio_annotations);
  const pid = typeof d.pid === 'number' && Number.isInteger(d.pid) && d.pid > 0 ? d.pid : undefined;
  return {
    runtime: 'crio',
    name: str(d.name) ?? id,
    image: str(d.image),
    imageId: str(d.image_ref),
    labels,
    ...kubeIdentity(labels, stringMap(d.annotations)),
    pid,
    cgroupPath: crioCgroupPath(id, driver, str(crio[CRIO.cgroupParent])),
  };
}
