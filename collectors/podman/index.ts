/**
 * Podman: through its Docker-compatible API service (`podman system service`, socket
 * `/run/podman/podman.sock`) while it answers, with the same client, event stream and
 * semantics as the Docker collector; from Podman's on-disk state (see state.ts) while it does
 * not, which is the common case: the service is socket-activated and usually not running.
 * Podman's cgroups (`libpod-<id>.scope`, `libpod_parent/libpod-<id>`) are recognized by the
 * cgroup collector, which labels them from what this collector puts in the container directory.
 */
import { existsSync, type FSWatcher, watch } from 'node:fs';
import { join } from 'node:path';
import type { CollectorFactory, ComponentContext } from '../../src/component.js';
import { hostPath } from '../../src/hostpath.js';
import type { Accumulator } from '../../src/model.js';
import { EngineCollector, M } from '../docker/index.js';
import type { ContainerDoc } from '../docker/meta.js';
import { configSchema, type PodmanConfig } from './config.js';
import { PodmanDiskState, podmanCgroupPath } from './state.js';

export class PodmanCollector extends EngineCollector {
  private readonly disk: PodmanDiskState;
  private readonly storageDir: string;
  private readonly startErrors: unknown[] = [];
  private watcher: FSWatcher | undefined;
  private pending: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(config: PodmanConfig, ctx: ComponentContext) {
    super({ enabled: config.enabled, socket: config.socket, data_root: config.storage_root, disk_refresh_interval: config.refresh_interval }, ctx, 'podman');
    this.storageDir = hostPath(ctx.root, join(config.storage_root, 'overlay-containers'));
    this.disk = new PodmanDiskState(
      {
        containersDir: this.storageDir,
        runDir: hostPath(ctx.root, join(config.run_root, 'overlay-containers')),
        ...(config.events_log !== '' ? { eventsLog: hostPath(ctx.root, config.events_log) } : {}),
        proc: hostPath(ctx.root, '/proc'),
        cgroupRoot: hostPath(ctx.root, '/sys/fs/cgroup'),
      },
      ctx.containers,
    );
  }

  override async start(): Promise<void> {
    await super.start();
    if (!this.closed && existsSync(this.storageDir)) this.watchStorage();
  }

  /**
   * Reads the disk again as soon as containers.json changes (a container created or removed),
   * so that a new container is named before its first log line is read and its first cgroup
   * series is served; the periodic refresh covers what this misses (state, a start).
   */
  private watchStorage(): void {
    try {
      this.watcher = watch(this.storageDir, { persistent: false }, (_ev, file) => {
        if (file === 'containers.json' && this.pending === undefined) this.soon(40);
      });
      this.watcher.on('error', () => this.unwatch());
    } catch {
      // No inotify watch left (ENOSPC) or the directory went: the periodic refresh does it all.
      this.unwatch();
    }
  }

  /**
   * Reads the disk after 50 ms; again every 100 ms while a listed container has no spec yet
   * (its cgroup is known only from the spec, which Podman writes at init, after creating it).
   */
  private soon(tries: number): void {
    this.pending = setTimeout(() => {
      this.pending = undefined;
      if (this.closed || this.apiConnected) return;
      this.readDisk(undefined);
      if (this.disk.awaitingSpec && tries > 0 && this.watcher !== undefined) this.soon(tries - 1);
    }, tries === 40 ? 50 : 100);
  }

  private unwatch(): void {
    this.watcher?.close();
    this.watcher = undefined;
    clearTimeout(this.pending);
    this.pending = undefined;
  }

  override async shutdown(): Promise<void> {
    this.closed = true;
    this.unwatch();
    await super.shutdown();
  }

  protected override diskPresent(): boolean {
    return existsSync(join(this.storageDir, 'containers.json'));
  }

  protected override readDisk(acc: Accumulator | undefined): void {
    this.disk.refresh((err) => (acc ? acc.error('metadata', err) : this.startErrors.push(err)));
  }

  override async collect(acc: Accumulator): Promise<void> {
    // Problems met reading the disk in start(), where there was no collection to report them to.
    for (const err of this.startErrors.splice(0)) acc.error('metadata', err);
    await super.collect(acc);
  }

  /** The spec's cgroup when the disk was read; else Podman's default for its cgroup manager. */
  protected override cgroupPathOf(id: string, _doc: ContainerDoc, driver: string | undefined): string | undefined {
    return this.disk.specCgroupPath(id) ?? podmanCgroupPath(id, driver);
  }
}

export const podmanCollector: CollectorFactory<PodmanConfig> = {
  type: 'podman',
  description:
    "Podman metadata (name, image, labels, state, restarts, exit codes, OOM kills) through its Docker-compatible API socket and event stream, or from its on-disk state (containers/storage's containers.json, each container's OCI spec and pidfile, the file event log) while the socket does not answer.",
  configSchema,
  // lookout_runtime_connected; Docker's writable-layer walk (collectors/docker/fs.ts) is Docker's only.
  metrics: Object.values(M),
  create: (config, ctx) => new PodmanCollector(config, ctx),
};
