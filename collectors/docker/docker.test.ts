import { createContext } from '../../src/context.js';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ComponentContext } from '../../src/component.js';
import { ContainerDirectory } from '../../src/containers.js';
import { type Family, type Snapshot, SnapshotBuilder } from '../../src/model.js';
import { Value } from '@sinclair/typebox/value';
import { configSchema as lifecycleSchema } from '../lifecycle/config.js';
import { lifecycleCollector } from '../lifecycle/index.js';
import { configSchema, type EngineConfig } from './config.js';
import { dockerCollector } from './index.js';
import { dockerCgroupPath, parseConfigV2, parseContainer } from './meta.js';

const td = (f: string): string => readFileSync(new URL(`./testdata/${f}`, import.meta.url), 'utf8');
const inspect = (n: string): { Id: string } & Record<string, unknown> => JSON.parse(td(`inspect-${n}.json`)) as { Id: string };
const RUN = inspect('lk-rec-run');
const EXIT = inspect('lk-rec-exit');
const OOM = inspect('lk-rec-oom');

/** A stand-in Engine API on a unix socket, answering with the recorded documents. */
class FakeEngine {
  server: Server;
  events: ServerResponse[] = [];
  docs = new Map<string, unknown>([RUN, EXIT, OOM].map((d) => [d.Id, d]));
  requests: string[] = [];
  constructor(readonly socket: string) {
    this.server = createServer((req, res) => {
      const url = req.url ?? '';
      this.requests.push(url);
      const json = (v: unknown, status = 200): void => {
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(v));
      };
      if (url === '/v1.41/info') return json(JSON.parse(td('info.json')));
      if (url.startsWith('/v1.41/containers/json')) return json([...this.docs.keys()].map((Id) => ({ Id })));
      const m = /^\/v1\.41\/containers\/([0-9a-f]{64})\/json$/.exec(url);
      if (m) {
        const d = this.docs.get(m[1] ?? '');
        return d ? json(d) : json({ message: 'No such container' }, 404);
      }
      if (url.startsWith('/v1.41/events')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.flushHeaders();
        this.events.push(res);
        return;
      }
      json({ message: 'not found' }, 404);
    });
  }
  listen(): Promise<void> {
    return new Promise((resolve) => this.server.listen(this.socket, resolve));
  }
  emit(e: unknown): void {
    for (const r of this.events) r.write(`${JSON.stringify(e)}\n`);
  }
  close(): Promise<void> {
    for (const r of this.events) r.destroy();
    this.events = [];
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const defaults = (): EngineConfig => Value.Default(configSchema, {}) as EngineConfig;

function hostRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'lookout-docker-'));
  mkdirSync(join(root, 'var/run'), { recursive: true });
  return root;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function setup(root: string, withSocket: boolean) {
  let engine: FakeEngine | undefined;
  if (withSocket) {
    engine = new FakeEngine(join(root, 'var/run/docker.sock'));
    await engine.listen();
    cleanups.push(() => engine?.close() ?? Promise.resolve());
  }
  let clock = 1_800_000_000_000;
  const ctx: ComponentContext = createContext({ root, now: () => clock, containers: new ContainerDirectory(['com.docker.compose.service']) });
  const docker = dockerCollector.create(defaults(), ctx);
  const lifecycle = lifecycleCollector.create(Value.Default(lifecycleSchema, {}) as { enabled: boolean }, ctx);
  await docker.start(new AbortController().signal);
  cleanups.push(() => docker.shutdown());
  const collect = async (): Promise<Snapshot> => {
    clock += 1000;
    const b = new SnapshotBuilder(clock, (kind, err) => {
      throw new Error(`unexpected ${kind} error: ${String(err)}`);
    });
    await docker.collect(b);
    await lifecycle.collect(b);
    return b.build();
  };
  return { engine, ctx, collect };
}

function series(snap: Snapshot, name: string): Array<{ labels: Record<string, string>; value: number }> {
  const fam: Family | undefined = snap.families.find((f) => f.def.name === name);
  if (!fam) return [];
  return fam.values.map((value, i) => ({ labels: { ...fam.targets[i]?.toObject(), ...fam.extras[i]?.toObject() }, value }));
}

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('docker metadata parsing', () => {
  it('reads the same facts from the API document and from config.v2.json', () => {
    const api = parseContainer(RUN, 'docker', 'inspect');
    const disk = parseConfigV2(td('config.v2-lk-rec-run.json'), RUN.Id, 'docker');
    expect(api).toMatchObject({ runtime: 'docker', name: 'lk-rec-run', image: 'lookout-busybox', state: 'running', restartCount: 0, oomKilled: false });
    expect(api.labels).toEqual({ 'com.example.team': 'payments', 'com.docker.compose.service': 'web' });
    expect(api.pid).toBeGreaterThan(0);
    expect(disk).toMatchObject({ name: api.name, image: api.image, state: 'running', restartCount: 0, labels: api.labels, startedAt: api.startedAt });
    // Never-finished: Docker writes 0001-01-01T00:00:00Z.
    expect(api.finishedAt).toBeUndefined();
  });

  it('reads exit codes and derives the state of an exited container from config.v2.json flags', () => {
    const disk = parseConfigV2(td('config.v2-lk-rec-exit.json'), EXIT.Id, 'docker');
    expect(disk).toMatchObject({ state: 'exited', exitCode: 3 });
    expect(disk.finishedAt).toBeGreaterThan(1.7e9);
    expect(parseContainer(OOM, 'docker', 'x')).toMatchObject({ state: 'exited', exitCode: 137 });
  });

  it('rejects documents Docker does not write', () => {
    expect(() => parseConfigV2('{not json', 'a'.repeat(64), 'docker')).toThrow(/is not JSON/);
    expect(() => parseConfigV2('{"Config":{}}', 'a'.repeat(64), 'docker')).toThrow(/no Name/);
  });

  it('places cgroups as each driver does', () => {
    const id = 'f'.repeat(64);
    expect(dockerCgroupPath(id, 'cgroupfs', '')).toBe(`/docker/${id}`);
    expect(dockerCgroupPath(id, 'cgroupfs', '/custom/')).toBe(`/custom/${id}`);
    expect(dockerCgroupPath(id, 'systemd', '')).toBe(`/system.slice/docker-${id}.scope`);
    expect(dockerCgroupPath(id, 'systemd', 'machine.slice')).toBe(`/machine.slice/docker-${id}.scope`);
    expect(dockerCgroupPath(id, undefined, '')).toBeUndefined();
  });
});

describe('docker collector over the Engine API', () => {
  it('names every container, with allow-listed labels, and reports lifecycle metrics', async () => {
    const { collect, ctx } = await setup(hostRoot(), true);
    const snap = await collect();
    expect(series(snap, 'lookout_runtime_connected')).toEqual([{ labels: { runtime: 'docker' }, value: 1 }]);
    const id = ctx.containers.identity(RUN.Id, `/docker/${RUN.Id}`).toObject();
    expect(id).toEqual({ id: `/docker/${RUN.Id}`, image: 'lookout-busybox', name: 'lk-rec-run', container_label_com_docker_compose_service: 'web' });
    const reasons = series(snap, 'container_last_terminated_reason');
    expect(reasons).toContainEqual({ labels: expect.objectContaining({ name: 'lk-rec-exit', reason: 'Error' }) as Record<string, string>, value: 1 });
    expect(series(snap, 'container_last_terminated_exit_code')).toContainEqual({ labels: expect.objectContaining({ name: 'lk-rec-oom' }) as Record<string, string>, value: 137 });
    expect(series(snap, 'container_restarts_total').map((s) => s.labels['name']).sort()).toEqual(['lk-rec-exit', 'lk-rec-oom', 'lk-rec-run']);
    expect(series(snap, 'container_runtime_containers')).toEqual(
      expect.arrayContaining([
        { labels: { runtime: 'docker', state: 'running' }, value: 1 },
        { labels: { runtime: 'docker', state: 'exited' }, value: 2 },
      ]),
    );
    // No OOM event seen and dockerd said OOMKilled=false: no kill is invented.
    expect(series(snap, 'container_oom_events_total')).toEqual([]);
  });

  it('follows events: an oom event marks the exit as an OOM kill, a restart re-reads, destroy forgets', async () => {
    const { engine, collect, ctx } = await setup(hostRoot(), true);
    if (!engine) throw new Error('no engine');
    await until(() => engine.events.length === 1);
    engine.emit({ Type: 'container', Action: 'oom', Actor: { ID: OOM.Id, Attributes: { name: 'lk-rec-oom' } } });
    // The same container restarted by its policy: the engine now reports RestartCount 1.
    engine.docs.set(EXIT.Id, { ...EXIT, RestartCount: 1 });
    engine.emit({ Type: 'container', Action: 'start', Actor: { ID: EXIT.Id, Attributes: {} } });
    await until(() => ctx.containers.get(EXIT.Id)?.restartCount === 1);
    let snap = await collect();
    expect(series(snap, 'container_oom_events_total')).toEqual([{ labels: expect.objectContaining({ name: 'lk-rec-oom' }) as Record<string, string>, value: 1 }]);
    expect(series(snap, 'container_last_terminated_reason')).toContainEqual({ labels: expect.objectContaining({ name: 'lk-rec-oom', reason: 'OOMKilled' }) as Record<string, string>, value: 1 });
    expect(series(snap, 'container_restarts_total')).toContainEqual({ labels: expect.objectContaining({ name: 'lk-rec-exit' }) as Record<string, string>, value: 1 });
    engine.docs.delete(OOM.Id);
    engine.emit({ Type: 'container', Action: 'destroy', Actor: { ID: OOM.Id, Attributes: {} } });
    await until(() => ctx.containers.get(OOM.Id) === undefined);
    snap = await collect();
    expect(series(snap, 'container_restarts_total').map((s) => s.labels['name']).sort()).toEqual(['lk-rec-exit', 'lk-rec-run']);
  });

  it('falls back to on-disk state while the socket is down, and reconnects when it is back', async () => {
    const root = hostRoot();
    for (const [doc, name] of [[RUN, 'lk-rec-run'], [EXIT, 'lk-rec-exit']] as const) {
      const d = join(root, 'var/lib/docker/containers', doc.Id);
      mkdirSync(d, { recursive: true });
      writeFileSync(join(d, 'config.v2.json'), td(`config.v2-${name}.json`));
    }
    const { collect, ctx } = await setup(root, false);
    let snap = await collect();
    expect(series(snap, 'lookout_runtime_connected')[0]?.value).toBe(0);
    expect(ctx.containers.get(RUN.Id)?.name).toBe('lk-rec-run');
    expect(ctx.containers.get(EXIT.Id)?.exitCode).toBe(3);
    const engine = new FakeEngine(join(root, 'var/run/docker.sock'));
    await engine.listen();
    cleanups.push(() => engine.close());
    await until(() => engine.events.length === 1, 5000);
    await until(() => ctx.containers.get(OOM.Id) !== undefined, 5000);
    snap = await collect();
    expect(series(snap, 'lookout_runtime_connected')[0]?.value).toBe(1);
  });

  it('is inactive when Docker is not on the host, and shuts down twice safely', async () => {
    const root = hostRoot();
    const ctx: ComponentContext = createContext({ root });
    const c = dockerCollector.create(defaults(), ctx);
    await c.shutdown();
    await c.start(new AbortController().signal);
    const b = new SnapshotBuilder(Date.now(), () => undefined);
    await c.collect(b);
    expect(b.build().seriesCount).toBe(0);
    await c.shutdown();
    await c.shutdown();
  });
});
