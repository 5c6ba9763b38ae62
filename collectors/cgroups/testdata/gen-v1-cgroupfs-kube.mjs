// Writes v1-cgroupfs-kube/root/: a cgroup v1 host as most distributions mount it (one
// `cpu,cpuacct` hierarchy with `cpu` and `cpuacct` symlinks to it, no unified tree), with
// the cgroupfs-driver layouts of the kubelet (kubepods/<qos>/pod<uid>/<id>) and of Podman
// (libpod_parent/libpod-<id>, its conmon in libpod_parent/conmon).
//
// File contents are the real files captured in v1-hybrid-docker/ (see README.md), moved to
// the new paths; only the settings a kubelet or Podman would have written differ (cpu.shares,
// cpu.cfs_quota_us, memory.limit_in_bytes), listed in EDITS below.
//
//   node collectors/cgroups/testdata/gen-v1-cgroupfs-kube.mjs
import { copyFileSync, cpSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, 'v1-hybrid-docker/root/sys/fs/cgroup');
const out = join(here, 'v1-cgroupfs-kube/root');
const cg = join(out, 'sys/fs/cgroup');

const REAL = {
  root: '',
  docker: 'docker',
  cpu: 'docker/7641d6d2bf99a8c50ba691e36e640eee3f3bab4bc85f7bd3ba25d2937a51baa7',
  dio: 'docker/4c27dce492b9293897c4e61e9af6118378204ff5f53ad190ca25ed2a716a4017',
  oom: 'docker/a7f393d6838cae6bbdb3f413ed0c5cc48ea6ccd73b8374cbd745289328d0dc27',
};
const POD_BURSTABLE = 'pod2c6b7f0e-1d3a-4b5c-9e8f-7a6b5c4d3e2f';
const POD_GUARANTEED = 'pod8e9f0a1b-2c3d-4e5f-a6b7-c8d9e0f1a2b3';
export const IDS = {
  pause: '1f0e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0',
  app: 'aa55aa55aa55aa55aa55aa55aa55aa55aa55aa55aa55aa55aa55aa55aa55aa55',
  guaranteed: '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef',
  libpod: 'b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecf',
};

/** Target cgroup path -> the real cgroup whose files it gets. */
const LAYOUT = {
  '': REAL.root,
  kubepods: REAL.docker,
  'kubepods/burstable': REAL.docker,
  [`kubepods/burstable/${POD_BURSTABLE}`]: REAL.dio,
  [`kubepods/burstable/${POD_BURSTABLE}/${IDS.pause}`]: REAL.oom,
  [`kubepods/burstable/${POD_BURSTABLE}/${IDS.app}`]: REAL.dio,
  [`kubepods/${POD_GUARANTEED}`]: REAL.cpu,
  [`kubepods/${POD_GUARANTEED}/${IDS.guaranteed}`]: REAL.cpu,
  libpod_parent: REAL.docker,
  [`libpod_parent/libpod-${IDS.libpod}`]: REAL.oom,
  'libpod_parent/conmon': REAL.dio,
};

/** What the kubelet and Podman would have set, where it differs from the captured value. */
const EDITS = {
  [`kubepods/burstable/${POD_BURSTABLE}`]: { 'cpu.shares': '256\n', 'memory.limit_in_bytes': '9223372036854771712\n' },
  [`kubepods/burstable/${POD_BURSTABLE}/${IDS.pause}`]: { 'cpu.shares': '2\n', 'memory.limit_in_bytes': '9223372036854771712\n', 'memory.memsw.limit_in_bytes': '9223372036854771712\n' },
  [`kubepods/burstable/${POD_BURSTABLE}/${IDS.app}`]: { 'cpu.shares': '256\n' },
  [`kubepods/${POD_GUARANTEED}`]: { 'cpu.shares': '512\n' },
  [`kubepods/${POD_GUARANTEED}/${IDS.guaranteed}`]: { 'cpu.shares': '512\n', 'memory.memsw.limit_in_bytes': '9223372036854771712\n' },
  'kubepods/burstable': { 'cpu.shares': '258\n' },
  'libpod_parent/conmon': { 'cpu.shares': '1024\n' },
};

rmSync(out, { recursive: true, force: true });
const CONTROLLERS = { 'cpu,cpuacct': ['cpu', 'cpuacct'], memory: ['memory'], blkio: ['blkio'], pids: ['pids'], systemd: ['systemd'] };
for (const [target, from] of Object.entries(LAYOUT)) {
  for (const [mount, srcs] of Object.entries(CONTROLLERS)) {
    const dir = join(cg, mount, target);
    mkdirSync(dir, { recursive: true });
    for (const s of srcs) {
      for (const e of readdirSync(join(src, s, from), { withFileTypes: true })) {
        if (e.isFile()) copyFileSync(join(src, s, from, e.name), join(dir, e.name));
      }
    }
    for (const [file, text] of Object.entries(EDITS[target] ?? {})) {
      if (srcs.includes(file.split('.')[0])) writeFileSync(join(dir, file), text);
    }
  }
}
symlinkSync('cpu,cpuacct', join(cg, 'cpu'));
symlinkSync('cpu,cpuacct', join(cg, 'cpuacct'));
cpSync(join(here, 'v1-hybrid-docker/root/sys/dev'), join(out, 'sys/dev'), { recursive: true });
console.log(`wrote ${out}`);
