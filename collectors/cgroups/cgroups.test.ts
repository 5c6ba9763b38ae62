/**
 * The cgroup collector against the fixture trees in testdata/ (see testdata/README.md).
 *
 * The hand checks below recompute values from the fixture files with the documented
 * semantics (cpuacct.usage / 1e9, usage_usec / 1e6, USER_HZ ticks / 100, working set =
 * usage - inactive file, unlimited => 0, PSI total / 1e6, cpu.weight -> shares) and with
 * literal numbers read off the files by hand, then assert the same values both in what the
 * collector produces now and in the committed expected.prom, so that a golden regenerated
 * with UPDATE_GOLDEN=1 from a wrong collector cannot pass silently.
 */
import { createContext } from '../../src/context.js';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { Value } from '@sinclair/typebox/value';
import type { Collector, ComponentContext } from '../../src/component.js';
import { configSchema as dockerSchema, type EngineConfig } from '../docker/config.js';
import { dockerCollector } from '../docker/index.js';
import { LookoutError } from '../../src/errors.js';
import { render } from '../../src/exposition.js';
import { SnapshotBuilder } from '../../src/model.js';
import { type CgroupsConfig, configSchema } from './config.js';
import * as discover from './discover.js';
import { cgroupsCollector } from './index.js';

// walk() is wrapped so a test can remove a cgroup between the walk and the reads.
let afterWalk: ((refs: discover.CgroupRef[]) => void) | undefined;
vi.mock('./discover.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('./discover.js')>();
  return {
    ...actual,
    walk: (root: string, raw: boolean) => {
      const refs = actual.walk(root, raw);
      afterWalk?.(refs);
      return refs;
    },
  };
});
afterEach(() => {
  afterWalk = undefined;
});

const td = join(dirname(fileURLToPath(import.meta.url)), 'testdata');
const NOW = Date.UTC(2026, 10, 25, 0, 5, 0);
const DEFAULTS: CgroupsConfig = Value.Default(configSchema, {}) as CgroupsConfig;

const temps: string[] = [];
afterAll(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

/** A writable copy of a fixture case's root/. */
function copyOf(c: string): string {
  const dir = mkdtempSync(join(tmpdir(), `lookout-${c}-`));
  temps.push(dir);
  cpSync(join(td, c, 'root'), dir, { recursive: true, verbatimSymlinks: true });
  return dir;
}

function context(root: string, now = (): number => NOW): ComponentContext {
  return createContext({ root, now });
}

interface Collected {
  readonly text: string;
  readonly errors: Array<{ kind: string; err: unknown }>;
}

async function collectOnce(c: Collector, before: Collector[] = []): Promise<Collected> {
  const errors: Collected['errors'] = [];
  const b = new SnapshotBuilder(NOW, (kind, err) => errors.push({ kind, err }));
  for (const r of before) await r.collect(b);
  await c.collect(b);
  return { text: render(b.build(cgroupsCollector.metrics).families, 'text'), errors };
}

/**
 * Collects a case with the Docker collector in front (it reads the fixture's on-disk
 * config.v2.json files into the container directory, as on a host without the socket).
 */
async function collectCase(root: string, config: Partial<CgroupsConfig> = {}): Promise<Collected> {
  const ctx = context(root);
  const docker = dockerCollector.create(Value.Default(dockerSchema, {}) as EngineConfig, ctx);
  const c = cgroupsCollector.create({ ...DEFAULTS, ...config }, ctx);
  await docker.start(new AbortController().signal);
  await c.start(new AbortController().signal);
  try {
    return await collectOnce(c, [docker]);
  } finally {
    await c.shutdown();
    await docker.shutdown();
  }
}

const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The value of the one series `name{id="<id>",...<extra>...}` in exposition text, or undefined. */
function value(text: string, name: string, id: string, extra = ''): number | undefined {
  const re = new RegExp(`^${esc(name)}\\{id="${esc(id)}",[^}]*${esc(extra)}[^}]*\\} (\\S+)$`, 'gm');
  const found = [...text.matchAll(re)];
  if (found.length > 1) throw new Error(`${found.length} series match ${name} ${id} ${extra}`);
  return found[0] === undefined ? undefined : Number(found[0][1]);
}

/** The label set of a target's first series. */
function labelsOf(text: string, id: string): string | undefined {
  return new RegExp(`^container_last_seen\\{(id="${esc(id)}",[^}]*)\\}`, 'm').exec(text)?.[1];
}

const read = (root: string, ...p: string[]): string => readFileSync(join(root, ...p), 'latin1');
const num = (root: string, ...p: string[]): number => Number(read(root, ...p).trim());
function stat(root: string, ...p: string[]): Record<string, number> {
  return Object.fromEntries(read(root, ...p).trim().split('\n').map((l) => [l.split(' ')[0], Number(l.split(' ')[1])]));
}
function psiTotal(root: string, kind: 'some' | 'full', ...p: string[]): number {
  const line = read(root, ...p).split('\n').find((l) => l.startsWith(`${kind} `)) ?? '';
  return Number(/total=(\d+)/.exec(line)?.[1]);
}

/** Runs the checks against the live collection and the committed golden alike. */
function bothSources(c: string, live: () => Collected): Array<[string, () => string]> {
  return [
    ['collector', () => live().text],
    ['expected.prom', () => readFileSync(join(td, c, 'expected.prom'), 'utf8')],
  ];
}

describe('v1-hybrid-docker (real files): hand checks', () => {
  const C = 'v1-hybrid-docker';
  const root = join(td, C, 'root');
  const cg = join(root, 'sys/fs/cgroup');
  const CPU = '/docker/7641d6d2bf99a8c50ba691e36e640eee3f3bab4bc85f7bd3ba25d2937a51baa7';
  const DIO = '/docker/4c27dce492b9293897c4e61e9af6118378204ff5f53ad190ca25ed2a716a4017';
  const OOM = '/docker/a7f393d6838cae6bbdb3f413ed0c5cc48ea6ccd73b8374cbd745289328d0dc27';
  let live: Collected | undefined;

  it('collects without errors', async () => {
    live = await collectCase(root);
    expect(live.errors).toEqual([]);
  });

  for (const [source, text] of bothSources(C, () => live as Collected)) {
    describe(source, () => {
      it('CPU of the limited busy container: cpuacct.usage / 1e9, cpuacct.stat ticks / 100, CFS counters, quota', () => {
        const t = text();
        expect(value(t, 'container_cpu_usage_seconds_total', CPU, 'cpu="total"')).toBe(num(cg, 'cpuacct', CPU, 'cpuacct.usage') / 1e9);
        expect(value(t, 'container_cpu_usage_seconds_total', CPU)).toBe(36.451651705);
        expect(value(t, 'container_cpu_user_seconds_total', CPU)).toBe(stat(cg, 'cpuacct', CPU, 'cpuacct.stat')['user']! / 100);
        expect(value(t, 'container_cpu_user_seconds_total', CPU)).toBe(36.21);
        expect(value(t, 'container_cpu_system_seconds_total', CPU)).toBe(0.24);
        expect(value(t, 'container_cpu_cfs_periods_total', CPU)).toBe(768);
        expect(value(t, 'container_cpu_cfs_throttled_periods_total', CPU)).toBe(544);
        expect(value(t, 'container_cpu_cfs_throttled_seconds_total', CPU)).toBe(stat(cg, 'cpu', CPU, 'cpu.stat')['throttled_time']! / 1e9);
        expect(value(t, 'container_cpu_cfs_throttled_seconds_total', CPU)).toBe(19.636533192);
        // --cpus 0.5: 50000 us per 100000 us period.
        expect(value(t, 'container_spec_cpu_quota', CPU)).toBe(50000);
        expect(value(t, 'container_spec_cpu_period', CPU)).toBe(100000);
        expect(value(t, 'container_spec_cpu_shares', CPU)).toBe(1024);
      });

      it('memory of the limited container: --memory 64m, swap limit 2x, unlimited soft limit => 0, working set', () => {
        const t = text();
        expect(value(t, 'container_memory_usage_bytes', CPU)).toBe(335872);
        expect(value(t, 'container_memory_max_usage_bytes', CPU)).toBe(4292608);
        expect(value(t, 'container_spec_memory_limit_bytes', CPU)).toBe(64 * 1024 * 1024);
        expect(value(t, 'container_spec_memory_swap_limit_bytes', CPU)).toBe(128 * 1024 * 1024);
        expect(read(cg, 'memory', CPU, 'memory.soft_limit_in_bytes').trim()).toBe('9223372036854771712');
        expect(value(t, 'container_spec_memory_reservation_limit_bytes', CPU)).toBe(0);
        expect(value(t, 'container_memory_rss', CPU)).toBe(stat(cg, 'memory', CPU, 'memory.stat')['total_rss']);
        expect(value(t, 'container_threads', CPU)).toBe(1);
        expect(value(t, 'container_threads_max', CPU)).toBe(0); // pids.max "max"
        expect(value(t, 'container_processes', CPU)).toBe(1);
      });

      it('working set = usage - total_inactive_file of the container that read a file through the page cache', () => {
        const t = text();
        const usage = num(cg, 'memory', DIO, 'memory.usage_in_bytes');
        const inactive = stat(cg, 'memory', DIO, 'memory.stat')['total_inactive_file']!;
        expect([usage, inactive]).toEqual([9187328, 3411968]);
        expect(value(t, 'container_memory_working_set_bytes', DIO)).toBe(usage - inactive);
        expect(value(t, 'container_memory_working_set_bytes', DIO)).toBe(5775360);
        expect(value(t, 'container_memory_cache', DIO)).toBe(8396800);
        expect(value(t, 'container_memory_total_inactive_file_bytes', DIO)).toBe(3411968);
        // The root: 539090944 - 147013632.
        expect(value(t, 'container_memory_working_set_bytes', '/')).toBe(392077312);
        // Unlimited: 2^63 rounded to the page size => 0.
        expect(value(t, 'container_spec_memory_limit_bytes', DIO)).toBe(0);
        expect(value(t, 'container_spec_memory_limit_bytes', '/')).toBe(0);
      });

      it('block I/O of the direct-I/O container, per device resolved through sys/dev/block/254:0/uevent', () => {
        const t = text();
        expect(read(root, 'sys/dev/block/254:0/uevent')).toContain('DEVNAME=vda');
        expect(value(t, 'container_fs_reads_bytes_total', DIO, 'device="/dev/vda"')).toBe(16777216);
        expect(value(t, 'container_fs_writes_bytes_total', DIO, 'device="/dev/vda"')).toBe(8519680);
        expect(value(t, 'container_fs_reads_total', DIO, 'device="/dev/vda"')).toBe(134);
        expect(value(t, 'container_fs_writes_total', DIO, 'device="/dev/vda"')).toBe(49);
        expect(value(t, 'container_blkio_device_usage_total', DIO, 'major="254",minor="0",operation="Write"')).toBe(8519680);
        // "Total 0" only: no device series at all.
        expect(t).not.toMatch(new RegExp(`container_fs_reads_bytes_total\\{id="${esc(CPU)}"`));
      });

      it('the OOM-killed container: oom_control oom_kill 1 while failcnt stays 0', () => {
        const t = text();
        expect(read(cg, 'memory', OOM, 'memory.oom_control')).toContain('oom_kill 1\n');
        expect(value(t, 'container_oom_events_total', OOM)).toBe(1);
        expect(value(t, 'container_memory_failcnt', OOM)).toBe(0);
        expect(value(t, 'container_spec_memory_limit_bytes', OOM)).toBe(16 * 1024 * 1024);
        expect(value(t, 'container_spec_memory_swap_limit_bytes', OOM)).toBe(16 * 1024 * 1024);
        expect(value(t, 'container_memory_max_usage_bytes', OOM)).toBe(16 * 1024 * 1024);
      });

      it('PSI from the unified tree: total / 1e6', () => {
        const t = text();
        expect(value(t, 'container_pressure_cpu_waiting_seconds_total', CPU)).toBe(psiTotal(cg, 'some', 'unified', CPU, 'cpu.pressure') / 1e6);
        expect(value(t, 'container_pressure_cpu_waiting_seconds_total', CPU)).toBe(28.991821);
        expect(value(t, 'container_pressure_cpu_stalled_seconds_total', CPU)).toBe(28.987189);
        expect(value(t, 'container_pressure_cpu_waiting_seconds_total', '/')).toBe(382.31582);
      });

      it('Docker names, images and start times from config.v2.json; raw cgroups have empty name and image', () => {
        const t = text();
        expect(labelsOf(t, CPU)).toBe(`id="${CPU}",image="lookout-busybox",name="lkfx-cpu"`);
        expect(labelsOf(t, OOM)).toBe(`id="${OOM}",image="lookout-busybox",name="lkfx-oom"`);
        expect(labelsOf(t, '/docker')).toBe('id="/docker",image="",name=""');
        // StartedAt 2026-11-25T00:03:39.959233325Z, to the millisecond.
        expect(value(t, 'container_start_time_seconds', CPU)).toBe(1795565019.959);
        expect(value(t, 'container_last_seen', CPU)).toBe(NOW / 1000);
      });
    });
  }
});

describe('v2-systemd (synthetic, kernel formats): hand checks', () => {
  const C = 'v2-systemd';
  const root = join(td, C, 'root');
  const cg = join(root, 'sys/fs/cgroup');
  const WEB = '/system.slice/docker-3f1c9e0a7b2d4c6e8f0a1b3c5d7e9f1a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e.scope';
  const CACHE = '/system.slice/docker-9a8b7c6d5e4f30211f2e3d4c5b6a79880a1b2c3d4e5f60718293a4b5c6d7e8f9.scope';
  const POD = '/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod6f1b2c3d_4e5f_4a6b_8c7d_9e0f1a2b3c4d.slice';
  const APP = `${POD}/cri-containerd-e5f6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f80912.scope`;
  const CRIO = '/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0a1b2c3d_5e6f_4789_9abc_def012345678.slice/crio-4d3c2b1a0f9e8d7c6b5a49382716f5e4d3c2b1a09f8e7d6c5b4a392817160f5e.scope';
  const LIBPOD = '/machine.slice/libpod-7e57ab1e5eed0fdecafbadd00dfeedface0ddba11ab1ec0de5caffe1dea5c0de.scope';
  const CONMON = '/machine.slice/libpod-conmon-7e57ab1e5eed0fdecafbadd00dfeedface0ddba11ab1ec0de5caffe1dea5c0de.scope';
  const shares = (w: number): number => Math.floor(2 + ((w - 1) * 262142) / 9999);
  let live: Collected | undefined;

  it('collects without errors', async () => {
    live = await collectCase(root);
    expect(live.errors).toEqual([]);
  });

  for (const [source, text] of bothSources(C, () => live as Collected)) {
    describe(source, () => {
      it('CPU of the limited Docker container: cpu.stat usec / 1e6, cpu.max quota and period, weight 100 -> 2597 shares', () => {
        const t = text();
        const s = stat(cg, WEB, 'cpu.stat');
        expect(value(t, 'container_cpu_usage_seconds_total', WEB)).toBe(s['usage_usec']! / 1e6);
        expect(value(t, 'container_cpu_usage_seconds_total', WEB)).toBe(84.213417);
        expect(value(t, 'container_cpu_user_seconds_total', WEB)).toBe(79.00123);
        expect(value(t, 'container_cpu_system_seconds_total', WEB)).toBe(5.212187);
        expect(value(t, 'container_cpu_cfs_periods_total', WEB)).toBe(10452);
        expect(value(t, 'container_cpu_cfs_throttled_periods_total', WEB)).toBe(3120);
        expect(value(t, 'container_cpu_cfs_throttled_seconds_total', WEB)).toBe(271.834512);
        expect(read(cg, WEB, 'cpu.max')).toBe('150000 100000\n');
        expect(value(t, 'container_spec_cpu_quota', WEB)).toBe(150000);
        expect(value(t, 'container_spec_cpu_period', WEB)).toBe(100000);
        expect(shares(100)).toBe(2597);
        expect(value(t, 'container_spec_cpu_shares', WEB)).toBe(2597);
      });

      it('weight -> shares as runc and cAdvisor convert: 10 -> 237 (burstable), 1 -> 2 (besteffort), 79 -> 2046 (kubepods)', () => {
        const t = text();
        expect([shares(10), shares(1), shares(79)]).toEqual([237, 2, 2046]);
        expect(value(t, 'container_spec_cpu_shares', APP)).toBe(237);
        expect(value(t, 'container_spec_cpu_shares', CRIO)).toBe(2);
        expect(value(t, 'container_spec_cpu_shares', '/kubepods.slice')).toBe(2046);
      });

      it('memory of the limited Docker container: working set = memory.current - inactive_file, limits, OOM kills, failcnt = events max', () => {
        const t = text();
        const current = num(cg, WEB, 'memory.current');
        const inactive = stat(cg, WEB, 'memory.stat')['inactive_file']!;
        expect([current, inactive]).toEqual([191176704, 20971520]);
        expect(value(t, 'container_memory_usage_bytes', WEB)).toBe(191176704);
        expect(value(t, 'container_memory_working_set_bytes', WEB)).toBe(current - inactive);
        expect(value(t, 'container_memory_working_set_bytes', WEB)).toBe(170205184);
        expect(value(t, 'container_memory_max_usage_bytes', WEB)).toBe(256 * 1024 * 1024); // memory.peak
        expect(value(t, 'container_memory_rss', WEB)).toBe(150994944); // anon
        expect(value(t, 'container_memory_cache', WEB)).toBe(33554432); // file
        expect(value(t, 'container_memory_mapped_file', WEB)).toBe(9437184);
        expect(value(t, 'container_memory_kernel_usage', WEB)).toBe(6627328);
        expect(value(t, 'container_spec_memory_limit_bytes', WEB)).toBe(268435456);
        expect(value(t, 'container_spec_memory_swap_limit_bytes', WEB)).toBe(268435456);
        expect(value(t, 'container_spec_memory_reservation_limit_bytes', WEB)).toBe(0);
        expect(read(cg, WEB, 'memory.events')).toBe('low 0\nhigh 0\nmax 41\noom 2\noom_kill 2\noom_group_kill 0\n');
        expect(value(t, 'container_oom_events_total', WEB)).toBe(2);
        expect(value(t, 'container_memory_failcnt', WEB)).toBe(41);
        expect(value(t, 'container_memory_events_total', WEB, 'event="oom_kill"')).toBe(2);
        expect(value(t, 'container_memory_events_total', WEB, 'event="oom_group_kill"')).toBe(0);
      });

      it('the unlimited container: memory.max and swap.max "max" => 0, cpu.max "max 100000" => no quota series, pids.max "max" => 0', () => {
        const t = text();
        expect(read(cg, CACHE, 'memory.max')).toBe('max\n');
        expect(value(t, 'container_spec_memory_limit_bytes', CACHE)).toBe(0);
        expect(value(t, 'container_spec_memory_swap_limit_bytes', CACHE)).toBe(0);
        expect(value(t, 'container_spec_cpu_quota', CACHE)).toBeUndefined();
        expect(value(t, 'container_spec_cpu_period', CACHE)).toBe(100000);
        expect(value(t, 'container_threads_max', CACHE)).toBe(0);
        // Kubernetes without swap: memory.swap.max 0 is a limit of 0, also written 0.
        expect(read(cg, APP, 'memory.swap.max')).toBe('0\n');
        expect(value(t, 'container_spec_memory_swap_limit_bytes', APP)).toBe(0);
        expect(value(t, 'container_spec_memory_limit_bytes', APP)).toBe(512 * 1024 * 1024);
        expect(value(t, 'container_threads_max', LIBPOD)).toBe(2048);
        expect(value(t, 'container_threads_max', '/system.slice/ssh.service')).toBe(4915);
      });

      it('PSI total / 1e6, io.stat per device (sysfs, /proc/partitions, or MAJ:MIN)', () => {
        const t = text();
        expect(value(t, 'container_pressure_cpu_waiting_seconds_total', WEB)).toBe(psiTotal(cg, 'some', WEB, 'cpu.pressure') / 1e6);
        expect(value(t, 'container_pressure_cpu_waiting_seconds_total', WEB)).toBe(3.021785);
        expect(value(t, 'container_pressure_cpu_stalled_seconds_total', WEB)).toBe(2.97741);
        expect(value(t, 'container_pressure_memory_waiting_seconds_total', WEB)).toBe(0.412077);
        expect(value(t, 'container_pressure_io_stalled_seconds_total', WEB)).toBe(0.080117);
        expect(value(t, 'container_fs_reads_bytes_total', WEB, 'device="/dev/sda"')).toBe(12582912);
        expect(value(t, 'container_fs_writes_total', WEB, 'device="/dev/dm-0"')).toBe(96);
        expect(value(t, 'container_fs_reads_bytes_total', APP, 'device="/dev/nvme0n1"')).toBe(52428800);
        expect(value(t, 'container_fs_reads_total', LIBPOD, 'device="11:0"')).toBe(1);
      });

      it('the root has no memory.current or limits (kernel behaviour): no usage or limit series, but CPU and memory.stat', () => {
        const t = text();
        expect(value(t, 'container_memory_usage_bytes', '/')).toBeUndefined();
        expect(value(t, 'container_memory_working_set_bytes', '/')).toBeUndefined();
        expect(value(t, 'container_spec_memory_limit_bytes', '/')).toBeUndefined();
        expect(value(t, 'container_spec_cpu_period', '/')).toBeUndefined();
        expect(value(t, 'container_cpu_usage_seconds_total', '/')).toBe((912004117 + 301998210) / 1e6);
        expect(value(t, 'container_memory_rss', '/')).toBe(1610612736);
      });

      it('identity: Docker names from config.v2.json, other runtimes named by id, conmon scopes and services raw', () => {
        const t = text();
        expect(labelsOf(t, WEB)).toBe(`id="${WEB}",image="nginx:1.27",name="web"`);
        expect(labelsOf(t, CACHE)).toBe(`id="${CACHE}",image="redis:7.4-alpine",name="cache"`);
        expect(labelsOf(t, LIBPOD)).toBe(`id="${LIBPOD}",image="",name="7e57ab1e5eed0fdecafbadd00dfeedface0ddba11ab1ec0de5caffe1dea5c0de"`);
        expect(labelsOf(t, CONMON)).toBe(`id="${CONMON}",image="",name=""`);
        expect(labelsOf(t, '/system.slice/ssh.service')).toBe('id="/system.slice/ssh.service",image="",name=""');
        expect(labelsOf(t, POD)).toBe(`id="${POD}",image="",name=""`);
        // StartedAt 2025-11-20T08:15:42.123456789Z, to the millisecond.
        expect(value(t, 'container_start_time_seconds', WEB)).toBe(1763626542.123);
        // 17 cgroups in all, each seen once.
        expect(t.match(/^container_last_seen\{/gm)).toHaveLength(17);
      });
    });
  }
});

describe('v1-cgroupfs-kube: hand checks', () => {
  const C = 'v1-cgroupfs-kube';
  const root = join(td, C, 'root');
  const cg = join(root, 'sys/fs/cgroup');
  const GUARANTEED = '/kubepods/pod8e9f0a1b-2c3d-4e5f-a6b7-c8d9e0f1a2b3/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';
  const APP = '/kubepods/burstable/pod2c6b7f0e-1d3a-4b5c-9e8f-7a6b5c4d3e2f/aa55aa55aa55aa55aa55aa55aa55aa55aa55aa55aa55aa55aa55aa55aa55aa55';
  const LIBPOD = '/libpod_parent/libpod-b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecf';
  let live: Collected | undefined;

  it('collects without errors', async () => {
    live = await collectCase(root);
    expect(live.errors).toEqual([]);
  });

  for (const [source, text] of bothSources(C, () => live as Collected)) {
    describe(source, () => {
      it('reads cpu and cpuacct through the co-mounted cpu,cpuacct hierarchy', () => {
        const t = text();
        expect(value(t, 'container_cpu_usage_seconds_total', GUARANTEED)).toBe(num(cg, 'cpu,cpuacct', GUARANTEED, 'cpuacct.usage') / 1e9);
        expect(value(t, 'container_cpu_usage_seconds_total', GUARANTEED)).toBe(36.451651705);
        expect(value(t, 'container_spec_cpu_shares', GUARANTEED)).toBe(512);
        expect(value(t, 'container_spec_cpu_quota', GUARANTEED)).toBe(50000);
        expect(value(t, 'container_spec_cpu_shares', APP)).toBe(256);
      });

      it('memory, block I/O and OOM kills of the relocated real files', () => {
        const t = text();
        expect(value(t, 'container_memory_working_set_bytes', APP)).toBe(9187328 - 3411968);
        expect(value(t, 'container_fs_writes_bytes_total', APP, 'device="/dev/vda"')).toBe(8519680);
        expect(value(t, 'container_oom_events_total', LIBPOD)).toBe(1);
        expect(value(t, 'container_spec_memory_swap_limit_bytes', GUARANTEED)).toBe(0);
        expect(value(t, 'container_spec_memory_limit_bytes', GUARANTEED)).toBe(64 * 1024 * 1024);
      });

      it('containers of both drivers are found; the conmon cgroup and the pods are raw; no PSI on pure v1', () => {
        const t = text();
        expect(labelsOf(t, LIBPOD)).toBe(`id="${LIBPOD}",image="",name="b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecf"`);
        expect(labelsOf(t, '/libpod_parent/conmon')).toBe('id="/libpod_parent/conmon",image="",name=""');
        expect(labelsOf(t, GUARANTEED)).toMatch(/^id="[^"]+",image="",name="/);
        expect(t).not.toContain('container_pressure_');
        expect(t.match(/^container_last_seen\{/gm)).toHaveLength(11);
      });
    });
  }
});

describe('malformed: partial failures are counted and the rest is reported', () => {
  const C = 'malformed';
  const root = join(td, C, 'root');
  const GARBAGE = '/docker/badbadbadbadbadbadbadbadbadbadbadbadbadbadbadbadbadbadbadbadbadb';
  const EMPTY = '/docker/e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0';
  const NOMETA = '/docker/dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd';
  let live: Collected | undefined;

  it('never throws; counts six parse errors and one metadata error, each a typed LookoutError', async () => {
    live = await collectCase(root);
    const kinds = live.errors.map((e) => e.kind).sort();
    expect(kinds).toEqual(['metadata', 'parse', 'parse', 'parse', 'parse', 'parse', 'parse']);
    for (const { kind, err } of live.errors) {
      expect(err).toBeInstanceOf(LookoutError);
      expect((err as LookoutError).code).toBe(kind === 'parse' ? 'LOOKOUT_ERR_CGROUP_PARSE' : 'LOOKOUT_ERR_METADATA');
    }
    const messages = live.errors.map((e) => (e.err as Error).message).join('\n');
    for (const f of ['/docker/badbad', 'cpu.stat', 'memory.usage_in_bytes', 'memory.stat', 'cpuacct.usage', 'memory.limit_in_bytes', 'pids.max', 'config.v2.json of badbadbadbad is not JSON']) {
      expect(messages).toContain(f);
    }
    expect(JSON.parse(readFileSync(join(td, C, 'expected-errors.json'), 'utf8'))).toEqual({ 'docker/metadata': 1, 'cgroups/parse': 6 });
  });

  for (const [source, text] of bothSources(C, () => live as Collected)) {
    describe(source, () => {
      it('the intact files of the broken containers are still reported', () => {
        const t = text();
        // cpuacct is intact for the garbage container, the memory limits for both.
        expect(value(t, 'container_cpu_usage_seconds_total', GARBAGE)).toBe(36.451651705);
        expect(value(t, 'container_memory_max_usage_bytes', GARBAGE)).toBe(4292608);
        expect(value(t, 'container_threads', GARBAGE)).toBe(1);
        expect(value(t, 'container_memory_usage_bytes', EMPTY)).toBe(9187328);
        expect(value(t, 'container_threads', EMPTY)).toBe(1);
        // An empty cgroup.procs is an empty cgroup, not an error.
        expect(value(t, 'container_processes', EMPTY)).toBe(0);
      });

      it('what could not be parsed is left out, not guessed', () => {
        const t = text();
        expect(value(t, 'container_memory_usage_bytes', GARBAGE)).toBeUndefined();
        expect(value(t, 'container_memory_working_set_bytes', GARBAGE)).toBeUndefined();
        expect(value(t, 'container_cpu_cfs_throttled_seconds_total', GARBAGE)).toBeUndefined();
        expect(value(t, 'container_cpu_usage_seconds_total', EMPTY)).toBeUndefined();
        // The empty container has no directory in the cpu hierarchy: no CFS or spec series, no error.
        expect(value(t, 'container_spec_cpu_shares', EMPTY)).toBeUndefined();
        expect(value(t, 'container_cpu_cfs_periods_total', EMPTY)).toBeUndefined();
        // No blkio mount, no unified tree: no block I/O or PSI series anywhere, and no error.
        expect(t).not.toContain('container_fs_');
        expect(t).not.toContain('container_pressure_');
      });

      it('metadata: a malformed config.v2.json and a missing one leave the image empty and name the container by its id; a valid one names', () => {
        const t = text();
        expect(labelsOf(t, GARBAGE)).toBe(`id="${GARBAGE}",image="",name="${GARBAGE.split('/').pop()}"`);
        expect(labelsOf(t, NOMETA)).toBe(`id="${NOMETA}",image="",name="${NOMETA.split('/').pop()}"`);
        expect(labelsOf(t, EMPTY)).toBe(`id="${EMPTY}",image="lookout-busybox",name="empty-files"`);
        expect(t.match(/^container_last_seen\{/gm)).toHaveLength(5);
      });
    });
  }
});

describe('cgroup collector behaviour', () => {
  it('raw_cgroups: false keeps the root and the containers only', async () => {
    const { text, errors } = await collectCase(join(td, 'v2-systemd/root'), { raw_cgroups: false });
    expect(errors).toEqual([]);
    const ids = [...text.matchAll(/^container_last_seen\{id="([^"]*)"/gm)].map((m) => m[1]);
    expect(ids).toHaveLength(7);
    expect(ids[0]).toBe('/');
    expect(ids.filter((id) => id?.endsWith('.slice') || id?.endsWith('.service') || id?.includes('conmon'))).toEqual([]);
  });

  it('a container whose directories are removed between two collections disappears from the second, without errors', async () => {
    const root = copyOf('v1-hybrid-docker');
    const id = 'a7f393d6838cae6bbdb3f413ed0c5cc48ea6ccd73b8374cbd745289328d0dc27';
    const c = cgroupsCollector.create(DEFAULTS, context(root));
    await c.start(new AbortController().signal);
    const first = await collectOnce(c);
    expect(labelsOf(first.text, `/docker/${id}`)).toBeDefined();
    const openBefore = (c as unknown as { openFiles: number }).openFiles;
    for (const ctl of ['cpu', 'cpuacct', 'memory', 'blkio', 'pids', 'systemd', 'unified']) {
      rmSync(join(root, 'sys/fs/cgroup', ctl, 'docker', id), { recursive: true, force: true });
    }
    const second = await collectOnce(c);
    expect(second.errors).toEqual([]);
    expect(second.text).not.toContain(id);
    expect(labelsOf(second.text, '/docker/7641d6d2bf99a8c50ba691e36e640eee3f3bab4bc85f7bd3ba25d2937a51baa7')).toBeDefined();
    // Its descriptors were released with it.
    expect((c as unknown as { openFiles: number }).openFiles).toBeLessThan(openBefore);
    await c.shutdown();
  });

  it('a cgroup removed after the walk but before its files are read yields no series and no error', async () => {
    const root = copyOf('v2-systemd');
    const gone = '/system.slice/docker-9a8b7c6d5e4f30211f2e3d4c5b6a79880a1b2c3d4e5f60718293a4b5c6d7e8f9.scope';
    let walked = false;
    afterWalk = (refs) => {
      walked = refs.some((r) => r.path === gone);
      rmSync(join(root, 'sys/fs/cgroup', gone), { recursive: true, force: true });
    };
    const { text, errors } = await collectCase(root);
    expect(walked).toBe(true);
    expect(errors).toEqual([]);
    expect(text).not.toContain(gone);
    expect(text.match(/^container_last_seen\{/gm)).toHaveLength(16);
  });

  it('the same on v1: a container removed from every hierarchy after the walk', async () => {
    const root = copyOf('v1-hybrid-docker');
    const id = '4c27dce492b9293897c4e61e9af6118378204ff5f53ad190ca25ed2a716a4017';
    afterWalk = () => {
      for (const ctl of ['cpu', 'cpuacct', 'memory', 'blkio', 'pids', 'systemd', 'unified']) {
        rmSync(join(root, 'sys/fs/cgroup', ctl, 'docker', id), { recursive: true, force: true });
      }
    };
    const { text, errors } = await collectCase(root);
    expect(errors).toEqual([]);
    expect(text).not.toContain(id);
    expect(text.match(/^container_last_seen\{/gm)).toHaveLength(4);
  });

  it('keeps descriptors open between collections up to max_open_files, and none with 0', async () => {
    const open = async (max: number): Promise<number> => {
      const c = cgroupsCollector.create({ ...DEFAULTS, max_open_files: max }, context(join(td, 'v1-hybrid-docker/root')));
      await c.start(new AbortController().signal);
      await collectOnce(c);
      const n = (c as unknown as { openFiles: number }).openFiles;
      await c.shutdown();
      expect((c as unknown as { openFiles: number }).openFiles).toBe(0);
      return n;
    };
    // 5 cgroups x 22 files (cpuacct 2, cpu 4, memory 8, blkio 2, pids 3, unified PSI 3), less
    // the root's pids.current and pids.max, which the kernel does not create.
    expect(await open(50000)).toBe(5 * 22 - 2);
    expect(await open(10)).toBe(10);
    expect(await open(0)).toBe(0);
  });
});

describe('cgroup collector lifecycle', () => {
  it('shutdown before start, then start, collect, shutdown, shutdown again', async () => {
    const c = cgroupsCollector.create(DEFAULTS, context(join(td, 'v2-systemd/root')));
    await expect(c.shutdown()).resolves.toBeUndefined();
    await c.start(new AbortController().signal);
    const { text, errors } = await collectOnce(c);
    expect(errors).toEqual([]);
    expect(text).toContain('container_cpu_usage_seconds_total{id="/",');
    await c.shutdown();
    await expect(c.shutdown()).resolves.toBeUndefined();
    expect((c as unknown as { openFiles: number }).openFiles).toBe(0);
  });

  it('collect before start is a programming error (LOOKOUT_ERR_HOST), not a partial failure', async () => {
    const c = cgroupsCollector.create(DEFAULTS, context(join(td, 'v2-systemd/root')));
    await expect(collectOnce(c)).rejects.toMatchObject({ code: 'LOOKOUT_ERR_HOST' });
  });

  it('start on a root without /sys/fs/cgroup fails with LOOKOUT_ERR_HOST naming --root', async () => {
    const root = mkdtempSync(join(tmpdir(), 'lookout-noroot-'));
    temps.push(root);
    const c = cgroupsCollector.create(DEFAULTS, context(root));
    await expect(c.start(new AbortController().signal)).rejects.toMatchObject({ code: 'LOOKOUT_ERR_HOST', message: expect.stringContaining('--root') });
    await expect(c.shutdown()).resolves.toBeUndefined();
  });
});
