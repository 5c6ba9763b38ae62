/**
 * Conventions of a Kubernetes node shared by the CRI runtime collectors (containerd, CRI-O)
 * and the Kubernetes collector: the `enabled` setting, paths under the host root, and where
 * runc puts a container's cgroup given the `linux.cgroupsPath` of its OCI spec.
 */

/**
 * Expands a systemd slice name into its path, as runc (and systemd) nest slices: each
 * dash-separated prefix is a parent slice. `kubepods-burstable.slice` is
 * `/kubepods.slice/kubepods-burstable.slice`; `-.slice` is the root. Undefined for a name
 * systemd would refuse.
 */
export function expandSlice(slice: string): string | undefined {
  if (!slice.endsWith('.slice') || slice.includes('/')) return undefined;
  const base = slice.slice(0, -'.slice'.length);
  if (base === '-') return '/';
  if (base === '' || base.startsWith('-') || base.endsWith('-') || base.includes('--')) return undefined;
  let path = '';
  let prefix = '';
  for (const part of base.split('-')) {
    prefix = prefix === '' ? part : `${prefix}-${part}`;
    path += `/${prefix}.slice`;
  }
  return path;
}

/**
 * The cgroup path (relative to a hierarchy's root, `/`-prefixed, as the cgroup collector's
 * `id` label) that runc gives a container whose OCI spec has this `linux.cgroupsPath`:
 *
 * - systemd driver, `slice:prefix:name`: `<expanded slice>/<prefix>-<name>.scope`
 *   (`kubepods-burstable-pod<uid_>.slice:cri-containerd:<id>` is
 *   `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice/cri-containerd-<id>.scope`);
 *   an empty slice is `system.slice`, a name ending in `.slice` is a slice of its own
 *   (runc's `ExpandSlice` and `getUnitName`).
 * - cgroupfs driver: the path itself (`/kubepods/burstable/pod<uid>/<id>`).
 *
 * Undefined when the spec has none or it is malformed.
 */
export function runcCgroupPath(cgroupsPath: unknown): string | undefined {
  if (typeof cgroupsPath !== 'string' || cgroupsPath === '') return undefined;
  if (!cgroupsPath.startsWith('/') && cgroupsPath.includes(':')) {
    const parts = cgroupsPath.split(':');
    if (parts.length !== 3) return undefined;
    const [slice = '', prefix = '', name = ''] = parts;
    if (name === '') return undefined;
    const parent = expandSlice(slice === '' ? 'system.slice' : slice);
    if (parent === undefined) return undefined;
    const unit = name.endsWith('.slice') ? name : `${prefix}-${name}.scope`;
    return parent === '/' ? `/${unit}` : `${parent}/${unit}`;
  }
  const clean = `/${cgroupsPath.split('/').filter((p) => p.length > 0).join('/')}`;
  return clean === '/' ? undefined : clean;
}

/** A non-empty string, else undefined: runtimes write "" for "not known". */
export function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** The string values of a JSON object (annotations, labels); {} for anything else. */

/** A file's version for change detection: a partly written file read mid-write has another size. */
export function fileVersion(st: { mtimeMs: number; size: number }): string {
  return `${st.mtimeMs}:${st.size}`;
}
