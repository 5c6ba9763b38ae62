/**
 * Synthetic host roots for the benchmark: `<dir>/<layout>-<n>/root` holds a cgroup tree with
 * `n` Docker containers, Docker's per-container `config.v2.json`, the block device's sysfs
 * entry and `/proc/{cpuinfo,meminfo}`; `<dir>/<layout>-<n>/files.list` lists, one per line,
 * every file the collectors read in one collection (what the C reader reads too): the
 * cgroup files, `/proc/<pid>/net/dev` of each container's network namespace (and the
 * `/proc/<pid>/ns/net` link that identifies it, which readers resolve with readlink rather
 * than read), and `/proc/{cpuinfo,meminfo}`.
 *
 * Layouts:
 * - `v1`: the hybrid layout of the benchmark machine (kernel 6.x, Docker with the cgroupfs
 *   driver): separate `cpu`, `cpuacct`, `memory`, `blkio`, `pids` hierarchies with
 *   containers at `/docker/<id>`, plus `unified/` (a v2 tree without controllers) carrying
 *   the PSI files of the same paths.
 * - `v2`: `cgroup.controllers` at the top, containers at
 *   `/system.slice/docker-<id>.scope` (Docker with the systemd driver).
 *
 * File contents copy the formats of the machine's real files (v1, kernel 6.18) and of
 * Documentation/admin-guide/cgroup-v2.rst (v2), with values varied per container. Trees are
 * regular files on the temp directory's filesystem, not kernfs: reading them costs no
 * regeneration in the kernel, which is why the C baseline reads the very same files.
 *
 * A finished tree is reused by later runs (keyed by layout and n) until TREE_VERSION changes.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Bump when the generated content changes, so stale trees are rebuilt. */
const TREE_VERSION = 5;

export type TreeLayout = 'v1' | 'v2';

export interface Tree {
  readonly layout: TreeLayout;
  readonly containers: number;
  /** The host root to pass as `root`. */
  readonly root: string;
  /** File listing every path one collection reads, one per line. */
  readonly listFile: string;
  /** Number of lines in `listFile`. */
  readonly files: number;
  /** Of these, the files a collector keeps open between collections (not links, not /proc/{cpuinfo,meminfo}). */
  readonly held: number;
  /** Cgroups in the tree (root and intermediate ones included). */
  readonly cgroups: number;
  /** Seconds spent generating, or 0 when an existing tree was reused. */
  readonly generatedSeconds: number;
}

/** Deterministic PRNG (mulberry32) so every run generates the same tree. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function containerId(layout: TreeLayout, i: number): string {
  return createHash('sha256').update(`lookout-bench-${layout}-${i}`).digest('hex');
}

const PAGE = 4096;
/** What v1 writes for "no limit": PAGE_COUNTER_MAX * PAGE_SIZE. */
const V1_UNLIMITED = '9223372036854771712';
/** The block device the tree's blkio/io files name (virtio disk `vda`, as on the benchmark machine). */
const DEV = '254:0';

interface Values {
  cpuNs: number;
  userTicks: number;
  systemTicks: number;
  periods: number;
  throttled: number;
  throttledNs: number;
  shares: number;
  quotaUs: number;
  usage: number;
  maxUsage: number;
  limit: number | null;
  anon: number;
  file: number;
  mapped: number;
  activeFile: number;
  inactiveFile: number;
  pgfault: number;
  pgmajfault: number;
  rbytes: number;
  wbytes: number;
  rios: number;
  wios: number;
  pids: number;
  pidsMax: number | null;
  procs: number[];
  psi: number[];
}

function values(r: () => number, i: number): Values {
  const int = (lo: number, hi: number): number => Math.floor(lo + r() * (hi - lo));
  const pages = (lo: number, hi: number): number => int(lo, hi) * PAGE;
  const anon = pages(256, 262_144);
  const activeFile = pages(0, 65_536);
  const inactiveFile = pages(0, 65_536);
  const file = activeFile + inactiveFile + pages(0, 1024);
  const usage = anon + file + pages(64, 2048);
  const limited = i % 4 === 0;
  const userTicks = int(0, 5_000_000);
  const systemTicks = int(0, 1_000_000);
  const nprocs = int(1, 6);
  const base = 1000 + i * 10;
  return {
    cpuNs: (userTicks + systemTicks) * 10_000_000 + int(0, 9_999_999),
    userTicks,
    systemTicks,
    periods: limited ? int(0, 10_000_000) : 0,
    throttled: limited ? int(0, 100_000) : 0,
    throttledNs: limited ? int(0, 1e12) : 0,
    shares: i % 10 === 0 ? 512 : 1024,
    quotaUs: limited ? 50_000 * int(1, 8) : -1,
    usage,
    maxUsage: usage + pages(0, 65_536),
    limit: limited ? usage * 2 + pages(0, 262_144) : null,
    anon,
    file,
    mapped: Math.min(file, pages(0, 16_384)),
    activeFile,
    inactiveFile,
    pgfault: int(1000, 1e9),
    pgmajfault: int(0, 100_000),
    rbytes: int(0, 1e11),
    wbytes: int(0, 1e11),
    rios: int(0, 1e7),
    wios: int(0, 1e7),
    pids: nprocs + int(0, 200),
    pidsMax: i % 3 === 0 ? 4096 : null,
    procs: Array.from({ length: nprocs }, (_, k) => base + k),
    psi: Array.from({ length: 6 }, () => int(0, 1e10)),
  };
}

function psiText(some: number, full: number, r: () => number): string {
  const avg = (): string => (r() * 2).toFixed(2);
  return `some avg10=${avg()} avg60=${avg()} avg300=${avg()} total=${some}\nfull avg10=${avg()} avg60=${avg()} avg300=${avg()} total=${full}\n`;
}

/** v1 memory.stat as kernel 6.18 writes it (keys copied from the benchmark machine). */
function v1MemoryStat(v: Values, limit: string): string {
  const local: Array<[string, number | string]> = [
    ['cache', v.file],
    ['rss', v.anon],
    ['rss_huge', 0],
    ['shmem', 0],
    ['mapped_file', v.mapped],
    ['dirty', 0],
    ['writeback', 0],
    ['workingset_refault_anon', 0],
    ['workingset_refault_file', Math.floor(v.pgmajfault / 3)],
    ['swap', 0],
    ['swapcached', 0],
    ['pgpgin', Math.floor(v.pgfault / 2)],
    ['pgpgout', Math.floor(v.pgfault / 2) - 100],
    ['pgfault', v.pgfault],
    ['pgmajfault', v.pgmajfault],
    ['inactive_anon', Math.floor(v.anon / PAGE / 2) * PAGE],
    ['active_anon', v.anon - Math.floor(v.anon / PAGE / 2) * PAGE],
    ['inactive_file', v.inactiveFile],
    ['active_file', v.activeFile],
    ['unevictable', 0],
  ];
  let out = '';
  for (const [k, x] of local) out += `${k} ${x}\n`;
  out += `hierarchical_memory_limit ${limit}\nhierarchical_memsw_limit ${limit}\n`;
  for (const [k, x] of local) out += `total_${k} ${x}\n`;
  return out;
}

/** v2 memory.stat as Documentation/admin-guide/cgroup-v2.rst lists it for 6.x kernels. */
function v2MemoryStat(v: Values): string {
  const kernel = PAGE * 64;
  const fields: Array<[string, number]> = [
    ['anon', v.anon],
    ['file', v.file],
    ['kernel', kernel],
    ['kernel_stack', 16384 * 4],
    ['pagetables', PAGE * 8],
    ['sec_pagetables', 0],
    ['percpu', 960],
    ['sock', 0],
    ['vmalloc', 0],
    ['shmem', 0],
    ['zswap', 0],
    ['zswapped', 0],
    ['file_mapped', v.mapped],
    ['file_dirty', 0],
    ['file_writeback', 0],
    ['swapcached', 0],
    ['anon_thp', 0],
    ['file_thp', 0],
    ['shmem_thp', 0],
    ['inactive_anon', Math.floor(v.anon / PAGE / 2) * PAGE],
    ['active_anon', v.anon - Math.floor(v.anon / PAGE / 2) * PAGE],
    ['inactive_file', v.inactiveFile],
    ['active_file', v.activeFile],
    ['unevictable', 0],
    ['slab_reclaimable', PAGE * 20],
    ['slab_unreclaimable', PAGE * 12],
    ['slab', PAGE * 32],
    ['workingset_refault_anon', 0],
    ['workingset_refault_file', Math.floor(v.pgmajfault / 3)],
    ['workingset_activate_anon', 0],
    ['workingset_activate_file', Math.floor(v.pgmajfault / 7)],
    ['workingset_restore_anon', 0],
    ['workingset_restore_file', 0],
    ['workingset_nodereclaim', 0],
    ['pgdemote_kswapd', 0],
    ['pgdemote_direct', 0],
    ['pgdemote_khugepaged', 0],
    ['pgscan', 0],
    ['pgsteal', 0],
    ['pgscan_kswapd', 0],
    ['pgscan_direct', 0],
    ['pgscan_khugepaged', 0],
    ['pgsteal_kswapd', 0],
    ['pgsteal_direct', 0],
    ['pgsteal_khugepaged', 0],
    ['pgfault', v.pgfault],
    ['pgmajfault', v.pgmajfault],
    ['pgrefill', 0],
    ['pgactivate', Math.floor(v.pgfault / 50)],
    ['pgdeactivate', 0],
    ['pglazyfree', 0],
    ['pglazyfreed', 0],
    ['zswpin', 0],
    ['zswpout', 0],
    ['zswpwb', 0],
    ['thp_fault_alloc', 0],
    ['thp_collapse_alloc', 0],
    ['thp_swpout', 0],
    ['thp_swpout_fallback', 0],
  ];
  return fields.map(([k, x]) => `${k} ${x}\n`).join('');
}

function blkioV1(read: number, write: number): string {
  return `${DEV} Read ${read}\n${DEV} Write ${write}\n${DEV} Sync ${write}\n${DEV} Async ${read}\n${DEV} Discard 0\n${DEV} Total ${read + write}\nTotal ${read + write}\n`;
}

/** One cgroup's files by hierarchy directory (relative to sys/fs/cgroup), in the order the collector reads them. */
type CgroupFilesSpec = Array<[hierarchy: string, name: string, content: string]>;

function v1Files(v: Values, r: () => number, isRoot: boolean): CgroupFilesSpec {
  const limit = v.limit === null ? V1_UNLIMITED : String(v.limit);
  const f: CgroupFilesSpec = [
    ['cpuacct', 'cpuacct.usage', `${v.cpuNs}\n`],
    ['cpuacct', 'cpuacct.stat', `user ${v.userTicks}\nsystem ${v.systemTicks}\n`],
    ['cpu', 'cpu.stat', `nr_periods ${v.periods}\nnr_throttled ${v.throttled}\nthrottled_time ${v.throttledNs}\nnr_bursts 0\nburst_time 0\n`],
    ['cpu', 'cpu.shares', `${v.shares}\n`],
    ['cpu', 'cpu.cfs_quota_us', `${v.quotaUs}\n`],
    ['cpu', 'cpu.cfs_period_us', '100000\n'],
    ['memory', 'memory.usage_in_bytes', `${v.usage}\n`],
    ['memory', 'memory.max_usage_in_bytes', `${v.maxUsage}\n`],
    ['memory', 'memory.limit_in_bytes', `${limit}\n`],
    ['memory', 'memory.soft_limit_in_bytes', `${V1_UNLIMITED}\n`],
    ['memory', 'memory.memsw.limit_in_bytes', `${limit}\n`],
    ['memory', 'memory.failcnt', `${v.limit === null ? 0 : Math.floor(r() * 100)}\n`],
    ['memory', 'memory.oom_control', `oom_kill_disable 0\nunder_oom 0\noom_kill ${v.limit === null ? 0 : Math.floor(r() * 3)}\n`],
    ['memory', 'memory.stat', v1MemoryStat(v, limit)],
    ['blkio', 'blkio.throttle.io_service_bytes_recursive', blkioV1(v.rbytes, v.wbytes)],
    ['blkio', 'blkio.throttle.io_serviced_recursive', blkioV1(v.rios, v.wios)],
  ];
  // The v1 pids controller has no pids.current or pids.max at its root (as on the machine).
  if (!isRoot) f.push(['pids', 'pids.current', `${v.pids}\n`], ['pids', 'pids.max', v.pidsMax === null ? 'max\n' : `${v.pidsMax}\n`]);
  f.push(
    ['pids', 'cgroup.procs', v.procs.map((p) => `${p}\n`).join('')],
    ['unified', 'cpu.pressure', psiText(v.psi[0] ?? 0, v.psi[1] ?? 0, r)],
    ['unified', 'memory.pressure', psiText(v.psi[2] ?? 0, v.psi[3] ?? 0, r)],
    ['unified', 'io.pressure', psiText(v.psi[4] ?? 0, v.psi[5] ?? 0, r)],
  );
  return f;
}

function v2Files(v: Values, r: () => number, isRoot: boolean): CgroupFilesSpec {
  const u = 'unified';
  const f: CgroupFilesSpec = [
    [
      u,
      'cpu.stat',
      `usage_usec ${Math.floor(v.cpuNs / 1000)}\nuser_usec ${v.userTicks * 10_000}\nsystem_usec ${v.systemTicks * 10_000}\n` +
        `core_sched.force_idle_usec 0\nnr_periods ${v.periods}\nnr_throttled ${v.throttled}\nthrottled_usec ${Math.floor(v.throttledNs / 1000)}\nnr_bursts 0\nburst_usec 0\n`,
    ],
  ];
  if (!isRoot) {
    const limit = v.limit === null ? 'max' : String(v.limit);
    const oom = v.limit === null ? 0 : Math.floor(r() * 3);
    f.push(
      [u, 'cpu.max', `${v.quotaUs < 0 ? 'max' : v.quotaUs} 100000\n`],
      [u, 'cpu.weight', `${v.shares === 1024 ? 100 : 50}\n`],
      [u, 'memory.current', `${v.usage}\n`],
      [u, 'memory.peak', `${v.maxUsage}\n`],
      [u, 'memory.max', `${limit}\n`],
      [u, 'memory.low', '0\n'],
      [u, 'memory.swap.current', '0\n'],
      [u, 'memory.swap.max', 'max\n'],
      [u, 'memory.events', `low 0\nhigh 0\nmax ${oom * 17}\noom ${oom}\noom_kill ${oom}\noom_group_kill 0\n`],
      [u, 'pids.current', `${v.pids}\n`],
      [u, 'pids.max', v.pidsMax === null ? 'max\n' : `${v.pidsMax}\n`],
    );
  }
  f.push(
    [u, 'memory.stat', v2MemoryStat(v)],
    [u, 'io.stat', `${DEV} rbytes=${v.rbytes} wbytes=${v.wbytes} rios=${v.rios} wios=${v.wios} dbytes=0 dios=0\n`],
    [u, 'cgroup.procs', v.procs.map((p) => `${p}\n`).join('')],
    [u, 'cpu.pressure', psiText(v.psi[0] ?? 0, v.psi[1] ?? 0, r)],
    [u, 'memory.pressure', psiText(v.psi[2] ?? 0, v.psi[3] ?? 0, r)],
    [u, 'io.pressure', psiText(v.psi[4] ?? 0, v.psi[5] ?? 0, r)],
  );
  return f;
}

/** A config.v2.json shaped like the engine's (2-4 KB), with labels and environment as real services carry. */
function dockerConfig(id: string, i: number, r: () => number): string {
  const name = `bench-${['api', 'web', 'worker', 'db', 'cache', 'queue'][i % 6]}-${i}`;
  const image = `registry.example.com/team-${i % 13}/service-${i % 29}:1.${i % 17}.${i % 5}`;
  const started = new Date(Date.UTC(2025, 0, 1) + Math.floor(r() * 300 * 86_400_000));
  const created = new Date(started.getTime() - 2000);
  const dir = `/var/lib/docker/containers/${id}`;
  const doc = {
    StreamConfig: {},
    State: {
      Running: true, Paused: false, Restarting: false, OOMKilled: false, RemovalInProgress: false, Dead: false,
      Pid: 1000 + i * 10, ExitCode: 0, Error: '', StartedAt: started.toISOString(), FinishedAt: '0001-01-01T00:00:00Z', Health: null,
    },
    ID: id,
    Created: created.toISOString(),
    Managed: false,
    Path: '/usr/local/bin/entrypoint.sh',
    Args: ['serve', '--port', '8080'],
    Config: {
      Hostname: id.slice(0, 12), Domainname: '', User: '1000:1000',
      AttachStdin: false, AttachStdout: false, AttachStderr: false,
      ExposedPorts: { '8080/tcp': {} },
      Tty: false, OpenStdin: false, StdinOnce: false,
      Env: [
        'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        `SERVICE_NAME=${name}`,
        'LOG_LEVEL=info',
        `INSTANCE=${i}`,
        'LANG=C.UTF-8',
        'TZ=UTC',
      ],
      Cmd: ['serve', '--port', '8080'],
      Image: image,
      Volumes: null,
      WorkingDir: '/app',
      Entrypoint: ['/usr/local/bin/entrypoint.sh'],
      OnBuild: null,
      Labels: {
        'com.docker.compose.project': `stack-${i % 13}`,
        'com.docker.compose.service': name.replace(/-\d+$/, ''),
        'com.docker.compose.container-number': String(i),
        'com.docker.compose.version': '2.29.7',
        'org.opencontainers.image.source': `https://git.example.com/team-${i % 13}/service-${i % 29}`,
        'org.opencontainers.image.revision': createHash('sha1').update(String(i)).digest('hex'),
        'org.opencontainers.image.version': `1.${i % 17}.${i % 5}`,
      },
    },
    Image: `sha256:${createHash('sha256').update(image).digest('hex')}`,
    NetworkSettings: {
      Bridge: '', SandboxID: createHash('sha256').update(`sb${id}`).digest('hex'), HairpinMode: false,
      LinkLocalIPv6Address: '', LinkLocalIPv6PrefixLen: 0,
      Networks: {
        bridge: {
          IPAMConfig: null, Links: null, Aliases: null,
          NetworkID: createHash('sha256').update('bridge').digest('hex'),
          EndpointID: createHash('sha256').update(`ep${id}`).digest('hex'),
          Gateway: '172.17.0.1', IPAddress: `172.17.${(i >> 8) & 255}.${(i & 255) || 2}`, IPPrefixLen: 16,
          IPv6Gateway: '', GlobalIPv6Address: '', GlobalIPv6PrefixLen: 0,
          MacAddress: `02:42:ac:11:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`,
          DriverOpts: null, IPAMOperational: false,
        },
      },
      Service: null,
      Ports: { '8080/tcp': null },
      SandboxKey: `/var/run/docker/netns/${id.slice(0, 12)}`,
      SecondaryIPAddresses: null, SecondaryIPv6Addresses: null, IsAnonymousEndpoint: false, HasSwarmEndpoint: false,
    },
    LogPath: `${dir}/${id}-json.log`,
    Name: `/${name}`,
    Driver: 'overlay2',
    OS: 'linux',
    MountLabel: '', ProcessLabel: '', RestartCount: 0, HasBeenStartedBefore: true, HasBeenManuallyStopped: false,
    MountPoints: {
      '/data': {
        Source: `/var/lib/docker/volumes/data-${i}/_data`, Destination: '/data', RW: true, Name: `data-${i}`, Driver: 'local',
        Type: 'volume', Relabel: '', Propagation: '', Spec: { Type: 'volume', Source: `data-${i}`, Target: '/data' }, SkipMountpointCreation: false,
      },
    },
    SecretReferences: null, ConfigReferences: null, AppArmorProfile: 'docker-default',
    HostnamePath: `${dir}/hostname`, HostsPath: `${dir}/hosts`, ShmPath: `${dir}/mounts/shm`,
    ResolvConfPath: `${dir}/resolv.conf`, SeccompProfile: '', NoNewPrivileges: false,
    LocalLogCacheMeta: { HaveNotifyEnabled: false },
  };
  return JSON.stringify(doc);
}

/** The initial network namespace's inode as the kernel numbers it. */
const HOST_NETNS = 4026531840;

/** `/proc/<pid>/net/dev` with the kernel's two header lines (copied from the machine). */
function netDev(r: () => number, ifaces: readonly string[]): string {
  let out =
    'Inter-|   Receive                                                |  Transmit\n' +
    ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n';
  for (const name of ifaces) {
    const rx = Math.floor(r() * 1e11);
    const tx = Math.floor(r() * 1e11);
    const rp = Math.floor(rx / 900);
    const tp = Math.floor(tx / 900);
    const drop = Math.floor(r() * 10);
    out += `${name.padStart(6)}: ${String(rx).padStart(8)} ${String(rp).padStart(7)}    0 ${String(drop).padStart(4)}    0     0          0         0 ${String(tx).padStart(8)} ${String(tp).padStart(7)}    0    0    0     0       0          0\n`;
  }
  return out;
}

/** Paths in the list that a reader resolves with readlink (a namespace link) instead of reading. */
export function isLink(path: string): boolean {
  return path.endsWith('/ns/net');
}

/** Paths in the list that the collectors read whole on every collection instead of keeping open. */
export function isTransient(path: string): boolean {
  return isLink(path) || path.endsWith('/proc/cpuinfo') || path.endsWith('/proc/meminfo');
}

function hostText(path: string, fallback: string): string {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    return fallback;
  }
}

/** Returns the tree for (layout, n) under `dir`, generating it unless a finished one of this TREE_VERSION is there. */
export function ensureTree(dir: string, layout: TreeLayout, n: number): Tree {
  const base = join(dir, `${layout}-${n}`);
  const root = join(base, 'root');
  const listFile = join(base, 'files.list');
  const marker = join(base, 'complete.json');
  if (existsSync(marker)) {
    try {
      const m = JSON.parse(readFileSync(marker, 'utf8')) as { version: number; files: number; held: number; cgroups: number };
      if (m.version === TREE_VERSION) return { layout, containers: n, root, listFile, files: m.files, held: m.held, cgroups: m.cgroups, generatedSeconds: 0 };
    } catch {
      // unreadable marker: regenerate
    }
  }
  const t0 = performance.now();
  rmSync(base, { recursive: true, force: true });
  const cg = join(root, 'sys/fs/cgroup');
  const list: string[] = [];
  const made = new Set<string>();
  const mkdir = (d: string): void => {
    if (!made.has(d)) {
      mkdirSync(d, { recursive: true });
      made.add(d);
    }
  };
  const writeCgroup = (path: string, spec: CgroupFilesSpec): void => {
    for (const [h, name, content] of spec) {
      const d = join(cg, layout === 'v2' ? '' : h, path);
      mkdir(d);
      const p = join(d, name);
      writeFileSync(p, content);
      list.push(p);
    }
  };

  // Hierarchy tops and what detectLayout looks for.
  if (layout === 'v1') {
    for (const h of ['cpu', 'cpuacct', 'memory', 'blkio', 'pids']) mkdir(join(cg, h));
    mkdir(join(cg, 'unified'));
    writeFileSync(join(cg, 'unified', 'cgroup.controllers'), '');
  } else {
    mkdir(cg);
    writeFileSync(join(cg, 'cgroup.controllers'), 'cpuset cpu io memory hugetlb pids rdma misc\n');
    writeFileSync(join(cg, 'cgroup.subtree_control'), 'cpuset cpu io memory pids\n');
  }

  const files = layout === 'v1' ? v1Files : v2Files;
  const parent = layout === 'v1' ? '/docker' : '/system.slice';
  const r0 = rng(0x5eed);
  writeCgroup('/', files(values(r0, 1_000_000), r0, true));
  writeCgroup(parent, files(values(r0, 1_000_001), r0, false));
  const containers = join(root, 'var/lib/docker/containers');
  const firstPids: number[] = [];
  for (let i = 0; i < n; i++) {
    const r = rng(i + 1);
    const id = containerId(layout, i);
    const path = layout === 'v1' ? `/docker/${id}` : `/system.slice/docker-${id}.scope`;
    const v = values(r, i);
    firstPids.push(v.procs[0] as number);
    writeCgroup(path, files(v, r, false));
    const cdir = join(containers, id);
    mkdirSync(cdir, { recursive: true });
    writeFileSync(join(cdir, 'config.v2.json'), dockerConfig(id, i, r));
  }

  // Network: the host's namespace (pid 1) and one namespace per container, named by the
  // first pid of its cgroup.procs, as the collector finds them.
  const proc = join(root, 'proc');
  const netns = (pid: number, inode: number, dev: string): void => {
    mkdirSync(join(proc, String(pid), 'ns'), { recursive: true });
    mkdirSync(join(proc, String(pid), 'net'), { recursive: true });
    symlinkSync(`net:[${inode}]`, join(proc, String(pid), 'ns/net'));
    writeFileSync(join(proc, String(pid), 'net/dev'), dev);
  };
  const hostNet = rng(0x4e7);
  netns(1, HOST_NETNS, netDev(hostNet, ['lo', 'eth0', 'docker0']));
  list.push(join(proc, '1/net/dev'));
  for (const [i, pid] of firstPids.entries()) {
    const r = rng(0x1000 + i);
    netns(pid, HOST_NETNS + 200 + i, netDev(r, ['lo', 'eth0']));
    list.push(join(proc, String(pid), 'ns/net'), join(proc, String(pid), 'net/dev'));
  }

  // What the device-name lookup and the host collector read.
  mkdirSync(join(root, 'sys/dev/block', DEV), { recursive: true });
  writeFileSync(join(root, 'sys/dev/block', DEV, 'uevent'), `MAJOR=254\nMINOR=0\nDEVNAME=vda\nDEVTYPE=disk\nDISKSEQ=9\n`);
  writeFileSync(join(proc, 'cpuinfo'), hostText('/proc/cpuinfo', 'processor\t: 0\nphysical id\t: 0\ncore id\t\t: 0\n\n'));
  writeFileSync(join(proc, 'meminfo'), hostText('/proc/meminfo', 'MemTotal:       16384000 kB\nMemFree:         8192000 kB\n'));
  // The host collector reads both; on v2 the cgroup collector reads meminfo too (the root's memory).
  list.push(join(proc, 'cpuinfo'), join(proc, 'meminfo'));
  if (layout === 'v2') list.push(join(proc, 'meminfo'));

  writeFileSync(listFile, `${list.join('\n')}\n`);
  const cgroups = n + 2;
  const held = new Set(list.filter((p) => !isTransient(p))).size;
  writeFileSync(marker, JSON.stringify({ version: TREE_VERSION, layout, containers: n, files: list.length, held, cgroups }));
  return { layout, containers: n, root, listFile, files: list.length, held, cgroups, generatedSeconds: (performance.now() - t0) / 1000 };
}
