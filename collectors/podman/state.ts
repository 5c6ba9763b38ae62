/**
 * Podman's containers from its on-disk state, for when its API service is not running
 * (it is socket-activated, and usually is not). Podman 4 keeps its own database
 * (`libpod/bolt_state.db`, BoltDB) which lookout does not parse; what it reads instead:
 *
 * - `<storage_root>/overlay-containers/containers.json` (containers/storage): every container's
 *   id, name, image id and, in its `metadata` JSON string, the image name and creation time.
 * - `<storage_root>/overlay-containers/<id>/userdata/config.json`: the OCI spec Podman wrote for
 *   the last start: `linux.cgroupsPath` (where its cgroup is) and annotations
 *   (`io.container.manager=libpod`, `io.kubernetes.cri-o.SandboxID` for a container in a pod).
 * - `<run_root>/overlay-containers/<id>/userdata/pidfile`: its process, written by the OCI
 *   runtime at each start (tmpfs: gone after a reboot). The container is `running` while that
 *   process lives in the container's cgroup, or, where the host's /proc or the run root is not
 *   visible, while its cgroup exists (Podman removes it when the container stops); it started
 *   when the pidfile was written.
 * - `events_log` (only with `events_logger = "file"`): `create` events carry the labels,
 *   `start` and `died` events the start time, exit code and end time.
 *
 * Not known without the database or the API: labels and exit codes with the journald event
 * logger, the restart count, paused state, OOM kills as Podman saw them, and pod names.
 */
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ContainerDirectory, ContainerMeta } from '../../src/containers.js';
import { stringMap } from '../../src/containers.js';
import { isVanished, LookoutError } from '../../src/errors.js';
import { fileVersion, runcCgroupPath, str } from '../kubernetes/cri.js';

const ID = /^[0-9a-f]{64}$/;
/** Most of the event log read when it is first seen or was truncated: its newest events. */
const EVENTS_FIRST_READ_BYTES = 16 * 1024 * 1024;

/** One entry of containers/storage's containers.json, as far as lookout reads it. */
export interface StorageContainer {
  readonly id: string;
  readonly name?: string;
  readonly imageId?: string;
  /** The image as the user named it, fully qualified by Podman (`localhost/busybox:latest`). */
  readonly image?: string;
  /** Seconds since the epoch. */
  readonly created?: number;
}

function seconds(v: unknown): number | undefined {
  if (typeof v !== 'string') return undefined;
  const ms = Date.parse(v);
  return Number.isFinite(ms) && ms > 0 ? ms / 1000 : undefined;
}

/** Parses containers.json; entries without a 64-hex id (other tools' layers) are left out. */
export function parseContainersJson(text: string): StorageContainer[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new LookoutError('LOOKOUT_ERR_METADATA', 'podman containers.json is not JSON', { cause: err });
  }
  if (!Array.isArray(doc)) throw new LookoutError('LOOKOUT_ERR_METADATA', 'podman containers.json is not a JSON array');
  const out: StorageContainer[] = [];
  for (const e of doc as unknown[]) {
    if (typeof e !== 'object' || e === null) continue;
    const c = e as { id?: unknown; names?: unknown; image?: unknown; metadata?: unknown; created?: unknown };
    if (typeof c.id !== 'string' || !ID.test(c.id)) continue;
    let meta: { 'image-name'?: unknown; name?: unknown } = {};
    if (typeof c.metadata === 'string') {
      try {
        const m = JSON.parse(c.metadata) as unknown;
        if (typeof m === 'object' && m !== null) meta = m as typeof meta;
      } catch {
        // Metadata of a container another tool (Buildah) made: not Podman's JSON; the rest still names it.
      }
    }
    const names = Array.isArray(c.names) ? c.names.filter((n): n is string => typeof n === 'string' && n !== '') : [];
    out.push({
      id: c.id,
      name: names[0] ?? str(meta.name),
      imageId: str(c.image),
      image: str(meta['image-name']),
      created: seconds(c.created),
    });
  }
  return out;
}

export interface SpecInfo {
  readonly cgroupPath?: string;
  /** Podman's own containers carry `io.container.manager=libpod`; Buildah's working containers do not. */
  readonly libpod: boolean;
  /** The pod's id, for a container in a Podman pod. */
  readonly podId?: string;
}

/** The parts of a container's OCI spec (userdata/config.json) lookout uses. */
export function parseSpec(text: string, id: string): SpecInfo {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new LookoutError('LOOKOUT_ERR_METADATA', `podman config.json of ${id.slice(0, 12)} is not JSON`, { cause: err });
  }
  if (typeof doc !== 'object' || doc === null) throw new LookoutError('LOOKOUT_ERR_METADATA', `podman config.json of ${id.slice(0, 12)} is not an OCI spec`);
  const d = doc as { annotations?: unknown; linux?: { cgroupsPath?: unknown } };
  const ann = stringMap(d.annotations);
  return {
    cgroupPath: runcCgroupPath(d.linux?.cgroupsPath),
    libpod: ann['io.container.manager'] === 'libpod',
    podId: str(ann['io.kubernetes.cri-o.SandboxID']),
  };
}

/**
 * Where Podman puts a container's cgroup when its spec does not say: `/libpod_parent/libpod-<id>`
 * with the cgroupfs manager, `/machine.slice/libpod-<id>.scope` with systemd (rootful).
 */
export function podmanCgroupPath(id: string, manager: string | undefined): string | undefined {
  if (manager === 'systemd') return `/machine.slice/libpod-${id}.scope`;
  if (manager === 'cgroupfs') return `/libpod_parent/libpod-${id}`;
  return undefined;
}

/** What the event log says of one container. */
export interface EventInfo {
  labels?: Record<string, string>;
  startedAt?: number;
  finishedAt?: number;
  exitCode?: number;
}

/**
 * Podman's file event log (`events_logger = "file"`), read incrementally: one JSON object per
 * line, `{"ID":..,"Name":..,"Status":"create"|"start"|"died"|..,"Time":..,"Type":"container",
 * "Attributes":{<labels>},"ContainerExitCode":N}`. A file smaller than what was read, or with
 * another inode, was truncated or replaced: read again from its start.
 */
export class EventLog {
  readonly byId = new Map<string, EventInfo>();
  private ino = -1;
  private offset = 0;
  private rest = '';

  constructor(private readonly path: string) {}

  read(): void {
    let fd: number;
    try {
      fd = openSync(this.path, 'r');
    } catch (err) {
      if (isVanished(err)) return;
      throw err;
    }
    try {
      const st = fstatSync(fd);
      // Started mid-file (first look at a long log): the first piece is the end of a line.
      let skipFirst = false;
      if (st.ino !== this.ino || st.size < this.offset) {
        this.ino = st.ino;
        this.offset = Math.max(0, st.size - EVENTS_FIRST_READ_BYTES);
        this.rest = '';
        skipFirst = this.offset > 0;
      }
      if (st.size === this.offset) return;
      const buf = Buffer.allocUnsafe(st.size - this.offset);
      let got = 0;
      while (got < buf.length) {
        const n = readSync(fd, buf, got, buf.length - got, this.offset + got);
        if (n === 0) break;
        got += n;
      }
      this.offset += got;
      const lines = (this.rest + buf.toString('utf8', 0, got)).split('\n');
      this.rest = lines.pop() ?? '';
      if (skipFirst) lines.shift();
      for (const line of lines) this.apply(line);
    } finally {
      closeSync(fd);
    }
  }

  private apply(line: string): void {
    if (line.length === 0) return;
    let e: { ID?: unknown; Status?: unknown; Time?: unknown; Type?: unknown; Attributes?: unknown; ContainerExitCode?: unknown };
    try {
      e = JSON.parse(line) as typeof e;
    } catch {
      return;
    }
    if (e.Type !== 'container' || typeof e.ID !== 'string' || !ID.test(e.ID)) return;
    let info = this.byId.get(e.ID);
    if (info === undefined) {
      info = {};
      this.byId.set(e.ID, info);
    }
    if (e.Attributes !== null && typeof e.Attributes === 'object') info.labels = stringMap(e.Attributes);
    const at = seconds(e.Time);
    if (e.Status === 'start' && at !== undefined) info.startedAt = at;
    if (e.Status === 'died') {
      if (at !== undefined) info.finishedAt = at;
      if (typeof e.ContainerExitCode === 'number') info.exitCode = e.ContainerExitCode;
    }
    if (e.Status === 'remove') this.byId.delete(e.ID);
  }

  /** Forgets containers no longer in containers.json. */
  retain(live: ReadonlySet<string>): void {
    for (const id of this.byId.keys()) if (!live.has(id)) this.byId.delete(id);
  }
}

export interface DiskPaths {
  /** `<storage_root>/overlay-containers`, resolved under the host root. */
  readonly containersDir: string;
  /** `<run_root>/overlay-containers`, resolved. */
  readonly runDir: string;
  /** The event log, resolved; undefined when not read. */
  readonly eventsLog?: string;
  /** The host's /proc, resolved. */
  readonly proc: string;
  /** The host's /sys/fs/cgroup, resolved. */
  readonly cgroupRoot: string;
}

/** Hierarchies in which a container's cgroup is looked for: v2 at the top, hybrid's unified, v1 controllers. */
const HIERARCHIES = ['', 'unified', 'memory', 'pids', 'cpu,cpuacct', 'cpu', 'systemd'];

interface Known {
  specVersion: string;
  spec?: SpecInfo;
}

/**
 * Reads Podman's on-disk state into the container directory; containers that left
 * containers.json are removed from it. Only files whose mtime or size changed are parsed
 * again; the pidfiles (a few bytes each) are read at every refresh.
 */
export class PodmanDiskState {
  private listVersion = '';
  private list: StorageContainer[] = [];
  private readonly known = new Map<string, Known>();
  private readonly events: EventLog | undefined;
  /** Some container of the last refresh has no spec yet (created a moment ago: Podman writes it at init). */
  awaitingSpec = false;

  constructor(
    private readonly paths: DiskPaths,
    private readonly dir: ContainerDirectory,
  ) {
    this.events = paths.eventsLog !== undefined ? new EventLog(paths.eventsLog) : undefined;
  }

  /** The cgroup path from the container's spec, when it was read. */
  specCgroupPath(id: string): string | undefined {
    return this.known.get(id)?.spec?.cgroupPath;
  }

  refresh(report: (err: unknown) => void): void {
    const file = join(this.paths.containersDir, 'containers.json');
    try {
      const version = fileVersion(statSync(file));
      if (version !== this.listVersion) {
        this.list = parseContainersJson(readFileSync(file, 'utf8'));
        this.listVersion = version;
      }
    } catch (err) {
      if (isVanished(err)) {
        this.list = [];
        this.listVersion = '';
      } else report(err);
    }
    try {
      this.events?.read();
    } catch (err) {
      report(err);
    }
    const live = new Set<string>();
    this.awaitingSpec = false;
    for (const c of this.list) {
      const spec = this.spec(c.id, report);
      if (spec === undefined) this.awaitingSpec = true;
      // Buildah's working containers share containers.json; Podman's have the libpod annotation.
      if (spec !== undefined && !spec.libpod) continue;
      live.add(c.id);
      this.dir.update(c.id, { ...this.meta(c, spec) });
    }
    for (const id of [...this.known.keys()]) {
      if (live.has(id)) continue;
      this.known.delete(id);
      if (this.dir.get(id)?.runtime === 'podman') this.dir.remove(id);
    }
    this.events?.retain(live);
  }

  /** The container's spec, parsed again only when the file changed. */
  private spec(id: string, report: (err: unknown) => void): SpecInfo | undefined {
    const file = join(this.paths.containersDir, id, 'userdata', 'config.json');
    let k = this.known.get(id);
    if (k === undefined) {
      k = { specVersion: '' };
      this.known.set(id, k);
    }
    try {
      const version = fileVersion(statSync(file));
      if (version !== k.specVersion) {
        k.specVersion = version;
        k.spec = parseSpec(readFileSync(file, 'utf8'), id);
      }
    } catch (err) {
      // No spec yet (created, never started by this Podman) or vanishing: named from containers.json alone.
      if (!isVanished(err)) report(err);
    }
    return k.spec;
  }

  private meta(c: StorageContainer, spec: SpecInfo | undefined): ContainerMeta {
    const ev = this.events?.byId.get(c.id);
    let pid: number | undefined;
    /** When the OCI runtime last wrote the pidfile: the last start. */
    let pidWritten: number | undefined;
    try {
      const pf = join(this.paths.runDir, c.id, 'userdata', 'pidfile');
      const text = readFileSync(pf, 'utf8');
      pidWritten = statSync(pf).mtimeMs / 1000;
      const n = Number.parseInt(text.trim(), 10);
      if (Number.isInteger(n) && n > 0 && this.inContainer(n, c.id)) pid = n;
    } catch {
      // No pidfile: never started since boot, or being removed.
    }
    const running = pid !== undefined || (spec?.cgroupPath !== undefined && this.cgroupExists(spec.cgroupPath));
    const state = running ? 'running' : pidWritten !== undefined || ev?.finishedAt !== undefined ? 'exited' : 'created';
    // The newer of the two: an event log that was rotated may lack the last start.
    const startedAt = ev?.startedAt !== undefined && pidWritten !== undefined ? Math.max(ev.startedAt, pidWritten) : (ev?.startedAt ?? pidWritten);
    return {
      runtime: 'podman',
      name: c.name ?? c.id,
      image: c.image,
      imageId: c.imageId,
      labels: ev?.labels,
      state,
      pid,
      startedAt,
      finishedAt: running ? undefined : ev?.finishedAt,
      exitCode: ev?.exitCode,
      cgroupPath: spec?.cgroupPath,
    };
  }

  private cgroupExists(path: string): boolean {
    return HIERARCHIES.some((h) => existsSync(join(this.paths.cgroupRoot, h, path)));
  }

  /** Whether `pid` is a live process in the container's cgroup (a pid reused by another process is not). */
  private inContainer(pid: number, id: string): boolean {
    try {
      return readFileSync(join(this.paths.proc, String(pid), 'cgroup'), 'utf8').includes(id);
    } catch {
      return false;
    }
  }
}
