/**
 * The soak's processes in CPU cgroups of their own, one per service, as systemd (and the
 * kubelet) places them on a real node: dockerd in docker.service, containerd and every
 * container's shim in containerd.service, the agent in lookout.service, Prometheus in
 * prometheus.service. Started by hand from one shell, they would all share the root CPU
 * group, where the engine's hundreds of runnable threads outvote the agent's one event loop;
 * on a node run by systemd each service gets an equal CPU weight whatever its thread count.
 *
 * Cgroup v1 `cpu` hierarchy, or v2 with the cpu controller; the groups are made under one
 * parent (`lookout-soak`) and removed, with every process moved back, by `restore()`.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export class ServiceCgroups {
  private readonly root: string;
  private readonly parent: string;

  private constructor(root: string) {
    this.root = root;
    this.parent = join(root, 'lookout-soak');
  }

  /** The CPU hierarchy of this machine, or a reason why there is none to use. */
  static open(): ServiceCgroups | string {
    if (existsSync('/sys/fs/cgroup/cpu/cpu.shares')) return new ServiceCgroups('/sys/fs/cgroup/cpu');
    const v2 = '/sys/fs/cgroup/cgroup.controllers';
    if (existsSync(v2) && readFileSync(v2, 'utf8').split(/\s+/).includes('cpu')) {
      writeFileSync('/sys/fs/cgroup/cgroup.subtree_control', '+cpu');
      return new ServiceCgroups('/sys/fs/cgroup');
    }
    return 'no CPU cgroup controller';
  }

  /** Moves the process (all its threads) into the group `service`, made on first use. */
  place(service: string, pid: number): void {
    const dir = join(this.parent, service);
    if (!existsSync(dir)) {
      mkdirSync(dir, { recursive: true });
      if (this.root === '/sys/fs/cgroup') writeFileSync(join(this.parent, 'cgroup.subtree_control'), '+cpu');
    }
    writeFileSync(join(dir, 'cgroup.procs'), String(pid));
  }

  /** Every process still in a group back to the root, and the groups removed. */
  restore(): string[] {
    const problems: string[] = [];
    if (!existsSync(this.parent)) return problems;
    for (const service of readdirSync(this.parent, { withFileTypes: true }).filter((d) => d.isDirectory())) {
      const dir = join(this.parent, service.name);
      for (const pid of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
        try {
          writeFileSync(join(this.root, 'cgroup.procs'), pid);
        } catch {
          // Exited in between: nothing to move.
        }
      }
      try {
        rmdirSync(dir);
      } catch (err) {
        problems.push(`${dir}: ${String(err)}`);
      }
    }
    try {
      rmdirSync(this.parent);
    } catch (err) {
      problems.push(`${this.parent}: ${String(err)}`);
    }
    return problems;
  }
}
