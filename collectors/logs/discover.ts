/**
 * Finding container log files. A rescan lists the log directories and reports the
 * containers whose directory changed since the last one (a new file or a rotation renames
 * entries, which changes the directory's mtime; appends do not), so that an idle node costs
 * one `stat` per container per rescan. A directory modified within the last two seconds is
 * read again whatever its mtime says, since two changes within the filesystem's timestamp
 * granularity would otherwise hide the second.
 */
import { readdirSync, readlinkSync, statSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { errnoCode, isVanished } from '../../src/errors.js';
import { parseLinkName, parseLinkTarget, parsePodDir } from '../kubernetes/logs.js';
import type { Format } from './formats.js';

export interface FoundFile {
  readonly path: string;
  readonly dev: number;
  readonly ino: number;
  readonly size: number;
  /** Position in the rotation, from the name: 0 for the file being written, larger for older files. */
  readonly age: number;
  /** A rotated file compressed with gzip (kubelet's rotation, Docker's `compress=true`): read whole, never followed. */
  readonly gz: boolean;
}

export interface FoundGroup {
  /** `docker:<id>`, `cri:<pod dir>/<container>/<attempt>`, `podman:<id>` or `file:<path>`. */
  readonly key: string;
  readonly format: Format;
  /** The container id, when known (always for Docker; from the kubelet's symlink for CRI). */
  readonly id?: string;
  readonly namespace?: string;
  readonly pod?: string;
  readonly container?: string;
  readonly files: readonly FoundFile[];
  /** Labels configured for a user file (`collectors.logs.files[].labels`). */
  readonly labels?: Readonly<Record<string, string>>;
}

/** A user-configured log file pattern (`collectors.logs.files`). */
export interface FileSource {
  /** Absolute path, resolved under the host root; `*`, `?` and `[...]` match within a path segment, `**` any number of directories. */
  readonly glob: string;
  readonly format: Format;
  readonly labels: Readonly<Record<string, string>>;
}

/** Sources beyond Docker's and the kubelet's directories. */
export interface ExtraSources {
  /**
   * Podman's `overlay-containers` directory (containers/storage), resolved: the `k8s-file` log
   * driver writes CRI-format lines to `<id>/userdata/ctr.log` there.
   */
  readonly podmanDir?: string;
  readonly files?: readonly FileSource[];
}

export interface ScanResult {
  /** Groups whose directory changed, with every log file in it. */
  readonly changed: readonly FoundGroup[];
  /** Keys of every group present, changed or not. */
  readonly present: ReadonlySet<string>;
  /** Problems other than things vanishing (unreadable directories); the scan went on. */
  readonly errors: readonly unknown[];
}

const ID = /^[0-9a-f]{64}$/;
const DOCKER_FILE = /^([0-9a-f]{64})-json\.log(?:\.(\d+)(\.gz)?)?$/;
const CRI_FILE = /^(\d+)\.log(?:\.(\d{8})-(\d{6})(\.gz)?)?$/;
/** Directories modified this recently (ms) are listed whatever their mtime. */
const RACY_MS = 2000;
/** Every this many scans, every directory is listed again. */
const FULL_EVERY = 60;

/** Deepest directory level a `**` reaches below where it stands. */
const GLOBSTAR_DEPTH = 8;

/** A glob segment as a regular expression; undefined when it has no wildcard. */
export function segmentRegExp(seg: string): RegExp | undefined {
  if (!/[*?[]/.test(seg)) return undefined;
  let re = '';
  for (let i = 0; i < seg.length; i++) {
    const ch = seg[i] as string;
    if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else if (ch === '[') {
      const end = seg.indexOf(']', i + 2);
      if (end < 0) re += '\\[';
      else {
        const body = seg.slice(i + 1, end);
        re += `[${body.startsWith('!') ? `^${body.slice(1)}` : body.replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else re += ch.replace(/[.+^${}()|\\\]]/g, '\\$&');
  }
  // A leading dot is matched only by a pattern that starts with one, as shells do.
  return new RegExp(seg.startsWith('.') ? `^${re}$` : `^(?!\\.)${re}$`);
}

/** The part of a glob before its first wildcard segment: the directory to watch. */
export function globBase(glob: string): string {
  const parts = glob.split('/');
  const i = parts.findIndex((p) => p === '**' || segmentRegExp(p) !== undefined);
  if (i < 0) return dirname(glob);
  const base = parts.slice(0, Math.min(i, parts.length - 1)).join('/');
  return base === '' ? '/' : base;
}

/** How many directory levels below `globBase` the glob reaches (Infinity with `**`). */
export function globDepth(glob: string): number {
  const base = globBase(glob);
  const rest = glob.slice(base.length).split('/').filter((p) => p !== '');
  return rest.includes('**') ? GLOBSTAR_DEPTH : Math.max(0, rest.length - 1);
}

export function isLogFileName(name: string): boolean {
  return DOCKER_FILE.test(name) || CRI_FILE.test(name);
}

/** Age of a CRI file from its name: 0 for `<n>.log`, larger for older rotations (`<n>.log.YYYYMMDD-hhmmss`). */
function criAge(date: string | undefined, time: string | undefined): number {
  if (date === undefined || time === undefined) return 0;
  return 1 + (99_999_999_999_999 - Number(date + time));
}

export class Scanner {
  private readonly mtimes = new Map<string, number>();
  private readonly groupsByDir = new Map<string, FoundGroup[]>();
  private links = new Map<string, string>();
  private scans = 0;
  private extra: ExtraSources = {};
  /** Labels of each user file followed, by path. */

  constructor(
    /** Docker's `containers` directory, resolved under the host root, or undefined when off. */
    private readonly dockerDir: string | undefined,
    /** The kubelet's pod log directory and its symlink directory, resolved; undefined when off. */
    private readonly podsDir: string | undefined,
    private readonly linksDir: string | undefined,
    private readonly now: () => number,
  ) {}

  /** Adds Podman's logs and user files to what is scanned, from the next scan on. */
  configure(extra: ExtraSources): void {
    this.extra = extra;
  }

  /** Whether `dir` must be listed: never seen, changed, recently modified, or a full scan. */
  private changed(dir: string, errors: unknown[], full: boolean): boolean | undefined {
    let mtime: number;
    try {
      mtime = statSync(dir).mtimeMs;
    } catch (err) {
      if (!isVanished(err)) errors.push(err);
      this.mtimes.delete(dir);
      return undefined;
    }
    const prev = this.mtimes.get(dir);
    this.mtimes.set(dir, mtime);
    return full || prev !== mtime || this.now() - mtime < RACY_MS;
  }

  private list(dir: string, errors: unknown[]): string[] {
    try {
      return readdirSync(dir);
    } catch (err) {
      if (!isVanished(err) && errnoCode(err) !== 'ENOTDIR') errors.push(err);
      return [];
    }
  }

  private stat(path: string, age: number, gz: boolean, errors: unknown[]): FoundFile | undefined {
    try {
      const st = statSync(path);
      if (!st.isFile()) return undefined;
      return { path, dev: st.dev, ino: st.ino, size: st.size, age, gz };
    } catch (err) {
      if (!isVanished(err)) errors.push(err);
      return undefined;
    }
  }

  scan(): ScanResult {
    const full = this.scans++ % FULL_EVERY === 0;
    const changed: FoundGroup[] = [];
    const present = new Set<string>();
    const errors: unknown[] = [];
    const seenDirs = new Set<string>();
    if (this.dockerDir !== undefined) this.scanDocker(this.dockerDir, full, changed, present, errors, seenDirs);
    if (this.podsDir !== undefined) this.scanPods(this.podsDir, full, changed, present, errors, seenDirs);
    if (this.extra.podmanDir !== undefined) this.scanPodman(this.extra.podmanDir, full, changed, present, errors, seenDirs);
    if (this.extra.files !== undefined && this.extra.files.length > 0) this.scanFiles(this.extra.files, full, changed, present, errors, seenDirs);
    for (const dir of [...this.groupsByDir.keys()]) if (!seenDirs.has(dir)) this.groupsByDir.delete(dir);
    for (const dir of [...this.mtimes.keys()]) if (!seenDirs.has(dir) && dir !== this.dockerDir && dir !== this.podsDir && dir !== this.linksDir) this.mtimes.delete(dir);
    return { changed, present, errors };
  }

  /** Reports the groups of `dir`: listed anew when it changed, else as last time (present only). */
  private groupsOf(dir: string, full: boolean, errors: unknown[], seenDirs: Set<string>, read: () => FoundGroup[], changed: FoundGroup[], present: Set<string>): void {
    const c = this.changed(dir, errors, full);
    if (c === undefined) return;
    seenDirs.add(dir);
    let groups = this.groupsByDir.get(dir);
    if (c || groups === undefined) {
      groups = read();
      this.groupsByDir.set(dir, groups);
      changed.push(...groups);
    }
    for (const g of groups) present.add(g.key);
  }

  private scanDocker(root: string, full: boolean, changed: FoundGroup[], present: Set<string>, errors: unknown[], seenDirs: Set<string>): void {
    for (const id of this.list(root, errors)) {
      if (!ID.test(id)) continue;
      const dir = join(root, id);
      this.groupsOf(dir, full, errors, seenDirs, () => {
        const files: FoundFile[] = [];
        for (const name of this.list(dir, errors)) {
          const m = DOCKER_FILE.exec(name);
          if (!m || m[1] !== id) continue;
          const f = this.stat(join(dir, name), m[2] === undefined ? 0 : Number(m[2]), m[3] !== undefined, errors);
          if (f) files.push(f);
        }
        return files.length > 0 ? [{ key: `docker:${id}`, format: 'docker', id, files }] : [];
      }, changed, present);
    }
  }

  /** The kubelet's symlinks, by `<pod dir>/<container>/<attempt>`: the container ids. */
  private readLinks(full: boolean, errors: unknown[]): void {
    if (this.linksDir === undefined) return;
    const c = this.changed(this.linksDir, errors, full);
    if (c === undefined) {
      this.links = new Map();
      return;
    }
    if (!c) return;
    const links = new Map<string, string>();
    for (const name of this.list(this.linksDir, errors)) {
      const ln = parseLinkName(name);
      if (!ln) continue;
      let target: string;
      try {
        target = readlinkSync(join(this.linksDir, name));
      } catch {
        continue;
      }
      const t = parseLinkTarget(target);
      if (t?.namespace !== undefined && t.pod !== undefined) links.set(`${t.namespace}_${t.pod}_${t.podUid}/${t.container}/${t.attempt}`, ln.id);
    }
    this.links = links;
  }

  private scanPods(root: string, full: boolean, changed: FoundGroup[], present: Set<string>, errors: unknown[], seenDirs: Set<string>): void {
    const linksBefore = this.links;
    this.readLinks(full, errors);
    // New symlinks name containers whose directories may not have changed: list them all again.
    const relist = full || this.links !== linksBefore;
    for (const podName of this.list(root, errors)) {
      const pod = parsePodDir(podName);
      if (!pod) continue;
      const podDir = join(root, podName);
      for (const container of this.list(podDir, errors)) {
        const dir = join(podDir, container);
        this.groupsOf(dir, relist, errors, seenDirs, () => {
          const byAttempt = new Map<string, FoundFile[]>();
          for (const name of this.list(dir, errors)) {
            const m = CRI_FILE.exec(name);
            if (!m) continue;
            const f = this.stat(join(dir, name), criAge(m[2], m[3]), m[4] !== undefined, errors);
            if (!f) continue;
            const list = byAttempt.get(m[1] as string) ?? [];
            list.push(f);
            byAttempt.set(m[1] as string, list);
          }
          return [...byAttempt].map(([attempt, files]) => {
            const rel = `${podName}/${container}/${Number(attempt)}`;
            const id = this.links.get(rel);
            return { key: `cri:${rel}`, format: 'cri' as const, ...(id !== undefined ? { id } : {}), namespace: pod.namespace, pod: pod.pod, container, files };
          });
        }, changed, present);
      }
    }
  }
  /** Podman's `k8s-file` logs: `<overlay-containers>/<id>/userdata/ctr.log`, CRI format. */
  private scanPodman(root: string, full: boolean, changed: FoundGroup[], present: Set<string>, errors: unknown[], seenDirs: Set<string>): void {
    for (const id of this.list(root, errors)) {
      if (!ID.test(id)) continue;
      // conmon rotates by writing ctr.log.tmp and renaming it over ctr.log: the userdata directory changes.
      const dir = join(root, id, 'userdata');
      this.groupsOf(dir, full, errors, seenDirs, () => {
        const f = this.stat(join(dir, 'ctr.log'), 0, false, errors);
        return f ? [{ key: `podman:${id}`, format: 'cri' as const, id, files: [f] }] : [];
      }, changed, present);
    }
  }

  /** The directories a glob's directory part matches, at most GLOBSTAR_DEPTH deep for each `**`. */
  private globDirs(parts: readonly string[], errors: unknown[]): string[] {
    let dirs = [parts[0] === '' ? sep : (parts[0] as string)];
    for (const seg of parts.slice(1)) {
      if (seg === '' || seg === '.') continue;
      const next: string[] = [];
      if (seg === '**') {
        let level = dirs;
        for (let d = 0; d <= GLOBSTAR_DEPTH && level.length > 0; d++) {
          next.push(...level);
          level = level.flatMap((dir) => this.subdirs(dir, undefined, errors));
        }
      } else {
        const re = segmentRegExp(seg);
        for (const dir of dirs) {
          if (re === undefined) next.push(join(dir, seg));
          else next.push(...this.subdirs(dir, re, errors));
        }
      }
      dirs = [...new Set(next)];
    }
    return dirs;
  }

  private subdirs(dir: string, re: RegExp | undefined, errors: unknown[]): string[] {
    try {
      return readdirSync(dir, { withFileTypes: true })
        .filter((e) => e.isDirectory() && (re === undefined ? !e.name.startsWith('.') : re.test(e.name)))
        .map((e) => join(dir, e.name));
    } catch (err) {
      if (!isVanished(err) && errnoCode(err) !== 'ENOTDIR') errors.push(err);
      return [];
    }
  }

  /**
   * User files (`collectors.logs.files`): each matching file is a group of its own,
   * `file:<path>`; a directory is listed again only when it changed, as the others. A file
   * renamed away (logrotate) is read to its end through its descriptor, not found again.
   */
  private scanFiles(sources: readonly FileSource[], full: boolean, changed: FoundGroup[], present: Set<string>, errors: unknown[], seenDirs: Set<string>): void {
    const byDir = new Map<string, Array<{ re: RegExp; name: string; src: FileSource }>>();
    for (const src of sources) {
      const parts = src.glob.split('/');
      const name = parts.pop() as string;
      const re = segmentRegExp(name) ?? new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
      for (const dir of this.globDirs(parts, errors)) {
        const list = byDir.get(dir) ?? [];
        list.push({ re, name, src });
        byDir.set(dir, list);
      }
    }
    for (const [dir, pats] of byDir) {
      this.groupsOf(dir, full, errors, seenDirs, () => {
        const groups: FoundGroup[] = [];
        for (const name of this.list(dir, errors)) {
          const p = pats.find((x) => x.re.test(name));
          if (!p) continue;
          const path = join(dir, name);
          const f = this.stat(path, 0, false, errors);
          if (!f) continue;
          groups.push({ key: `file:${path}`, format: p.src.format, labels: p.src.labels, files: [f] });
        }
        return groups;
      }, changed, present);
    }
  }
}
