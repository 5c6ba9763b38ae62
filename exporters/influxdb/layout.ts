/**
 * How a snapshot becomes InfluxDB points. Two layouts:
 *
 * - `telegraf`: the measurements, tags and fields of Telegraf's `inputs.docker`
 *   (`docker_container_cpu`, `docker_container_mem`, `docker_container_net`,
 *   `docker_container_blkio`, `docker_container_status`, `docker`), with Telegraf's units
 *   (CPU times in nanoseconds, bytes, integer fields), so InfluxQL written for Telegraf's
 *   data works on lookout's. Metrics Telegraf has no field for are written as in the
 *   `prometheus` layout, with Telegraf's tags. The table is in README.md.
 * - `prometheus`: one measurement per metric, named as the metric, one float field
 *   `value`, every label a tag: what InfluxDB's own Prometheus remote-write endpoint stores.
 *
 * Every point also carries the `host` tag (the node, as Telegraf adds it) and the configured
 * static tags.
 */
import type { Family, Labels, MetricDef, Snapshot } from '../../src/model.js';
import { ProtoWriter } from '../../src/protobuf.js';
import { containerIdOf, splitImage } from '../../src/push.js';
import { groupByTarget, type TargetSeries } from '../../src/targets.js';
import { escapeKey, escapeMeasurement, fieldFloat, fieldInt, fieldString, intField } from './lineprotocol.js';

export type Layout = 'telegraf' | 'prometheus';

export interface LayoutOptions {
  readonly layout: Layout;
  /** The `host` (and Telegraf's `engine_host`) tag. */
  readonly host: string;
  /** Static tags added to every point. */
  readonly tags: Readonly<Record<string, string>>;
  /** telegraf layout: also write raw cgroups (systemd services, slices), tagged `cgroup`. */
  readonly rawCgroups: boolean;
}

/** Telegraf's `container_image` and `container_version`: the repository and the tag, "unknown" without one. */
export function parseImage(image: string): { name: string; version: string } {
  const { name, tag } = splitImage(image);
  return { name, version: tag ?? 'unknown' };
}

const NS = 1e9;

/** Where a metric goes in the telegraf layout: measurement, field, scale and integer or not. */
interface Target {
  readonly measurement: string;
  readonly field: string;
  /** Multiplier from the metric's unit to Telegraf's (seconds to nanoseconds). */
  readonly scale?: number;
  readonly int: boolean;
  /** The per-series tag this measurement adds (cpu, network, device). */
  readonly tag?: readonly [string, string];
}

type Mapper = (extra: Labels | null, ctx: SnapshotIndex) => Target | null;

const cpuTag = (extra: Labels | null): readonly [string, string] => {
  const cpu = extra?.get('cpu') ?? 'total';
  if (cpu === 'total') return ['cpu', 'cpu-total'];
  const n = /^cpu0*(\d+)$/.exec(cpu);
  return ['cpu', n ? `cpu${n[1]}` : cpu];
};
const cpu = (field: string, scale?: number): Mapper => (extra) => ({ measurement: 'docker_container_cpu', field, scale, int: true, tag: cpuTag(extra) });
const mem = (field: string): Mapper => () => ({ measurement: 'docker_container_mem', field, int: true });
const net = (field: string): Mapper => (extra) => ({ measurement: 'docker_container_net', field, int: true, tag: ['network', extra?.get('interface') ?? ''] });
const status = (field: string, scale?: number): Mapper => () => ({ measurement: 'docker_container_status', field, scale, int: true });
/** Telegraf tags block devices `MAJ:MIN`; lookout's fs metrics carry the device name, mapped back through the blkio family. */
const blkio = (field: string): Mapper => (extra, ix) => {
  const major = extra?.get('major');
  const minor = extra?.get('minor');
  const dev = major !== undefined && minor !== undefined ? `${major}:${minor}` : ix.deviceNumbers.get(extra?.get('device') ?? '') ?? extra?.get('device') ?? '';
  return { measurement: 'docker_container_blkio', field, int: true, tag: ['device', dev] };
};
const faults: Mapper = (extra) => {
  const type = extra?.get('failure_type');
  const scope = extra?.get('scope');
  if (type !== 'pgfault' && type !== 'pgmajfault') return null;
  return { measurement: 'docker_container_mem', field: scope === 'hierarchy' ? `total_${type}` : type, int: true };
};

/** Catalogue metric name to its Telegraf home. A metric not listed is written in the generic layout. */
export const TELEGRAF: Readonly<Record<string, Mapper>> = {
  container_cpu_usage_seconds_total: cpu('usage_total', NS),
  container_cpu_user_seconds_total: cpu('usage_in_usermode', NS),
  container_cpu_system_seconds_total: cpu('usage_in_kernelmode', NS),
  container_cpu_cfs_periods_total: cpu('throttling_periods'),
  container_cpu_cfs_throttled_periods_total: cpu('throttling_throttled_periods'),
  container_cpu_cfs_throttled_seconds_total: cpu('throttling_throttled_time', NS),
  container_memory_working_set_bytes: mem('usage'),
  container_memory_max_usage_bytes: mem('max_usage'),
  container_spec_memory_limit_bytes: mem('limit'),
  container_memory_rss: mem('rss'),
  container_memory_cache: mem('cache'),
  container_memory_mapped_file: mem('mapped_file'),
  container_memory_total_active_file_bytes: mem('total_active_file'),
  container_memory_total_inactive_file_bytes: mem('total_inactive_file'),
  container_memory_failcnt: mem('fail_count'),
  container_memory_failures_total: faults,
  container_network_receive_bytes_total: net('rx_bytes'),
  container_network_receive_packets_total: net('rx_packets'),
  container_network_receive_errors_total: net('rx_errors'),
  container_network_receive_packets_dropped_total: net('rx_dropped'),
  container_network_transmit_bytes_total: net('tx_bytes'),
  container_network_transmit_packets_total: net('tx_packets'),
  container_network_transmit_errors_total: net('tx_errors'),
  container_network_transmit_packets_dropped_total: net('tx_dropped'),
  container_blkio_device_usage_total: (extra, ix) => {
    const op = (extra?.get('operation') ?? '').toLowerCase();
    return op === '' ? null : blkio(`io_service_bytes_recursive_${op}`)(extra, ix);
  },
  container_fs_reads_bytes_total: blkio('io_service_bytes_recursive_read'),
  container_fs_writes_bytes_total: blkio('io_service_bytes_recursive_write'),
  container_fs_reads_total: blkio('io_serviced_recursive_read'),
  container_fs_writes_total: blkio('io_serviced_recursive_write'),
  container_start_time_seconds: status('started_at', NS),
  container_last_terminated_timestamp_seconds: status('finished_at', NS),
  container_last_terminated_exit_code: status('exitcode'),
  container_restarts_total: status('restart_count'),
  container_last_terminated_reason: () => ({ measurement: 'docker_container_status', field: 'oomkilled', int: false }),
};

/** Engine-wide metrics, in Telegraf's `docker` measurement. */
const ENGINE: Readonly<Record<string, string>> = {
  machine_cpu_cores: 'n_cpus',
  machine_memory_bytes: 'memory_total',
};
const RUNTIME_STATES: Readonly<Record<string, string>> = {
  running: 'n_containers_running',
  exited: 'n_containers_stopped',
  paused: 'n_containers_paused',
};

/** What one snapshot knows across families, for the fields Telegraf derives. */
interface SnapshotIndex {
  /** Device name to `MAJ:MIN`, from the blkio family's labels. */
  readonly deviceNumbers: Map<string, string>;
  readonly machineMemory: number | undefined;
}

function index(snapshot: Snapshot): SnapshotIndex {
  const deviceNumbers = new Map<string, string>();
  let machineMemory: number | undefined;
  for (const f of snapshot.families) {
    if (f.def.name === 'container_blkio_device_usage_total') {
      for (const e of f.extras) {
        const d = e?.get('device');
        const ma = e?.get('major');
        const mi = e?.get('minor');
        if (d !== undefined && ma !== undefined && mi !== undefined) deviceNumbers.set(d, `${ma}:${mi}`);
      }
    } else if (f.def.name === 'machine_memory_bytes') machineMemory = f.values[0];
  }
  return { deviceNumbers, machineMemory };
}

/** One tag, escaped: its key (for order and clashes), `,key=value`, and its precedence on a clash (lower wins). */
interface TagEntry {
  readonly k: string;
  readonly frag: string;
  readonly rank: number;
}

/** Precedence on a tag clash: `host`, then the series' own tags, then the measurement's tag, then configured static tags. */
const RANK = { host: 0, own: 1, extra: 2, static: 3 } as const;

function tagEntries(pairs: ReadonlyArray<readonly [string, string]>, rank: number): TagEntry[] {
  const out: TagEntry[] = [];
  for (const [k, v] of pairs) {
    if (k === '' || v === '') continue; // InfluxDB has no empty tag values: leave the tag out
    const ek = escapeKey(k);
    const ev = escapeKey(v);
    if (ek !== '' && ev !== '') out.push({ k, frag: `,${ek}=${ev}`, rank });
  }
  return out;
}

/** Sorted by key (InfluxDB's recommended order), one entry per key: the one of lowest rank. */
function sortTags(list: TagEntry[]): TagEntry[] {
  list.sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : a.rank - b.rank));
  return list.filter((e, i) => i === 0 || (list[i - 1] as TagEntry).k !== e.k);
}

/** A sorted tag set and its rendering. */
interface TagSet {
  readonly entries: TagEntry[];
  readonly text: string;
}

function tagSet(entries: TagEntry[]): TagSet {
  const sorted = sortTags(entries);
  return { entries: sorted, text: sorted.map((e) => e.frag).join('') };
}

/** `,k=v...` of two sorted tag sets merged, a clash going to the lower rank. */
function mergeTags(a: TagSet, b: TagSet | undefined): string {
  if (b === undefined || b.entries.length === 0) return a.text;
  let out = '';
  let i = 0;
  let j = 0;
  const x = a.entries;
  const y = b.entries;
  while (i < x.length || j < y.length) {
    const l = x[i];
    const r = y[j];
    if (r === undefined || (l !== undefined && l.k < r.k)) {
      out += (l as TagEntry).frag;
      i++;
    } else if (l === undefined || r.k < l.k) {
      out += r.frag;
      j++;
    } else {
      out += l.rank <= r.rank ? l.frag : r.frag;
      i++;
      j++;
    }
  }
  return out;
}

/** A target's tags in the telegraf layout, computed once per target. */
interface TelegrafTarget extends TargetSeries {
  readonly tags: TagSet;
  readonly containerId: string | undefined;
  /** Written at all (raw cgroups only with raw_cgroups). */
  readonly keep: boolean;
  /** How its points are written, while its series stay the same (see {@link Plan}). */
  plan?: Plan;
  /** The target itself (a weak map's value may hold its key). */
  readonly labels: Labels;
}

/** A point of the telegraf layout being assembled. */
interface Assembling {
  readonly prefix: string;
  readonly fields: Map<string, string>;
}

/** What the derived fields need of one container. */
interface Derived {
  usage?: number;
  limit?: number;
  cpu?: number;
  started?: number;
  finished?: number;
}


/** How a planned field gets its value. */
const enum Kind {
  /** The last of `srcs` that is a valid integer (scaled). */
  Int,
  /** The last of `srcs` that is a valid float (scaled). */
  Float,
  /** `text`, whatever the values. */
  Const,
  /** The running sum of `srcs` (Telegraf's `n_containers`): the last valid total. */
  Sum,
  /** `docker_container_mem.limit`: the limit, or the host's memory for an unlimited container. */
  MemLimit,
  /** `docker_container_mem.usage_percent`. */
  MemPercent,
  /** `docker_container_cpu.usage_percent`, from the previous push's CPU usage. */
  CpuPercent,
  /** `docker_container_status.uptime_ns`. */
  Uptime,
}

/** A field of a planned point: its key (`,name=`, escaped) and where its value comes from. */
interface PlanField {
  readonly key: Buffer;
  kind: Kind;
  /** Series, as indexes in the target's series list, whose values it takes (in order). */
  readonly srcs: number[];
  readonly scale: number;
  text?: Buffer;
}

interface PlanPoint {
  /** `measurement,tags ` and, for containers, `container_id="..."` (then every field has its comma). */
  readonly prefix: Buffer;
  readonly hasId: boolean;
  readonly fields: PlanField[];
}

/**
 * A target's points in the telegraf layout worked out once: which series fill which field of
 * which point, in Telegraf's order, with every tag and key escaped and encoded. It holds while
 * the target's series (metric and label objects, in order) are the same as when it was made,
 * which is the case from one snapshot to the next unless a container gains or loses series;
 * then it is made again.
 */
interface Plan {
  readonly defs: MetricDef[];
  readonly extras: (Labels | null)[];
  readonly epoch: number;
  readonly points: PlanPoint[];
  /** Series with no Telegraf field, as in the prometheus layout: `measurement,tags value=`. */
  readonly generic: Array<{ readonly prefix: Buffer; readonly src: number }>;
  readonly usage: number;
  readonly limit: number;
  readonly cpu: number;
  readonly started: number;
  readonly finished: number;
}

/** Writes an ASCII string (a number, as String() prints it) into the writer. */
function ascii(out: ProtoWriter, s: string): void {
  out.ensure(s.length);
  const buf = out.buf;
  let p = out.pos;
  for (let i = 0; i < s.length; i++) buf[p++] = s.charCodeAt(i);
  out.pos = p;
}

/**
 * Writes an integral `v` in decimal as String() prints it, without making the string: most
 * fields are integers, and a string per field was a good part of the encoding's garbage.
 * Past 2^53 (where doubles are no longer every integer) String() does it.
 */
function integer(out: ProtoWriter, v: number): void {
  if (v > Number.MAX_SAFE_INTEGER || v < -Number.MAX_SAFE_INTEGER) {
    ascii(out, String(v));
    return;
  }
  out.ensure(17);
  const buf = out.buf;
  let p = out.pos;
  if (v < 0) {
    buf[p++] = 45; // '-'
    v = -v;
  }
  // Below 2^53 the high part (over 10^9) is below 2^24 and the low part below 2^30: int32
  // arithmetic for both, which V8 does far faster than a double's % and floor.
  const hi = Math.floor(v / 1e9);
  if (hi > 0) {
    p = digits(buf, p, hi);
    let lo = (v - hi * 1e9) | 0;
    for (let q = p + 8; q >= p; q--) {
      const d = (lo / 10) | 0;
      buf[q] = 48 + lo - d * 10;
      lo = d;
    }
    p += 9;
  } else p = digits(buf, p, v | 0);
  out.pos = p;
}

/** Writes `v` (0 to 2^31 - 1) in decimal at `p`; returns the position after it. */
function digits(buf: Buffer, p: number, v: number): number {
  let n = 1;
  for (let x = v; x >= 10; x = (x / 10) | 0) n++;
  const end = p + n;
  let q = end;
  do {
    const d = (v / 10) | 0;
    buf[--q] = 48 + v - d * 10;
    v = d;
  } while (v > 0);
  return end;
}

/** An integer field's value: `42i` (fieldInt's text). `v` must pass {@link intField}. */
function intValue(out: ProtoWriter, v: number): void {
  integer(out, Math.round(v) + 0); // + 0 turns -0 into 0
  out.ensure(1);
  out.buf[out.pos++] = 105; // 'i'
}

/** A float field's value (fieldFloat's text): an integral value as its digits, else as String() prints it. `v` must be finite. */
function floatValue(out: ProtoWriter, v: number): void {
  if (Number.isInteger(v)) integer(out, v + 0);
  else ascii(out, String(v));
}

/** Copies `bytes` from offset `from` (a key without its leading comma, say). */
function rawFrom(out: ProtoWriter, bytes: Buffer, from: number): void {
  out.ensure(bytes.length - from);
  const buf = out.buf;
  let p = out.pos;
  for (let i = from; i < bytes.length; i++) buf[p++] = bytes[i] as number;
  out.pos = p;
}

const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');

/** One metric's generic-layout prefixes (`measurement,tags value=`), by target and by target then metric labels. */
interface GenericCache {
  readonly measurement: string;
  readonly plain: WeakMap<Labels, Buffer>;
  readonly withExtra: WeakMap<Labels, WeakMap<Labels, Buffer>>;
}

/** A line of line protocol (without the timestamp) and the field values it holds. */
export type Line = readonly [text: string, items: number];

/**
 * Turns snapshots into lines of line protocol, target by target so that the caller can
 * make batches (and yield to the event loop) as it goes. Keeps, across snapshots, the last
 * CPU usage of each container (for Telegraf's `usage_percent`); escaped tag sets are cached
 * per label set (the collectors reuse one Labels object per container).
 */
export class PointBuilder {
  private readonly ownTags = new WeakMap<Labels, TagSet>();
  private readonly extraTags = new WeakMap<Labels, TagSet>();
  private readonly measurementTags = new Map<string, TagSet>();
  private readonly telegrafTargets = new WeakMap<Labels, TelegrafTarget>();
  private readonly measurements = new Map<string, string>();
  private prevCpu = new Map<string, { t: number; v: number }>();
  private readonly generics = new Map<string, GenericCache>();
  /** Bumped when the block devices' numbers change, which the blkio points' tags depend on. */
  private epoch = 0;
  /** Snapshots written, to tell a target's series of this snapshot from the last one's. */
  private round = 0;
  private deviceNumbers = new Map<string, string>();
  private readonly host: TagEntry[];
  private readonly statics: TagEntry[];
  private readonly engineTags: TagSet;

  constructor(private readonly opts: LayoutOptions) {
    this.host = tagEntries([['host', opts.host]], RANK.host);
    this.statics = tagEntries(Object.entries(opts.tags), RANK.static);
    this.engineTags = tagSet([...this.host, ...this.statics, ...tagEntries([['engine_host', opts.host]], RANK.own)]);
  }

  private measurement(name: string): string {
    let m = this.measurements.get(name);
    if (m === undefined) this.measurements.set(name, (m = escapeMeasurement(name)));
    return m;
  }

  /** The host, a target's own labels and the static tags (the generic layout). */
  private own(target: Labels): TagSet {
    let t = this.ownTags.get(target);
    if (t === undefined) this.ownTags.set(target, (t = tagSet([...this.host, ...tagEntries(target.pairs, RANK.own), ...this.statics])));
    return t;
  }

  private extra(labels: Labels | null | undefined): TagSet | undefined {
    if (!labels) return undefined;
    let t = this.extraTags.get(labels);
    if (t === undefined) this.extraTags.set(labels, (t = tagSet(tagEntries(labels.pairs, RANK.extra))));
    return t;
  }

  private measurementTag(tag: readonly [string, string]): TagSet {
    const key = `${tag[0]}\0${tag[1]}`;
    let t = this.measurementTags.get(key);
    if (t === undefined) this.measurementTags.set(key, (t = tagSet(tagEntries([tag], RANK.extra))));
    return t;
  }

  /** Every line of a snapshot, in batches' order; the timestamp is added by the caller. */
  lines(snapshot: Snapshot): Iterable<Line> {
    return this.opts.layout === 'telegraf' ? this.telegraf(snapshot) : this.generic(snapshot);
  }

  /**
   * Writes a snapshot's lines (without timestamps and newlines) into `out`, one at a time,
   * yielding after each the number of field values it holds: the same lines as {@link lines},
   * but from tags, keys and plans encoded once and kept across snapshots, so that a line costs
   * little more than formatting its numbers.
   */
  write(snapshot: Snapshot, out: ProtoWriter): Iterable<number> {
    return this.opts.layout === 'telegraf' ? this.writeTelegraf(snapshot, out) : this.writeGeneric(snapshot, out);
  }

  private genericPrefix(name: string, target: Labels, extra: Labels | null | undefined): Buffer {
    let c = this.generics.get(name);
    if (c === undefined) this.generics.set(name, (c = { measurement: this.measurement(name), plain: new WeakMap(), withExtra: new WeakMap() }));
    const text = (): Buffer => utf8(`${c.measurement}${mergeTags(this.own(target), this.extra(extra))} value=`);
    if (!extra) {
      let b = c.plain.get(target);
      if (b === undefined) c.plain.set(target, (b = text()));
      return b;
    }
    let m = c.withExtra.get(target);
    if (m === undefined) c.withExtra.set(target, (m = new WeakMap()));
    let b = m.get(extra);
    if (b === undefined) m.set(extra, (b = text()));
    return b;
  }

  private *writeGeneric(snapshot: Snapshot, out: ProtoWriter): Iterable<number> {
    for (const f of snapshot.families) {
      const name = f.def.name;
      for (let i = 0; i < f.values.length; i++) {
        const v = f.values[i] as number;
        if (!Number.isFinite(v)) continue;
        out.raw(this.genericPrefix(name, f.targets[i] as Labels, f.extras[i]));
        floatValue(out, v);
        yield 1;
      }
    }
  }

  /** The plan of a target's points (see {@link Plan}), mirroring {@link telegraf} series by series. */
  private makePlan(target: Labels, tt: TelegrafTarget, families: readonly Family[], list: number[], count: number, ix: SnapshotIndex): Plan {
    const points = new Map<string, { point: PlanPoint; byKey: Map<string, PlanField> }>();
    const generic: Array<{ prefix: Buffer; src: number }> = [];
    const defs: MetricDef[] = [];
    const extras: (Labels | null)[] = [];
    let usage = -1;
    let limit = -1;
    let cpu = -1;
    let started = -1;
    let finished = -1;
    const point = (measurement: string, tag?: readonly [string, string], tags: TagSet = tt.tags): Map<string, PlanField> => {
      const key = tag ? `${measurement}\0${tag[0]}\0${tag[1]}` : measurement;
      let p = points.get(key);
      if (p === undefined) {
        const head = `${this.measurement(measurement)}${mergeTags(tags, tag ? this.measurementTag(tag) : undefined)} `;
        const hasId = tt.containerId !== undefined && measurement !== 'docker';
        const prefix = utf8(hasId ? `${head}container_id=${fieldString(tt.containerId as string)}` : head);
        p = { point: { prefix, hasId, fields: [] }, byKey: new Map() };
        points.set(key, p);
      }
      return p.byKey;
    };
    const field = (fields: Map<string, PlanField>, name: string, kind: Kind, src: number, scale = 1): PlanField => {
      let f = fields.get(name);
      if (f === undefined) {
        f = { key: utf8(`,${name}=`), kind, srcs: [], scale };
        fields.set(name, f);
      }
      if (src >= 0) f.srcs.push(src);
      return f;
    };
    let runtimes = new Map<string, PlanField>();
    for (let n = 0; n < count; n += 2) {
      const f = families[list[n] as number] as Family;
      const i = list[n + 1] as number;
      const src = n >> 1;
      const name = f.def.name;
      const extra = f.extras[i] ?? null;
      defs.push(f.def);
      extras.push(extra);
      const engineField = ENGINE[name];
      if (engineField !== undefined) {
        field(point('docker', undefined, this.engineTags), engineField, Kind.Int, src);
        continue;
      }
      if (name === 'container_runtime_containers') {
        const runtime = extra?.get('runtime') ?? '';
        const fields = point('docker', ['runtime', runtime], this.engineTags);
        const state = RUNTIME_STATES[extra?.get('state') ?? ''];
        if (state !== undefined) field(fields, state, Kind.Int, src);
        let total = runtimes.get(runtime);
        if (total === undefined) runtimes.set(runtime, (total = field(fields, 'n_containers', Kind.Sum, -1)));
        total.srcs.push(src);
        continue;
      }
      const m = target.get('id') === undefined ? undefined : TELEGRAF[name]?.(extra, ix);
      if (m === undefined || m === null) {
        generic.push({ prefix: utf8(`${this.measurement(name)}${mergeTags(tt.tags, this.extra(extra))} value=`), src });
        continue;
      }
      const fields = point(m.measurement, m.tag);
      if (name === 'container_last_terminated_reason') {
        const pf = field(fields, 'oomkilled', Kind.Const, src);
        pf.kind = Kind.Const;
        pf.text = utf8(extra?.get('reason') === 'OOMKilled' ? 'true' : 'false');
      } else field(fields, m.field, m.int ? Kind.Int : Kind.Float, src, m.scale ?? 1);
      if (name === 'container_memory_working_set_bytes') usage = src;
      else if (name === 'container_spec_memory_limit_bytes') limit = src;
      else if (name === 'container_cpu_usage_seconds_total' && (extra?.get('cpu') ?? 'total') === 'total') cpu = src;
      else if (name === 'container_start_time_seconds') started = src;
      else if (name === 'container_last_terminated_timestamp_seconds') finished = src;
    }
    runtimes = new Map();
    if (limit >= 0 || usage >= 0) {
      const fields = point('docker_container_mem');
      if (limit >= 0) field(fields, 'limit', Kind.MemLimit, -1).kind = Kind.MemLimit;
      field(fields, 'usage_percent', Kind.MemPercent, -1);
    }
    if (cpu >= 0) field(point('docker_container_cpu', ['cpu', 'cpu-total']), 'usage_percent', Kind.CpuPercent, -1);
    if (started >= 0) field(point('docker_container_status'), 'uptime_ns', Kind.Uptime, -1);
    const planned: PlanPoint[] = [];
    for (const { point: p, byKey } of points.values()) {
      p.fields.push(...byKey.values());
      planned.push(p);
    }
    return { defs, extras, epoch: this.epoch, points: planned, generic, usage, limit, cpu, started, finished };
  }

  /** Whether a plan still describes a target's series. */
  private planHolds(plan: Plan, families: readonly Family[], list: number[], count: number): boolean {
    if (plan.epoch !== this.epoch || plan.defs.length * 2 !== count) return false;
    for (let n = 0, k = 0; n < count; n += 2, k++) {
      const f = families[list[n] as number] as Family;
      if (f.def !== plan.defs[k] || (f.extras[list[n + 1] as number] ?? null) !== plan.extras[k]) return false;
    }
    return true;
  }

  private *writeTelegraf(snapshot: Snapshot, out: ProtoWriter): Iterable<number> {
    const ix = index(snapshot);
    if (!sameMap(ix.deviceNumbers, this.deviceNumbers)) {
      this.deviceNumbers = ix.deviceNumbers;
      this.epoch++;
    }
    const round = ++this.round;
    const order = groupByTarget(snapshot, round, (target) => this.telegrafTarget(target));
    const families = snapshot.families;
    const nextCpu = new Map<string, { t: number; v: number }>();
    const time = snapshot.time;
    for (const tt of order) {
      if (!tt.keep) continue;
      const target = tt.labels;
      const list = tt.series;
      let plan = tt.plan;
      if (plan === undefined || !this.planHolds(plan, families, list, tt.count)) tt.plan = plan = this.makePlan(target, tt, families, list, tt.count, ix);
      const value = (src: number): number => (families[list[src * 2] as number] as Family).values[list[src * 2 + 1] as number] as number;
      const usage = plan.usage >= 0 ? value(plan.usage) : undefined;
      const limitV = plan.limit >= 0 ? value(plan.limit) : undefined;
      let prev: { t: number; v: number } | undefined;
      let cpuV: number | undefined;
      if (plan.cpu >= 0) {
        cpuV = value(plan.cpu);
        prev = this.prevCpu.get(target.text);
        nextCpu.set(target.text, { t: time, v: cpuV });
      }
      for (const p of plan.points) {
        const start = out.pos;
        out.raw(p.prefix);
        let count = p.hasId ? 1 : 0;
        for (const f of p.fields) {
          // The value to write, NaN for none (NaN is never written), and whether as a float.
          let v = Number.NaN;
          let float = false;
          switch (f.kind) {
            case Kind.Int:
              for (const src of f.srcs) {
                const x = value(src) * f.scale;
                if (intField(x)) v = x;
              }
              break;
            case Kind.Float:
              float = true;
              for (const src of f.srcs) {
                const x = value(src) * f.scale;
                if (Number.isFinite(x)) v = x;
              }
              break;
            case Kind.Const:
              break;
            case Kind.Sum: {
              let total = 0;
              for (const src of f.srcs) {
                total += value(src);
                if (intField(total)) v = total;
              }
              break;
            }
            case Kind.MemLimit: {
              for (const src of f.srcs) {
                const x = value(src);
                if (intField(x)) v = x;
              }
              const limit = limitV === 0 || limitV === undefined ? ix.machineMemory : limitV;
              if (limit !== undefined && limitV !== undefined && intField(limit)) v = limit;
              break;
            }
            case Kind.MemPercent: {
              float = true;
              const limit = limitV === 0 || limitV === undefined ? ix.machineMemory : limitV;
              if (limit !== undefined && limit > 0 && usage !== undefined) v = (usage / limit) * 100;
              break;
            }
            case Kind.CpuPercent:
              float = true;
              if (prev !== undefined && cpuV !== undefined && time > prev.t && cpuV >= prev.v) v = ((cpuV - prev.v) / ((time - prev.t) / 1000)) * 100;
              break;
            case Kind.Uptime: {
              const started = value(plan.started);
              if (started > 0) {
                const finished = plan.finished >= 0 ? value(plan.finished) : undefined;
                const end = finished !== undefined && finished > started ? finished : time / 1000;
                if (end >= started && intField((end - started) * NS)) v = (end - started) * NS;
              }
              break;
            }
          }
          if (f.kind === Kind.Const) {
            if (f.text === undefined) continue;
            if (count === 0) rawFrom(out, f.key, 1);
            else out.raw(f.key);
            out.raw(f.text);
          } else {
            if (float ? !Number.isFinite(v) : Number.isNaN(v)) continue;
            if (count === 0) rawFrom(out, f.key, 1);
            else out.raw(f.key);
            if (float) floatValue(out, v);
            else intValue(out, v);
          }
          count++;
        }
        if (count === 0) {
          out.pos = start;
          continue;
        }
        yield count;
        // A walk started meanwhile has taken over the targets' series lists: this one ends.
        if (this.round !== round) return;
      }
      for (const g of plan.generic) {
        const v = value(g.src);
        if (!Number.isFinite(v)) continue;
        out.raw(g.prefix);
        floatValue(out, v);
        yield 1;
        if (this.round !== round) return;
      }
    }
    this.prevCpu = nextCpu;
  }

  private *generic(snapshot: Snapshot): Iterable<Line> {
    for (const f of snapshot.families) {
      const m = this.measurement(f.def.name);
      for (let i = 0; i < f.values.length; i++) {
        const line = this.genericLine(m, this.own(f.targets[i] as Labels), f.extras[i], f.values[i] as number);
        if (line !== undefined) yield line;
      }
    }
  }

  private genericLine(measurement: string, tags: TagSet, extra: Labels | null | undefined, value: number): Line | undefined {
    const v = fieldFloat(value);
    return v === undefined ? undefined : [`${measurement}${mergeTags(tags, this.extra(extra))} value=${v}`, 1];
  }

  private telegrafTarget(target: Labels): TelegrafTarget {
    let t = this.telegrafTargets.get(target);
    if (t !== undefined) return t;
    const id = target.get('id');
    const image = target.get('image') ?? '';
    const own: Array<[string, string]> = [];
    let keep = true;
    let cid: string | undefined;
    if (id === undefined) {
      // machine-level: the host tag only
    } else if (image !== '') {
      const { name, version } = parseImage(image);
      own.push(['engine_host', this.opts.host], ['container_name', target.get('name') ?? ''], ['container_image', name], ['container_version', version]);
      // Kubernetes identity as Telegraf shows it: the Docker labels the kubelet sets, as tags.
      const k8s: ReadonlyArray<readonly [string, string]> = [['namespace', 'io.kubernetes.pod.namespace'], ['pod', 'io.kubernetes.pod.name'], ['container', 'io.kubernetes.container.name']];
      for (const [label, tag] of k8s) {
        const v = target.get(label);
        if (v !== undefined) own.push([tag, v]);
      }
      for (const [k, v] of target.pairs) if (k.startsWith('container_label_')) own.push([k.slice('container_label_'.length), v]);
      cid = containerIdOf(id) ?? target.get('name');
    } else {
      keep = this.opts.rawCgroups;
      own.push(['engine_host', this.opts.host], ['cgroup', id]);
    }
    t = { tags: tagSet([...this.host, ...tagEntries(own, RANK.own), ...this.statics]), containerId: cid, keep, labels: target, round: -1, series: [], count: 0 };
    this.telegrafTargets.set(target, t);
    return t;
  }

  private *telegraf(snapshot: Snapshot): Iterable<Line> {
    const ix = index(snapshot);
    // The snapshot is family by family; Telegraf's points hold a container's fields of many
    // families. First the series of each target (cheap), then target by target.
    const byTarget = new Map<Labels, number[]>();
    const families = snapshot.families;
    families.forEach((f, fi) => {
      for (let i = 0; i < f.values.length; i++) {
        const t = f.targets[i] as Labels;
        let list = byTarget.get(t);
        if (list === undefined) byTarget.set(t, (list = []));
        list.push(fi, i);
      }
    });
    const nextCpu = new Map<string, { t: number; v: number }>();
    for (const [target, list] of byTarget) {
      const tt = this.telegrafTarget(target);
      if (!tt.keep) continue;
      const points = new Map<string, Assembling>();
      const generic: Line[] = [];
      const d: Derived = {};
      const point = (measurement: string, tag?: readonly [string, string], tags: TagSet = tt.tags): Map<string, string> => {
        const key = tag ? `${measurement}\0${tag[0]}\0${tag[1]}` : measurement;
        let p = points.get(key);
        if (p === undefined) {
          p = { prefix: `${this.measurement(measurement)}${mergeTags(tags, tag ? this.measurementTag(tag) : undefined)}`, fields: new Map() };
          if (tt.containerId !== undefined && measurement !== 'docker') p.fields.set('container_id', fieldString(tt.containerId));
          points.set(key, p);
        }
        return p.fields;
      };
      const set = (fields: Map<string, string>, field: string, v: string | undefined): void => {
        if (v !== undefined) fields.set(field, v);
      };
      let containers = new Map<string, number>();
      for (let n = 0; n < list.length; n += 2) {
        const f = families[list[n] as number] as Family;
        const i = list[n + 1] as number;
        const name = f.def.name;
        const value = f.values[i] as number;
        const extra = f.extras[i] ?? null;
        const engineField = ENGINE[name];
        if (engineField !== undefined) {
          set(point('docker', undefined, this.engineTags), engineField, fieldInt(value));
          continue;
        }
        if (name === 'container_runtime_containers') {
          // Telegraf's `docker` measurement has one engine; lookout may see several runtimes, told apart by a `runtime` tag.
          const runtime = extra?.get('runtime') ?? '';
          const fields = point('docker', ['runtime', runtime], this.engineTags);
          const field = RUNTIME_STATES[extra?.get('state') ?? ''];
          if (field !== undefined) set(fields, field, fieldInt(value));
          const total = (containers.get(runtime) ?? 0) + value;
          containers.set(runtime, total);
          set(fields, 'n_containers', fieldInt(total));
          continue;
        }
        const m = target.get('id') === undefined ? undefined : TELEGRAF[name]?.(extra, ix);
        if (m === undefined || m === null) {
          const line = this.genericLine(this.measurement(name), tt.tags, extra, value);
          if (line !== undefined) generic.push(line);
          continue;
        }
        const fields = point(m.measurement, m.tag);
        if (name === 'container_last_terminated_reason') fields.set('oomkilled', extra?.get('reason') === 'OOMKilled' ? 'true' : 'false');
        else set(fields, m.field, m.int ? fieldInt(value * (m.scale ?? 1)) : fieldFloat(value * (m.scale ?? 1)));
        if (name === 'container_memory_working_set_bytes') d.usage = value;
        else if (name === 'container_spec_memory_limit_bytes') d.limit = value;
        else if (name === 'container_cpu_usage_seconds_total' && (extra?.get('cpu') ?? 'total') === 'total') d.cpu = value;
        else if (name === 'container_start_time_seconds') d.started = value;
        else if (name === 'container_last_terminated_timestamp_seconds') d.finished = value;
      }
      containers = new Map();

      // Fields Telegraf computes: memory and CPU percentages, the limit of an unlimited
      // container (Docker reports the host's memory), uptime.
      if (d.limit !== undefined || d.usage !== undefined) {
        const fields = point('docker_container_mem');
        const limit = d.limit === 0 || d.limit === undefined ? ix.machineMemory : d.limit;
        if (limit !== undefined && d.limit !== undefined) set(fields, 'limit', fieldInt(limit));
        if (limit !== undefined && limit > 0 && d.usage !== undefined) set(fields, 'usage_percent', fieldFloat((d.usage / limit) * 100));
      }
      if (d.cpu !== undefined) {
        const prev = this.prevCpu.get(target.text);
        nextCpu.set(target.text, { t: snapshot.time, v: d.cpu });
        if (prev !== undefined && snapshot.time > prev.t && d.cpu >= prev.v) {
          set(point('docker_container_cpu', ['cpu', 'cpu-total']), 'usage_percent', fieldFloat(((d.cpu - prev.v) / ((snapshot.time - prev.t) / 1000)) * 100));
        }
      }
      if (d.started !== undefined && d.started > 0) {
        const end = d.finished !== undefined && d.finished > d.started ? d.finished : snapshot.time / 1000;
        if (end >= d.started) set(point('docker_container_status'), 'uptime_ns', fieldInt((end - d.started) * NS));
      }

      for (const p of points.values()) {
        let f = '';
        for (const [k, v] of p.fields) f += f === '' ? `${k}=${v}` : `,${k}=${v}`;
        if (p.fields.size > 0) yield [`${p.prefix} ${f}`, p.fields.size];
      }
      yield* generic;
    }
    this.prevCpu = nextCpu;
  }
}

function sameMap(a: ReadonlyMap<string, string>, b: ReadonlyMap<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}
