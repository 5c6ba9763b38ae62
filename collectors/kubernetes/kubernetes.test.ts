import { cpSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Value } from '@sinclair/typebox/value';
import { afterEach, describe, expect, it } from 'vitest';
import { classify } from '../cgroups/discover.js';
import { configSchema as containerdSchema, type ContainerdConfig } from '../containerd/config.js';
import { containerdCollector } from '../containerd/index.js';
import { configSchema, type KubernetesConfig } from './config.js';
import { kubernetesCollector } from './index.js';
import { type Cleanups, harness, tmpRoot as makeRoot } from '../../test/helpers/collector.js';
import { parseLinkName, parseLinkTarget, parsePodDir } from './logs.js';

const TD = fileURLToPath(new URL('./testdata/', import.meta.url));
const NODE = join(TD, 'node', 'root');
const CONTAINERD_SYSTEMD = fileURLToPath(new URL('../containerd/testdata/systemd/root', import.meta.url));

/** testdata/gen-node.mjs */
const WEB = { uid: '6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d', old: 'b1e2d3c4a5968778695a4b3c2d1e0f1f2e3d4c5b6a79880a1b2c3d4e5f607182', app: 'e5f6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f80912' };
const COREDNS = { uid: '3b9c1e52-7a0d-4f6e-9b8a-2c4d6e8f0a1b', pod: 'coredns-5d78c9869d-8xk2q', id: '5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b' };
const ETCD = { uid: '9c3f0d3b0a5e2b6f8d1c4e7a9b2d5f80', id: 'ee11dd22cc33bb44aa5599668877ff00ee11dd22cc33bb44aa5599668877ff00' };
const LINKS = 'var/log/containers';
const PODS = 'var/log/pods';

const cleanups: Cleanups = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

const tmpRoot = (...from: string[]): string => makeRoot(cleanups, 'kubernetes', ...from);

const config = (over: Partial<KubernetesConfig> = {}): KubernetesConfig => ({ ...(Value.Default(configSchema, {}) as KubernetesConfig), ...over });

/** Collects with metadata only (this collector and the runtimes in `extra`): they add no series. */
function setup(root: string, cfg: KubernetesConfig = config()) {
  const h = harness(kubernetesCollector, cfg, root, cleanups, { advanceMs: 5000 });
  const collect = async (advanceMs?: number): Promise<void> => {
    expect((await h.collect(advanceMs)).seriesCount).toBe(0);
  };
  return { ...h, collect };
}

describe('kubelet log names', () => {
  it('splits symlink names on the first two underscores and the last 64 hex digits', () => {
    const id = 'a'.repeat(64);
    expect(parseLinkName(`web-0_shop_app-${id}.log`)).toEqual({ pod: 'web-0', namespace: 'shop', container: 'app', id });
    expect(parseLinkName(`my.pod-7d9c6b5f4-x2klq_team-a_side-car-2-${id}.log`)).toEqual({ pod: 'my.pod-7d9c6b5f4-x2klq', namespace: 'team-a', container: 'side-car-2', id });
    // Cut at 255 characters by the kubelet: the id is lost, and so is the container.
    const long = `${'p'.repeat(200)}_ns_container-${id}`.slice(0, 251);
    expect(parseLinkName(`${long}.log`)).toBeUndefined();
    for (const bad of [`web-0_shop_app-${id}.log.gz`, `web-0_shop_app-${id.slice(1)}.log`, `shop_app-${id}.log`, 'README', `web-0_shop_app-${id.toUpperCase()}.log`]) {
      expect(parseLinkName(bad)).toBeUndefined();
    }
  });

  it('reads pod UID and attempt from the symlink target, current and pre-1.14 layouts', () => {
    expect(parseLinkTarget(`/var/log/pods/shop_web-0_${WEB.uid}/app/12.log`)).toEqual({ namespace: 'shop', pod: 'web-0', podUid: WEB.uid, container: 'app', attempt: 12 });
    expect(parseLinkTarget(`/data/kubelet-logs/kube-system_etcd-node-1_${ETCD.uid}/etcd/0.log`)).toMatchObject({ podUid: ETCD.uid, attempt: 0 });
    expect(parseLinkTarget(`/var/log/pods/${WEB.uid}/app_3.log`)).toEqual({ podUid: WEB.uid, container: 'app', attempt: 3 });
    expect(parseLinkTarget(`/var/log/pods/${WEB.uid}/app/4.log`)).toEqual({ podUid: WEB.uid, container: 'app', attempt: 4 });
    for (const bad of ['/var/log/pods/x/app/0.log', `/var/log/pods/shop_web-0_${WEB.uid}/app/0.log.20261125-001609`, '']) expect(parseLinkTarget(bad)).toBeUndefined();
  });

  it('reads pod directories', () => {
    expect(parsePodDir(`shop_web-0_${WEB.uid}`)).toEqual({ namespace: 'shop', pod: 'web-0', uid: WEB.uid });
    expect(parsePodDir('not-a-pod')).toBeUndefined();
  });
});

describe('kubernetes collector', () => {
  it('names every container and pod of the node from the log directories', async () => {
    const { dir, collector, collect, errors } = setup(NODE);
    await collector.start(new AbortController().signal);
    // app restarted once: both of its containers say so, as the kubelet counts restarts per container name.
    expect(dir.get(WEB.app)).toEqual({ namespace: 'shop', pod: 'web-0', container: 'app', podUid: WEB.uid, restartCount: 1 });
    expect(dir.get(WEB.old)).toEqual({ namespace: 'shop', pod: 'web-0', container: 'app', podUid: WEB.uid, restartCount: 1 });
    expect(dir.get(COREDNS.id)).toMatchObject({ namespace: 'kube-system', pod: COREDNS.pod, container: 'coredns', podUid: COREDNS.uid, restartCount: 0 });
    expect(dir.get(ETCD.id)).toMatchObject({ pod: 'etcd-node-1', podUid: ETCD.uid, restartCount: 2 });
    // Pods, by UID, for pod-level cgroups.
    expect(dir.get(WEB.uid)).toEqual({ namespace: 'shop', pod: 'web-0', podUid: WEB.uid });
    const podCgroup = `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${WEB.uid.replace(/-/g, '_')}.slice`;
    expect(dir.identity(WEB.uid, podCgroup).toObject()).toEqual({ id: podCgroup, image: '', name: '', namespace: 'shop', pod: 'web-0' });
    expect(classify(`${podCgroup}/cri-containerd-${WEB.app}.scope`)?.podUid).toBe(WEB.uid);
    for (const id of dir.ids()) expect(dir.get(id)?.runtime).toBeUndefined();
    await collect();
    expect(errors).toEqual([]);
  });

  it('adds the runtime-neutral identity to what containerd knows, without taking its runtime or name', async () => {
    const root = tmpRoot(CONTAINERD_SYSTEMD, NODE);
    const { dir, ctx, collector, collect, extra } = setup(root);
    const containerd = containerdCollector.create(Value.Default(containerdSchema, {}) as ContainerdConfig, ctx);
    cleanups.push(() => containerd.shutdown());
    extra.push(containerd);
    await collector.start(new AbortController().signal);
    await containerd.start(new AbortController().signal);
    expect(dir.get(WEB.app)).toMatchObject({ runtime: 'containerd', name: WEB.app, container: 'app', podUid: WEB.uid, restartCount: 1, state: 'running' });
    // The exited attempt has no bundle: only the kubelet's symlink names it.
    expect(dir.get(WEB.old)?.runtime).toBeUndefined();
    // Its symlink goes first (kubelet garbage collection): containerd's entry stays.
    rmSync(join(root, LINKS, `web-0_shop_app-${WEB.app}.log`));
    rmSync(join(root, LINKS, `web-0_shop_app-${WEB.old}.log`));
    await collect();
    expect(dir.get(WEB.app)).toMatchObject({ runtime: 'containerd', container: 'app' });
    expect(dir.get(WEB.old)).toBeUndefined();
  });

  it('follows symlinks and pods as the kubelet adds and removes them', async () => {
    const root = tmpRoot(NODE);
    const { dir, collector, collect, errors } = setup(root);
    await collector.start(new AbortController().signal);
    // coredns deleted: its symlink and pod directory go.
    rmSync(join(root, LINKS, `${COREDNS.pod}_kube-system_coredns-${COREDNS.id}.log`));
    rmSync(join(root, PODS, `kube-system_${COREDNS.pod}_${COREDNS.uid}`), { recursive: true });
    // app restarted again: attempt 2.
    const next = 'c'.repeat(64);
    const appDir = join(root, PODS, `shop_web-0_${WEB.uid}/app`);
    writeFileSync(join(appDir, '2.log'), '');
    symlinkSync(`/var/log/pods/shop_web-0_${WEB.uid}/app/2.log`, join(root, LINKS, `web-0_shop_app-${next}.log`));
    // A pod whose sandbox is being created: a directory, no containers yet.
    const job = { uid: 'a7d4c0e2-1f3b-4d5a-8e6c-0b9f2a4c6e81', pod: 'report-28990080-vx7lp' };
    mkdirSync(join(root, PODS, `batch_${job.pod}_${job.uid}`));
    // Not the kubelet's: ignored.
    writeFileSync(join(root, LINKS, 'notes.txt'), 'x');
    await collect(1000);
    expect(dir.get(COREDNS.id)).toBeDefined();
    await collect(4000);
    expect(dir.get(COREDNS.id)).toBeUndefined();
    expect(dir.get(COREDNS.uid)).toBeUndefined();
    expect(dir.get(next)).toMatchObject({ container: 'app', restartCount: 2 });
    expect(dir.get(WEB.app)?.restartCount).toBe(2);
    expect(dir.get(job.uid)).toEqual({ namespace: 'batch', pod: job.pod, podUid: job.uid });
    expect(errors).toEqual([]);
  });

  it('takes what a name says when the entry is a file rather than a symlink, and a pod UID from its directory', async () => {
    const root = tmpRoot(NODE);
    const id = '0f'.repeat(32);
    writeFileSync(join(root, LINKS, `${COREDNS.pod}_kube-system_cache-${id}.log`), '');
    const { dir, collector, collect, errors } = setup(root);
    await collector.start(new AbortController().signal);
    expect(dir.get(id)).toEqual({ namespace: 'kube-system', pod: COREDNS.pod, container: 'cache', podUid: COREDNS.uid });
    await collect();
    expect(errors).toEqual([]);
  });

  it('is off when disabled, inactive without a kubelet, and waits for one when forced on', async () => {
    const off = setup(NODE, config({ enabled: false }));
    await off.collector.start(new AbortController().signal);
    await off.collect();
    expect([...off.dir.ids()]).toEqual([]);

    const root = tmpRoot();
    const auto = setup(root);
    await auto.collector.start(new AbortController().signal);
    cpSync(NODE, root, { recursive: true, verbatimSymlinks: true });
    await auto.collect();
    expect([...auto.dir.ids()]).toEqual([]);
    expect(auto.logs.filter((l) => l.level >= 40)).toEqual([]);

    const root2 = tmpRoot();
    const forced = setup(root2, config({ enabled: true, pod_logs_dir: '/srv/kubelet/pods' }));
    await forced.collector.start(new AbortController().signal);
    expect(forced.logs.some((l) => l.level === 40 && /enabled but none of its paths exists/.test(l.msg))).toBe(true);
    cpSync(NODE, root2, { recursive: true, verbatimSymlinks: true });
    await forced.collect();
    expect(forced.dir.get(WEB.app)).toMatchObject({ container: 'app', podUid: WEB.uid });
    // Pod directories are read from the configured place only.
    expect(forced.dir.get(WEB.uid)).toBeUndefined();
  });

  it('shuts down before start, after start and twice', async () => {
    const { collector, collect } = setup(NODE);
    await collector.shutdown();
    await collector.start(new AbortController().signal);
    await collect();
    await collector.shutdown();
    await collector.shutdown();
    await collect();
  });
});
