/**
 * Snapshots as OpenTelemetry metrics: OTLP's `ExportMetricsServiceRequest` (opentelemetry-proto
 * `collector/metrics/v1`), protobuf written by hand with src/protobuf.ts. Each resource's
 * attributes, each metric's name, description and unit, and each label set's data point
 * attributes are encoded once and kept across snapshots (targets' Labels objects are stable),
 * so a data point costs its timestamps, its value and a copy. The request is what
 * @opentelemetry/otlp-transformer's `ProtobufMetricsSerializer` writes for the SDK's data
 * model (sdk-encode.ts), field for field; the tests decode both with OpenTelemetry's own
 * decoders and compare. The SDK serializer re-encodes every attribute string of every
 * resource and data point on every push, which cost more than the collection itself.
 *
 * - Names: the catalogue's, without `_total` on counters (OTLP carries monotonicity in the
 *   type; Prometheus's OTLP translation adds `_total` back, so the cAdvisor names survive).
 * - Counters: monotonic cumulative sums, starting at the container's start time (else when
 *   lookout first saw the series). Gauges (and cAdvisor's untyped failcnt): gauges.
 * - Units in UCUM: `s`, `By`; counts have none.
 * - Identity per the semantic conventions: `host.name` on every resource; per container
 *   `container.id`, `container.name`, `container.image.name`, `container.image.tags`,
 *   `k8s.namespace.name`, `k8s.pod.name`, `k8s.container.name`, `container.label.<key>`,
 *   and `lookout.cgroup.path` (cAdvisor's `id`), on a resource per container by default.
 */
import type { Attributes } from '@opentelemetry/api';
import { type Batch, BodyPool } from '../../src/delivery.js';
import type { Family, Labels, MetricDef, Snapshot } from '../../src/model.js';
import { ProtoWriter, varintSize } from '../../src/protobuf.js';
import { containerIdOf, splitImage } from '../../src/push.js';
import { groupByTarget, type TargetSeries } from '../../src/targets.js';
import { VERSION } from '../../src/version.js';

export interface OtlpEncodeOptions {
  readonly hostName: string;
  readonly resourceAttributes: Readonly<Record<string, string>>;
  readonly containerAttributes: 'resource' | 'datapoint';
}

const UCUM: Readonly<Record<string, string>> = { seconds: 's', bytes: 'By' };

export function otlpName(def: MetricDef): string {
  return def.type === 'counter' ? def.name.replace(/_total$/, '') : def.name;
}

export function otlpUnit(def: MetricDef): string {
  return UCUM[def.unit] ?? def.unit;
}

/** A target's identity labels as semantic-convention attributes ({} for machine-level series). */
export function identityAttributes(target: Labels): Attributes {
  const attrs: Attributes = {};
  const id = target.get('id');
  if (id === undefined) return attrs;
  attrs['lookout.cgroup.path'] = id;
  const image = target.get('image') ?? '';
  if (image === '') return attrs; // a raw cgroup: a systemd service, a slice, the root
  const cid = containerIdOf(id);
  if (cid !== undefined) attrs['container.id'] = cid;
  const name = target.get('name');
  if (name) attrs['container.name'] = name;
  const { name: imageName, tag } = splitImage(image);
  attrs['container.image.name'] = imageName;
  if (tag !== undefined) attrs['container.image.tags'] = [tag];
  const k8s: ReadonlyArray<readonly [string, string]> = [['namespace', 'k8s.namespace.name'], ['pod', 'k8s.pod.name'], ['container', 'k8s.container.name']];
  for (const [label, attr] of k8s) {
    const v = target.get(label);
    if (v !== undefined && v !== '') attrs[attr] = v;
  }
  for (const [k, v] of target.pairs) if (k.startsWith('container_label_')) attrs[`container.label.${k.slice('container_label_'.length)}`] = v;
  return attrs;
}

/** Milliseconds as OTLP's fixed64 nanoseconds, low and high 32 bits, computed as the SDK's serializer does from [seconds, nanoseconds]. */
function nanos(ms: number): [lo: number, hi: number] {
  const seconds = Math.floor(ms / 1000);
  const ns = Math.round((ms - seconds * 1000) * 1e6);
  const lower = (seconds & 0xffff) * 1e9;
  const upper = ((seconds / 0x10000) >>> 0) * 1e9;
  const low = (lower >>> 0) + (((upper & 0xffff) * 0x10000) >>> 0) + ns;
  const high = Math.floor(lower / 0x100000000) + ((upper / 0x10000) >>> 0) + Math.floor(low / 0x100000000);
  return [low >>> 0, high >>> 0];
}

/** A NumberDataPoint's `start_time_unix_nano` (2) and `time_unix_nano` (3), 18 bytes. */
function times(startMs: number, endMs: number): Buffer {
  const b = Buffer.allocUnsafe(18);
  const [sl, sh] = nanos(startMs);
  const [el, eh] = nanos(endMs);
  b[0] = 0x11;
  b.writeUInt32LE(sl, 1);
  b.writeUInt32LE(sh, 5);
  b[9] = 0x19;
  b.writeUInt32LE(el, 10);
  b.writeUInt32LE(eh, 14);
  return b;
}

function anyValue(w: ProtoWriter, v: unknown): void {
  if (Array.isArray(v)) {
    const arr = new ProtoWriter(256);
    for (const item of v) {
      const inner = new ProtoWriter(256);
      anyValue(inner, item);
      arr.message(1, inner);
    }
    w.message(5, arr);
  } else w.string(1, String(v));
}

/** Attributes (strings and string lists, as lookout's are) as repeated KeyValue in `field`, in key order as given. */
export function encodeAttributes(attrs: Attributes, field: number): Buffer {
  const out = new ProtoWriter(1024);
  for (const key in attrs) {
    if (!Object.prototype.hasOwnProperty.call(attrs, key)) continue;
    const v = attrs[key];
    if (v === undefined || v === null) continue;
    const kv = new ProtoWriter(256);
    kv.string(1, key);
    const value = new ProtoWriter(256);
    anyValue(value, v);
    kv.message(2, value);
    out.message(field, kv);
  }
  return out.bytes();
}

const EMPTY = Buffer.alloc(0);
/** Sum's `aggregation_temporality` CUMULATIVE (2) and `is_monotonic` true. */
const CUMULATIVE_MONOTONIC = Buffer.from([0x10, 0x02, 0x18, 0x01]);

/** What is kept per target across snapshots. */
interface TargetEntry extends TargetSeries {
  /** `resource` (field 1 of ResourceMetrics), encoded; the host resource in datapoint mode. */
  readonly resource: Buffer;
  /** The identity attributes (object, and as data point attributes for datapoint mode). */
  readonly attrs: Attributes;
  readonly pointAttrs: Buffer;
  /** Data point times last used, by start time: reused while the times stay. */
  times?: { start: number; end: number; counter: Buffer; gauge: Buffer };
  /** The target itself (a weak map's value may hold its key). */
  readonly labels: Labels;
  /** The container's start (ms) in this snapshot, from `container_start_time_seconds`; NaN when unknown. */
  startedMs: number;
}

/** What is kept per metric. */
interface MetricEntry {
  /** Metric's name (1), description (2) and unit (3). */
  readonly header: Buffer;
  readonly counter: boolean;
}

/** One data point waiting in a batch: its value, its time fields and its attributes (one or two encoded pieces). */
interface PendingMetric {
  readonly def: MetricDef;
  readonly values: number[];
  readonly times: Buffer[];
  readonly attrs: Buffer[];
  readonly attrs2: Buffer[];
}

/** Encodes snapshots; keeps encoded resources, metric headers, attributes and first-seen times of targets across snapshots. */
export class OtlpEncoder {
  private readonly host: Attributes;
  private hostResource: Buffer | undefined;
  private readonly scope: Buffer;
  private readonly targets = new WeakMap<Labels, TargetEntry>();
  private readonly extraAttrs = new WeakMap<Labels, Buffer>();
  private readonly metrics = new Map<MetricDef, MetricEntry>();
  private firstSeen = new Map<string, number>();
  private round = 0;
  /** Per metric of the ResourceMetrics being written, its data's and its own length (scratch, reused). */
  private readonly dataLens: number[] = [];
  private readonly metricLens: number[] = [];
  private readonly writer = new ProtoWriter(512 * 1024);
  private readonly bodies = new BodyPool();

  constructor(private readonly opts: OtlpEncodeOptions) {
    this.host = { ...opts.resourceAttributes, 'host.name': opts.hostName };
    const scope = new ProtoWriter(256);
    scope.string(1, 'lookout');
    scope.string(2, VERSION);
    const field = new ProtoWriter(256);
    field.message(1, scope);
    this.scope = field.bytes();
  }

  /** `resource` (field 1 of ResourceMetrics) with its attributes and dropped_attributes_count 0, as the SDK serializer writes it. */
  private resource(attrs: Attributes): Buffer {
    const r = new ProtoWriter(1024);
    r.raw(encodeAttributes(attrs, 1));
    r.tag(2, 0);
    r.varint(0);
    const field = new ProtoWriter(1024);
    field.message(1, r);
    return field.bytes();
  }

  private target(target: Labels): TargetEntry {
    let e = this.targets.get(target);
    if (e === undefined) {
      const attrs = identityAttributes(target);
      const kept = { labels: target, round: -1, series: [], count: 0, startedMs: Number.NaN };
      if (this.opts.containerAttributes === 'resource') e = { resource: this.resource({ ...this.host, ...attrs }), attrs, pointAttrs: EMPTY, ...kept };
      else e = { resource: (this.hostResource ??= this.resource(this.host)), attrs, pointAttrs: encodeAttributes(attrs, 7), ...kept };
      this.targets.set(target, e);
    }
    return e;
  }

  private metric(def: MetricDef): MetricEntry {
    let m = this.metrics.get(def);
    if (m === undefined) {
      const w = new ProtoWriter(1024);
      w.string(1, otlpName(def));
      if (def.help) w.string(2, def.help);
      const unit = otlpUnit(def);
      if (unit) w.string(3, unit);
      m = { header: w.bytes(), counter: def.type === 'counter' };
      this.metrics.set(def, m);
    }
    return m;
  }

  private extra(extra: Labels): Buffer {
    let b = this.extraAttrs.get(extra);
    if (b === undefined) this.extraAttrs.set(extra, (b = encodeAttributes(Object.fromEntries(extra.pairs), 7)));
    return b;
  }

  /** A data point's attributes as one or two encoded pieces: the metric's labels, and in datapoint mode the identity first. */
  private pointAttrs(t: TargetEntry, extra: Labels | null | undefined, into: PendingMetric): void {
    if (this.opts.containerAttributes === 'resource') {
      into.attrs.push(extra ? this.extra(extra) : EMPTY);
      into.attrs2.push(EMPTY);
      return;
    }
    if (!extra) {
      into.attrs.push(t.pointAttrs);
      into.attrs2.push(EMPTY);
    } else if (extra.pairs.some(([k]) => Object.prototype.hasOwnProperty.call(t.attrs, k))) {
      // A label named as an identity attribute: it takes that attribute's place, as in an object.
      const a: Attributes = { ...t.attrs };
      for (const [k, v] of extra.pairs) a[k] = v;
      into.attrs.push(encodeAttributes(a, 7));
      into.attrs2.push(EMPTY);
    } else {
      into.attrs.push(t.pointAttrs);
      into.attrs2.push(this.extra(extra));
    }
  }

  /** Writes one ResourceMetrics (field 1 of the request) holding `metrics`. */
  private writeResourceMetrics(out: ProtoWriter, resource: Buffer, metrics: Iterable<PendingMetric>): void {
    const list = [...metrics];
    const dataLens: number[] = [];
    const metricLens: number[] = [];
    let scopeLen = this.scope.length;
    for (const m of list) {
      const e = this.metric(m.def);
      let data = e.counter ? CUMULATIVE_MONOTONIC.length : 0;
      for (let k = 0; k < m.values.length; k++) {
        const p = 27 + (m.attrs[k] as Buffer).length + (m.attrs2[k] as Buffer).length;
        data += 1 + varintSize(p) + p;
      }
      const len = e.header.length + 1 + varintSize(data) + data;
      dataLens.push(data);
      metricLens.push(len);
      scopeLen += 1 + varintSize(len) + len;
    }
    const rmLen = resource.length + 1 + varintSize(scopeLen) + scopeLen;
    out.ensure(1 + varintSize(rmLen) + rmLen);
    out.tag(1, 2);
    out.varint(rmLen);
    out.raw(resource);
    out.tag(2, 2);
    out.varint(scopeLen);
    out.raw(this.scope);
    for (let j = 0; j < list.length; j++) {
      const m = list[j] as PendingMetric;
      const e = this.metric(m.def);
      out.tag(2, 2);
      out.varint(metricLens[j] as number);
      out.raw(e.header);
      out.tag(e.counter ? 7 : 5, 2);
      out.varint(dataLens[j] as number);
      for (let k = 0; k < m.values.length; k++) {
        const a = m.attrs[k] as Buffer;
        const a2 = m.attrs2[k] as Buffer;
        const p = 27 + a.length + a2.length;
        out.tag(1, 2);
        out.varint(p);
        out.raw(m.times[k] as Buffer);
        const buf = out.buf;
        buf[out.pos] = 0x21; // as_double (4), fixed64
        buf.writeDoubleLE(m.values[k] as number, out.pos + 1);
        out.pos += 9;
        if (a.length > 0) out.raw(a);
        if (a2.length > 0) out.raw(a2);
      }
      if (e.counter) out.raw(CUMULATIVE_MONOTONIC);
    }
  }

  /**
   * Batches of at most `maxItems` data points, made target by target (a resource's metrics
   * are split across batches when they must be), so the caller can yield between batches.
   * Resources, metrics and points come in the order the SDK path (sdk-encode.ts) puts them.
   */
  batches(snapshot: Snapshot, maxItems: number): Iterable<Batch> {
    return this.opts.containerAttributes === 'resource' ? this.byResource(snapshot, maxItems) : this.shared(snapshot, maxItems);
  }

  /**
   * The snapshot's targets in order of first appearance, each with its series and its start
   * time filled in, from arrays kept per target: the grouping allocates nothing once every
   * target has been seen.
   */
  private group(snapshot: Snapshot): TargetEntry[] {
    const order = groupByTarget(snapshot, ++this.round, (target) => this.target(target));
    for (const t of order) t.startedMs = Number.NaN;
    // Cumulative sums start when the container started: lookout reads kernel counters that
    // begin with the cgroup.
    const endMs = snapshot.time;
    for (const f of snapshot.families) {
      if (f.def.name !== 'container_start_time_seconds') continue;
      for (let i = 0; i < f.values.length; i++) {
        const v = f.values[i] as number;
        if (v > 0 && v * 1000 <= endMs) this.target(f.targets[i] as Labels).startedMs = v * 1000;
      }
    }
    return order;
  }

  /**
   * Resource mode: one ResourceMetrics per target, written straight from the target's series
   * (sizes first, then the bytes), a target's points split across batches when they must be.
   */
  private *byResource(snapshot: Snapshot, maxItems: number): Iterable<Batch> {
    const endMs = snapshot.time;
    const families = snapshot.families;
    const order = this.group(snapshot);
    const seen = new Map<string, number>();
    // The writer and the targets' series lists are kept from one snapshot to the next (each
    // batch is copied out of the writer). A walk started while an earlier one is still out
    // takes them over, and the earlier one ends at its next step.
    const round = this.round;
    const out = this.writer;
    out.reset();
    let items = 0;
    for (const t of order) {
      const first = this.firstSeen.get(t.labels.text) ?? endMs;
      seen.set(t.labels.text, first);
      const startMs = Number.isNaN(t.startedMs) ? first : t.startedMs;
      let tm = t.times;
      if (tm === undefined || tm.start !== startMs || tm.end !== endMs) t.times = tm = { start: startMs, end: endMs, counter: times(startMs, endMs), gauge: times(endMs, endMs) };
      const points = t.count >> 1;
      for (let from = 0; from < points; ) {
        const to = Math.min(points, from + (maxItems - items));
        this.writeTarget(out, t, tm, families, from, to);
        items += to - from;
        from = to;
        if (items >= maxItems) {
          yield this.bodies.batch(items, out.view(), endMs);
          if (this.round !== round) return;
          out.reset();
          items = 0;
        }
      }
    }
    if (items > 0) yield this.bodies.batch(items, out.view(), endMs);
    if (this.round === round) this.firstSeen = seen;
  }

  /** Writes one ResourceMetrics holding points `from` to `to` (exclusive) of a target's series, in resource mode: a metric per run of one family's series. */
  private writeTarget(out: ProtoWriter, t: TargetEntry, tm: { counter: Buffer; gauge: Buffer }, families: readonly Family[], from: number, to: number): void {
    const list = t.series;
    const dataLens = this.dataLens;
    const metricLens = this.metricLens;
    let scopeLen = this.scope.length;
    let runs = 0;
    for (let k = from; k < to; ) {
      const fi = list[2 * k] as number;
      const f = families[fi] as Family;
      const e = this.metric(f.def);
      let data = e.counter ? CUMULATIVE_MONOTONIC.length : 0;
      for (; k < to && list[2 * k] === fi; k++) {
        const extra = f.extras[list[2 * k + 1] as number];
        const p = 27 + (extra ? this.extra(extra).length : 0);
        data += 1 + varintSize(p) + p;
      }
      const len = e.header.length + 1 + varintSize(data) + data;
      dataLens[runs] = data;
      metricLens[runs++] = len;
      scopeLen += 1 + varintSize(len) + len;
    }
    const rmLen = t.resource.length + 1 + varintSize(scopeLen) + scopeLen;
    out.ensure(1 + varintSize(rmLen) + rmLen);
    out.tag(1, 2);
    out.varint(rmLen);
    out.raw(t.resource);
    out.tag(2, 2);
    out.varint(scopeLen);
    out.raw(this.scope);
    runs = 0;
    for (let k = from; k < to; ) {
      const fi = list[2 * k] as number;
      const f = families[fi] as Family;
      const e = this.metric(f.def);
      const pointTimes = e.counter ? tm.counter : tm.gauge;
      out.tag(2, 2);
      out.varint(metricLens[runs] as number);
      out.raw(e.header);
      out.tag(e.counter ? 7 : 5, 2);
      out.varint(dataLens[runs++] as number);
      for (; k < to && list[2 * k] === fi; k++) {
        const i = list[2 * k + 1] as number;
        const extra = f.extras[i];
        const a = extra ? this.extra(extra) : EMPTY;
        const p = 27 + a.length;
        out.tag(1, 2);
        out.varint(p);
        out.raw(pointTimes);
        const buf = out.buf;
        buf[out.pos] = 0x21; // as_double (4), fixed64
        buf.writeDoubleLE(f.values[i] as number, out.pos + 1);
        out.pos += 9;
        if (a.length > 0) out.raw(a);
      }
      if (e.counter) out.raw(CUMULATIVE_MONOTONIC);
    }
  }

  /** Datapoint mode: every target under the host resource, a metric's points of all targets together. */
  private *shared(snapshot: Snapshot, maxItems: number): Iterable<Batch> {
    const endMs = snapshot.time;
    const families = snapshot.families;
    // The snapshot is family by family; resources group a target's series of all families.
    const byTarget = new Map<Labels, number[]>();
    const started = new Map<Labels, number>();
    for (let fi = 0; fi < families.length; fi++) {
      const f = families[fi] as Family;
      const isStart = f.def.name === 'container_start_time_seconds';
      for (let i = 0; i < f.values.length; i++) {
        const t = f.targets[i] as Labels;
        let list = byTarget.get(t);
        if (list === undefined) byTarget.set(t, (list = []));
        list.push(fi, i);
        // Cumulative sums start when the container started: lookout reads kernel counters
        // that begin with the cgroup.
        const v = f.values[i] as number;
        if (isStart && v > 0 && v * 1000 <= endMs) started.set(t, v * 1000);
      }
    }
    // In datapoint mode every target shares the host resource: gather them under it.
    const groups = new Map<Buffer, Array<[Labels, number[]]>>();
    for (const entry of byTarget) {
      const r = this.target(entry[0]).resource;
      let g = groups.get(r);
      if (g === undefined) groups.set(r, (g = []));
      g.push(entry);
    }
    const seen = new Map<string, number>();
    // One writer for every snapshot, as in resource mode: BodyPool copies each batch out, and
    // a walk overtaken by a newer one (which took over the writer) ends at its next step.
    const round = ++this.round;
    const out = this.writer;
    out.reset();
    let items = 0;
    const flush = (): Batch => {
      const b = this.bodies.batch(items, out.view(), endMs);
      out.reset();
      items = 0;
      return b;
    };
    for (const [resource, targets] of groups) {
      let pending = new Map<MetricDef, PendingMetric>();
      const close = (): void => {
        if (pending.size === 0) return;
        this.writeResourceMetrics(out, resource, pending.values());
        pending = new Map();
      };
      for (const [target, list] of targets) {
        const t = this.target(target);
        const first = this.firstSeen.get(target.text) ?? endMs;
        seen.set(target.text, first);
        const startMs = started.get(target) ?? first;
        let tm = t.times;
        if (tm === undefined || tm.start !== startMs || tm.end !== endMs) t.times = tm = { start: startMs, end: endMs, counter: times(startMs, endMs), gauge: times(endMs, endMs) };
        for (let n = 0; n < list.length; n += 2) {
          const f = families[list[n] as number] as Family;
          const i = list[n + 1] as number;
          let m = pending.get(f.def);
          if (m === undefined) pending.set(f.def, (m = { def: f.def, values: [], times: [], attrs: [], attrs2: [] }));
          m.values.push(f.values[i] as number);
          m.times.push(f.def.type === 'counter' ? tm.counter : tm.gauge);
          this.pointAttrs(t, f.extras[i], m);
          if (++items >= maxItems) {
            close();
            yield flush();
            if (this.round !== round) return;
          }
        }
      }
      close();
    }
    if (items > 0) yield flush();
    if (this.round === round) this.firstSeen = seen;
  }
}
