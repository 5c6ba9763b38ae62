import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { classify, walk } from './discover.js';

const ID = '7641d6d2bf99a8c50ba691e36e640eee3f3bab4bc85f7bd3ba25d2937a51baa7';
const ID2 = '4d3c2b1a0f9e8d7c6b5a49382716f5e4d3c2b1a09f8e7d6c5b4a392817160f5e';
const UID = '6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
const UID_ = UID.replace(/-/g, '_');
const td = join(dirname(fileURLToPath(import.meta.url)), 'testdata');

describe('classify', () => {
  it('Docker, cgroupfs driver: /docker/<id>', () => {
    expect(classify(`/docker/${ID}`)).toEqual({ runtime: 'docker', id: ID });
  });

  it('Docker, systemd driver: system.slice/docker-<id>.scope', () => {
    expect(classify(`/system.slice/docker-${ID}.scope`)).toEqual({ runtime: 'docker', id: ID });
  });

  it('containerd CRI, systemd driver, burstable pod: the pod UID from the slice (underscores to dashes) and the QoS class', () => {
    expect(classify(`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/cri-containerd-${ID}.scope`)).toEqual({
      runtime: 'containerd',
      id: ID,
      podUid: UID,
      qosClass: 'burstable',
    });
  });

  it('CRI-O, systemd driver, besteffort pod', () => {
    expect(classify(`/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/crio-${ID2}.scope`)).toEqual({
      runtime: 'crio',
      id: ID2,
      podUid: UID,
      qosClass: 'besteffort',
    });
  });

  it('a guaranteed pod sits directly under kubepods', () => {
    expect(classify(`/kubepods.slice/kubepods-pod${UID_}.slice/cri-containerd-${ID}.scope`)).toMatchObject({ podUid: UID, qosClass: 'guaranteed' });
    expect(classify(`/kubepods/pod${UID}/${ID}`)).toEqual({ runtime: 'kubernetes', id: ID, podUid: UID, qosClass: 'guaranteed' });
  });

  it('kubelet with the cgroupfs driver: kubepods/<qos>/pod<uid>/<id>, runtime unknown from the path', () => {
    expect(classify(`/kubepods/burstable/pod${UID}/${ID}`)).toEqual({ runtime: 'kubernetes', id: ID, podUid: UID, qosClass: 'burstable' });
    expect(classify(`/kubepods/besteffort/pod${UID}/${ID}`)).toMatchObject({ runtime: 'kubernetes', qosClass: 'besteffort' });
    // CRI-O with cgroupfs names the leaf crio-<id>.
    expect(classify(`/kubepods/burstable/pod${UID}/crio-${ID}`)).toEqual({ runtime: 'crio', id: ID, podUid: UID, qosClass: 'burstable' });
  });

  it('Podman: libpod-<id>.scope (systemd) and libpod_parent/libpod-<id> (cgroupfs)', () => {
    expect(classify(`/machine.slice/libpod-${ID}.scope`)).toEqual({ runtime: 'podman', id: ID });
    expect(classify(`/libpod_parent/libpod-${ID}`)).toEqual({ runtime: 'podman', id: ID });
  });

  it('nerdctl, systemd driver: nerdctl-<id>.scope is containerd', () => {
    expect(classify(`/system.slice/nerdctl-${ID}.scope`)).toEqual({ runtime: 'containerd', id: ID });
  });

  it('conmon scopes of Podman and CRI-O are not containers', () => {
    expect(classify(`/machine.slice/libpod-conmon-${ID}.scope`)).toBeUndefined();
    expect(classify(`/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/crio-conmon-${ID2}.scope`)).toBeUndefined();
    expect(classify('/libpod_parent/conmon')).toBeUndefined();
  });

  it('pods, QoS slices and runtime parents themselves are raw cgroups', () => {
    for (const p of [
      '/',
      '',
      '/docker',
      '/kubepods',
      '/kubepods/burstable',
      `/kubepods/burstable/pod${UID}`,
      '/kubepods.slice',
      `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice`,
      '/machine.slice',
      '/libpod_parent',
    ]) {
      expect(classify(p), p).toBeUndefined();
    }
  });

  it('services, sessions and other raw paths are raw cgroups', () => {
    for (const p of [
      '/system.slice/ssh.service',
      '/system.slice/docker.service',
      '/system.slice/containerd.service',
      '/user.slice/user-1000.slice/session-3.scope',
      '/user.slice/user-1000.slice/user@1000.service/app.slice/dbus.service',
      '/init.scope',
      // A 64-hex name under a parent no runtime uses.
      `/somewhere/${ID}`,
      `/${ID}`,
      // Not 64 lowercase hex digits.
      `/docker/${ID.slice(1)}`,
      `/docker/${ID}0`,
      `/docker/${ID.toUpperCase()}`,
      `/system.slice/docker-${ID.slice(1)}.scope`,
      `/system.slice/docker-${ID}.service`,
      // A container's own sub-cgroups are not containers by themselves.
      `/docker/${ID}/init.scope`,
      `/system.slice/docker-${ID}.scope/container`,
    ]) {
      expect(classify(p), p).toBeUndefined();
    }
  });

  it('a bare id needs a pod directory with a well-formed UID', () => {
    expect(classify(`/kubepods/burstable/podnot-a-uid/${ID}`)).toBeUndefined();
    expect(classify(`/kubepods/burstable/pod${UID.slice(0, -1)}/${ID}`)).toBeUndefined();
  });
});

describe('walk', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('lists every cgroup of the v2 fixture, containers as leaves, conmon scopes as raw cgroups', () => {
    const refs = walk(join(td, 'v2-systemd/root/sys/fs/cgroup'), true);
    const containers = refs.filter((r) => r.container).map((r) => `${r.container?.runtime} ${r.path.split('/').pop()}`);
    expect(containers.sort()).toEqual(
      [
        `containerd cri-containerd-c0ffee1234567890abcdef1234567890abcdef1234567890abcdef1234567890.scope`,
        `containerd cri-containerd-e5f6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f80912.scope`,
        `crio crio-${ID2}.scope`,
        'docker docker-3f1c9e0a7b2d4c6e8f0a1b3c5d7e9f1a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e.scope',
        'docker docker-9a8b7c6d5e4f30211f2e3d4c5b6a79880a1b2c3d4e5f60718293a4b5c6d7e8f9.scope',
        'podman libpod-7e57ab1e5eed0fdecafbadd00dfeedface0ddba11ab1ec0de5caffe1dea5c0de.scope',
      ].sort(),
    );
    const raw = refs.filter((r) => !r.container).map((r) => r.path);
    expect(raw[0]).toBe('/');
    expect(raw).toContain('/system.slice/ssh.service');
    expect(raw).toContain('/machine.slice/libpod-conmon-7e57ab1e5eed0fdecafbadd00dfeedface0ddba11ab1ec0de5caffe1dea5c0de.scope');
    expect(raw).toHaveLength(11);
  });

  it('leaves raw cgroups out when asked, but still finds containers below them', () => {
    const refs = walk(join(td, 'v2-systemd/root/sys/fs/cgroup'), false);
    expect(refs.filter((r) => !r.container).map((r) => r.path)).toEqual(['/']);
    expect(refs.filter((r) => r.container)).toHaveLength(6);
  });

  it('does not descend into a container', () => {
    const root = mkdtempSync(join(tmpdir(), 'lookout-walk-'));
    dirs.push(root);
    mkdirSync(join(root, 'docker', ID, 'init.scope'), { recursive: true });
    mkdirSync(join(root, 'system.slice', 'ssh.service'), { recursive: true });
    expect(walk(root, true).map((r) => r.path)).toEqual(['/', '/docker', `/docker/${ID}`, '/system.slice', '/system.slice/ssh.service']);
  });

  it('a missing hierarchy root counts as vanished: the walk finds only "/"', () => {
    const root = mkdtempSync(join(tmpdir(), 'lookout-walk-'));
    dirs.push(root);
    expect(walk(join(root, 'missing'), true).map((r) => r.path)).toEqual(['/']);
  });
});

describe('podOf', () => {
  it('finds the pod UID of pod-level cgroups of both drivers, and of static pods', async () => {
    const { podOf } = await import('./discover.js');
    expect(podOf('/kubepods/burstable/pod2c6b7f0e-1d3a-4b5c-9e8f-7a6b5c4d3e2f')).toBe('2c6b7f0e-1d3a-4b5c-9e8f-7a6b5c4d3e2f');
    expect(podOf('/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0a1b2c3d_5e6f_4789_9abc_def012345678.slice')).toBe('0a1b2c3d-5e6f-4789-9abc-def012345678');
    expect(podOf('/kubepods/pod6d5ea1e3c1b1a3c1e8b0a7d6c5b4a392')).toBe('6d5ea1e3c1b1a3c1e8b0a7d6c5b4a392');
    expect(podOf('/kubepods/burstable')).toBeUndefined();
    expect(podOf('/system.slice/ipod-helper.service')).toBeUndefined();
  });
});
