/**
 * Docker Engine metadata: names, images, labels, state, restarts, exit codes and OOM kills
 * of every container, into the container directory. Over the Engine API socket, kept
 * current by the `/events` stream (so a scrape never calls the API); reconnects with
 * backoff when dockerd restarts, and reads the engine's on-disk state meanwhile.
 * Podman's Docker-compatible service is served by the same code (see collectors/podman).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Collector, CollectorFactory, ComponentContext } from '../../src/component.js';
import type { ContainerDirectory, Runtime } from '../../src/containers.js';
import { isVanished } from '../../src/errors.js';
import { hostPath } from '../../src/hostpath.js';
import { parseDuration } from '../../src/schema.js';
import { type Accumulator, Labels, metric } from '../../src/model.js';
import { configSchema, type DockerConfig, type EngineConfig } from './config.js';
import { FS, LayerUsage } from './fs.js';
import { type DockerEvent, DockerEngine } from './engine.js';
import { type ContainerDoc, dockerCgroupPath, parseConfigV2, parseContainer } from './meta.js';

export const M = {
  connected: metric({
    name: 'lookout_runtime_connected',
    type: 'gauge',
    unit: '',
    help: '1 while the agent is connected to the runtime\'s API (metadata current from its events), 0 while it falls back to on-disk state.',
    labels: ['runtime'],
    source: 'runtime API',
  }),
};

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 30_000;
/** How long start() waits for the first listing, so the first scrape already has names. */
const FIRST_LIST_WAIT_MS = 5_000;
const INSPECT_CONCURRENCY = 8;

export class EngineCollector implements Collector {
  private readonly engine: DockerEngine;
  private readonly containersDir: string;
  private connected = false;
  private active = false;
  private loop: Promise<void> | undefined;
  private readonly stop = new AbortController();
  private lastDiskRead = 0;
  private readonly diskMtimes = new Map<string, number>();
  private readonly diskRefreshMs: number;
  private readonly label: Labels;
  /**
   * Containers destroyed recently, by when: an inspect that was in flight when the destroy
   * event came must not bring them back into the directory.
   */
  private readonly destroyed = new Map<string, number>();
  /** The engine's cgroup driver (`cgroupfs` or `systemd`), from /info once connected. */
  private cgroupDriver: string | undefined;

  constructor(
    private readonly config: EngineConfig,
    private readonly ctx: ComponentContext,
    private readonly runtime: Runtime,
    /** Docker's writable-layer usage (fs.ts), when the walk is on. */
    private readonly fsUsage?: LayerUsage,
  ) {
    this.engine = new DockerEngine(hostPath(ctx.root, config.socket));
    this.containersDir = hostPath(ctx.root, join(config.data_root, 'containers'));
    this.diskRefreshMs = parseDuration(config.disk_refresh_interval);
    this.label = new Labels([['runtime', runtime]]);
  }

  private get dir(): ContainerDirectory {
    return this.ctx.containers;
  }

  async start(): Promise<void> {
    const hasSocket = existsSync(this.engine.socketPath);
    const hasDisk = this.diskPresent();
    this.active = this.config.enabled === true || hasSocket || hasDisk;
    if (!this.active) return;
    if (!hasSocket && !hasDisk) {
      this.ctx.log.warn({ socket: this.engine.socketPath, data_root: this.containersDir }, `${this.runtime} enabled but neither its socket nor its state directory exists; waiting for them`);
    }
    let firstList: () => void = () => undefined;
    const listed = new Promise<void>((resolve) => {
      firstList = resolve;
    });
    this.loop = this.run(firstList);
    this.fsUsage?.start(this.stop.signal);
    const timer = new Promise<void>((resolve) => setTimeout(resolve, FIRST_LIST_WAIT_MS).unref());
    await Promise.race([listed, timer]);
    if (!this.connected) this.readDisk(undefined);
  }

  /** Subscribes to events, lists, follows; on any failure waits with exponential backoff and jitter, then again. */
  private async run(firstList: () => void): Promise<void> {
    let backoff = BACKOFF_MIN_MS;
    const signal = this.stop.signal;
    while (!signal.aborted) {
      const queue: DockerEvent[] = [];
      let listing = true;
      try {
        await this.engine.events(
          (e) => (listing ? queue.push(e) : this.onEvent(e)),
          signal,
          () => {
            void (async () => {
              try {
                await this.relist();
                this.connected = true;
                backoff = BACKOFF_MIN_MS;
                this.ctx.log.info({ socket: this.engine.socketPath }, `connected to ${this.runtime}`);
              } catch (err) {
                this.ctx.log.warn({ err: String(err) }, `${this.runtime} listing failed`);
              } finally {
                listing = false;
                for (const e of queue.splice(0)) this.onEvent(e);
                firstList();
              }
            })();
          },
        );
        if (!signal.aborted) this.ctx.log.warn({ socket: this.engine.socketPath }, `${this.runtime} event stream ended; reconnecting`);
      } catch (err) {
        if (this.connected || backoff === BACKOFF_MIN_MS) {
          // No socket at all is how Podman usually runs (its service is started on demand): not a warning.
          const level = existsSync(this.engine.socketPath) || this.connected ? 'warn' : 'info';
          this.ctx.log[level]({ err: String(err), retry_ms: backoff }, `${this.runtime} API unavailable; using on-disk state until it is back`);
        }
      }
      this.connected = false;
      firstList();
      if (signal.aborted) break;
      const wait = backoff / 2 + Math.random() * (backoff / 2);
      backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
      // timers/promises drops its abort listener when the wait ends: waits do not pile listeners on the signal.
      await sleep(wait, undefined, { signal }).catch(() => undefined);
    }
  }

  private async relist(): Promise<void> {
    const info = await this.engine.get<{ CgroupDriver?: unknown }>('/info');
    if (typeof info?.CgroupDriver === 'string') this.cgroupDriver = info.CgroupDriver;
    const list = (await this.engine.get<Array<{ Id?: string }>>('/containers/json?all=1')) ?? [];
    const ids = list.map((c) => c.Id).filter((id): id is string => typeof id === 'string');
    const live = new Set(ids);
    for (const id of [...this.dir.ids()]) {
      if (this.dir.get(id)?.runtime === this.runtime && !live.has(id)) this.dir.remove(id);
    }
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < ids.length) await this.inspect(ids[next++] as string);
    };
    await Promise.all(Array.from({ length: INSPECT_CONCURRENCY }, worker));
  }

  private async inspect(id: string): Promise<void> {
    const doc = await this.engine.get<ContainerDoc>(`/containers/${id}/json`);
    if (this.destroyed.has(id)) return;
    if (doc === undefined) {
      this.dir.remove(id);
      return;
    }
    const meta = parseContainer(doc, this.runtime, `${this.runtime} inspect ${id.slice(0, 12)}`);
    this.dir.update(id, { ...meta, cgroupPath: this.cgroupPathOf(id, doc, this.cgroupDriver) });
  }

  /** Where the engine put the container's cgroup; Podman's service overrides it (collectors/podman). */
  protected cgroupPathOf(id: string, doc: ContainerDoc, driver: string | undefined): string | undefined {
    return dockerCgroupPath(id, driver, doc.HostConfig?.CgroupParent);
  }

  /** Whether the API is in use (metadata current from its events); else the on-disk state is. */
  protected get apiConnected(): boolean {
    return this.connected;
  }

  /** Whether the engine's on-disk state exists, for `enabled: auto`. */
  protected diskPresent(): boolean {
    return existsSync(this.containersDir);
  }

  private onEvent(e: DockerEvent): void {
    const id = e.Actor?.ID;
    if (e.Type !== 'container' || typeof id !== 'string') return;
    const action = (e.Action ?? '').split(':')[0];
    if (action === 'destroy') {
      const now = Date.now();
      for (const [old, at] of this.destroyed) if (now - at > 60_000) this.destroyed.delete(old);
      this.destroyed.set(id, now);
      this.dir.remove(id);
      return;
    }
    if (action === 'oom') this.dir.runtimeOom(id);
    // exec_* and health_status events do not change what lookout reports.
    if (action === undefined || action.startsWith('exec_') || action === 'health_status' || action === 'attach' || action === 'top') return;
    this.inspect(id).catch((err: unknown) => this.ctx.log.debug({ err: String(err), id }, 'inspect after event failed'));
  }

  /**
   * Reads the engine's on-disk container documents; only files whose mtime changed are
   * parsed again. Used before the first connection and while the socket is down.
   */
  protected readDisk(acc: Accumulator | undefined): void {
    let ids: string[];
    try {
      ids = readdirSync(this.containersDir);
    } catch (err) {
      if (!isVanished(err)) acc?.error('metadata', err);
      return;
    }
    const live = new Set(ids);
    for (const id of ids) {
      const file = join(this.containersDir, id, 'config.v2.json');
      try {
        const mtime = statSync(file).mtimeMs;
        if (this.diskMtimes.get(id) === mtime) continue;
        this.dir.update(id, parseConfigV2(readFileSync(file, 'utf8'), id, this.runtime));
        this.diskMtimes.set(id, mtime);
      } catch (err) {
        if (!isVanished(err)) acc?.error('metadata', err);
      }
    }
    for (const id of [...this.diskMtimes.keys()]) {
      if (!live.has(id)) {
        this.diskMtimes.delete(id);
        this.dir.remove(id);
      }
    }
  }

  async collect(acc: Accumulator): Promise<void> {
    if (!this.active) return;
    if (!this.connected && acc.time - this.lastDiskRead >= this.diskRefreshMs) {
      this.lastDiskRead = acc.time;
      this.readDisk(acc);
    }
    acc.add(M.connected, Labels.EMPTY, this.connected ? 1 : 0, this.label);
    this.fsUsage?.collect(acc, this.dir, this.runtime);
  }

  async shutdown(): Promise<void> {
    this.stop.abort();
    await this.loop;
    await this.fsUsage?.shutdown();
  }
}

/** The background walk of writable layers, unless `fs_usage_interval` is 0 (or not given, as by tests that build an engine config by hand). */
function layerUsage(config: EngineConfig & Partial<DockerConfig>, ctx: ComponentContext): LayerUsage | undefined {
  const intervalMs = parseDuration(config.fs_usage_interval ?? '0s');
  if (intervalMs <= 0) return undefined;
  return new LayerUsage({ root: ctx.root, dataRoot: hostPath(ctx.root, config.data_root), hostDataRoot: config.data_root, intervalMs, now: ctx.now, log: ctx.log });
}

export const dockerCollector: CollectorFactory<EngineConfig & Partial<DockerConfig>> = {
  type: 'docker',
  description: 'Docker Engine metadata (name, image, labels, state, restarts, exit codes, OOM kills) over its API socket and event stream, or its on-disk state.',
  configSchema,
  metrics: [...Object.values(M), ...Object.values(FS)],
  create: (config, ctx) => new EngineCollector(config, ctx, 'docker', layerUsage(config, ctx)),
};
