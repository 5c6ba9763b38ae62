/**
 * Docker's container document, in the two places it exists: the Engine API's
 * `GET /containers/<id>/json` and the engine's on-disk `containers/<id>/config.v2.json`.
 * Both have the same shape for what lookout reads (Name, Config.Image, Config.Labels, Image,
 * RestartCount, State), so one parser serves both.
 */
import { type ContainerMeta, type Runtime, stringMap } from '../../src/containers.js';
import { LookoutError } from '../../src/errors.js';

interface StateDoc {
  Status?: unknown;
  Running?: unknown;
  Paused?: unknown;
  Restarting?: unknown;
  Dead?: unknown;
  OOMKilled?: unknown;
  Pid?: unknown;
  ExitCode?: unknown;
  StartedAt?: unknown;
  FinishedAt?: unknown;
}

export interface ContainerDoc {
  Id?: unknown;
  ID?: unknown;
  Name?: unknown;
  Image?: unknown;
  RestartCount?: unknown;
  Config?: { Image?: unknown; Labels?: unknown };
  State?: StateDoc;
  HostConfig?: { CgroupParent?: unknown };
}

/**
 * Where dockerd puts a container's cgroup, by cgroup driver: `<parent or /docker>/<id>` with
 * cgroupfs, `/<parent or system.slice>/docker-<id>.scope` with systemd.
 */
export function dockerCgroupPath(id: string, driver: string | undefined, parent: unknown): string | undefined {
  const p = typeof parent === 'string' && parent !== '' ? parent : undefined;
  if (driver === 'systemd') return `/${p ?? 'system.slice'}/docker-${id}.scope`;
  if (driver === 'cgroupfs') return `${p === undefined ? '/docker' : `/${p.replace(/^\/+|\/+$/g, '')}`}/${id}`;
  return undefined;
}

/** Docker writes 0001-01-01T00:00:00Z for "never"; that and garbage become undefined. */
function time(v: unknown): number | undefined {
  if (typeof v !== 'string') return undefined;
  const ms = Date.parse(v);
  return Number.isFinite(ms) && ms > 0 ? ms / 1000 : undefined;
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** config.v2.json has no State.Status: derive it from the flags as dockerd does. */
function status(s: StateDoc): string | undefined {
  if (typeof s.Status === 'string') return s.Status;
  if (s.Restarting === true) return 'restarting';
  if (s.Paused === true) return 'paused';
  if (s.Running === true) return 'running';
  if (s.Dead === true) return 'dead';
  if (typeof s.StartedAt === 'string') return time(s.StartedAt) === undefined ? 'created' : 'exited';
  return undefined;
}

export function parseContainer(doc: unknown, runtime: Runtime, what: string): ContainerMeta {
  if (typeof doc !== 'object' || doc === null || typeof (doc as ContainerDoc).Name !== 'string') {
    throw new LookoutError('LOOKOUT_ERR_METADATA', `${what}: not a Docker container document (no Name)`);
  }
  const d = doc as ContainerDoc;
  const labels = stringMap(d.Config?.Labels);
  const s = d.State ?? {};
  const pid = num(s.Pid);
  return {
    runtime,
    name: (d.Name as string).replace(/^\//, ''),
    image: typeof d.Config?.Image === 'string' ? d.Config.Image : undefined,
    imageId: typeof d.Image === 'string' ? d.Image : undefined,
    labels,
    state: status(s),
    restartCount: num(d.RestartCount),
    startedAt: time(s.StartedAt),
    finishedAt: time(s.FinishedAt),
    exitCode: num(s.ExitCode),
    oomKilled: s.OOMKilled === true,
    pid: pid !== undefined && pid > 0 ? pid : undefined,
  };
}

/** Parses the text of a config.v2.json; a file Docker would not write is a LOOKOUT_ERR_METADATA error. */
export function parseConfigV2(text: string, id: string, runtime: Runtime): ContainerMeta {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new LookoutError('LOOKOUT_ERR_METADATA', `config.v2.json of ${id.slice(0, 12)} is not JSON`, { cause: err });
  }
  return parseContainer(doc, runtime, `config.v2.json of ${id.slice(0, 12)}`);
}
