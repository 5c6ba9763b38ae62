import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { LookoutError } from '../../src/errors.js';
import { detectLayout } from './layout.js';

const td = join(dirname(fileURLToPath(import.meta.url)), 'testdata');
const cgroupOf = (c: string): string => join(td, c, 'root/sys/fs/cgroup');

const temps: string[] = [];
afterAll(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

/** A scratch /sys/fs/cgroup with the given directories (`a->b` makes a symlink a to b). */
function tree(entries: string[]): string {
  const root = mkdtempSync(join(tmpdir(), 'lookout-layout-'));
  temps.push(root);
  for (const e of entries) {
    const [name = '', target] = e.split('->');
    if (target !== undefined) symlinkSync(target, join(root, name));
    else mkdirSync(join(root, name), { recursive: true });
  }
  return root;
}

describe('detectLayout', () => {
  it('v2: cgroup.controllers at the top; the whole tree is walked', () => {
    const cg = cgroupOf('v2-systemd');
    expect(detectLayout(cg)).toEqual({ version: 'v2', v1: new Map(), unified: cg, walkRoot: cg });
  });

  it('hybrid (the real capture): separate v1 mounts plus the v2 tree at unified/', () => {
    const cg = cgroupOf('v1-hybrid-docker');
    const l = detectLayout(cg);
    expect(l.version).toBe('hybrid');
    expect(l.unified).toBe(join(cg, 'unified'));
    expect(Object.fromEntries(l.v1)).toEqual({
      blkio: join(cg, 'blkio'),
      cpu: join(cg, 'cpu'),
      cpuacct: join(cg, 'cpuacct'),
      memory: join(cg, 'memory'),
      pids: join(cg, 'pids'),
      systemd: join(cg, 'systemd'),
    });
    expect(l.walkRoot).toBe(join(cg, 'memory'));
  });

  it('v1 with cpu,cpuacct co-mounted and cpu, cpuacct symlinks: both controllers map to the real mount', () => {
    const cg = cgroupOf('v1-cgroupfs-kube');
    const l = detectLayout(cg);
    expect(l.version).toBe('v1');
    expect(l.unified).toBeNull();
    expect(l.v1.get('cpu')).toBe(join(cg, 'cpu,cpuacct'));
    expect(l.v1.get('cpuacct')).toBe(join(cg, 'cpu,cpuacct'));
    expect(l.walkRoot).toBe(join(cg, 'memory'));
  });

  it('the symlinks are followed whatever order readdir gives (cpuacct sorts after cpu,cpuacct)', () => {
    const cg = tree(['cpu,cpuacct', 'cpu->cpu,cpuacct', 'cpuacct->cpu,cpuacct', 'net_cls,net_prio', 'net_cls->net_cls,net_prio', 'net_prio->net_cls,net_prio', 'memory']);
    const l = detectLayout(cg);
    expect(l.v1.get('cpu')).toBe(join(cg, 'cpu,cpuacct'));
    expect(l.v1.get('cpuacct')).toBe(join(cg, 'cpu,cpuacct'));
    expect(l.v1.get('net_prio')).toBe(join(cg, 'net_cls,net_prio'));
  });

  it('a named hierarchy directory (name=systemd) is keyed by its name', () => {
    const l = detectLayout(tree(['name=systemd', 'memory']));
    expect(l.v1.has('systemd')).toBe(true);
  });

  it('walks the first controller present in order memory, cpu, cpuacct, pids, blkio, systemd', () => {
    expect(detectLayout(tree(['pids', 'cpu', 'blkio'])).walkRoot).toMatch(/\/cpu$/);
    expect(detectLayout(tree(['blkio', 'pids'])).walkRoot).toMatch(/\/pids$/);
    expect(detectLayout(tree(['systemd'])).walkRoot).toMatch(/\/systemd$/);
  });

  it('ignores plain files and dangling symlinks at the top', () => {
    const cg = tree(['memory', 'broken->nowhere']);
    writeFileSync(join(cg, 'README'), 'not a controller');
    const l = detectLayout(cg);
    expect([...l.v1.keys()]).toEqual(['memory']);
  });

  it('a hybrid host whose unified tree is all there is still walks it', () => {
    const cg = tree(['unified']);
    writeFileSync(join(cg, 'unified/cgroup.controllers'), '');
    const l = detectLayout(cg);
    expect(l.version).toBe('v2');
    expect(l.walkRoot).toBe(join(cg, 'unified'));
    expect(l.unified).toBe(join(cg, 'unified'));
  });

  it('a missing /sys/fs/cgroup is a LOOKOUT_ERR_HOST error that points at --root', () => {
    const missing = join(tree([]), 'sys/fs/cgroup');
    let err: unknown;
    try {
      detectLayout(missing);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LookoutError);
    expect((err as LookoutError).code).toBe('LOOKOUT_ERR_HOST');
    expect((err as LookoutError).retryable).toBe(false);
    expect((err as LookoutError).message).toContain(missing);
    expect((err as LookoutError).message).toContain('--root');
  });

  it('an empty /sys/fs/cgroup (nothing mounted) is a LOOKOUT_ERR_HOST error that says what was expected', () => {
    expect(() => detectLayout(tree([]))).toThrow(/no cgroup hierarchy found under .*cgroup\.controllers \(v2\) or controller directories/);
  });
});
