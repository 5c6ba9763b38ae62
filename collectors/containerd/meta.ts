/**
 * What a containerd shim's OCI bundle (`<state_dir>/<namespace>/<id>/config.json`) says about
 * its container. Kubernetes containers carry the CRI plugin's annotations
 * (`io.kubernetes.cri.*`, containerd `internal/cri/annotations`); nerdctl copies its
 * `nerdctl/*` labels into annotations; plain `ctr` containers carry nothing but their id.
 */
import type { ContainerMeta } from '../../src/containers.js';
import { LookoutError } from '../../src/errors.js';
import { runcCgroupPath, str } from '../kubernetes/cri.js';
import { stringMap } from '../../src/containers.js';

/** The CRI plugin's annotation keys. */
export const CRI = {
  containerType: 'io.kubernetes.cri.container-type',
  containerName: 'io.kubernetes.cri.container-name',
  sandboxId: 'io.kubernetes.cri.sandbox-id',
  sandboxName: 'io.kubernetes.cri.sandbox-name',
  sandboxNamespace: 'io.kubernetes.cri.sandbox-namespace',
  sandboxUid: 'io.kubernetes.cri.sandbox-uid',
  imageName: 'io.kubernetes.cri.image-name',
  /** containerd 1.7+ on sandboxes: the pause image. */
  sandboxImageName: 'io.kubernetes.cri.podsandbox.image-name',
} as const;

export interface BundleDoc {
  ociVersion?: unknown;
  annotations?: unknown;
  linux?: { cgroupsPath?: unknown };
}

/**
 * Parses a bundle's config.json. `name` is the container id for CRI containers and sandboxes
 * (as the kubelet's cAdvisor names containerd containers), nerdctl's name otherwise.
 * A file that is not an OCI runtime spec is a LOOKOUT_ERR_METADATA error.
 */
export function parseBundle(text: string, id: string, namespace: string): ContainerMeta {
  const what = `containerd bundle ${namespace}/${id.slice(0, 12)}`;
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new LookoutError('LOOKOUT_ERR_METADATA', `${what}: config.json is not JSON`, { cause: err });
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc) || typeof (doc as BundleDoc).ociVersion !== 'string') {
    throw new LookoutError('LOOKOUT_ERR_METADATA', `${what}: config.json is not an OCI runtime spec (no ociVersion)`);
  }
  const d = doc as BundleDoc;
  const ann = stringMap(d.annotations);
  const base = { runtime: 'containerd' as const, state: 'running', cgroupPath: runcCgroupPath(d.linux?.cgroupsPath) };
  const type = ann[CRI.containerType];
  if (type === 'sandbox' || type === 'container') {
    const sandbox = type === 'sandbox';
    return {
      ...base,
      name: id,
      image: str(sandbox ? ann[CRI.sandboxImageName] : ann[CRI.imageName]),
      namespace: str(ann[CRI.sandboxNamespace]),
      pod: str(ann[CRI.sandboxName]),
      container: sandbox ? undefined : str(ann[CRI.containerName]),
      podUid: str(ann[CRI.sandboxUid]),
    };
  }
  return { ...base, name: str(ann['nerdctl/name']) ?? id, image: str(ann['io.containerd.image.name']) };
}

/** The shim's `init.pid`: the container's first process, as the host numbers it. */
export function parsePid(text: string): number | undefined {
  const n = Number.parseInt(text.trim(), 10);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}
