/**
 * Reads one cgroup's files into normalized statistics, with the semantics cAdvisor and the
 * kubelet give them (via runc's cgroup code), so values match theirs:
 * - CPU in seconds; v1 `cpuacct.stat` is in USER_HZ ticks (100 per second on Linux).
 * - Working set = usage - inactive_file (never below 0), on v1 the hierarchical
 *   `total_inactive_file`, on v2 `inactive_file`.
 * - v1 `memory.stat` `total_*` fields (hierarchical) for cache, rss, mapped_file and swap.
 * - Limits of "unlimited" (v1's 2^63 rounded to the page size, v2's `max`) are left unset.
 */
import { join } from 'node:path';
import type { Layout } from './layout.js';
import { CachedFile, type FileReader } from './files.js';
import {
  countLines,
  type DeviceIo,
  firstPid,
  mergeDevices,
  parseBlkioV1,
  parseCpuMax,
  parseFlatKeyed,
  parseIoStat,
  parseLimit,
  parsePressure,
  parseSingle,
} from './parse.js';

const USER_HZ = 100;
/** Above this a v1 limit means "unlimited" (the kernel writes PAGE_COUNTER_MAX * PAGE_SIZE); cAdvisor uses the same bound. */
const UNLIMITED = 2 ** 62;

export interface CgroupStats {
  cpuUsage?: number;
  cpuUser?: number;
  cpuSystem?: number;
  cfsPeriods?: number;
  cfsThrottledPeriods?: number;
  cfsThrottledSeconds?: number;
  cpuQuota?: number;
  cpuPeriod?: number;
  cpuShares?: number;

  memUsage?: number;
  memMaxUsage?: number;
  memWorkingSet?: number;
  memRss?: number;
  memCache?: number;
  memMappedFile?: number;
  memSwap?: number;
  memKernel?: number;
  memActiveFile?: number;
  memInactiveFile?: number;
  memFailcnt?: number;
  pgfault?: number;
  pgmajfault?: number;
  pgfaultHierarchy?: number;
  pgmajfaultHierarchy?: number;
  oomKills?: number;
  /** v2 `memory.events` counters by name (low, high, max, oom, oom_kill, oom_group_kill). */
  memEvents?: Record<string, number>;
  /** Limits are 0 when unlimited (as cAdvisor reports them) and unset when unknown. */
  memLimit?: number;
  memReservation?: number;
  memSwapLimit?: number;

  devices?: Map<string, DeviceIo>;

  pidsCurrent?: number;
  /** 0 when unlimited, as cAdvisor reports it. */
  pidsMax?: number;
  processes?: number;
  /** A process in the cgroup, for its network namespace. */
  pid?: number;

  psi?: { cpu?: Psi; memory?: Psi; io?: Psi };
}

export interface Psi {
  /** Seconds during which some tasks were stalled. */
  some?: number;
  /** Seconds during which all non-idle tasks were stalled at once. */
  full?: number;
}

/** Reports a file that exists but could not be read or parsed; the read continues. */
export type OnFileError = (kind: 'read' | 'parse', file: string, err: unknown) => void;

/** The open files of one cgroup, across the hierarchies it lives in. */
export class CgroupFiles {
  private readonly files = new Map<string, CachedFile>();
  /**
   * The files in the order the last read asked for them: a read asks for the same files in
   * the same order every time, so the slot at the cursor is nearly always the one wanted and
   * no `controller/name` key string is built per read (19,000 of them per collection at
   * 1000 containers).
   */
  private readonly order: Array<{ readonly controller: string; readonly name: string; readonly file: CachedFile }> = [];
  private cursor = 0;
  /** How many files returned content in the last read; 0 means the cgroup is gone. */
  found = 0;

  constructor(
    private readonly layout: Layout,
    private readonly path: string,
    private readonly reader: FileReader,
    private readonly onError: OnFileError,
  ) {}

  /** Starts a read of the cgroup: resets `found` and the cursor of the files' order. */
  begin(): void {
    this.found = 0;
    this.cursor = 0;
  }

  private file(controller: string, name: string): CachedFile | undefined {
    const slot = this.order[this.cursor];
    if (slot !== undefined && slot.name === name && slot.controller === controller) {
      this.cursor++;
      return slot.file;
    }
    const key = `${controller}/${name}`;
    let f = this.files.get(key);
    if (f === undefined) {
      const dir = controller === 'unified' ? this.layout.unified : this.layout.v1.get(controller);
      if (dir === null || dir === undefined) return undefined;
      f = new CachedFile(join(dir, this.path, name));
      this.files.set(key, f);
    }
    // The order changed (a file read only sometimes): remember the new one from here on.
    if (this.order.length > this.cursor) this.order.length = this.cursor;
    this.order.push({ controller, name, file: f });
    this.cursor = this.order.length;
    return f;
  }

  /** Reads `name` from the hierarchy of `controller` (`unified` for the v2 tree). */
  text(controller: string, name: string): string | undefined {
    const f = this.file(controller, name);
    if (f === undefined) return undefined;
    try {
      const t = this.reader.read(f);
      if (t !== undefined) this.found++;
      return t;
    } catch (err) {
      this.onError('read', f.path, err);
      return undefined;
    }
  }

  /** Reads and parses; a parse failure is reported and yields undefined. */
  parse<T>(controller: string, name: string, fn: (text: string, what: string) => T): T | undefined {
    const t = this.text(controller, name);
    if (t === undefined) return undefined;
    try {
      return fn(t, name);
    } catch (err) {
      this.onError('parse', join(this.path, name), err);
      return undefined;
    }
  }

  /** Whether the host has this controller's hierarchy. */
  has(controller: string): boolean {
    return controller === 'unified' ? this.layout.unified !== null : this.layout.v1.has(controller);
  }

  close(): void {
    for (const f of this.files.values()) this.reader.close(f);
    this.files.clear();
    this.order.length = 0;
    this.cursor = 0;
  }
}

/** A limit as cAdvisor reports it: 0 for unlimited (v2 `max`, v1's page-rounded 2^63), unset when unknown. */
function limit(v: number | null | undefined): number | undefined {
  if (v === undefined) return undefined;
  return v === null || v >= UNLIMITED ? 0 : v;
}

function readProcs(files: CgroupFiles, controller: string, s: CgroupStats): void {
  files.parse(controller, 'cgroup.procs', (t) => {
    s.processes = countLines(t);
    s.pid = firstPid(t);
    return true;
  });
}

/** Reads both v1 blkio files into one device map; each file counts only if it parses whole. */
function readDevices(files: CgroupFiles, s: CgroupStats, parts: ReadonlyArray<readonly [string, string, 'bytes' | 'ops' | 'all', (t: string, w: string, m: Map<string, DeviceIo>) => void]>): void {
  let devices: Map<string, DeviceIo> | undefined;
  for (const [controller, name, fields, parse] of parts) {
    const m = files.parse(controller, name, (t, w) => {
      const local = new Map<string, DeviceIo>();
      parse(t, w, local);
      return local;
    });
    if (m === undefined) continue;
    devices ??= new Map();
    mergeDevices(devices, m, fields);
  }
  if (devices) s.devices = devices;
}

function readPsi(files: CgroupFiles, controller: string, s: CgroupStats): void {
  const cpu = files.parse(controller, 'cpu.pressure', parsePressure);
  const memory = files.parse(controller, 'memory.pressure', parsePressure);
  const io = files.parse(controller, 'io.pressure', parsePressure);
  if (!cpu && !memory && !io) return;
  const sec = (p: { some?: number; full?: number } | undefined): Psi | undefined =>
    p && { some: p.some === undefined ? undefined : p.some / 1e6, full: p.full === undefined ? undefined : p.full / 1e6 };
  s.psi = { cpu: sec(cpu), memory: sec(memory), io: sec(io) };
}

function workingSet(usage: number | undefined, inactiveFile: number | undefined): number | undefined {
  if (usage === undefined) return undefined;
  return inactiveFile !== undefined && inactiveFile < usage ? usage - inactiveFile : inactiveFile === undefined ? usage : 0;
}

export function readV1(files: CgroupFiles, s: CgroupStats): void {
  const usage = files.parse('cpuacct', 'cpuacct.usage', parseSingle);
  if (usage !== undefined) s.cpuUsage = usage / 1e9;
  files.parse('cpuacct', 'cpuacct.stat', (t, w) =>
    parseFlatKeyed(t, w, (k, v) => {
      if (k === 'user') s.cpuUser = v / USER_HZ;
      else if (k === 'system') s.cpuSystem = v / USER_HZ;
    }),
  );
  files.parse('cpu', 'cpu.stat', (t, w) =>
    parseFlatKeyed(t, w, (k, v) => {
      if (k === 'nr_periods') s.cfsPeriods = v;
      else if (k === 'nr_throttled') s.cfsThrottledPeriods = v;
      else if (k === 'throttled_time') s.cfsThrottledSeconds = v / 1e9;
    }),
  );
  s.cpuShares = files.parse('cpu', 'cpu.shares', parseSingle);
  const quota = files.parse('cpu', 'cpu.cfs_quota_us', parseSingle);
  if (quota !== undefined && quota > 0) s.cpuQuota = quota;
  s.cpuPeriod = files.parse('cpu', 'cpu.cfs_period_us', parseSingle);

  s.memUsage = files.parse('memory', 'memory.usage_in_bytes', parseSingle);
  s.memMaxUsage = files.parse('memory', 'memory.max_usage_in_bytes', parseSingle);
  s.memLimit = limit(files.parse('memory', 'memory.limit_in_bytes', parseSingle));
  s.memReservation = limit(files.parse('memory', 'memory.soft_limit_in_bytes', parseSingle));
  s.memSwapLimit = limit(files.parse('memory', 'memory.memsw.limit_in_bytes', parseSingle));
  s.memFailcnt = files.parse('memory', 'memory.failcnt', parseSingle);
  files.parse('memory', 'memory.oom_control', (t, w) =>
    parseFlatKeyed(t, w, (k, v) => {
      if (k === 'oom_kill') s.oomKills = v;
    }),
  );
  files.parse('memory', 'memory.stat', (t, w) =>
    parseFlatKeyed(t, w, (k, v) => {
      switch (k) {
        case 'total_cache': s.memCache = v; break;
        case 'total_rss': s.memRss = v; break;
        case 'total_mapped_file': s.memMappedFile = v; break;
        case 'total_swap': s.memSwap = v; break;
        case 'total_inactive_file': s.memInactiveFile = v; break;
        case 'total_active_file': s.memActiveFile = v; break;
        case 'pgfault': s.pgfault = v; break;
        case 'pgmajfault': s.pgmajfault = v; break;
        case 'total_pgfault': s.pgfaultHierarchy = v; break;
        case 'total_pgmajfault': s.pgmajfaultHierarchy = v; break;
        default: break;
      }
    }),
  );
  s.memWorkingSet = workingSet(s.memUsage, s.memInactiveFile);

  // The throttle files count every bio the cgroup issues, whatever the I/O scheduler; the
  // CFQ/BFQ ones stay empty under mq-deadline and none.
  readDevices(files, s, [
    ['blkio', 'blkio.throttle.io_service_bytes_recursive', 'bytes', (t, w, m) => parseBlkioV1(t, w, 'bytes', m)],
    ['blkio', 'blkio.throttle.io_serviced_recursive', 'ops', (t, w, m) => parseBlkioV1(t, w, 'ops', m)],
  ]);

  s.pidsCurrent = files.parse('pids', 'pids.current', parseSingle);
  s.pidsMax = limit(files.parse('pids', 'pids.max', parseLimit));
  readProcs(files, files.has('pids') ? 'pids' : 'memory', s);

  // Hybrid hosts keep PSI in the unified tree; some kernels also expose it in v1 with psi=1.
  readPsi(files, 'unified', s);
}

/**
 * @param rootUsage for the root cgroup (`isRoot`), the machine's memory in use (MemTotal -
 * MemFree), since the v2 root has no memory.current.
 */
export function readV2(files: CgroupFiles, s: CgroupStats, isRoot: boolean, rootUsage?: number): void {
  const c = 'unified';
  files.parse(c, 'cpu.stat', (t, w) =>
    parseFlatKeyed(t, w, (k, v) => {
      switch (k) {
        case 'usage_usec': s.cpuUsage = v / 1e6; break;
        case 'user_usec': s.cpuUser = v / 1e6; break;
        case 'system_usec': s.cpuSystem = v / 1e6; break;
        case 'nr_periods': s.cfsPeriods = v; break;
        case 'nr_throttled': s.cfsThrottledPeriods = v; break;
        case 'throttled_usec': s.cfsThrottledSeconds = v / 1e6; break;
        default: break;
      }
    }),
  );
  if (!isRoot) {
    const max = files.parse(c, 'cpu.max', parseCpuMax);
    if (max) {
      if (max.quota !== null) s.cpuQuota = max.quota;
      s.cpuPeriod = max.period;
    }
    const weight = files.parse(c, 'cpu.weight', parseSingle);
    // cAdvisor reports v2 weights as v1 shares with the conversion runc applies in reverse.
    if (weight !== undefined) s.cpuShares = Math.floor(2 + ((weight - 1) * 262142) / 9999);
    s.memUsage = files.parse(c, 'memory.current', parseSingle);
    s.memMaxUsage = files.parse(c, 'memory.peak', parseSingle);
    s.memLimit = limit(files.parse(c, 'memory.max', parseLimit));
    s.memReservation = limit(files.parse(c, 'memory.low', parseLimit));
    s.memSwap = files.parse(c, 'memory.swap.current', parseSingle);
    s.memSwapLimit = limit(files.parse(c, 'memory.swap.max', parseLimit));
    files.parse(c, 'memory.events', (t, w) => {
      const ev: Record<string, number> = {};
      parseFlatKeyed(t, w, (k, v) => {
        ev[k] = v;
      });
      s.memEvents = ev;
      s.oomKills = ev['oom_kill'];
      // runc reports the `max` event (allocations that hit memory.max) as v1's failcnt.
      s.memFailcnt = ev['max'];
    });
    s.pidsCurrent = files.parse(c, 'pids.current', parseSingle);
    s.pidsMax = limit(files.parse(c, 'pids.max', parseLimit));
  } else if (rootUsage !== undefined) {
    // The v2 root has no memory.current; runc and cAdvisor take the machine's usage instead.
    s.memUsage = rootUsage;
  }
  files.parse(c, 'memory.stat', (t, w) =>
    parseFlatKeyed(t, w, (k, v) => {
      switch (k) {
        case 'anon': s.memRss = v; break;
        case 'file': s.memCache = v; break;
        case 'file_mapped': s.memMappedFile = v; break;
        case 'kernel': s.memKernel = v; break;
        case 'inactive_file': s.memInactiveFile = v; break;
        case 'active_file': s.memActiveFile = v; break;
        case 'pgfault': s.pgfault = v; s.pgfaultHierarchy = v; break;
        case 'pgmajfault': s.pgmajfault = v; s.pgmajfaultHierarchy = v; break;
        default: break;
      }
    }),
  );
  s.memWorkingSet = workingSet(s.memUsage, s.memInactiveFile);
  readDevices(files, s, [[c, 'io.stat', 'all', parseIoStat]]);
  readProcs(files, c, s);
  readPsi(files, c, s);
}
