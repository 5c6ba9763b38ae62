import { createContext } from '../../src/context.js';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { describe, expect, it } from 'vitest';
import { ContainerDirectory } from '../../src/containers.js';
import { LookoutError } from '../../src/errors.js';
import { type Snapshot, SnapshotBuilder } from '../../src/model.js';
import { type CgroupsConfig, configSchema } from './config.js';
import { cgroupsCollector } from './index.js';
import { parseNetDev } from './network.js';

const HEADER =
  'Inter-|   Receive                                                |  Transmit\n' +
  ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n';
/** Copied from /proc/<pid>/net/dev of a `--network none` busybox container after `ping -c 3 127.0.0.1` (Docker 20.10, kernel 6.18). */
const LO_ONLY = `${HEADER}    lo:     504       6    0    0    0     0          0         0      504       6    0    0    0     0       0          0\n`;
const WITH_ETH = `${LO_ONLY}  eth0:    1296      14    1    2    0     0          0        10      936      10    3    4    0     0       0          0\n`;
const HOST = `${HEADER}    lo: 407469049   17802    0    0    0     0          0         0 407469049   17802    0    0    0     0       0          0\n  ens3: 9000 90 0 0 0 0 0 0 8000 80 0 0 0 0 0 0\n`;

const id = (c: string): string => c.repeat(64);

/** A v2 host root whose containers' first processes live in the given network namespaces. */
function hostRoot(containers: Array<{ id: string; pid: number; netns: string; dev: string }>): string {
  const root = mkdtempSync(join(tmpdir(), 'lookout-net-'));
  const cg = join(root, 'sys/fs/cgroup');
  mkdirSync(cg, { recursive: true });
  writeFileSync(join(cg, 'cgroup.controllers'), 'cpu memory pids\n');
  writeFileSync(join(cg, 'cgroup.procs'), '1\n');
  writeFileSync(join(cg, 'cpu.stat'), 'usage_usec 10\nuser_usec 5\nsystem_usec 5\n');
  const proc = (pid: number, netns: string, dev: string): void => {
    mkdirSync(join(root, 'proc', String(pid), 'ns'), { recursive: true });
    mkdirSync(join(root, 'proc', String(pid), 'net'), { recursive: true });
    symlinkSync(netns, join(root, 'proc', String(pid), 'ns/net'));
    writeFileSync(join(root, 'proc', String(pid), 'net/dev'), dev);
  };
  proc(1, 'net:[4026531833]', HOST);
  for (const c of containers) {
    const dir = join(cg, 'system.slice', `docker-${c.id}.scope`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'cgroup.procs'), `${c.pid}\n${c.pid + 1}\n`);
    writeFileSync(join(dir, 'cpu.stat'), 'usage_usec 10\nuser_usec 5\nsystem_usec 5\n');
    proc(c.pid, c.netns, c.dev);
  }
  return root;
}

async function collect(root: string, dir: ContainerDirectory, config: Partial<CgroupsConfig> = {}): Promise<Snapshot> {
  const c = cgroupsCollector.create({ ...(Value.Default(configSchema, {}) as CgroupsConfig), ...config }, createContext({ root, containers: dir }));
  await c.start(new AbortController().signal);
  const b = new SnapshotBuilder(Date.now(), (kind, err) => {
    throw new Error(`${kind}: ${String(err)}`);
  });
  await c.collect(b);
  await c.shutdown();
  return b.build();
}

function rx(snap: Snapshot): Array<[string, string, number]> {
  const fam = snap.families.find((f) => f.def.name === 'container_network_receive_bytes_total');
  if (!fam) return [];
  return fam.values.map((v, i) => [fam.targets[i]?.get('id') ?? '', fam.extras[i]?.get('interface') ?? '', v] as [string, string, number]).sort();
}

describe('parseNetDev', () => {
  it('reads every counter of each interface', () => {
    expect(parseNetDev(WITH_ETH, 'dev')).toEqual([
      { name: 'lo', rxBytes: 504, rxPackets: 6, rxErrors: 0, rxDropped: 0, txBytes: 504, txPackets: 6, txErrors: 0, txDropped: 0 },
      { name: 'eth0', rxBytes: 1296, rxPackets: 14, rxErrors: 1, rxDropped: 2, txBytes: 936, txPackets: 10, txErrors: 3, txDropped: 4 },
    ]);
  });
  it('rejects what the kernel does not write', () => {
    expect(() => parseNetDev('garbage\n', 'dev')).toThrow(LookoutError);
    expect(() => parseNetDev(`${HEADER}  eth0: 1 2 3\n`, 'dev')).toThrow(/unexpected line/);
  });
});

describe('per-container network', () => {
  it('reports a container namespace\'s interfaces without loopback by default, and the host\'s for the root cgroup', async () => {
    const root = hostRoot([{ id: id('a'), pid: 100, netns: 'net:[4026532001]', dev: WITH_ETH }]);
    expect(rx(await collect(root, new ContainerDirectory()))).toEqual([
      ['/', 'ens3', 9000],
      [`/system.slice/docker-${id('a')}.scope`, 'eth0', 1296],
    ]);
  });

  it('includes loopback when the exclusion allows it (a --network none container)', async () => {
    const root = hostRoot([{ id: id('b'), pid: 200, netns: 'net:[4026532002]', dev: LO_ONLY }]);
    const snap = await collect(root, new ContainerDirectory(), { network_interface_exclude: '^(veth.*|docker.*)$' });
    expect(rx(snap)).toContainEqual([`/system.slice/docker-${id('b')}.scope`, 'lo', 504]);
  });

  it('attributes a shared namespace once: to the pod sandbox, else to the container started first', async () => {
    const root = hostRoot([
      { id: id('c'), pid: 300, netns: 'net:[4026532003]', dev: WITH_ETH },
      { id: id('d'), pid: 400, netns: 'net:[4026532003]', dev: WITH_ETH },
      { id: id('e'), pid: 500, netns: 'net:[4026532004]', dev: WITH_ETH },
      { id: id('f'), pid: 600, netns: 'net:[4026532004]', dev: WITH_ETH },
    ]);
    const dir = new ContainerDirectory();
    dir.update(id('c'), { runtime: 'docker', name: 'late', startedAt: 2000 });
    dir.update(id('d'), { runtime: 'docker', name: 'early', startedAt: 1000 });
    dir.update(id('e'), { runtime: 'containerd', namespace: 'ns', pod: 'p', container: 'app', startedAt: 1000 });
    dir.update(id('f'), { runtime: 'containerd', namespace: 'ns', pod: 'p', startedAt: 3000 });
    const ids = rx(await collect(root, dir)).map(([i]) => i);
    expect(ids).toEqual(['/', `/system.slice/docker-${id('d')}.scope`, `/system.slice/docker-${id('f')}.scope`]);
  });

  it('reports nothing for a container on the host\'s network', async () => {
    const root = hostRoot([{ id: id('9'), pid: 700, netns: 'net:[4026531833]', dev: HOST }]);
    expect(rx(await collect(root, new ContainerDirectory())).map(([i]) => i)).toEqual(['/']);
  });

  it('can be turned off', async () => {
    const root = hostRoot([{ id: id('a'), pid: 100, netns: 'net:[4026532001]', dev: WITH_ETH }]);
    expect(rx(await collect(root, new ContainerDirectory(), { network: false }))).toEqual([]);
  });
});
