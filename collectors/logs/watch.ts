/**
 * Prompt notice of new containers, through chokidar (inotify). Only the directories that
 * gain an entry when a container appears are watched: Docker's `containers/` (a directory
 * per container) and the kubelet's pod log directory with its pod directories (a directory
 * per container). The directories files are written in are not watched: every write there
 * would be an event, which costs more CPU than the whole of reading (measured: a container
 * writing 1,300 lines/s took the agent from 3% to 12-18% of a core). Writes are found by
 * polling the open files (`poll_interval`), rotations by the rescan (`rescan_interval`); a
 * rotated file is read to its end through its descriptor meanwhile, so neither loses lines.
 *
 * Podman's `overlay-containers/` gains a directory per container too (`podman` roots). For
 * user files (`collectors.logs.files`, `files` roots) the directory a glob starts from is
 * watched to the depth the glob reaches, and files appearing or going are events as well.
 *
 * When the kernel's inotify watch limit is reached (ENOSPC), the watcher starts again in
 * polling mode and says so in the agent's log.
 */
import { sep } from 'node:path';
import type { FSWatcher } from 'chokidar';
import { errnoCode } from '../../src/errors.js';
import type { Logger } from '../../src/log.js';
import { parsePodDir } from '../kubernetes/logs.js';

export type WatchEvent = 'addDir' | 'unlinkDir' | 'add' | 'unlink';

export type RootKind = 'docker' | 'pods' | 'podman' | 'files';

const ID = /^[0-9a-f]{64}$/;

let chokidar: Promise<typeof import('chokidar')> | undefined;
/**
 * chokidar, loaded when the first watcher starts rather than with the agent: the log
 * collector reads its first batch before then, so the first lines do not wait for it.
 */
function loadChokidar(): Promise<typeof import('chokidar')> {
  chokidar ??= import('chokidar');
  return chokidar;
}

/** Whether a watcher of `root` should leave `path` (at or under it) alone. */
function ignoredUnder(root: string, kind: RootKind, depth: number, path: string): boolean {
  if (path === root) return false;
  if (!path.startsWith(root + sep)) return true;
  const parts = path.slice(root.length + 1).split(sep);
  if (kind === 'files') return parts.length > depth + 1;
  if (kind === 'docker' || kind === 'podman') return parts.length !== 1 || !ID.test(parts[0] as string);
  if (parts.length === 1) return parsePodDir(parts[0] as string) === undefined;
  return parts.length !== 2;
}

export class LogWatcher {
  private readonly watchers = new Map<string, FSWatcher>();
  private polling = false;
  private closed = false;
  /** Between `start()` and the watchers being there (chokidar loading). */
  private opening = false;

  constructor(
    /**
     * `[path, kind, depth]`: Docker's containers directory, the kubelet's pod log directory,
     * Podman's overlay-containers directory, or where a user glob starts (with how many
     * directory levels below it the glob reaches).
     */
    private readonly roots: ReadonlyArray<readonly [string, RootKind, number?]>,
    private readonly log: Logger,
    private readonly onEvent: (event: WatchEvent, path: string) => void,
    private readonly onError: (err: unknown) => void,
  ) {}

  get mode(): 'inotify' | 'polling' | 'off' {
    return this.watchers.size === 0 && !this.opening ? 'off' : this.polling ? 'polling' : 'inotify';
  }

  /** Whether chokidar should leave `path` alone: anything but container and pod directories (and user file directories). */
  ignored(path: string): boolean {
    for (const [root, kind, depth = 0] of this.roots) {
      if (path === root || path.startsWith(root + sep)) return ignoredUnder(root, kind, depth, path);
    }
    return true;
  }

  /** Starts watching; the watchers come once chokidar is loaded (a failure to load goes to `onError`). */
  start(): void {
    if (this.closed || this.roots.length === 0) return;
    this.opening = true;
    loadChokidar().then(
      ({ watch }) => {
        this.opening = false;
        if (!this.closed) this.open(watch);
      },
      (err: unknown) => {
        this.opening = false;
        this.onError(err);
      },
    );
  }

  private open(watch: (typeof import('chokidar'))['watch']): void {
    for (const [root, kind, depth = 0] of this.roots) {
      // One chokidar per root and kind: a user glob may start at a runtime's directory, or above it.
      const key = `${kind}:${depth}:${root}`;
      if (this.watchers.has(key)) continue;
      const w = watch(root, {
        ignoreInitial: true,
        persistent: false,
        followSymlinks: false,
        depth: kind === 'files' ? depth : kind === 'pods' ? 1 : 0,
        usePolling: this.polling,
        interval: 1000,
        // Each root's own rule: roots may nest (a user glob above Docker's directory).
        ignored: (p: string) => ignoredUnder(root, kind, depth, p),
      });
      for (const ev of ['addDir', 'unlinkDir'] as const) w.on(ev, (p: string) => this.onEvent(ev, p));
      if (kind === 'files') for (const ev of ['add', 'unlink'] as const) w.on(ev, (p: string) => this.onEvent(ev, p));
      w.on('error', (err: unknown) => this.failed(err));
      this.watchers.set(key, w);
    }
  }

  private failed(err: unknown): void {
    if (errnoCode(err) === 'ENOSPC' && !this.polling && !this.closed) {
      this.log.warn({ err: String(err) }, 'inotify watch limit reached (fs.inotify.max_user_watches): watching log directories by polling instead; raise the limit to go back to inotify');
      this.polling = true;
      const old = [...this.watchers.values()];
      this.watchers.clear();
      void Promise.all(old.map((w) => w.close())).finally(() => this.start());
      return;
    }
    this.onError(err);
  }

  async close(): Promise<void> {
    this.closed = true;
    const old = [...this.watchers.values()];
    this.watchers.clear();
    await Promise.all(old.map((w) => w.close()));
  }
}
