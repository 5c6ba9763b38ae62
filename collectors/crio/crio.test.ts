import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Value } from '@sinclair/typebox/value';
import { afterEach, describe, expect, it } from 'vitest';
import { type Family, type Snapshot } from '../../src/model.js';
import { classify } from '../cgroups/discover.js';
import { configSchema, type CrioConfig } from './config.js';
import { crioCollector } from './index.js';
import { type Cleanups, harness, tmpRoot } from '../../test/helpers/collector.js';
import { crioCgroupPath, parseContainerInfo, parseUserdataConfig } from './meta.js';

const TD = fileURLToPath(new URL('./testdata/', import.meta.url));
const STORAGE = 'var/lib/containers/storage/overlay-containers';

/** testdata/gen-roots.mjs */
const SYSTEMD = {
  uid: '0a1b2c3d-5e6f-4789-9abc-def012345678',
  pod: 'api-6c8f9d7b5-hz4tn',
  sandbox: '8b7a6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b',
  container: '4d3c2b1a0f9e8d7c6b5a49382716f5e4d3c2b1a09f8e7d6c5b4a392817160f5e',
  libpod: '7e57ab1e5eed0fdecafbadd00dfeedface0ddba11ab1ec0de5caffe1dea5c0de',
};
const CGROUPFS = {
  uid: 'd2c4e6f8-0a1b-4c3d-8e5f-6a7b8c9d0e1f',
  sandbox: '2f4e6d8c0b1a39485766f5e4d3c2b1a0ffeeddccbbaa99887766554433221100',
  container: '6e5d4c3b2a190817f6e5d4c3b2a1908176e5d4c3b2a190817f6e5d4c3b2a1909',
};
const IMAGE = 'docker.io/library/nginx:1.27-alpine';
/** CRI-O's own container names, which the kubelet's cAdvisor uses as `name`. */
const NAMES = {
  container: 'k8s_api_api-6c8f9d7b5-hz4tn_payments_0a1b2c3d-5e6f-4789-9abc-def012345678_0',
  sandbox: 'k8s_POD_api-6c8f9d7b5-hz4tn_payments_0a1b2c3d-5e6f-4789-9abc-def012345678_0',
};
const spec = (node: string, id: string): string => readFileSync(join(TD, node, 'root', STORAGE, id, 'userdata', 'config.json'), 'utf8');
const response = (node: string, id: string): string => readFileSync(join(TD, node, 'responses', 'containers', `${id}.json`), 'utf8');

/** A stand-in for CRI-O's info endpoint on a unix socket, answering with the recorded documents. */
class FakeCrio {
  readonly server: Server;
  readonly requests: string[] = [];
  readonly docs = new Map<string, string>();
  info: string;
  /** While set, answers wait for it. */
  gate: Promise<void> | undefined;
  constructor(
    readonly socket: string,
    node: 'systemd' | 'cgroupfs',
  ) {
    this.info = readFileSync(join(TD, node, 'responses', 'info.json'), 'utf8');
    const f = node === 'systemd' ? SYSTEMD : CGROUPFS;
    for (const id of [f.sandbox, f.container]) this.docs.set(id, response(node, id));
    this.server = createServer((req, res) => {
      const url = req.url ?? '';
      this.requests.push(url);
      void (async () => {
        await this.gate;
        const json = (text: string): void => {
          res.writeHead(200, { 'content-type': 'application/json' }).end(text);
        };
        if (url === '/info') return json(this.info);
        const m = /^\/containers\/([^/]+)$/.exec(url);
        const doc = m ? this.docs.get(m[1] ?? '') : undefined;
        if (doc !== undefined) return json(doc);
        // Go's http.Error, as CRI-O answers for an unknown container.
        res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff' }).end(`can't find the container with id ${m?.[1] ?? ''}\n`);
      })();
    });
  }
  listen(): Promise<void> {
    mkdirSync(join(this.socket, '..'), { recursive: true });
    return new Promise((resolve) => this.server.listen(this.socket, resolve));
  }
  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const cleanups: Cleanups = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

/** A private copy of a fixture node, with the host's `/var/run -> /run`. */
function hostRoot(node: 'systemd' | 'cgroupfs' | null): string {
  const root = tmpRoot(cleanups, 'crio', ...(node === null ? [] : [join(TD, node, 'root')]));
  mkdirSync(join(root, 'run'), { recursive: true });
  mkdirSync(join(root, 'var'), { recursive: true });
  symlinkSync('/run', join(root, 'var/run'));
  return root;
}

async function serve(root: string, node: 'systemd' | 'cgroupfs'): Promise<FakeCrio> {
  const crio = new FakeCrio(join(root, 'run/crio/crio.sock'), node);
  await crio.listen();
  cleanups.push(() => crio.close());
  return crio;
}

const config = (over: Partial<CrioConfig> = {}): CrioConfig => ({ ...(Value.Default(configSchema, {}) as CrioConfig), ...over });

function setup(root: string, cfg: CrioConfig = config()) {
  return harness(crioCollector, cfg, root, cleanups, { advanceMs: 5000, containerLabels: ['app'] });
}

function connected(snap: Snapshot): number | undefined {
  const fam: Family | undefined = snap.families.find((f) => f.def.name === 'lookout_runtime_connected');
  expect(fam?.extras[0]?.toObject()).toEqual({ runtime: 'crio' });
  return fam?.values[0];
}

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('CRI-O metadata parsing', () => {
  it('reads identity, image, restarts and cgroup from the saved specs', () => {
    const c = parseUserdataConfig(spec('systemd', SYSTEMD.container), SYSTEMD.container);
    expect(c).toEqual({
      runtime: 'crio',
      name: NAMES.container,
      image: IMAGE,
      imageId: 'docker.io/library/nginx@sha256:2140dad235c130ac861018a4e13a6bc8aea3a35f3a40e20c1b060d51a7efd250',
      labels: { 'io.kubernetes.container.name': 'api', 'io.kubernetes.pod.name': SYSTEMD.pod, 'io.kubernetes.pod.namespace': 'payments', 'io.kubernetes.pod.uid': SYSTEMD.uid },
      namespace: 'payments',
      pod: SYSTEMD.pod,
      podUid: SYSTEMD.uid,
      container: 'api',
      restartCount: 0,
      cgroupPath: `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${SYSTEMD.uid.replace(/-/g, '_')}.slice/crio-${SYSTEMD.container}.scope`,
    });
    const sb = parseUserdataConfig(spec('systemd', SYSTEMD.sandbox), SYSTEMD.sandbox);
    // CRI-O labels its sandboxes io.kubernetes.container.name=POD; the kubelet's cAdvisor reports container="POD".
    expect(sb).toMatchObject({ name: NAMES.sandbox, image: 'registry.k8s.io/pause:3.9', container: 'POD', pod: SYSTEMD.pod, podUid: SYSTEMD.uid });
    expect(sb?.labels).toMatchObject({ app: 'api', 'pod-template-hash': '6c8f9d7b5' });
    expect(sb?.restartCount).toBeUndefined();
    expect(parseUserdataConfig(spec('cgroupfs', CGROUPFS.container), CGROUPFS.container)).toMatchObject({
      restartCount: 3,
      cgroupPath: `/kubepods/burstable/pod${CGROUPFS.uid}/crio-${CGROUPFS.container}`,
    });
  });

  it('gives cgroup paths the cgroup collector recognizes as CRI-O containers of the pod', () => {
    for (const [node, f] of [['systemd', SYSTEMD], ['cgroupfs', CGROUPFS]] as const) {
      for (const id of [f.sandbox, f.container]) {
        const ref = classify(parseUserdataConfig(spec(node, id), id)?.cgroupPath ?? '');
        expect(ref).toMatchObject({ runtime: 'crio', id, podUid: f.uid });
      }
    }
  });

  it('leaves Podman\'s containers in the shared storage alone', () => {
    expect(parseUserdataConfig(spec('systemd', SYSTEMD.libpod), SYSTEMD.libpod)).toBeNull();
    const podInPod = JSON.stringify({ ociVersion: '1.0.2-dev', annotations: { 'io.container.manager': 'libpod', 'io.kubernetes.cri-o.ContainerType': 'container' } });
    expect(parseUserdataConfig(podInPod, SYSTEMD.libpod)).toBeNull();
    expect(parseUserdataConfig(JSON.stringify({ ociVersion: '1.0.2' }), SYSTEMD.libpod)).toBeNull();
  });

  it('reads the info endpoint\'s documents', () => {
    const c = parseContainerInfo(JSON.parse(response('systemd', SYSTEMD.container)), SYSTEMD.container, 'systemd');
    expect(c).toMatchObject({ runtime: 'crio', name: NAMES.container, image: IMAGE, pid: 48213, namespace: 'payments', pod: SYSTEMD.pod, container: 'api', podUid: SYSTEMD.uid, restartCount: 0 });
    // Containers' crio_annotations carry no cgroup parent: the saved spec gives the path.
    expect(c.cgroupPath).toBeUndefined();
    const sb = parseContainerInfo(JSON.parse(response('systemd', SYSTEMD.sandbox)), SYSTEMD.sandbox, 'systemd');
    expect(sb).toMatchObject({ container: 'POD', image: 'registry.k8s.io/pause:3.9', pid: 48213 });
    expect(sb.cgroupPath).toBe(parseUserdataConfig(spec('systemd', SYSTEMD.sandbox), SYSTEMD.sandbox)?.cgroupPath);
    expect(parseContainerInfo({ name: 'k8s_x', pid: 0, labels: {} }, SYSTEMD.container, undefined).pid).toBeUndefined();
    expect(() => parseContainerInfo({ pid: 3 }, SYSTEMD.container, undefined)).toThrow(/not a container info document/);
    expect(() => parseUserdataConfig('{"ociVersion":', SYSTEMD.container)).toThrow(/not JSON/);
  });

  it('places cgroups from a cgroup parent as each driver does', () => {
    const id = 'ab'.repeat(32);
    expect(crioCgroupPath(id, 'systemd', 'kubepods-burstable-podx.slice')).toBe(`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podx.slice/crio-${id}.scope`);
    expect(crioCgroupPath(id, undefined, 'kubepods.slice')).toBe(`/kubepods.slice/crio-${id}.scope`);
    expect(crioCgroupPath(id, 'cgroupfs', '/kubepods/podx')).toBe(`/kubepods/podx/crio-${id}`);
    expect(crioCgroupPath(id, undefined, '/kubepods/podx/')).toBe(`/kubepods/podx/crio-${id}`);
    expect(crioCgroupPath(id, 'systemd', 'bad')).toBeUndefined();
    expect(crioCgroupPath(id, 'systemd', undefined)).toBeUndefined();
  });
});

describe('CRI-O collector', () => {
  it('names containers from the storage, asks the info endpoint once about each, then never again', async () => {
    const root = hostRoot('systemd');
    const crio = await serve(root, 'systemd');
    const { dir, collector, collect, errors } = setup(root);
    await collector.start(new AbortController().signal);
    expect(crio.requests.sort()).toEqual(['/info', `/containers/${SYSTEMD.container}`, `/containers/${SYSTEMD.sandbox}`].sort());
    expect(dir.get(SYSTEMD.libpod)).toBeUndefined();
    const c = dir.get(SYSTEMD.container);
    expect(c).toMatchObject({ runtime: 'crio', name: NAMES.container, pid: 48213, image: IMAGE, container: 'api', podUid: SYSTEMD.uid });
    const path = c?.cgroupPath ?? '';
    expect(path).toMatch(/kubepods-besteffort-pod0a1b2c3d_5e6f_4789_9abc_def012345678\.slice\/crio-4d3c.*\.scope$/);
    expect(dir.identity(SYSTEMD.container, path).toObject()).toEqual({ id: path, image: IMAGE, name: NAMES.container, namespace: 'payments', pod: SYSTEMD.pod, container: 'api' });
    // Allow-listed pod label, from the sandbox.
    expect(dir.identity(SYSTEMD.sandbox, '/x').toObject()).toMatchObject({ container: 'POD', container_label_app: 'api' });
    for (let i = 0; i < 3; i++) expect(connected(await collect())).toBe(1);
    expect(crio.requests).toHaveLength(3);
    expect(errors).toEqual([]);
  });

  it('asks about new containers in the background, never from collect()', async () => {
    const root = hostRoot('systemd');
    const crio = await serve(root, 'systemd');
    const { dir, collector, collect, errors } = setup(root);
    await collector.start(new AbortController().signal);
    // A new container of the pod: storage and spec first; CRI-O answers slowly.
    const next = 'f0'.repeat(32);
    mkdirSync(join(root, STORAGE, next, 'userdata'), { recursive: true });
    writeFileSync(join(root, STORAGE, next, 'userdata', 'config.json'), spec('systemd', SYSTEMD.container).replaceAll(SYSTEMD.container, next));
    crio.docs.set(next, response('systemd', SYSTEMD.container).replaceAll(SYSTEMD.container, next).replace('"pid":48213', '"pid":50123'));
    let open: () => void = () => undefined;
    crio.gate = new Promise((resolve) => (open = resolve));
    const started = Date.now();
    await collect();
    expect(Date.now() - started).toBeLessThan(500);
    // Named from its spec at once; the pid only CRI-O knows comes later.
    expect(dir.get(next)).toMatchObject({ container: 'api', pod: SYSTEMD.pod });
    expect(dir.get(next)?.pid).toBeUndefined();
    await until(() => crio.requests.includes(`/containers/${next}`));
    open();
    await until(() => dir.get(next)?.pid === 50123);
    // Removed by CRI-O: its storage goes.
    rmSync(join(root, STORAGE, next), { recursive: true });
    await collect();
    expect(dir.get(next)).toBeUndefined();
    expect(dir.get(SYSTEMD.container)).toBeDefined();
    expect(errors).toEqual([]);
  });

  it('falls back to the storage while CRI-O is down and asks it when it is back', async () => {
    const root = hostRoot('cgroupfs');
    const { dir, collector, collect, errors } = setup(root);
    await collector.start(new AbortController().signal);
    expect(connected(await collect())).toBe(0);
    expect(dir.get(CGROUPFS.container)).toMatchObject({ runtime: 'crio', container: 'api', pod: 'ledger-0', restartCount: 3, cgroupPath: `/kubepods/burstable/pod${CGROUPFS.uid}/crio-${CGROUPFS.container}` });
    expect(dir.get(CGROUPFS.container)?.pid).toBeUndefined();
    const crio = await serve(root, 'cgroupfs');
    await collect();
    await until(() => dir.get(CGROUPFS.container)?.pid === 51877);
    expect(connected(await collect(0))).toBe(1);
    expect(crio.requests.sort()).toEqual(['/info', `/containers/${CGROUPFS.container}`, `/containers/${CGROUPFS.sandbox}`].sort());
    // CRI-O stops (and removes its socket): the gauge says so, names stay.
    await crio.close();
    expect(existsSync(crio.socket)).toBe(false);
    expect(connected(await collect())).toBe(0);
    expect(dir.get(CGROUPFS.container)?.container).toBe('api');
    expect(errors).toEqual([]);
  });

  it('reads the storage where CRI-O says it is', async () => {
    const root = hostRoot('systemd');
    mkdirSync(join(root, 'data/containers'), { recursive: true });
    renameSync(join(root, 'var/lib/containers/storage'), join(root, 'data/containers/storage'));
    const crio = await serve(root, 'systemd');
    crio.info = crio.info.replace('"storage_root":"/var/lib/containers/storage"', '"storage_root":"/data/containers/storage"');
    const { dir, collector, collect, errors } = setup(root);
    await collector.start(new AbortController().signal);
    await until(() => dir.get(SYSTEMD.container)?.pid === 48213);
    expect(dir.get(SYSTEMD.sandbox)?.container).toBe('POD');
    await collect();
    expect(dir.get(SYSTEMD.container)?.container).toBe('api');
    expect(errors).toEqual([]);
  });

  it('counts malformed specs and answers once each, and keeps going', async () => {
    const root = hostRoot('systemd');
    const crio = await serve(root, 'systemd');
    const bad = 'e'.repeat(64);
    mkdirSync(join(root, STORAGE, bad, 'userdata'), { recursive: true });
    writeFileSync(join(root, STORAGE, bad, 'userdata', 'config.json'), '{"ociVersion":"1.0.2-dev","process":{');
    const odd = 'd'.repeat(64);
    mkdirSync(join(root, STORAGE, odd, 'userdata'), { recursive: true });
    writeFileSync(join(root, STORAGE, odd, 'userdata', 'config.json'), spec('systemd', SYSTEMD.container).replaceAll(SYSTEMD.container, odd));
    crio.docs.set(odd, '<html>');
    const { dir, collector, collect, errors } = setup(root);
    await collector.start(new AbortController().signal);
    await collect();
    await collect();
    expect(errors.map((e) => e.kind)).toEqual(['metadata', 'metadata']);
    expect(errors.map((e) => String(e.err)).sort()).toEqual([
      expect.stringMatching(/CRI-O spec of eeeeeeeeeeee: config\.json is not JSON/),
      expect.stringMatching(/crio \/containers\/d{64}: response is not JSON/),
    ]);
    expect(dir.get(bad)).toBeUndefined();
    expect(dir.get(odd)?.container).toBe('api');
    expect(dir.get(SYSTEMD.container)?.pid).toBe(48213);
  });

  it('is off when disabled, inactive without CRI-O, and waits for it when forced on', async () => {
    const off = setup(join(TD, 'systemd', 'root'), config({ enabled: false }));
    await off.collector.start(new AbortController().signal);
    expect((await off.collect()).seriesCount).toBe(0);
    expect([...off.dir.ids()]).toEqual([]);

    const root = hostRoot(null);
    const auto = setup(root);
    await auto.collector.start(new AbortController().signal);
    await serve(root, 'systemd');
    expect((await auto.collect()).seriesCount).toBe(0);
    expect(auto.logs.filter((l) => l.level >= 40)).toEqual([]);

    const root2 = hostRoot(null);
    const forced = setup(root2, config({ enabled: true }));
    await forced.collector.start(new AbortController().signal);
    expect(forced.logs.some((l) => l.level === 40 && /enabled but none of its paths exists/.test(l.msg))).toBe(true);
    expect(connected(await forced.collect())).toBe(0);
    cpSync(join(TD, 'systemd', 'root'), root2, { recursive: true });
    await serve(root2, 'systemd');
    await forced.collect();
    await until(() => forced.dir.get(SYSTEMD.container)?.pid === 48213);
  });

  it('shuts down before start, while a request waits, and twice', async () => {
    const root = hostRoot('systemd');
    const crio = await serve(root, 'systemd');
    crio.gate = new Promise(() => undefined);
    const { collector, collect } = setup(root);
    await collector.shutdown();
    const started = Date.now();
    await collector.start(new AbortController().signal);
    expect(Date.now() - started).toBeLessThan(3000);
    await collect();
    await collector.shutdown();
    await collector.shutdown();
    await collect();
  });
});
