import { cpSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Value } from '@sinclair/typebox/value';
import { afterEach, describe, expect, it } from 'vitest';
import { classify } from '../cgroups/discover.js';
import { expandSlice, runcCgroupPath } from '../kubernetes/cri.js';
import { hostPath } from '../../src/hostpath.js';
import { configSchema, type ContainerdConfig } from './config.js';
import { containerdCollector } from './index.js';
import { parseBundle } from './meta.js';
import { type Cleanups, harness, tmpRoot } from '../../test/helpers/collector.js';

const TD = fileURLToPath(new URL('./testdata/', import.meta.url));
const TASKS = 'run/containerd/io.containerd.runtime.v2.task';

/** The fixture nodes (testdata/gen-roots.mjs). */
const SYSTEMD = {
  uid: '6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d',
  sandbox: 'c0ffee1234567890abcdef1234567890abcdef1234567890abcdef1234567890',
  app: 'e5f6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f80912',
  nerdctl: '88f9f2380b7bad50450b7a3a11c5d124dac1892a2035d9d278171c3884e895c5',
};
const CGROUPFS = {
  uid: '2c6b7f0e-1d3a-4b5c-9e8f-7a6b5c4d3e2f',
  sandbox: '1f0e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0',
  app: 'aa55aa55aa55aa55aa55aa55aa55aa55aa55aa55aa55aa55aa55aa55aa55aa55',
  plain: '7710bc330276d3d0fdbffac466faba2c2c01e6927de71366c288969aa116a9d0',
};
const MOBY = '1ce7e140a0797ed74bda69475ef4049db6b3f040e0cc091fcf5277c931e7df90';

const cleanups: Cleanups = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

/** A private copy of a fixture root, to change as a node would. */
const copyRoot = (name: 'systemd' | 'cgroupfs' | null): string => tmpRoot(cleanups, 'containerd', ...(name === null ? [] : [join(TD, name, 'root')]));

const config = (over: Partial<ContainerdConfig> = {}): ContainerdConfig => ({ ...(Value.Default(configSchema, {}) as ContainerdConfig), ...over });

/** Collects with metadata only: a metadata collector adds no series. */
function setup(root: string, cfg: ContainerdConfig = config()) {
  const h = harness(containerdCollector, cfg, root, cleanups);
  const collect = async (advanceMs?: number): Promise<void> => {
    expect((await h.collect(advanceMs)).seriesCount).toBe(0);
  };
  return { ...h, collect };
}

describe('containerd bundle parsing', () => {
  const read = (root: string, ns: string, id: string): string => readFileSync(join(TD, root, 'root', TASKS, ns, id, 'config.json'), 'utf8');

  it('names CRI containers and sandboxes from the CRI annotations, by container id', () => {
    expect(parseBundle(read('systemd', 'k8s.io', SYSTEMD.app), SYSTEMD.app, 'k8s.io')).toEqual({
      runtime: 'containerd',
      state: 'running',
      name: SYSTEMD.app,
      image: 'docker.io/library/lookout-busybox:latest',
      namespace: 'shop',
      pod: 'web-0',
      container: 'app',
      podUid: SYSTEMD.uid,
      cgroupPath: `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${SYSTEMD.uid.replace(/-/g, '_')}.slice/cri-containerd-${SYSTEMD.app}.scope`,
    });
    const sandbox = parseBundle(read('systemd', 'k8s.io', SYSTEMD.sandbox), SYSTEMD.sandbox, 'k8s.io');
    expect(sandbox).toMatchObject({ name: SYSTEMD.sandbox, image: 'registry.k8s.io/pause:3.9', namespace: 'shop', pod: 'web-0', podUid: SYSTEMD.uid });
    expect(sandbox.container).toBeUndefined();
  });

  it('names nerdctl containers by their nerdctl name and plain ones by id', () => {
    expect(parseBundle(read('systemd', 'default', SYSTEMD.nerdctl), SYSTEMD.nerdctl, 'default')).toMatchObject({
      name: 'cache',
      cgroupPath: `/system.slice/nerdctl-${SYSTEMD.nerdctl}.scope`,
    });
    const plain = parseBundle(read('cgroupfs', 'default', CGROUPFS.plain), CGROUPFS.plain, 'default');
    expect(plain).toMatchObject({ name: CGROUPFS.plain, cgroupPath: `/default/${CGROUPFS.plain}` });
    expect(plain.image).toBeUndefined();
    expect(plain.namespace).toBeUndefined();
    const withImage = JSON.stringify({ ociVersion: '1.1.0', annotations: { 'io.containerd.image.name': 'docker.io/library/redis:7' } });
    expect(parseBundle(withImage, 'f'.repeat(64), 'default').image).toBe('docker.io/library/redis:7');
  });

  it('leaves out what an older CRI plugin did not write (no sandbox-uid before containerd 1.6.11)', () => {
    const spec = JSON.parse(read('cgroupfs', 'k8s.io', CGROUPFS.app)) as { annotations: Record<string, string> };
    delete spec.annotations['io.kubernetes.cri.sandbox-uid'];
    spec.annotations['io.kubernetes.cri.image-name'] = '';
    const m = parseBundle(JSON.stringify(spec), CGROUPFS.app, 'k8s.io');
    expect(m.podUid).toBeUndefined();
    expect(m.image).toBeUndefined();
    expect(m.pod).toBe('web-0');
  });

  it('rejects files that are not OCI runtime specs', () => {
    expect(() => parseBundle('{"ociVersion":"1.0.2-dev",', 'a'.repeat(64), 'k8s.io')).toThrow(/not JSON/);
    expect(() => parseBundle('[]', 'a'.repeat(64), 'k8s.io')).toThrow(/not an OCI runtime spec/);
    expect(() => parseBundle('{"annotations":{}}', 'a'.repeat(64), 'k8s.io')).toThrow(/not an OCI runtime spec/);
  });
});

describe('runc cgroup paths', () => {
  it('expands systemd slices as runc does', () => {
    expect(expandSlice('kubepods-burstable-podx.slice')).toBe('/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podx.slice');
    expect(expandSlice('system.slice')).toBe('/system.slice');
    expect(expandSlice('-.slice')).toBe('/');
    for (const bad of ['.slice', 'a--b.slice', '-a.slice', 'a-.slice', 'a/b.slice', 'kubepods']) expect(expandSlice(bad)).toBeUndefined();
  });

  it('converts both cgroupsPath forms to the path the cgroup collector walks', () => {
    const id = 'ab'.repeat(32);
    expect(runcCgroupPath(`kubepods-besteffort-pod1_2.slice:cri-containerd:${id}`)).toBe(`/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1_2.slice/cri-containerd-${id}.scope`);
    expect(runcCgroupPath(`kubepods.slice:cri-containerd:${id}`)).toBe(`/kubepods.slice/cri-containerd-${id}.scope`);
    expect(runcCgroupPath(`:crio:${id}`)).toBe(`/system.slice/crio-${id}.scope`);
    expect(runcCgroupPath('machine.slice:libpod:x.slice')).toBe('/machine.slice/x.slice');
    expect(runcCgroupPath(`/kubepods/burstable/poduid/${id}`)).toBe(`/kubepods/burstable/poduid/${id}`);
    expect(runcCgroupPath(`kubepods//pod/${id}/`)).toBe(`/kubepods/pod/${id}`);
    for (const bad of [undefined, '', '/', 'a:b', 'a:b:c:d', 'bad:cri-containerd:x', 'x.slice:p:']) expect(runcCgroupPath(bad)).toBeUndefined();
  });

  it('gives paths the cgroup collector recognizes as the same container and pod', () => {
    for (const [root, f] of [['systemd', SYSTEMD], ['cgroupfs', CGROUPFS]] as const) {
      for (const id of [f.sandbox, f.app]) {
        const m = parseBundle(readFileSync(join(TD, root, 'root', TASKS, 'k8s.io', id, 'config.json'), 'utf8'), id, 'k8s.io');
        const ref = classify(m.cgroupPath ?? '');
        expect(ref).toMatchObject({ id, podUid: f.uid, qosClass: 'burstable' });
      }
    }
    expect(classify(`/system.slice/nerdctl-${SYSTEMD.nerdctl}.scope`)).toMatchObject({ runtime: 'containerd', id: SYSTEMD.nerdctl });
  });

  it('resolves paths under the host root through the host\'s own symlinks', () => {
    const root = copyRoot(null);
    mkdirSync(join(root, 'run/crio'), { recursive: true });
    mkdirSync(join(root, 'var'));
    symlinkSync('/run', join(root, 'var/run'));
    symlinkSync('../run/crio', join(root, 'var/crio'));
    expect(hostPath(root, '/var/run/crio/crio.sock')).toBe(join(root, 'run/crio/crio.sock'));
    expect(hostPath(root, '/var/crio/x')).toBe(join(root, 'run/crio/x'));
    expect(hostPath(root, '/var/absent/../run/y')).toBe(join(root, 'run/y'));
    expect(hostPath('/', '/var/run/x')).toBe('/var/run/x');
    symlinkSync('loop', join(root, 'loop'));
    expect(hostPath(root, '/loop/x')).toBe(join(root, 'loop/x'));
  });
});

describe('containerd collector', () => {
  it('fills the directory from a systemd node\'s bundles, leaving Docker\'s moby namespace alone', async () => {
    const { dir, collector, collect, errors } = setup(join(TD, 'systemd', 'root'));
    await collector.start(new AbortController().signal);
    expect([...dir.ids()].sort()).toEqual([SYSTEMD.nerdctl, SYSTEMD.app, SYSTEMD.sandbox].sort());
    expect(dir.get(MOBY)).toBeUndefined();
    const app = dir.get(SYSTEMD.app);
    expect(app).toMatchObject({ runtime: 'containerd', state: 'running', name: SYSTEMD.app, container: 'app', pid: 26344 });
    const path = app?.cgroupPath ?? '';
    expect(dir.identity(SYSTEMD.app, path).toObject()).toEqual({
      id: path,
      image: 'docker.io/library/lookout-busybox:latest',
      name: SYSTEMD.app,
      namespace: 'shop',
      pod: 'web-0',
      container: 'app',
    });
    expect(dir.identity(SYSTEMD.sandbox, '/x').toObject()).toEqual({ id: '/x', image: 'registry.k8s.io/pause:3.9', name: SYSTEMD.sandbox, namespace: 'shop', pod: 'web-0' });
    expect(dir.get(SYSTEMD.nerdctl)).toMatchObject({ name: 'cache', cgroupPath: `/system.slice/nerdctl-${SYSTEMD.nerdctl}.scope` });
    await collect();
    expect(errors).toEqual([]);
  });

  it('reads a cgroupfs node, and a moby namespace is read when not excluded', async () => {
    const { dir, collector } = setup(join(TD, 'cgroupfs', 'root'), config({ exclude_namespaces: [] }));
    await collector.start(new AbortController().signal);
    expect(dir.get(CGROUPFS.app)?.cgroupPath).toBe(`/kubepods/burstable/pod${CGROUPFS.uid}/${CGROUPFS.app}`);
    expect(dir.get(CGROUPFS.sandbox)?.cgroupPath).toBe(`/kubepods/burstable/pod${CGROUPFS.uid}/${CGROUPFS.sandbox}`);
    expect(dir.get(CGROUPFS.plain)).toMatchObject({ name: CGROUPFS.plain, cgroupPath: `/default/${CGROUPFS.plain}` });
    expect(dir.get(MOBY)).toMatchObject({ runtime: 'containerd', name: MOBY, cgroupPath: `/docker/${MOBY}` });
  });

  it('follows bundles as they come and go, at most once per refresh interval', async () => {
    const root = copyRoot('systemd');
    const { dir, collector, collect, errors } = setup(root);
    await collector.start(new AbortController().signal);
    const app = join(root, TASKS, 'k8s.io', SYSTEMD.app);
    // Task deleted (container exited and CRI cleaned up): the bundle directory goes.
    rmSync(app, { recursive: true });
    await collect(1000);
    expect(dir.get(SYSTEMD.app)).toBeDefined();
    await collect(4000);
    expect(dir.get(SYSTEMD.app)).toBeUndefined();
    // A new container of the pod: bundle created, config.json first, init.pid once runc created the task.
    const next = 'd'.repeat(64);
    const bundle = join(root, TASKS, 'k8s.io', next);
    mkdirSync(bundle);
    writeFileSync(join(bundle, 'config.json'), readFileSync(join(TD, 'systemd/root', TASKS, 'k8s.io', SYSTEMD.app, 'config.json'), 'utf8').replaceAll(SYSTEMD.app, next));
    await collect(5000);
    expect(dir.get(next)).toMatchObject({ container: 'app', pod: 'web-0', cgroupPath: expect.stringContaining(`cri-containerd-${next}.scope`) as string });
    expect(dir.get(next)?.pid).toBeUndefined();
    writeFileSync(join(bundle, 'init.pid'), '4242');
    await collect(5000);
    expect(dir.get(next)?.pid).toBe(4242);
    // The whole state directory gone (containerd stopped, /run cleared): everything is forgotten.
    rmSync(join(root, 'run/containerd'), { recursive: true });
    await collect(5000);
    expect([...dir.ids()]).toEqual([]);
    expect(errors).toEqual([]);
  });

  it('parses a config.json again only when it changed', async () => {
    const root = copyRoot('cgroupfs');
    const file = join(root, TASKS, 'k8s.io', CGROUPFS.app, 'config.json');
    // Whole seconds, so that the mtime can be set back exactly.
    utimesSync(file, 1_700_000_000, 1_700_000_000);
    const { dir, collector, collect } = setup(root);
    await collector.start(new AbortController().signal);
    const text = readFileSync(file, 'utf8');
    // Same size, same mtime: not read again.
    writeFileSync(file, text.replace('"app"', '"zzz"'));
    utimesSync(file, 1_700_000_000, 1_700_000_000);
    expect(statSync(file).mtimeMs).toBe(1_700_000_000_000);
    await collect(5000);
    expect(dir.get(CGROUPFS.app)?.container).toBe('app');
    utimesSync(file, 1_700_000_002, 1_700_000_002);
    await collect(5000);
    expect(dir.get(CGROUPFS.app)?.container).toBe('zzz');
  });

  it('counts a malformed config.json once and names the other containers', async () => {
    const root = copyRoot('cgroupfs');
    const bad = join(root, TASKS, 'k8s.io', 'e'.repeat(64));
    mkdirSync(bad);
    writeFileSync(join(bad, 'config.json'), '{"ociVersion":"1.0.2-dev","process":{"user"');
    const { dir, collector, collect, errors } = setup(root);
    await collector.start(new AbortController().signal);
    expect(dir.get(CGROUPFS.app)?.container).toBe('app');
    expect(dir.get('e'.repeat(64))).toBeUndefined();
    await collect(5000);
    await collect(5000);
    expect(errors.map((e) => e.kind)).toEqual(['metadata']);
    expect(String(errors[0]?.err)).toMatch(/config\.json is not JSON/);
    expect((errors[0]?.err as { code?: string }).code).toBe('LOOKOUT_ERR_METADATA');
  });

  it('is off when disabled, inactive when containerd is absent, and waits for it when forced on', async () => {
    const off = setup(join(TD, 'systemd', 'root'), config({ enabled: false }));
    await off.collector.start(new AbortController().signal);
    await off.collect(5000);
    expect([...off.dir.ids()]).toEqual([]);

    const root = copyRoot(null);
    const auto = setup(root);
    await auto.collector.start(new AbortController().signal);
    cpSync(join(TD, 'systemd', 'root'), root, { recursive: true });
    await auto.collect(5000);
    expect([...auto.dir.ids()]).toEqual([]);
    expect(auto.logs.filter((l) => l.level >= 40)).toEqual([]);

    const root2 = copyRoot(null);
    const forced = setup(root2, config({ enabled: true }));
    await forced.collector.start(new AbortController().signal);
    expect(forced.logs.some((l) => l.level === 40 && /enabled but none of its paths exists/.test(l.msg))).toBe(true);
    cpSync(join(TD, 'systemd', 'root'), root2, { recursive: true });
    await forced.collect(5000);
    expect(forced.dir.get(SYSTEMD.app)?.container).toBe('app');
    expect(forced.errors).toEqual([]);
  });

  it('shuts down before start, after start and twice', async () => {
    const { collector, collect } = setup(join(TD, 'systemd', 'root'));
    await collector.shutdown();
    await collector.start(new AbortController().signal);
    await collect();
    await collector.shutdown();
    await collector.shutdown();
    await collect();
  });
});
