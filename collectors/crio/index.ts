/**
 * CRI-O metadata, as cAdvisor gets it: its info endpoint on the CRI socket
 * (`GET /containers/<id>`), with its containers/storage directory telling which containers
 * exist and, from each one's saved OCI spec, who it is when the socket is unavailable.
 *
 * The storage directory is listed at start and then at most once per `refresh_interval`,
 * from collect(); only specs whose mtime or size changed are parsed again. A new container is
 * asked about in the background, a few at a time, never from collect(): at steady state the
 * agent makes no request to CRI-O at all. A container is forgotten when its storage
 * directory goes (CRI-O removed it).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { CollectorFactory, ComponentContext } from '../../src/component.js';
import { isVanished } from '../../src/errors.js';
import { type Accumulator, Labels } from '../../src/model.js';
import { listDir, type Located, RefreshingCollector, type Report } from '../../src/refresh.js';
import { M as ENGINE } from '../docker/index.js';
import { fileVersion } from '../kubernetes/cri.js';
import { hostPath } from '../../src/hostpath.js';
import { CrioClient, CrioError } from './client.js';
import { configSchema, type CrioConfig } from './config.js';
import { type CrioInfoDoc, parseContainerInfo, parseUserdataConfig } from './meta.js';

/** Concurrent requests to CRI-O. */
const CONCURRENCY = 4;
/** How long start() waits for the first answers, so the first scrape already has them. */
const FIRST_WAIT_MS = 2000;
/** A container created but not started has no pid yet: asked again this many times. */
const PID_TRIES = 5;
const ID = /^[0-9a-f]{64}$/;

interface Known {
  /** config.json's version last parsed (even when it did not parse: reported once). */
  version: string;
  pidTries: number;
}

export class CrioCollector extends RefreshingCollector {
  private client = new CrioClient('');
  private containersDir = '';
  private connected = false;
  private driver: string | undefined;
  private readonly known = new Map<string, Known>();
  /** CRI-O containers to ask the socket about. */
  private readonly pending = new Set<string>();
  private fetching: Promise<void> | undefined;
  private readonly stop = new AbortController();
  private readonly label = new Labels([['runtime', 'crio']]);

  constructor(
    private readonly config: CrioConfig,
    ctx: ComponentContext,
  ) {
    super('crio', config.enabled, config.refresh_interval, ctx);
  }

  protected locate(): Located {
    this.client = new CrioClient(hostPath(this.ctx.root, this.config.socket));
    this.containersDir = join(hostPath(this.ctx.root, this.config.storage_root), 'overlay-containers');
    return { present: existsSync(this.client.socketPath) || existsSync(this.containersDir), paths: { socket: this.client.socketPath, storage: this.containersDir } };
  }

  override async start(): Promise<void> {
    await super.start();
    if (this.fetching !== undefined) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.fetching, new Promise<void>((resolve) => (timer = setTimeout(resolve, FIRST_WAIT_MS)))]);
      clearTimeout(timer);
    }
  }

  override async collect(acc: Accumulator): Promise<void> {
    await super.collect(acc);
    if (this.active) acc.add(ENGINE.connected, Labels.EMPTY, this.connected ? 1 : 0, this.label);
  }

  override async shutdown(): Promise<void> {
    await super.shutdown();
    this.stop.abort();
    await this.fetching;
  }

  /** Lists the storage's containers, parses new or changed specs, forgets removed containers. */
  protected refresh(report: Report): void {
    const dir = this.ctx.containers;
    const entries = listDir(this.containersDir, report);
    const live = new Set<string>();
    for (const id of entries) {
      if (!ID.test(id)) continue; // containers.json, containers.lock
      const file = join(this.containersDir, id, 'userdata', 'config.json');
      let version: string;
      try {
        version = fileVersion(statSync(file));
      } catch (err) {
        // Being created (the spec is saved after the storage) or removed.
        if (!isVanished(err)) report(err);
        continue;
      }
      live.add(id);
      const k = this.known.get(id);
      if (k !== undefined && k.version === version) continue;
      this.known.set(id, { version, pidTries: 0 });
      try {
        const meta = parseUserdataConfig(readFileSync(file, 'utf8'), id);
        if (meta === null) continue; // Podman's
        dir.update(id, meta);
        this.pending.add(id);
      } catch (err) {
        if (isVanished(err)) live.delete(id);
        else report(err);
      }
    }
    for (const id of [...this.known.keys()]) {
      if (live.has(id)) continue;
      this.known.delete(id);
      this.pending.delete(id);
      if (dir.get(id)?.runtime === 'crio') dir.remove(id);
    }
  }

  /** Starts a round of requests unless one runs, there is nothing to ask, or no socket. */
  protected override afterRefresh(): void {
    if (this.fetching !== undefined || this.stop.signal.aborted) return;
    if (!existsSync(this.client.socketPath)) {
      // CRI-O removes its socket when it stops.
      this.connected = false;
      return;
    }
    if (this.connected && this.pending.size === 0) return;
    this.fetching = this.fetch()
      .catch((err: unknown) => {
        this.errors.push(err);
      })
      .finally(() => {
        this.fetching = undefined;
      });
  }

  private async fetch(): Promise<void> {
    const signal = this.stop.signal;
    if (!this.connected) {
      try {
        const info = await this.client.get<CrioInfoDoc>('/info', signal);
        this.connected = true;
        if (typeof info?.cgroup_driver === 'string') this.driver = info.cgroup_driver;
        if (typeof info?.storage_root === 'string' && info.storage_root !== '') {
          const dir = join(hostPath(this.ctx.root, info.storage_root), 'overlay-containers');
          if (dir !== this.containersDir) {
            this.ctx.log.info({ storage: dir }, 'crio reports another storage root; reading that');
            this.containersDir = dir;
            this.refresh((err) => this.errors.push(err));
          }
        }
        this.ctx.log.info({ socket: this.client.socketPath }, 'connected to crio');
      } catch (err) {
        if (!signal.aborted) this.ctx.log.debug({ err: String(err) }, 'crio info endpoint unavailable; using its storage');
        return;
      }
    }
    const ids = [...this.pending];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < ids.length && this.connected && !signal.aborted) await this.fetchOne(ids[next++] as string, signal);
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, ids.length) }, worker));
  }

  private async fetchOne(id: string, signal: AbortSignal): Promise<void> {
    try {
      const doc = await this.client.get<unknown>(`/containers/${id}`, signal);
      const k = this.known.get(id);
      // Removed meanwhile, or unknown to CRI-O (being removed): nothing to add.
      if (k === undefined || doc === undefined) {
        this.pending.delete(id);
        return;
      }
      const meta = parseContainerInfo(doc, id, this.driver);
      this.ctx.containers.update(id, meta);
      if (meta.pid !== undefined || ++k.pidTries >= PID_TRIES) this.pending.delete(id);
    } catch (err) {
      if (signal.aborted) return;
      if (err instanceof CrioError && err.status === undefined) {
        // CRI-O went away: the storage keeps naming containers; asked again when it is back.
        if (this.connected) this.ctx.log.warn({ err: String(err) }, 'crio info endpoint unavailable; using its storage until it is back');
        this.connected = false;
        return;
      }
      this.errors.push(err);
      this.pending.delete(id);
    }
  }
}

export const crioCollector: CollectorFactory<CrioConfig> = {
  type: 'crio',
  description:
    "CRI-O metadata (Kubernetes namespace, pod, container, pod UID, image, restarts, labels, pid) from its info endpoint, asked in the background about new containers, and from its containers/storage specs.",
  configSchema,
  metrics: [ENGINE.connected],
  create: (config, ctx) => new CrioCollector(config, ctx),
};
