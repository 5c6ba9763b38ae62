/**
 * The docker CLI for the end-to-end tests. Every container runs with `--network none`,
 * carries the label `lookout.e2e=1` and a unique name, and is removed with `docker rm -f`
 * by the pool that started it (call `cleanup()` from afterAll/afterEach; `useContainers()`
 * registers that).
 */
import { existsSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll } from 'vitest';
import { exec } from './util.js';

export { exec, type ExecResult } from './util.js';

export const IMAGE = 'lookout-busybox:latest';
/**
 * The image as containers are run with it, and so the `image` label lookout shows: Docker's
 * Config.Image, as the user named it (no tag added).
 */
export const IMAGE_LABEL = 'lookout-busybox';
export const E2E_LABEL = 'lookout.e2e';
/** The pid of the test process that started a container, so a later run can tell leftovers. */
export const E2E_PID_LABEL = 'lookout.e2e.pid';

/** Runs `docker ARGS`; returns trimmed stdout, throws with stderr on a non-zero exit. */
export async function docker(args: readonly string[], timeoutMs = 30_000): Promise<string> {
  const r = await exec('docker', args, { timeoutMs });
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout.trim();
}

/** Availability check for requireOrSkip: an engine that answers, and the test image. */
export async function dockerUsable(): Promise<void> {
  const version = await docker(['version', '--format', '{{.Server.Version}}'], 15_000).catch((err: Error) => {
    throw new Error(`no Docker engine: ${err.message}`);
  });
  if (version === '') throw new Error('no Docker engine: `docker version` printed no server version');
  await docker(['image', 'inspect', '--format', '{{.Id}}', IMAGE], 15_000).catch(() => {
    throw new Error(`image ${IMAGE} is missing (bash .ci/services.sh builds it)`);
  });
  if (!existsSync('/sys/fs/cgroup')) throw new Error('no /sys/fs/cgroup');
}

export function uniqueName(prefix: string): string {
  return `lookout-e2e-${prefix}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

export interface RunOptions {
  /** A name to use as is (unique names are generated otherwise). */
  readonly name?: string;
  /** Name prefix for a generated unique name. */
  readonly prefix?: string;
  /** Extra `docker run` flags (limits). `--network none` is always added. */
  readonly flags?: readonly string[];
  /** The command, run by busybox's sh -c. */
  readonly sh: string;
}

export interface Container {
  readonly id: string;
  readonly name: string;
}

/** Containers started by one test file; `cleanup()` removes every one of them. */
export class ContainerPool {
  private readonly names = new Set<string>();

  async run(opts: RunOptions): Promise<Container> {
    const name = opts.name ?? uniqueName(opts.prefix ?? 'c');
    // Registered before the run, so a container created by a run that then times out is removed too.
    this.names.add(name);
    const id = await docker(['run', '-d', '--network', 'none', '--label', `${E2E_LABEL}=1`, '--label', `${E2E_PID_LABEL}=${process.pid}`, '--name', name, ...(opts.flags ?? []), IMAGE_LABEL, 'sh', '-c', opts.sh], 60_000);
    if (!/^[0-9a-f]{64}$/.test(id)) throw new Error(`docker run printed "${id}", not a container id`);
    return { id, name };
  }

  async remove(c: Container | string): Promise<void> {
    const name = typeof c === 'string' ? c : c.name;
    await docker(['rm', '-f', name], 60_000);
    this.names.delete(name);
  }

  /** Removes every container this pool started; a container that is already gone is fine. */
  async cleanup(): Promise<void> {
    const names = [...this.names];
    this.names.clear();
    if (names.length === 0) return;
    const r = await exec('docker', ['rm', '-f', ...names], { timeoutMs: 60_000 });
    if (r.code !== 0 && !/No such container/i.test(r.stderr)) throw new Error(`docker rm -f ${names.join(' ')}: ${r.stderr.trim()}`);
  }
}

/**
 * Removes containers left by test processes that no longer run (a run killed before its
 * afterAll): those with our label whose pid label names no live process.
 */
export async function removeLeftovers(): Promise<string[]> {
  const out = await docker(['ps', '-a', '--filter', `label=${E2E_LABEL}=1`, '--format', `{{.Names}} {{.Label "${E2E_PID_LABEL}"}}`]);
  const stale: string[] = [];
  for (const line of out.split('\n').filter((l) => l !== '')) {
    const [name = '', pid = ''] = line.split(' ');
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    try {
      process.kill(Number(pid), 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') stale.push(name);
    }
  }
  if (stale.length > 0) await exec('docker', ['rm', '-f', ...stale], { timeoutMs: 60_000 });
  return stale;
}

/** A pool whose containers are removed after the file's tests, pass or fail (and earlier runs' leftovers before them). */
export function useContainers(): ContainerPool {
  const pool = new ContainerPool();
  beforeAll(async () => {
    const stale = await removeLeftovers();
    if (stale.length > 0) process.stderr.write(`[e2e] removed containers left by earlier runs: ${stale.join(' ')}\n`);
  }, 120_000);
  afterAll(() => pool.cleanup(), 120_000);
  return pool;
}

export interface Inspect {
  readonly pid: number;
  readonly status: string;
  readonly oomKilled: boolean;
  readonly exitCode: number;
}

export async function inspect(name: string): Promise<Inspect> {
  const out = await docker(['inspect', '--format', '{{.State.Pid}} {{.State.Status}} {{.State.OOMKilled}} {{.State.ExitCode}}', name]);
  const [pid, status, oom, exit] = out.split(' ');
  return { pid: Number(pid), status: status ?? '', oomKilled: oom === 'true', exitCode: Number(exit) };
}

export interface CgroupOf {
  /** The cgroup path, as lookout's `id` label shows it. */
  readonly path: string;
  /** Directory of the memory controller's files. */
  readonly memoryDir: string;
  /** Directory of the CPU accounting files. */
  readonly cpuDir: string;
  readonly version: 'v1' | 'v2';
}

/**
 * The container's cgroup as the kernel names it, from /proc/PID/cgroup of its init process:
 * the v1 memory hierarchy's path on v1 and hybrid hosts, the unified path on v2. This is
 * what lookout's `id` label shows.
 */
export function cgroupOf(pid: number): CgroupOf {
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n');
  const v1 = new Map<string, string>();
  for (const l of lines) {
    const [, , controllers, path] = /^(\d+):([^:]*):(.*)$/.exec(l) ?? [];
    if (controllers !== undefined && path !== undefined) for (const c of controllers.split(',')) if (c !== '') v1.set(c, path);
  }
  const memory = v1.get('memory');
  const cpuacct = v1.get('cpuacct');
  if (memory !== undefined && cpuacct !== undefined) {
    return { path: memory, memoryDir: `/sys/fs/cgroup/memory${memory}`, cpuDir: `/sys/fs/cgroup/cpuacct${cpuacct}`, version: 'v1' };
  }
  const unified = lines.find((l) => l.startsWith('0::'));
  if (unified === undefined) throw new Error(`no memory or unified cgroup in /proc/${pid}/cgroup`);
  const path = unified.slice(3);
  return { path, memoryDir: `/sys/fs/cgroup${path}`, cpuDir: `/sys/fs/cgroup${path}`, version: 'v2' };
}

/** The memory usage the kernel reports for a cgroup right now, in bytes. */
export function memoryUsage(cg: CgroupOf): number {
  return Number(readFileSync(`${cg.memoryDir}/${cg.version === 'v1' ? 'memory.usage_in_bytes' : 'memory.current'}`, 'utf8').trim());
}

/** The CPU time the kernel has accounted to a cgroup, in seconds. */
export function cpuUsage(cg: CgroupOf): number {
  if (cg.version === 'v1') return Number(readFileSync(`${cg.cpuDir}/cpuacct.usage`, 'utf8').trim()) / 1e9;
  const m = /^usage_usec (\d+)$/m.exec(readFileSync(`${cg.cpuDir}/cpu.stat`, 'utf8'));
  if (!m) throw new Error(`no usage_usec in ${cg.cpuDir}/cpu.stat`);
  return Number(m[1]) / 1e6;
}

export interface Veth {
  /** The host end's name (in the host's network namespace). */
  readonly host: string;
  /** Deletes the pair if it is still there (removing the container deletes it too). */
  remove(): Promise<void>;
}

/**
 * Gives a `--network none` container a real interface without leaving the machine: a veth
 * pair whose one end moves into the container's network namespace as `eth0` with IPv6
 * enabled; both ends up. IPv6 link-local neighbour discovery then puts a few hundred bytes
 * on it both ways; nothing is routed, no address outside the pair is reached. Returns once
 * the container's end has received bytes: on a busy machine the host end's first packets
 * can go out before the pair carries them, so it pings the link's all-nodes group until then.
 */
export async function vethInto(pid: number): Promise<Veth> {
  const suffix = randomBytes(3).toString('hex');
  const host = `lkh${suffix}`;
  const peer = `lkc${suffix}`;
  const run = async (file: string, args: readonly string[]): Promise<void> => {
    const r = await exec(file, args, { timeoutMs: 15_000 });
    if (r.code !== 0) throw new Error(`${file} ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  };
  const remove = async (): Promise<void> => {
    await exec('ip', ['link', 'del', host], { timeoutMs: 15_000 });
  };
  await run('ip', ['link', 'add', host, 'type', 'veth', 'peer', 'name', peer]);
  try {
    await run('ip', ['link', 'set', peer, 'netns', String(pid)]);
    const ns = ['-t', String(pid), '-n'];
    await run('nsenter', [...ns, 'ip', 'link', 'set', peer, 'name', 'eth0']);
    await run('nsenter', [...ns, 'sysctl', '-q', '-w', 'net.ipv6.conf.eth0.disable_ipv6=0']);
    await run('nsenter', [...ns, 'ip', 'link', 'set', 'eth0', 'up']);
    await run('ip', ['link', 'set', host, 'up']);
    const received = (): number => Number(/^\s*eth0:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/net/dev`, 'latin1'))?.[1] ?? 0);
    for (let i = 0; received() === 0; i++) {
      if (i === 15) throw new Error(`the container's eth0 (pid ${pid}) received nothing in 15 s`);
      await exec('busybox', ['ping', '-6', '-c', '1', '-W', '1', '-I', host, 'ff02::1'], { timeoutMs: 5_000 });
      await new Promise((r) => setTimeout(r, 1000));
    }
  } catch (err) {
    await remove();
    throw err;
  }
  return { host, remove };
}
