/**
 * The cgroup collector: finds every container and cgroup on the host and reports its CPU,
 * memory, block I/O, process, pressure and network statistics with cAdvisor's names and
 * labels. Names, images and Kubernetes identity come from the container directory that the
 * runtime collectors fill (they run before this one, in registry order).
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Collector, CollectorFactory, ComponentContext } from '../../src/component.js';
import { isVanished, LookoutError } from '../../src/errors.js';
import { type Accumulator, Labels, type MetricDef } from '../../src/model.js';
import { type CgroupsConfig, configSchema } from './config.js';
import { DeviceNames } from './devices.js';
import { type CgroupRef, walk } from './discover.js';
import { CachedFile, FileReader, keptFileBudget, openFileLimit } from './files.js';
import { detectLayout, type Layout } from './layout.js';
import { CGROUP_METRICS, emitStats, M } from './metrics.js';
import { interfaceLabel, NET, netnsOf, parseNetDev } from './network.js';
import { CgroupFiles, type CgroupStats, readV1, readV2 } from './stats.js';

/**
 * Cgroups read between two yields to the event loop, so that scrapes, probes and a scrape's
 * deadline timer get their turn: about 2 ms of CPU at 10, which on a node with no CPU to
 * spare stretches to several times that (a yield costs microseconds).
 */
const CHUNK = 10;

interface Tracked {
  readonly ref: CgroupRef;
  readonly files: CgroupFiles;
  startTime?: number;
  /** `/proc/<pid>/net/dev` of the process last used for this cgroup's network namespace. */
  net?: { pid: number; file: CachedFile };
}

/** A cgroup read in this collection, waiting for the network pass. */
interface Read {
  readonly t: Tracked;
  readonly labels: Labels;
  readonly pid: number | undefined;
}

class CgroupCollector implements Collector {
  private layout: Layout | undefined;
  private readonly reader: FileReader;
  private readonly tracked = new Map<string, Tracked>();
  private readonly devices: DeviceNames;
  private readonly exclude: RegExp;
  private readonly procRoot: string;
  private hostNetns: string | undefined;
  private hostPid = 1;
  /** The error callback of the collection in progress (files report through it). */
  private report: Accumulator['error'] = () => undefined;

  constructor(
    private readonly config: CgroupsConfig,
    private readonly ctx: ComponentContext,
  ) {
    this.reader = new FileReader(keptFileBudget(config.max_open_files, openFileLimit()), ctx.now);
    this.devices = new DeviceNames(ctx.root);
    this.procRoot = join(ctx.root, 'proc');
    try {
      this.exclude = new RegExp(config.network_interface_exclude);
    } catch (err) {
      throw new LookoutError('LOOKOUT_ERR_CONFIG', `config key "collectors.cgroups.network_interface_exclude" = ${JSON.stringify(config.network_interface_exclude)} is not a valid regular expression: ${(err as Error).message}`);
    }
  }

  async start(): Promise<void> {
    this.layout = detectLayout(join(this.ctx.root, 'sys/fs/cgroup'));
    // The host's namespace: init's, or kthreadd's (kernel threads live in the initial
    // namespace) where init's is not readable, as in some sandboxes.
    for (const pid of [1, 2]) {
      this.hostNetns = netnsOf(this.procRoot, pid);
      if (this.hostNetns !== undefined) {
        this.hostPid = pid;
        break;
      }
    }
    this.ctx.log.info(
      { cgroup: this.layout.version, controllers: [...this.layout.v1.keys()], unified: this.layout.unified, walk: this.layout.walkRoot, kept_files: this.reader.budget },
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
    const reads: Read[] = [];
    const rootUsage = layout.version === 'v2' ? this.machineMemoryInUse(acc) : undefined;
    let i = 0;
    for (const ref of refs) {
      seen.add(ref.path);
      let t = this.tracked.get(ref.path);
      if (t === undefined) {
        t = this.track(layout, ref);
        this.tracked.set(ref.path, t);
      }
      const read = this.collectOne(layout, t, acc, rootUsage);
      if (read) reads.push(read);
      else {
        // Gone between the walk and the read: forget it, so that a cgroup created again at
        // this path (a restart) starts afresh rather than from files cached as missing.
        this.untrack(t);
      }
      if (++i % CHUNK === 0) await yieldToLoop();
    }
    for (const [path, t] of this.tracked) if (!seen.has(path)) this.untrack(t);
    if (this.reader.exhausted) {
      this.reader.exhausted = false;
      this.ctx.log.warn({ kept_files: this.reader.budget }, 'out of file descriptors: keeping fewer cgroup files open (raise the open-files limit or lower collectors.cgroups.max_open_files)');
    }
    if (this.config.network) await this.collectNetwork(reads, acc);
  }

  private track(layout: Layout, ref: CgroupRef): Tracked {
    const files = new CgroupFiles(layout, ref.path, this.reader, (kind, file, err) => {
      this.report(
        kind,
        kind === 'parse'
          ? new LookoutError('LOOKOUT_ERR_CGROUP_PARSE', `${file}: ${(err as Error).message}`, { cause: err })
          : new LookoutError('LOOKOUT_ERR_CGROUP_READ', `cannot read ${file}`, { cause: err }),
      );
    });
    return { ref, files };
  }

  private untrack(t: Tracked): void {
    t.files.close();
    if (t.net) this.reader.close(t.net.file);
    this.tracked.delete(t.ref.path);
  }

  /** Reads one cgroup and emits its series; undefined when it vanished. */
  private collectOne(layout: Layout, t: Tracked, acc: Accumulator, rootUsage: number | undefined): Read | undefined {
    const s: CgroupStats = {};
    t.files.begin();
    this.reader.vanished = false;
    this.reader.reopened = false;
    if (layout.version === 'v2') readV2(t.files, s, t.ref.path === '/', rootUsage);
    else readV1(t.files, s);
    if (this.reader.vanished || t.files.found === 0) return undefined;
    // Same path, new cgroup (a restarted container or service): its start time changed.
    if (this.reader.reopened) t.startTime = undefined;
    const c = t.ref.container;
    const dir = this.ctx.containers;
    let labels: Labels;
    let started: number | undefined;
    if (c) {
      labels = dir.identity(c.id, t.ref.path, c.id);
      dir.sawCgroup(c.id, t.ref.path, acc.time, s.oomKills);
      started = dir.get(c.id)?.startedAt;
    } else if (t.ref.podUid !== undefined) labels = dir.identity(t.ref.podUid, t.ref.path);
    else labels = new Labels([['id', t.ref.path], ['image', ''], ['name', '']]);
    t.startTime = started ?? t.startTime ?? this.cgroupCreation(layout, t.ref.path);
    const emit = (def: MetricDef, value: number, extra?: Labels | null): void => acc.add(def, labels, value, extra);
    emitStats(s, emit, (d) => this.devices.labels(d));
    if (t.startTime !== undefined) emit(M.startTime, t.startTime);
    emit(M.lastSeen, acc.time / 1000);
    return { t, labels, pid: s.pid };
  }

  /**
   * Network series, once per network namespace: for the root cgroup, the host's; for
   * containers, each namespace they do not share with the host, attributed to the pod's
   * sandbox when there is one, else to the container that started first.
   */
  private async collectNetwork(reads: readonly Read[], acc: Accumulator): Promise<void> {
    const owners = new Map<string, Read>();
    const dir = this.ctx.containers;
    const rank = (r: Read): [number, number, string] => {
      const m = r.t.ref.container ? dir.get(r.t.ref.container.id) : undefined;
      const sandbox = m?.pod !== undefined && m.container === undefined ? 0 : 1;
      return [sandbox, r.t.startTime ?? Infinity, r.t.ref.path];
    };
    let i = 0;
    for (const r of reads) {
      if (++i % CHUNK === 0) await yieldToLoop();
      if (r.pid === undefined) continue;
      const isRoot = r.t.ref.path === '/';
      if (!isRoot && !r.t.ref.container) continue;
      const ns = isRoot ? this.hostNetns : netnsOf(this.procRoot, r.pid);
      if (ns === undefined || (!isRoot && ns === this.hostNetns)) continue;
      const cur = owners.get(ns);
      if (cur === undefined) owners.set(ns, r);
      else {
        const [a, b] = [rank(r), rank(cur)];
        if (a[0] < b[0] || (a[0] === b[0] && (a[1] < b[1] || (a[1] === b[1] && a[2] < b[2])))) owners.set(ns, r);
      }
    }
    for (const r of owners.values()) {
      if (++i % CHUNK === 0) await yieldToLoop();
      const pid = r.t.ref.path === '/' ? this.hostPid : (r.pid as number);
      if (r.t.net?.pid !== pid) {
        if (r.t.net) this.reader.close(r.t.net.file);
        r.t.net = { pid, file: new CachedFile(join(this.procRoot, String(pid), 'net/dev')) };
      }
      let text: string | undefined;
      try {
        text = this.reader.read(r.t.net.file);
      } catch (err) {
        acc.error('read', err);
        continue;
      }
      if (text === undefined) continue; // the process exited: its namespace is counted next time
      let ifaces;
      try {
        ifaces = parseNetDev(text, r.t.net.file.path);
      } catch (err) {
        acc.error('parse', err);
        continue;
      }
      for (const f of ifaces) {
        if (this.exclude.test(f.name)) continue;
        const l = interfaceLabel(f.name);
        acc.add(NET.rxBytes, r.labels, f.rxBytes, l);
        acc.add(NET.rxPackets, r.labels, f.rxPackets, l);
        acc.add(NET.rxErrors, r.labels, f.rxErrors, l);
        acc.add(NET.rxDropped, r.labels, f.rxDropped, l);
        acc.add(NET.txBytes, r.labels, f.txBytes, l);
        acc.add(NET.txPackets, r.labels, f.txPackets, l);
        acc.add(NET.txErrors, r.labels, f.txErrors, l);
        acc.add(NET.txDropped, r.labels, f.txDropped, l);
      }
    }
  }

  /** MemTotal - MemFree, in bytes, from the host's /proc/meminfo. */
  private machineMemoryInUse(acc: Accumulator): number | undefined {
    try {
      const text = readFileSync(join(this.procRoot, 'meminfo'), 'latin1');
      const total = /^MemTotal:\s+(\d+) kB$/m.exec(text)?.[1];
      const free = /^MemFree:\s+(\d+) kB$/m.exec(text)?.[1];
      return total !== undefined && free !== undefined ? (Number(total) - Number(free)) * 1024 : undefined;
    } catch (err) {
      if (!isVanished(err)) acc.error('read', new LookoutError('LOOKOUT_ERR_HOST', `cannot read ${join(this.procRoot, 'meminfo')} for the root cgroup's memory`, { cause: err }));
      return undefined;
    }
  }

  /** The cgroup directory's change time: set when the kernel creates it. */
  private cgroupCreation(layout: Layout, path: string): number | undefined {
    try {
      return Math.floor(statSync(join(layout.walkRoot, path)).ctimeMs / 1000);
    } catch {
      return undefined;
    }
  }

  async shutdown(): Promise<void> {
    for (const t of [...this.tracked.values()]) this.untrack(t);
  }

  /** Descriptors kept open, for tests. */
  get openFiles(): number {
    return this.reader.open;
  }
}

export const cgroupsCollector: CollectorFactory<CgroupsConfig> = {
  type: 'cgroups',
  description: 'CPU, memory, block I/O, process, pressure and network statistics of every container and cgroup, from the cgroup filesystem (v1, v2 and hybrid) and /proc.',
  configSchema,
  metrics: [...CGROUP_METRICS, ...Object.values(NET)],
  create: (config, ctx) => new CgroupCollector(config, ctx),
};
