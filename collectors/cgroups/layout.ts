/**
 * Finds the cgroup hierarchies under `<root>/sys/fs/cgroup` from the directory names alone,
 * so that the same code runs on the host, in a container with the host at `/host`, and on a
 * fixture tree. Three layouts exist in the wild:
 * - v2 (unified): `cgroup.controllers` at the top.
 * - v1: one directory per hierarchy, named after its controllers (`cpu,cpuacct`, with `cpu`
 *   and `cpuacct` as symlinks on most distributions; separate mounts on some).
 * - hybrid: v1 plus a v2 hierarchy at `unified/` that carries no controllers but does carry
 *   the PSI files (`cpu.pressure`, ...) of each cgroup.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { LookoutError } from '../../src/errors.js';

export type CgroupVersion = 'v1' | 'v2' | 'hybrid';

export interface Layout {
  readonly version: CgroupVersion;
  /** Mount directory of each v1 controller (`cpu`, `cpuacct`, `memory`, `blkio`, `pids`, `systemd`). */
  readonly v1: ReadonlyMap<string, string>;
  /** The v2 hierarchy's directory, for v2 and hybrid. */
  readonly unified: string | null;
  /** The hierarchy whose tree is walked to find cgroups. */
  readonly walkRoot: string;
}

/** Controllers in preference order for walking the tree on v1. */
const WALK_PREFERENCE = ['memory', 'cpu', 'cpuacct', 'pids', 'blkio', 'systemd'];

export function detectLayout(cgroupRoot: string): Layout {
  if (!existsSync(cgroupRoot)) {
    throw new LookoutError('LOOKOUT_ERR_HOST', `no cgroup filesystem at ${cgroupRoot}: set --root to the directory where the host's / is mounted`);
  }
  if (existsSync(join(cgroupRoot, 'cgroup.controllers'))) {
    return { version: 'v2', v1: new Map(), unified: cgroupRoot, walkRoot: cgroupRoot };
  }
  const v1 = new Map<string, string>();
  let unified: string | null = null;
  for (const name of readdirSync(cgroupRoot).sort()) {
    const dir = join(cgroupRoot, name);
    let isDir = false;
    try {
      isDir = statSync(dir).isDirectory();
    } catch {
      continue;
    }
    if (!isDir) continue;
    if (existsSync(join(dir, 'cgroup.controllers'))) {
      unified = dir;
      continue;
    }
    for (const c of name.split(',')) {
      const controller = c.startsWith('name=') ? c.slice(5) : c;
      // Prefer the real mount (`cpu,cpuacct`) over the symlink (`cpu`): same tree either way.
      if (!v1.has(controller) || name.includes(',')) v1.set(controller, dir);
    }
  }
  const walk = WALK_PREFERENCE.map((c) => v1.get(c)).find((d) => d !== undefined) ?? unified;
  if (walk === undefined || walk === null) {
    throw new LookoutError('LOOKOUT_ERR_HOST', `no cgroup hierarchy found under ${cgroupRoot}: expected cgroup.controllers (v2) or controller directories such as memory/ (v1)`);
  }
  return { version: v1.size > 0 ? (unified ? 'hybrid' : 'v1') : 'v2', v1, unified, walkRoot: walk };
}
