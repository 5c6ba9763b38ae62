/**
 * The cgroup collector: finds every container and cgroup on the host and reports its CPU,
 * memory, block I/O, process and pressure statistics with cAdvisor's names and labels.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { Collector, CollectorFactory, ComponentContext } from '../../src/component.js';
import { LookoutError } from '../../src/errors.js';
import { type Accumulator, Labels, type MetricDef } from '../../src/model.js';
import { type CgroupsConfig, configSchema } from './config.js';
import { DeviceNames } from './devices.js';
import { type CgroupRef, walk } from './discover.js';
import { DockerMetadata } from './docker.js';
import { FileReader } from './files.js';
import { detectLayout, type Layout } from './layout.js';
import { CGROUP_METRICS, emitStats, M } from './metrics.js';
import { CgroupFiles, type CgroupStats, readV1, readV2 } from './stats.js';

/** Containers read between two yields to the event loop, so scrapes and probes stay responsive. */
const CHUNK = 200;

interface Tracked {
  readonly ref: CgroupRef;
  readonly files: CgroupFiles;
  labels: Labels;
  /** Whether the runtime's metadata (name, image) has been found; retried until it has. */
  resolved: boolean;
  startTime?: number;
}

function identity(path: string, name: string, image: string): Labels {
  return new Labels([
    ['id', path],
    ['image', image],
    ['name', name],
  ]);
}

class CgroupCollector implements Collector {
  private layout: Layout | undefined;
  private reader: FileReader;
  private readonly tracked = new Map<string, Tracked>();
  private readonly devices: DeviceNames;
  private readonly docker: DockerMetadata;
  /** The error callback of the collection in progress (files report through it). */
  private report: Accumulator['error'] = () => undefined;

  constructor(
    private readonly config: CgroupsConfig,
    private readonly ctx: ComponentContext,
  ) {
    this.reader = new FileReader(config.max_open_files, ctx.now);
    this.devices = new DeviceNames(ctx.root);
    this.docker = new DockerMetadata(join(ctx.root, config.docker_data_root, 'containers'));
  }

  async start(): Promise<void> {
    this.layout = detectLayout(join(this.ctx.root, 'sys/fs/cgroup'));
    this.ctx.log.info(
      { cgroup: this.layout.version, controllers: [...this.layout.v1.keys()], unified: this.layout.unified, walk: this.layout.walkRoot },
      'cgroup layout detected',
    );
  }

  async collect(acc: Accumulator): Promise<void> {
    const layout = this.layout;
    if (!layout) throw new LookoutError('LOOKOUT_ERR_HOST', 'cgroup collector used before start()');
    this.report = (kind, err) => acc.error(kind, err);
    let refs: CgroupRef[];
    try {
      refs = walk(layout.walkRoot, this.config.raw_cgroups);
    } catch (err) {
      acc.error('discover', new LookoutError('LOOKOUT_ERR_CGROUP_READ', `cannot walk ${layout.walkRoot}`, { cause: err }));
      return;
    }
    const seen = new Set<string>();
    const now = this.ctx.now() / 1000;
    let i = 0;
    for (const ref of refs) {
      seen.add(ref.path);
      let t = this.tracked.get(ref.path);
      if (t === undefined) {
        t = this.track(layout, ref);
        this.tracked.set(ref.path, t);
      }
      this.collectOne(layout, t, acc, now);
      if (++i % CHUNK === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    }
    for (const [path, t] of this.tracked) {
      if (!seen.has(path)) {
        t.files.close();
        this.tracked.delete(path);
      }
    }
  }

  private track(layout: Layout, ref: CgroupRef): Tracked {
    const files = new CgroupFiles(layout, ref.path, this.reader, (kind, file, err) => {
      this.report(kind, kind === 'parse' ? err : new LookoutError('LOOKOUT_ERR_CGROUP_READ', `cannot read ${file}`, { cause: err }));
    });
    return { ref, files, labels: identity(ref.path, '', ''), resolved: ref.container === undefined };
  }

  private resolve(t: Tracked, acc: Accumulator): void {
    const c = t.ref.container;
    if (c === undefined) return;
    if (c.runtime !== 'docker' && c.runtime !== 'kubernetes') {
      // Other runtimes' metadata comes from their own collectors; until then the id names it.
      t.labels = identity(t.ref.path, c.id, '');
      t.resolved = true;
      return;
    }
    try {
      const meta = this.docker.get(c.id);
      if (meta === undefined) {
        if (c.runtime === 'kubernetes') t.resolved = true;
        return;
      }
      t.labels = identity(t.ref.path, meta.name, meta.image);
      if (meta.startedAt !== undefined) t.startTime = meta.startedAt;
      t.resolved = true;
    } catch (err) {
      acc.error('metadata', err);
      t.resolved = true;
    }
  }

  private collectOne(layout: Layout, t: Tracked, acc: Accumulator, now: number): void {
    if (!t.resolved) this.resolve(t, acc);
    const s: CgroupStats = {};
    t.files.found = 0;
    this.reader.vanished = false;
    this.reader.reopened = false;
    if (layout.version === 'v2') readV2(t.files, s, t.ref.path === '/');
    else readV1(t.files, s);
    // Gone between the walk and the read: leave it out, as if the walk had not seen it.
    if (this.reader.vanished || t.files.found === 0) return;
    if (this.reader.reopened) {
      // Same path, new cgroup (a restarted container or service): its identity may have changed.
      t.startTime = undefined;
      t.resolved = t.ref.container === undefined;
      if (!t.resolved) this.resolve(t, acc);
    }
    if (t.startTime === undefined) t.startTime = this.cgroupCreation(layout, t.ref.path);
    const labels = t.labels;
    const emit = (def: MetricDef, value: number, extra?: Labels | null): void => acc.add(def, labels, value, extra);
    emitStats(s, emit, (d) => this.devices.labels(d));
    if (t.startTime !== undefined) emit(M.startTime, t.startTime);
    emit(M.lastSeen, now);
  }

  /** The cgroup directory's change time: set when the kernel creates it, as cAdvisor's raw handler uses. */
  private cgroupCreation(layout: Layout, path: string): number | undefined {
    try {
      return Math.floor(statSync(join(layout.walkRoot, path)).ctimeMs / 1000);
    } catch {
      return undefined;
    }
  }

  async shutdown(): Promise<void> {
    for (const t of this.tracked.values()) t.files.close();
    this.tracked.clear();
  }

  /** Open descriptors, for the agent's own metrics and tests. */
  get openFiles(): number {
    return this.reader.open;
  }
}

export const cgroupsCollector: CollectorFactory<CgroupsConfig> = {
  type: 'cgroups',
  description: 'CPU, memory, block I/O, process and pressure statistics of every container and cgroup, from the cgroup filesystem (v1, v2 and hybrid).',
  configSchema,
  metrics: CGROUP_METRICS,
  create: (config, ctx) => new CgroupCollector(config, ctx),
};
