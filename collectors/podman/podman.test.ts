/**
 * The Podman collector's on-disk fallback against state captured from a real Podman 4.3.1
 * (testdata/capture.sh: rootful, cgroupfs manager, runc, file event logger), with no API
 * socket: a running labelled container and one that exited with 3.
 */
import { appendFileSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Value } from '@sinclair/typebox/value';
import { afterEach, describe, expect, it } from 'vitest';
import { classify } from '../cgroups/discover.js';
import { type Cleanups, harness, tmpRoot } from '../../test/helpers/collector.js';
import { waitFor } from '../../test/helpers/util.js';
import { configSchema, type PodmanConfig } from './config.js';
import { podmanCollector } from './index.js';
import { EventLog, parseContainersJson, parseSpec, podmanCgroupPath } from './state.js';

const ROOT = fileURLToPath(new URL('./testdata/captured/root/', import.meta.url));
const WEB = 'ae9d4af5cd46b527144cc3307fcd6223158cdd7a8b735bdec52c2743ea9b6aaa';
const EXIT3 = '3bb1d6c921ac63878967941434727d2cb558649b6b8bb0c29394c1b462224c7d';
const STORAGE = 'var/lib/containers/storage/overlay-containers';
const EVENTS = 'run/libpod/events/events.log';

const cleanups: Cleanups = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

const config = (over: Partial<PodmanConfig> = {}): PodmanConfig => ({ ...(Value.Default(configSchema, {}) as PodmanConfig), ...over });

async function started(root: string, cfg = config(), containerLabels: string[] = []) {
  const h = harness(podmanCollector, cfg, root, cleanups, { containerLabels });
  await h.collector.start(new AbortController().signal);
  return h;
}

describe('Podman on-disk state parsing', () => {
  it('reads id, name, image name and id, and creation time from containers.json', () => {
    const list = parseContainersJson(readFileSync(join(ROOT, STORAGE, 'containers.json'), 'utf8'));
    expect(list.map((c) => c.name).sort()).toEqual(['lookout-capture-exit3', 'lookout-capture-web']);
    const web = list.find((c) => c.id === WEB);
    expect(web).toMatchObject({ image: 'localhost/lookout-busybox:latest', imageId: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(web?.created).toBeGreaterThan(1.7e9);
  });

  it("takes the cgroup from the spec's cgroupsPath, where the cgroup collector finds a Podman container", () => {
    const spec = parseSpec(readFileSync(join(ROOT, STORAGE, WEB, 'userdata', 'config.json'), 'utf8'), WEB);
    expect(spec).toEqual({ cgroupPath: `/libpod_parent/libpod-${WEB}`, libpod: true, podId: undefined });
    expect(classify(spec.cgroupPath as string)).toEqual({ runtime: 'podman', id: WEB });
    // The systemd manager's form, `machine.slice:libpod:<id>`, as runc expands it.
    const sd = parseSpec(JSON.stringify({ annotations: { 'io.container.manager': 'libpod' }, linux: { cgroupsPath: `machine.slice:libpod:${WEB}` } }), WEB);
    expect(sd.cgroupPath).toBe(`/machine.slice/libpod-${WEB}.scope`);
    expect(sd.cgroupPath).toBe(podmanCgroupPath(WEB, 'systemd'));
    expect(classify(sd.cgroupPath as string)).toEqual({ runtime: 'podman', id: WEB });
  });

  it('rejects files Podman would not write, naming the file', () => {
    expect(() => parseContainersJson('{')).toThrow(/containers.json is not JSON/);
    expect(() => parseContainersJson('{}')).toThrow(/not a JSON array/);
    expect(() => parseSpec('[', WEB)).toThrow(/config.json of ae9d4af5cd46 is not JSON/);
  });
});

describe('Podman collector without its API socket', () => {
  it('names both containers from disk: name, image, labels from the event log, state, exit code, cgroup', async () => {
    const h = await started(ROOT, config(), ['com.example.team']);
    const web = h.dir.get(WEB);
    expect(web).toMatchObject({
      runtime: 'podman',
      name: 'lookout-capture-web',
      image: 'localhost/lookout-busybox:latest',
      labels: { app: 'web', 'com.example.team': 'payments' },
      state: 'running',
      cgroupPath: `/libpod_parent/libpod-${WEB}`,
      pid: expect.any(Number),
    });
    // The start event's time (2026-11-25T02:39:10.447806391Z), or the pidfile's mtime if later.
    expect(web?.startedAt).toBeGreaterThanOrEqual(Date.parse('2026-11-25T02:39:10.447Z') / 1000);
    expect(h.dir.get(EXIT3)).toMatchObject({ name: 'lookout-capture-exit3', state: 'exited', exitCode: 3, finishedAt: Date.parse('2026-11-25T02:39:11.842Z') / 1000 });
    expect(h.dir.lastTerminationReason(EXIT3)).toBe('Error');
    // What the cgroup collector puts on the container's series.
    expect(h.dir.identity(WEB, `/libpod_parent/libpod-${WEB}`).toObject()).toEqual({
      id: `/libpod_parent/libpod-${WEB}`,
      image: 'localhost/lookout-busybox:latest',
      name: 'lookout-capture-web',
      container_label_com_example_team: 'payments',
    });
    const snap = await h.collect();
    expect(snap.families.map((f) => f.def.name)).toEqual(['lookout_runtime_connected']);
    expect(snap.families[0]?.values).toEqual([0]);
    expect(h.errors).toEqual([]);
  });

  it('is exited, not running, when the pidfile names a process outside the container (pid reused)', async () => {
    const root = tmpRoot(cleanups, 'podman', ROOT);
    const pid = readFileSync(join(root, 'run/containers/storage/overlay-containers', WEB, 'userdata/pidfile'), 'utf8').trim();
    writeFileSync(join(root, 'proc', pid, 'cgroup'), '9:name=systemd:/user.slice\n');
    const h = await started(root);
    expect(h.dir.get(WEB)?.state).toBe('exited');
  });

  it("is running while its cgroup exists when the host's /proc and run root are not visible (a container mounting less)", async () => {
    const root = tmpRoot(cleanups, 'podman', ROOT);
    rmSync(join(root, 'proc'), { recursive: true });
    rmSync(join(root, 'run/containers'), { recursive: true });
    mkdirSync(join(root, 'sys/fs/cgroup/memory/libpod_parent', `libpod-${WEB}`), { recursive: true });
    const h = await started(root);
    expect(h.dir.get(WEB)).toMatchObject({ state: 'running', name: 'lookout-capture-web' });
    expect(h.dir.get(WEB)?.pid).toBeUndefined();
    expect(h.dir.get(EXIT3)?.state).toBe('exited');
  });

  it('without the event log: names and states still, no labels or exit code', async () => {
    const h = await started(ROOT, config({ events_log: '' }));
    expect(h.dir.get(WEB)).toMatchObject({ name: 'lookout-capture-web', state: 'running' });
    expect(h.dir.get(WEB)?.labels).toBeUndefined();
    expect(h.dir.get(EXIT3)).toMatchObject({ state: 'exited' });
    expect(h.dir.get(EXIT3)?.exitCode).toBeUndefined();
  });

  it('follows changes at refresh_interval: a removed container goes, new events are read', async () => {
    const root = tmpRoot(cleanups, 'podman', ROOT);
    const h = await started(root, config({ refresh_interval: '5s' }));
    await h.collect(1000);
    const list = JSON.parse(readFileSync(join(root, STORAGE, 'containers.json'), 'utf8')) as Array<{ id: string }>;
    writeFileSync(join(root, STORAGE, 'containers.json'), JSON.stringify(list.filter((c) => c.id !== EXIT3)));
    rmSync(join(root, STORAGE, EXIT3), { recursive: true });
    appendFileSync(join(root, EVENTS), `{"ContainerExitCode":137,"ID":"${WEB}","Image":"localhost/lookout-busybox:latest","Name":"lookout-capture-web","Status":"died","Time":"2026-11-25T02:40:00.5Z","Type":"container","Attributes":{"app":"web","com.example.team":"payments"}}\n`);
    await h.collect(1000);
    // Not yet: the last read is less than refresh_interval ago.
    expect(h.dir.get(EXIT3)).toBeDefined();
    await h.collect(5000);
    expect(h.dir.get(EXIT3)).toBeUndefined();
    expect(h.dir.get(WEB)).toMatchObject({ exitCode: 137 });
    expect(h.errors).toEqual([]);
  });

  it('reads the disk again as soon as containers.json changes, without waiting for a collection', async () => {
    const root = tmpRoot(cleanups, 'podman', ROOT);
    const h = await started(root);
    expect(h.dir.get(EXIT3)).toBeDefined();
    const list = JSON.parse(readFileSync(join(root, STORAGE, 'containers.json'), 'utf8')) as Array<{ id: string }>;
    // As containers/storage writes it: a new file renamed over the old one.
    writeFileSync(join(root, STORAGE, 'containers.json.tmp'), JSON.stringify(list.filter((c) => c.id !== EXIT3)));
    renameSync(join(root, STORAGE, 'containers.json.tmp'), join(root, STORAGE, 'containers.json'));
    await waitFor('the removal', () => (h.dir.get(EXIT3) === undefined ? true : undefined), 5000, 20);
    expect(h.dir.get(WEB)?.name).toBe('lookout-capture-web');
  });

  it('counts a broken spec once as a metadata error and still names the other container', async () => {
    const root = tmpRoot(cleanups, 'podman', ROOT);
    writeFileSync(join(root, STORAGE, EXIT3, 'userdata', 'config.json'), '{"ociVersion":');
    const h = await started(root);
    await h.collect(10_000);
    expect(h.dir.get(WEB)?.name).toBe('lookout-capture-web');
    expect(h.dir.get(EXIT3)?.name).toBe('lookout-capture-exit3');
    expect(h.errors.map((e) => e.kind)).toEqual(['metadata']);
    expect(String(h.errors[0]?.err)).toMatch(/config.json of 3bb1d6c921ac is not JSON/);
  });

  it('stays off with enabled: auto on a node without Podman, and shuts down twice', async () => {
    const h = await started(tmpRoot(cleanups, 'podman'));
    expect((await h.collect()).seriesCount).toBe(0);
    await h.collector.shutdown();
    await h.collector.shutdown();
  });
});

describe('Podman event log', () => {
  it('reads only what was appended, and again from the start after truncation', () => {
    const root = tmpRoot(cleanups, 'podman', ROOT);
    const path = join(root, EVENTS);
    const log = new EventLog(path);
    log.read();
    expect(log.byId.get(EXIT3)).toMatchObject({ exitCode: 3, labels: { app: 'batch' } });
    // A line being written is kept until its newline comes.
    appendFileSync(path, `{"ContainerExitCode":1,"ID":"${EXIT3}","Status":"died","Time":"2026-11-25T02:41:00Z","Type":"container",`);
    log.read();
    expect(log.byId.get(EXIT3)?.exitCode).toBe(3);
    appendFileSync(path, '"Attributes":{"app":"batch"}}\n');
    log.read();
    expect(log.byId.get(EXIT3)?.exitCode).toBe(1);
    writeFileSync(path, `{"ID":"${EXIT3}","Status":"remove","Time":"2026-11-25T02:42:00Z","Type":"container","Attributes":{}}\n`);
    log.read();
    expect(log.byId.has(EXIT3)).toBe(false);
  });
});
