/**
 * Filesystem usage of Docker containers, as cAdvisor reports it: `container_fs_usage_bytes`
 * is the disk usage of the container's writable layer (overlay2's `upperdir`,
 * `<data_root>/overlay2/<mount-id>/diff`) plus its state directory
 * (`<data_root>/containers/<id>`, where its json-file log grows), and
 * `container_fs_limit_bytes` the capacity of the filesystem that holds them; both labelled
 * with that filesystem's block device (`device`, from mountinfo, such as `/dev/vda1`).
 *
 * Like cAdvisor's `du` every minute, the usage comes from walking the directories, which is
 * far too slow for a scrape: a background loop walks one container at a time (with
 * `fs/promises`, never a command), each container again after `intervalMs` with up to 25%
 * jitter, stops a walk past `MAX_FILES` entries or `MAX_WALK_MS` (the figure is then a lower
 * bound, and the log says so once), and a scrape only reads the cached figures.
 */
import { readFileSync, statfsSync, statSync } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { ContainerDirectory } from '../../src/containers.js';
import { isVanished } from '../../src/errors.js';
import { RateLimitedLog } from '../../src/log.js';
import { type Accumulator, Labels, metric } from '../../src/model.js';

const SOURCE = 'Docker (overlay2), walked in the background every `collectors.docker.fs_usage_interval`';

export const FS = {
  usage: metric({
    name: 'container_fs_usage_bytes',
    type: 'gauge',
    unit: 'bytes',
    help: "Bytes the container uses on the filesystem of the runtime's data root: its writable layer and its state directory (logs), as cAdvisor measures them (a du-like walk, refreshed about every minute).",
    labels: ['device'],
    source: SOURCE,
  }),
  limit: metric({
    name: 'container_fs_limit_bytes',
    type: 'gauge',
    unit: 'bytes',
    help: "Capacity of the filesystem holding the container's writable layer, in bytes (statfs).",
    labels: ['device'],
    source: SOURCE,
  }),
} as const;

/** A walk stops after this many directory entries: its figure is then a lower bound. */
export const MAX_FILES = 200_000;
/** ... or after this long. */
export const MAX_WALK_MS = 10_000;
/** Graph drivers whose writable layer is a directory lookout can walk, and where it is. */
const DRIVERS: ReadonlyArray<readonly [string, string]> = [
  ['overlay2', 'diff'],
  ['overlay', 'upper'],
  ['fuse-overlayfs', 'diff'],
];

export interface WalkResult {
  /** Bytes of disk the entries take (st_blocks * 512, hard links counted once), as du. */
  readonly bytes: number;
  readonly files: number;
  /** Set when the walk stopped at a bound before seeing everything. */
  readonly truncated: boolean;
}

/** du -s of the given directories: a missing directory counts 0. */
export async function diskUsage(dirs: readonly string[], maxFiles = MAX_FILES, maxMs = MAX_WALK_MS, now: () => number = Date.now, signal?: AbortSignal): Promise<WalkResult> {
  const seen = new Set<string>();
  const deadline = now() + maxMs;
  let bytes = 0;
  let files = 0;
  let truncated = false;
  const count = async (path: string): Promise<boolean> => {
    let st;
    try {
      st = await lstat(path);
    } catch (err) {
      if (isVanished(err)) return false;
      throw err;
    }
    files++;
    if (st.nlink > 1 && !st.isDirectory()) {
      const key = `${st.dev}:${st.ino}`;
      if (seen.has(key)) return false;
      seen.add(key);
    }
    bytes += st.blocks * 512;
    return st.isDirectory();
  };
  const stack: string[] = [];
  for (const d of dirs) if (await count(d)) stack.push(d);
  while (stack.length > 0) {
    if (files >= maxFiles || now() > deadline || signal?.aborted === true) {
      truncated = true;
      break;
    }
    const dir = stack.pop() as string;
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (err) {
      if (isVanished(err) || (err as NodeJS.ErrnoException).code === 'ENOTDIR') continue;
      throw err;
    }
    for (const name of names) {
      const p = join(dir, name);
      if (await count(p)) stack.push(p);
    }
  }
  return { bytes, files, truncated };
}

/** Device number split as the kernel's MAJOR()/MINOR() do. */
export function majorMinor(dev: number): string {
  const major = ((dev >>> 8) & 0xfff) | (Math.floor(dev / 2 ** 32) & ~0xfff);
  const minor = (dev & 0xff) | ((dev >>> 12) & 0xfff00);
  return `${major}:${minor}`;
}

/**
 * The source (`/dev/vda1`) of the mount holding `path`, from a mountinfo text: among the
 * mounts of that device number, the one whose mount point is the longest prefix of `path`.
 * Falls back to the MAJ:MIN itself when no mount names it (cAdvisor does the same).
 */
export function deviceOf(mountinfo: string, majMin: string, path: string): string {
  let best: { point: string; source: string } | undefined;
  for (const line of mountinfo.split('\n')) {
    const f = line.split(' ');
    if (f[2] !== majMin) continue;
    const point = (f[4] ?? '').replace(/\\040/g, ' ');
    const dash = f.indexOf('-', 6);
    const source = dash > 0 ? f[dash + 2] : undefined;
    if (source === undefined) continue;
    const under = point === '/' || path === point || path.startsWith(`${point}/`);
    if (under && (best === undefined || point.length > best.point.length)) best = { point, source };
    else if (best === undefined) best = { point: '', source };
  }
  return best?.source ?? majMin;
}

interface Entry {
  /** When this container is walked next (ms). */
  next: number;
  /** The walk's result, once one finished. */
  bytes?: number;
  dirs?: string[];
}

export interface LayerUsageOptions {
  /** The host root (`/` or `/host`). */
  readonly root: string;
  /** The engine's data root as the agent sees it (under the host root). */
  readonly dataRoot: string;
  /** The data root as the host names it, for the mount lookup. */
  readonly hostDataRoot: string;
  readonly intervalMs: number;
  readonly now: () => number;
  readonly log: Logger;
  readonly maxFiles?: number;
  readonly maxWalkMs?: number;
}

/**
 * The cache and the background walker. `collect` emits the cached figures of the running
 * containers it is given and queues the others; `start` runs the walker until the signal.
 */
export class LayerUsage {
  private readonly entries = new Map<string, Entry>();
  private fsLabels: Labels | undefined;
  private capacity: number | undefined;
  private capacityAt = -Infinity;
  private readonly problems: RateLimitedLog;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;

  constructor(private readonly opts: LayerUsageOptions) {
    this.problems = new RateLimitedLog(opts.log, opts.now);
  }

  /** The directories cAdvisor adds up for a container: the writable layer and the state directory. */
  layerDirs(id: string): string[] {
    const dirs: string[] = [];
    for (const [driver, upper] of DRIVERS) {
      try {
        const mountId = readFileSync(join(this.opts.dataRoot, 'image', driver, 'layerdb/mounts', id, 'mount-id'), 'latin1').trim();
        if (/^[0-9a-zA-Z_.-]+$/.test(mountId)) {
          dirs.push(join(this.opts.dataRoot, driver, mountId, upper));
          break;
        }
      } catch {
        // not this driver
      }
    }
    dirs.push(join(this.opts.dataRoot, 'containers', id));
    return dirs;
  }

  /** `device` label and capacity of the data root's filesystem; statfs at most once a minute. */
  private filesystem(): { labels: Labels; capacity: number } | undefined {
    const now = this.opts.now();
    if (this.fsLabels === undefined || now - this.capacityAt >= 60_000) {
      try {
        const majMin = majorMinor(statSync(this.opts.dataRoot).dev);
        let mountinfo = '';
        for (const f of [join(this.opts.root, 'proc/1/mountinfo'), '/proc/self/mountinfo']) {
          try {
            mountinfo = readFileSync(f, 'latin1');
            break;
          } catch {
            // try the next
          }
        }
        const device = deviceOf(mountinfo, majMin, this.opts.hostDataRoot);
        if (this.fsLabels?.get('device') !== device) this.fsLabels = new Labels([['device', device]]);
        const s = statfsSync(this.opts.dataRoot);
        this.capacity = s.blocks * s.bsize;
        this.capacityAt = now;
      } catch (err) {
        if (!isVanished(err)) this.problems.warn('statfs', { err: String(err), data_root: this.opts.dataRoot }, 'cannot read the filesystem of the data root (container_fs_* left out)');
        return undefined;
      }
    }
    return this.fsLabels && this.capacity !== undefined ? { labels: this.fsLabels, capacity: this.capacity } : undefined;
  }

  /** Emits the cached figures of the running Docker containers of `dir`; queues new ones for a walk. */
  collect(acc: Accumulator, dir: ContainerDirectory, runtime: string): void {
    const live = new Set<string>();
    let fs: { labels: Labels; capacity: number } | undefined | null = null;
    for (const id of dir.ids()) {
      const m = dir.get(id);
      if (m === undefined || m.runtime !== runtime || m.state !== 'running') continue;
      live.add(id);
      let e = this.entries.get(id);
      if (e === undefined) {
        e = { next: 0 };
        this.entries.set(id, e);
        this.wake?.();
      }
      if (e.bytes === undefined) continue;
      const path = dir.lastCgroupPath(id) ?? m.cgroupPath;
      if (path === undefined) continue;
      if (fs === null) fs = this.filesystem();
      if (fs === undefined) continue;
      const target = dir.identity(id, path, id);
      acc.add(FS.usage, target, e.bytes, fs.labels);
      acc.add(FS.limit, target, fs.capacity, fs.labels);
    }
    for (const id of [...this.entries.keys()]) if (!live.has(id)) this.entries.delete(id);
  }

  /** Runs the walker until `signal` aborts: the container due first, one at a time. */
  start(signal: AbortSignal): void {
    if (this.loop) return;
    this.loop = (async () => {
      while (!signal.aborted) {
        let due: [string, Entry] | undefined;
        for (const kv of this.entries) if (due === undefined || kv[1].next < due[1].next) due = kv;
        const wait = due === undefined ? 60_000 : Math.max(0, due[1].next - this.opts.now());
        if (wait > 0) {
          await new Promise<void>((resolve) => {
            const t = setTimeout(done, Math.min(wait, 60_000));
            t.unref();
            function done(): void {
              clearTimeout(t);
              signal.removeEventListener('abort', done);
              resolve();
            }
            this.wake = done;
            signal.addEventListener('abort', done, { once: true });
          });
          this.wake = undefined;
          continue;
        }
        const [id, e] = due as [string, Entry];
        await this.walk(id, e, signal);
      }
    })();
  }

  private async walk(id: string, e: Entry, signal: AbortSignal): Promise<void> {
    e.dirs ??= this.layerDirs(id);
    const started = this.opts.now();
    try {
      const r = await diskUsage(e.dirs, this.opts.maxFiles ?? MAX_FILES, this.opts.maxWalkMs ?? MAX_WALK_MS, this.opts.now, signal);
      if (signal.aborted) return;
      if (r.truncated) {
        this.problems.warn('truncated', { id: id.slice(0, 12), files: r.files, ms: this.opts.now() - started }, 'writable layer walk stopped at its bound: container_fs_usage_bytes is a lower bound for this container');
      }
      // The layer may be read before the engine wrote mount-id: look again next time.
      if (e.dirs.length < 2) e.dirs = undefined;
      if (this.entries.get(id) === e) e.bytes = r.bytes;
    } catch (err) {
      this.problems.warn('walk', { id: id.slice(0, 12), err: String(err) }, 'cannot walk a container\'s writable layer (container_fs_usage_bytes left out for it)');
    }
    e.next = this.opts.now() + this.opts.intervalMs * (1 + Math.random() * 0.25);
  }

  /** Waits for the walker to stop; call after the signal given to `start` aborted (a walk in progress stops at its next directory). */
  async shutdown(): Promise<void> {
    this.wake?.();
    await this.loop;
  }
}
