// Writes the synthetic v2-systemd/root/ fixture: a pure cgroup v2 host with the systemd
// cgroup driver, one cgroup of each runtime's layout. Every file is written in the format
// of Documentation/admin-guide/cgroup-v2.rst, with the key lists and order that Linux 6.8
// prints (mm/memcontrol.c memory_stats[] and memcg_vm_event_stat[], kernel/sched/core.c
// cpu_extra_stat_show, block/blk-cgroup.c blkcg_print_one_stat). Values are made up but
// consistent: a parent's usage covers its children's, anon + file + kernel = memory.current.
//
//   node collectors/cgroups/testdata/gen-v2-systemd.mjs
//
// The output is committed; the tests read it, not this script.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, 'v2-systemd', 'root');
const cg = join(out, 'sys/fs/cgroup');

export const IDS = {
  dockerLimited: '3f1c9e0a7b2d4c6e8f0a1b3c5d7e9f1a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e',
  dockerUnlimited: '9a8b7c6d5e4f30211f2e3d4c5b6a79880a1b2c3d4e5f60718293a4b5c6d7e8f9',
  kubePause: 'c0ffee1234567890abcdef1234567890abcdef1234567890abcdef1234567890',
  kubeApp: 'e5f6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f80912',
  crio: '4d3c2b1a0f9e8d7c6b5a49382716f5e4d3c2b1a09f8e7d6c5b4a392817160f5e',
  libpod: '7e57ab1e5eed0fdecafbadd00dfeedface0ddba11ab1ec0de5caffe1dea5c0de',
};
const POD_BURSTABLE = '6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
const POD_BESTEFFORT = '0a1b2c3d-5e6f-4789-9abc-def012345678';
const us = (uid) => uid.replace(/-/g, '_');

const MEMORY_STAT_KEYS = [
  'anon', 'file', 'kernel', 'kernel_stack', 'pagetables', 'sec_pagetables', 'percpu', 'sock', 'vmalloc', 'shmem',
  'zswap', 'zswapped', 'file_mapped', 'file_dirty', 'file_writeback', 'swapcached', 'anon_thp', 'file_thp', 'shmem_thp',
  'inactive_anon', 'active_anon', 'inactive_file', 'active_file', 'unevictable', 'slab_reclaimable', 'slab_unreclaimable', 'slab',
  'workingset_refault_anon', 'workingset_refault_file', 'workingset_activate_anon', 'workingset_activate_file',
  'workingset_restore_anon', 'workingset_restore_file', 'workingset_nodereclaim',
  'pgscan', 'pgsteal', 'pgscan_kswapd', 'pgscan_direct', 'pgscan_khugepaged', 'pgsteal_kswapd', 'pgsteal_direct', 'pgsteal_khugepaged',
  'pgfault', 'pgmajfault', 'pgrefill', 'pgactivate', 'pgdeactivate', 'pglazyfree', 'pglazyfreed',
  'zswpin', 'zswpout', 'zswpwb', 'thp_fault_alloc', 'thp_collapse_alloc', 'thp_swpout', 'thp_swpout_fallback',
];

/** memory.stat from the few numbers that matter; the rest derived so the sums hold. */
function memoryStat(m) {
  const slabR = Math.round(m.kernel * 0.375 / 4096) * 4096;
  const slabU = Math.round(m.kernel * 0.25 / 4096) * 4096;
  const kstack = Math.round(m.kernel * 0.125 / 16384) * 16384;
  const pt = m.kernel - slabR - slabU - kstack - 8192 - 4096 * 2;
  const v = {
    anon: m.anon, file: m.file, kernel: m.kernel, kernel_stack: kstack, pagetables: pt, sec_pagetables: 0,
    percpu: 8192, sock: 0, vmalloc: 8192, shmem: m.shmem ?? 0, zswap: 0, zswapped: 0,
    file_mapped: m.mapped, file_dirty: m.dirty ?? 0, file_writeback: 0, swapcached: 0,
    anon_thp: m.anonThp ?? 0, file_thp: 0, shmem_thp: 0,
    inactive_anon: m.anon + (m.shmem ?? 0) - m.activeAnon, active_anon: m.activeAnon,
    inactive_file: m.inactiveFile, active_file: m.file - (m.shmem ?? 0) - m.inactiveFile, unevictable: 0,
    slab_reclaimable: slabR, slab_unreclaimable: slabU, slab: slabR + slabU,
    workingset_refault_anon: 0, workingset_refault_file: m.refault ?? 0, workingset_activate_anon: 0,
    workingset_activate_file: Math.floor((m.refault ?? 0) / 3), workingset_restore_anon: 0,
    workingset_restore_file: Math.floor((m.refault ?? 0) / 7), workingset_nodereclaim: 0,
    pgscan: m.pgscan ?? 0, pgsteal: m.pgsteal ?? 0, pgscan_kswapd: 0, pgscan_direct: m.pgscan ?? 0, pgscan_khugepaged: 0,
    pgsteal_kswapd: 0, pgsteal_direct: m.pgsteal ?? 0, pgsteal_khugepaged: 0,
    pgfault: m.pgfault, pgmajfault: m.pgmajfault, pgrefill: m.pgscan ?? 0, pgactivate: Math.floor(m.pgfault / 40),
    pgdeactivate: Math.floor((m.pgscan ?? 0) / 2), pglazyfree: 0, pglazyfreed: 0,
    zswpin: 0, zswpout: 0, zswpwb: 0, thp_fault_alloc: (m.anonThp ?? 0) / 2097152, thp_collapse_alloc: 0, thp_swpout: 0, thp_swpout_fallback: 0,
  };
  for (const k of MEMORY_STAT_KEYS) if (!Number.isInteger(v[k]) || v[k] < 0) throw new Error(`memory.stat ${k} = ${v[k]}`);
  return MEMORY_STAT_KEYS.map((k) => `${k} ${v[k]}\n`).join('');
}

function pressure([someTotal, fullTotal, avg = '0.00']) {
  return `some avg10=${avg} avg60=${avg} avg300=${avg} total=${someTotal}\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=${fullTotal}\n`;
}

function cpuStat(c, root) {
  let s = `usage_usec ${c.user + c.system}\nuser_usec ${c.user}\nsystem_usec ${c.system}\ncore_sched.force_idle_usec 0\n`;
  // The root task group has no bandwidth: its counters stay 0.
  s += `nr_periods ${root ? 0 : c.periods ?? 0}\nnr_throttled ${root ? 0 : c.throttled ?? 0}\nthrottled_usec ${root ? 0 : c.throttledUsec ?? 0}\n`;
  s += `nr_bursts 0\nburst_usec 0\n`;
  return s;
}

function ioStat(devs) {
  return devs.map(([dev, rb, wb, rio, wio, db = 0, dio = 0]) => `${dev} rbytes=${rb} wbytes=${wb} rios=${rio} wios=${wio} dbytes=${db} dios=${dio}\n`).join('');
}

function write(rel, name, text) {
  const dir = join(cg, rel);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, name), text);
}

/** One non-root cgroup with every file the collector reads. */
function cgroup(rel, g) {
  const current = g.mem.anon + g.mem.file + g.mem.kernel;
  write(rel, 'cgroup.procs', g.procs.map((p) => `${p}\n`).join(''));
  write(rel, 'cpu.stat', cpuStat(g.cpu, false));
  write(rel, 'cpu.max', `${g.cpuMax ?? 'max'} 100000\n`);
  write(rel, 'cpu.weight', `${g.weight ?? 100}\n`);
  write(rel, 'memory.current', `${current}\n`);
  write(rel, 'memory.peak', `${g.mem.peak ?? current}\n`);
  write(rel, 'memory.max', `${g.mem.max ?? 'max'}\n`);
  write(rel, 'memory.low', `${g.mem.low ?? 0}\n`);
  write(rel, 'memory.swap.current', `${g.mem.swap ?? 0}\n`);
  write(rel, 'memory.swap.max', `${g.mem.swapMax ?? 'max'}\n`);
  write(rel, 'memory.stat', memoryStat(g.mem));
  const ev = { low: 0, high: 0, max: 0, oom: 0, oom_kill: 0, oom_group_kill: 0, ...g.events };
  write(rel, 'memory.events', Object.entries(ev).map(([k, v]) => `${k} ${v}\n`).join(''));
  write(rel, 'io.stat', ioStat(g.io ?? []));
  write(rel, 'pids.current', `${g.pids ?? g.procs.length}\n`);
  write(rel, 'pids.max', `${g.pidsMax ?? 'max'}\n`);
  write(rel, 'cpu.pressure', pressure(g.psi?.cpu ?? [0, 0]));
  write(rel, 'memory.pressure', pressure(g.psi?.memory ?? [0, 0]));
  write(rel, 'io.pressure', pressure(g.psi?.io ?? [0, 0]));
}

const MiB = 1048576;

// Leaves first; slices are the sums of their children plus something of their own.
const leaves = {
  [`system.slice/docker-${IDS.dockerLimited}.scope`]: {
    procs: [4121, 4188, 4189, 4190], pids: 7, cpuMax: '150000', weight: 100,
    cpu: { user: 79001230, system: 5212187, periods: 10452, throttled: 3120, throttledUsec: 271834512 },
    mem: { anon: 144 * MiB, file: 32 * MiB, kernel: 6627328, mapped: 9437184, inactiveFile: 20 * MiB, activeAnon: 140 * MiB, max: 256 * MiB, peak: 256 * MiB, swapMax: 256 * MiB, pgfault: 3185021, pgmajfault: 113, pgscan: 48211, pgsteal: 40117, refault: 1811 },
    events: { max: 41, oom: 2, oom_kill: 2 },
    io: [['8:0', 12582912, 4194304, 312, 96], ['253:0', 12582912, 4194304, 312, 96]],
    psi: { cpu: [3021785, 2977410, '1.52'], memory: [412077, 398010], io: [88213, 80117] },
  },
  [`system.slice/docker-${IDS.dockerUnlimited}.scope`]: {
    procs: [5230], weight: 100,
    cpu: { user: 1207331, system: 301822 },
    mem: { anon: 2 * MiB, file: 12 * MiB, kernel: 1048576, mapped: 4 * MiB, inactiveFile: 8 * MiB, activeAnon: 2 * MiB, pgfault: 20211, pgmajfault: 7 },
    io: [['8:0', 1048576, 0, 19, 0]],
    psi: { cpu: [1203, 1107], memory: [0, 0], io: [512, 490] },
  },
  'system.slice/ssh.service': {
    procs: [812], pidsMax: 4915, weight: 100,
    cpu: { user: 331021, system: 120988 },
    mem: { anon: 1597440, file: 3 * MiB, kernel: 786432, mapped: 2 * MiB, inactiveFile: 1 * MiB, activeAnon: 1 * MiB, pgfault: 9012, pgmajfault: 31 },
    io: [['259:0', 2097152, 65536, 44, 8]],
  },
  [`kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${us(POD_BURSTABLE)}.slice/cri-containerd-${IDS.kubePause}.scope`]: {
    procs: [6001], weight: 1,
    cpu: { user: 21017, system: 18002 },
    mem: { anon: 40960, file: 0, kernel: 126976, mapped: 0, inactiveFile: 0, activeAnon: 0, pgfault: 310, pgmajfault: 0 },
    psi: { cpu: [11, 9] },
  },
  [`kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${us(POD_BURSTABLE)}.slice/cri-containerd-${IDS.kubeApp}.scope`]: {
    procs: [6044, 6045], pids: 23, cpuMax: '50000', weight: 10,
    cpu: { user: 40211977, system: 9388020, periods: 8812, throttled: 2210, throttledUsec: 98771201 },
    mem: { anon: 300 * MiB, file: 60 * MiB, kernel: 12 * MiB, mapped: 20 * MiB, inactiveFile: 44 * MiB, activeAnon: 290 * MiB, anonThp: 64 * MiB, max: 512 * MiB, peak: 441 * MiB, swapMax: 0, pgfault: 7412099, pgmajfault: 512, pgscan: 912, pgsteal: 870, refault: 77 },
    events: { max: 0 },
    io: [['259:0', 52428800, 10485760, 1280, 2560]],
    psi: { cpu: [8812345, 8700000, '4.10'], memory: [20112, 19001], io: [771002, 700311] },
  },
  [`kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${us(POD_BESTEFFORT)}.slice/crio-${IDS.crio}.scope`]: {
    procs: [7101], weight: 1,
    cpu: { user: 900112, system: 100003 },
    mem: { anon: 8 * MiB, file: 4 * MiB, kernel: 1 * MiB, mapped: 1 * MiB, inactiveFile: 3 * MiB, activeAnon: 7 * MiB, pgfault: 51001, pgmajfault: 3 },
    io: [['259:0', 409600, 0, 12, 0]],
  },
  [`kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${us(POD_BESTEFFORT)}.slice/crio-conmon-${IDS.crio}.scope`]: {
    procs: [7090], weight: 100,
    cpu: { user: 12001, system: 30011 },
    mem: { anon: 389120, file: 0, kernel: 204800, mapped: 0, inactiveFile: 0, activeAnon: 380928, pgfault: 411, pgmajfault: 0 },
  },
  [`machine.slice/libpod-${IDS.libpod}.scope`]: {
    procs: [8200, 8231], pids: 3, pidsMax: 2048, cpuMax: '200000', weight: 100,
    cpu: { user: 5100200, system: 800100, periods: 900, throttled: 0, throttledUsec: 0 },
    mem: { anon: 24 * MiB, file: 16 * MiB, kernel: 2 * MiB, mapped: 6 * MiB, inactiveFile: 10 * MiB, activeAnon: 22 * MiB, max: 128 * MiB, swapMax: 128 * MiB, pgfault: 190233, pgmajfault: 12 },
    io: [['8:0', 3145728, 1048576, 70, 30], ['11:0', 2048, 0, 1, 0]],
  },
  [`machine.slice/libpod-conmon-${IDS.libpod}.scope`]: {
    procs: [8190], weight: 100,
    cpu: { user: 8011, system: 22010 },
    mem: { anon: 258048, file: 0, kernel: 159744, mapped: 0, inactiveFile: 0, activeAnon: 253952, pgfault: 280, pgmajfault: 0 },
  },
};

const slices = {
  'system.slice': { own: { procs: [], user: 2100300, system: 1800100, anon: 20 * MiB, file: 300 * MiB, kernel: 30 * MiB, inactiveFile: 200 * MiB }, pidsMax: 'max' },
  'kubepods.slice': { own: { procs: [], user: 0, system: 0, anon: 0, file: 0, kernel: 0, inactiveFile: 0 }, weight: 79 },
  'kubepods.slice/kubepods-burstable.slice': { own: { procs: [], user: 0, system: 0, anon: 0, file: 0, kernel: 0, inactiveFile: 0 }, weight: 11 },
  [`kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${us(POD_BURSTABLE)}.slice`]: { own: { procs: [], user: 0, system: 0, anon: 0, file: 0, kernel: 0, inactiveFile: 0 }, weight: 11, cpuMax: '50000', max: 512 * MiB + 0 },
  'kubepods.slice/kubepods-besteffort.slice': { own: { procs: [], user: 0, system: 0, anon: 0, file: 0, kernel: 0, inactiveFile: 0 }, weight: 1 },
  [`kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${us(POD_BESTEFFORT)}.slice`]: { own: { procs: [], user: 0, system: 0, anon: 0, file: 0, kernel: 0, inactiveFile: 0 }, weight: 1 },
  'machine.slice': { own: { procs: [], user: 0, system: 0, anon: 0, file: 0, kernel: 0, inactiveFile: 0 } },
};

function sumChildren(prefix) {
  const acc = { user: 0, system: 0, anon: 0, file: 0, kernel: 0, inactiveFile: 0, mapped: 0, activeAnon: 0, pgfault: 0, pgmajfault: 0, pids: 0 };
  for (const [p, g] of Object.entries(leaves)) {
    if (!p.startsWith(`${prefix}/`)) continue;
    acc.user += g.cpu.user; acc.system += g.cpu.system;
    acc.anon += g.mem.anon; acc.file += g.mem.file; acc.kernel += g.mem.kernel;
    acc.inactiveFile += g.mem.inactiveFile; acc.mapped += g.mem.mapped; acc.activeAnon += g.mem.activeAnon;
    acc.pgfault += g.mem.pgfault; acc.pgmajfault += g.mem.pgmajfault; acc.pids += g.pids ?? g.procs.length;
  }
  return acc;
}

rmSync(out, { recursive: true, force: true });
write('', 'cgroup.controllers', 'cpuset cpu io memory hugetlb pids rdma misc\n');
write('', 'cgroup.subtree_control', 'cpuset cpu io memory pids\n');
for (const [rel, g] of Object.entries(leaves)) cgroup(rel, g);
for (const [rel, s] of Object.entries(slices)) {
  const c = sumChildren(rel);
  const own = s.own;
  cgroup(rel, {
    procs: own.procs, pids: c.pids, weight: s.weight, cpuMax: s.cpuMax, pidsMax: s.pidsMax,
    cpu: { user: c.user + own.user, system: c.system + own.system },
    mem: {
      anon: c.anon + own.anon, file: c.file + own.file, kernel: c.kernel + own.kernel, mapped: c.mapped,
      inactiveFile: c.inactiveFile + own.inactiveFile, activeAnon: c.activeAnon + own.anon, max: s.max,
      pgfault: c.pgfault, pgmajfault: c.pgmajfault,
    },
  });
}

// The root: no memory.current, memory.max, cpu.max, cpu.weight, pids.* or memory.events
// (the kernel creates those on non-root cgroups only), but cpu.stat, memory.stat, io.stat,
// cgroup.procs and the PSI files.
write('', 'cgroup.procs', [1, 2, 3, 15, 240, 377, 401].map((p) => `${p}\n`).join(''));
write('', 'cpu.stat', cpuStat({ user: 912004117, system: 301998210 }, true));
write('', 'memory.stat', memoryStat({ anon: 1610612736, file: 4294967296, kernel: 402653184, mapped: 536870912, inactiveFile: 2684354560, activeAnon: 1409286144, pgfault: 991203311, pgmajfault: 20117, pgscan: 1200331, pgsteal: 1100872, refault: 33012 }));
write('', 'io.stat', ioStat([['8:0', 2147483648, 1073741824, 81231, 40117, 536870912, 511], ['259:0', 4294967296, 2147483648, 120312, 90331], ['253:0', 2147483648, 1073741824, 81231, 40117]]));
write('', 'cpu.pressure', pressure([120031877, 0, '0.87']));
write('', 'memory.pressure', pressure([3011233, 2801101]));
write('', 'io.pressure', pressure([40112337, 38002111, '0.31']));

// Block devices: sda and nvme0n1 in sysfs, dm-0 only in /proc/partitions, 11:0 in neither.
for (const [dev, name, type] of [['8:0', 'sda', 'disk'], ['259:0', 'nvme0n1', 'disk']]) {
  const [maj, min] = dev.split(':');
  mkdirSync(join(out, 'sys/dev/block', dev), { recursive: true });
  writeFileSync(join(out, 'sys/dev/block', dev, 'uevent'), `MAJOR=${maj}\nMINOR=${min}\nDEVNAME=${name}\nDEVTYPE=${type}\nDISKSEQ=${maj === '8' ? 1 : 2}\n`);
}
mkdirSync(join(out, 'proc'), { recursive: true });
writeFileSync(
  join(out, 'proc/partitions'),
  'major minor  #blocks  name\n\n   8        0  104857600 sda\n   8        1  104856576 sda1\n 259        0  976762584 nvme0n1\n 253        0  104855552 dm-0\n',
);

// Docker's config.v2.json for the two docker scopes, shaped like the one a real engine wrote
// (see v1-hybrid-docker), with this host's names, images and start times.
const template = JSON.parse(readFileSync(join(here, 'v1-hybrid-docker/root/var/lib/docker/containers/7641d6d2bf99a8c50ba691e36e640eee3f3bab4bc85f7bd3ba25d2937a51baa7/config.v2.json'), 'utf8'));
const docker = [
  [IDS.dockerLimited, '/web', 'nginx:1.27', ['nginx', '-g', 'daemon off;'], '2025-11-20T08:15:42.123456789Z'],
  [IDS.dockerUnlimited, '/cache', 'redis:7.4-alpine', ['redis-server'], '2025-11-24T23:01:07.5Z'],
];
for (const [id, name, image, cmd, started] of docker) {
  const doc = structuredClone(template);
  const old = doc.ID;
  doc.ID = id;
  doc.Name = name;
  doc.Created = started;
  doc.State.StartedAt = started;
  doc.State.Pid = leaves[`system.slice/docker-${id}.scope`].procs[0];
  doc.Path = cmd[0];
  doc.Args = cmd.slice(1);
  doc.Config.Cmd = cmd;
  doc.Config.Image = image;
  doc.Config.Hostname = id.slice(0, 12);
  doc.Config.Labels = { 'com.example.team': 'web' };
  const text = JSON.stringify(doc).replaceAll(old, id).replaceAll(old.slice(0, 12), id.slice(0, 12));
  mkdirSync(join(out, 'var/lib/docker/containers', id), { recursive: true });
  writeFileSync(join(out, 'var/lib/docker/containers', id, 'config.v2.json'), text);
}
console.log(`wrote ${out}`);
