/** A small synthetic host root shared by the agent's in-process tests. */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const WEB_ID = 'a'.repeat(64);
export const WEB_CGROUP = `/system.slice/docker-${WEB_ID}.scope`;

/**
 * A cgroup v2 host root with the root cgroup and one Docker container `web` (nginx:1.27),
 * file formats per the kernel's cgroup-v2.rst; values chosen to be checked exactly.
 */
export function hostRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'lookout-exporters-root-'));
  const cg = join(root, 'sys/fs/cgroup');
  const c = join(cg, 'system.slice', `docker-${WEB_ID}.scope`);
  mkdirSync(c, { recursive: true });
  writeFileSync(join(cg, 'cgroup.controllers'), 'cpuset cpu io memory hugetlb pids rdma misc\n');
  writeFileSync(join(cg, 'cpu.stat'), 'usage_usec 1000000\nuser_usec 600000\nsystem_usec 400000\n');
  writeFileSync(join(c, 'cpu.stat'), 'usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\nnr_periods 10\nnr_throttled 4\nthrottled_usec 300000\n');
  writeFileSync(join(c, 'cpu.max'), '50000 100000\n');
  writeFileSync(join(c, 'memory.current'), '8388608\n');
  writeFileSync(join(c, 'memory.max'), '67108864\n');
  writeFileSync(join(c, 'memory.stat'), 'anon 4194304\nfile 4194304\ninactive_file 1048576\nactive_file 3145728\npgfault 1234\npgmajfault 5\n');
  writeFileSync(join(c, 'io.stat'), '8:0 rbytes=1048576 wbytes=2097152 rios=16 wios=32 dbytes=0 dios=0\n');
  writeFileSync(join(c, 'pids.current'), '3\n');
  writeFileSync(join(c, 'cgroup.procs'), '');
  mkdirSync(join(root, 'proc'));
  writeFileSync(join(root, 'proc/cpuinfo'), 'processor\t: 0\n\nprocessor\t: 1\n\n');
  writeFileSync(join(root, 'proc/meminfo'), 'MemTotal:        2048000 kB\n');
  writeFileSync(join(root, 'proc/partitions'), 'major minor  #blocks  name\n\n   8        0  104857600 sda\n');
  const d = join(root, 'var/lib/docker/containers', WEB_ID);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'config.v2.json'), JSON.stringify({ Name: '/web', Config: { Image: 'nginx:1.27' }, State: { Running: true, StartedAt: '2025-03-01T10:00:00.5Z' } }));
  return root;
}
