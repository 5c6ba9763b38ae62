/**
 * The Prometheus remote-write 1.0 `WriteRequest`, encoded by hand (the message is small):
 *
 *   message WriteRequest { repeated TimeSeries timeseries = 1; }
 *   message TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
 *   message Label        { string name = 1; string value = 2; }
 *   message Sample       { double value = 1; int64 timestamp = 2; }   // milliseconds
 *
 * Labels are sorted by name (`__name__` among them), as the protocol requires; labels with
 * an empty value are left out (an empty label is the same as no label in Prometheus).
 * Encoding is by hand (with the shared writer in src/protobuf.ts) because the message is this
 * small, and so that each series' labels can be kept encoded between snapshots; the tests
 * decode it with protobufjs.
 */

import { ProtoWriter, putVarint, varintSize } from '../../src/protobuf.js';

export type LabelPairs = ReadonlyArray<readonly [string, string]>;

/** A label, encoded once as it sits in a TimeSeries: field 1, length, `Label{name, value}`. */
interface EncodedLabel {
  readonly name: string;
  readonly bytes: Buffer;
}

const scratch = new ProtoWriter();
const inner = new ProtoWriter();

/** The labels with a value, encoded, sorted by name (one per name: the first given). */
function encodeLabels(pairs: LabelPairs): EncodedLabel[] {
  const out: EncodedLabel[] = [];
  for (const [name, value] of pairs) {
    if (value === '' || out.some((l) => l.name === name)) continue;
    inner.reset();
    inner.string(1, name);
    inner.string(2, value);
    scratch.reset();
    scratch.message(1, inner);
    out.push({ name, bytes: scratch.bytes() });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Anything with label pairs: a Labels object (cached by identity) or a plain list. */
export interface LabelSource {
  readonly pairs: LabelPairs;
}

/** Stands for "no labels" as a cache key. */
const NONE: LabelSource = { pairs: [] };

/**
 * One target's series labels, encoded, by the series' position among the target's series in
 * the snapshot (the order in which `add` sees them). A position holds while the series there
 * has the same metric name and the same metric-label object as when it was encoded; a series
 * added or removed before it shifts the positions after it, which are then encoded again once.
 */
interface TargetCache {
  /** The snapshot (`begin` count) that `next` counts in. */
  round: number;
  /** The position of the target's next series in this snapshot. */
  next: number;
  readonly names: string[];
  readonly extras: LabelSource[];
  readonly labels: Buffer[];
}

/**
 * Builds one WriteRequest, one single-sample series at a time. A series' labels (`__name__`,
 * the target's, the metric's own, the external ones, merged and sorted) are encoded once and
 * kept per target (the collectors reuse one Labels object per container, weakly held, so a
 * container's entry goes with it) by the series' position: a series then costs one lookup of
 * its target, two comparisons, one copy of its label bytes and its sample. One entry per
 * target rather than one per series keeps the weak maps small, which the garbage collector
 * pays for on every full collection.
 */
export class WriteRequestBuilder {
  private readonly request = new ProtoWriter(256 * 1024);
  private readonly sets = new WeakMap<LabelSource, EncodedLabel[]>();
  private readonly names = new Map<string, EncodedLabel[]>();
  private readonly targets = new WeakMap<LabelSource, TargetCache>();
  private readonly external: EncodedLabel[];
  private readonly lists: EncodedLabel[][] = [[], [], [], []];
  private readonly at = [0, 0, 0, 0];
  private readonly merged = new ProtoWriter(1024);
  private round = 0;
  /** The sample's timestamp field (tag and varint), for the last timestamp seen. */
  private tsBytes: Buffer = Buffer.alloc(0);
  private tsFor = Number.NaN;
  count = 0;

  /** `external` labels are added to every series that has no label of that name. */
  constructor(external: LabelPairs = []) {
    this.external = encodeLabels(external);
  }

  /**
   * Starts a snapshot: positions count from the first series of each target again. Without
   * it every series is still encoded right, but positions keep growing and never match.
   */
  begin(): void {
    this.round++;
  }

  private set(labels: LabelSource): EncodedLabel[] {
    if (labels === NONE) return [];
    let e = this.sets.get(labels);
    if (e === undefined) this.sets.set(labels, (e = encodeLabels(labels.pairs)));
    return e;
  }

  private nameLabel(name: string): EncodedLabel[] {
    let c = this.names.get(name);
    if (c === undefined) this.names.set(name, (c = encodeLabels([['__name__', name]])));
    return c;
  }

  /** `__name__`, the target's labels, the metric's own labels and the external labels, sorted by name; on a name clash the first of those wins. */
  private encodeSeries(name: EncodedLabel[], target: LabelSource, extra: LabelSource): Buffer {
    const lists = this.lists;
    const at = this.at;
    lists[0] = name;
    lists[1] = this.set(target);
    lists[2] = this.set(extra);
    lists[3] = this.external;
    at[0] = at[1] = at[2] = at[3] = 0;
    const out = this.merged;
    out.reset();
    for (;;) {
      let best = -1;
      let bestName = '';
      for (let l = 0; l < 4; l++) {
        const e = (lists[l] as EncodedLabel[])[at[l] as number];
        if (e !== undefined && (best < 0 || e.name < bestName)) {
          best = l;
          bestName = e.name;
        }
      }
      if (best < 0) break;
      out.raw(((lists[best] as EncodedLabel[])[at[best] as number] as EncodedLabel).bytes);
      for (let l = 0; l < 4; l++) {
        const list = lists[l] as EncodedLabel[];
        while ((at[l] as number) < list.length && (list[at[l] as number] as EncodedLabel).name === bestName) at[l] = (at[l] as number) + 1;
      }
    }
    return out.bytes();
  }

  /** A series' encoded labels, from its target's cache. */
  private labels(name: string, target: LabelSource | null, extra: LabelSource | null): Buffer {
    const t = target ?? NONE;
    const x = extra ?? NONE;
    let c = this.targets.get(t);
    if (c === undefined) this.targets.set(t, (c = { round: this.round, next: 0, names: [], extras: [], labels: [] }));
    else if (c.round !== this.round) {
      c.round = this.round;
      c.next = 0;
    }
    const k = c.next++;
    if (k < c.labels.length && c.names[k] === name && c.extras[k] === x) return c.labels[k] as Buffer;
    const b = this.encodeSeries(this.nameLabel(name), t, x);
    if (k < c.labels.length) {
      c.names[k] = name;
      c.extras[k] = x;
      c.labels[k] = b;
    } else {
      c.names.push(name);
      c.extras.push(x);
      c.labels.push(b);
    }
    return b;
  }

  /** Adds a series with one sample (see {@link encodeSeries} for its labels). */
  add(name: string, target: LabelSource | null, extra: LabelSource | null, value: number, timestampMs: number): void {
    const labels = this.labels(name, target, extra);
    if (timestampMs !== this.tsFor) {
      const w = new ProtoWriter(16);
      w.int64(2, Math.round(timestampMs));
      this.tsBytes = w.bytes();
      this.tsFor = timestampMs;
    }
    // TimeSeries (field 1): the labels, then Sample (field 2) { double value = 1; int64
    // timestamp = 2; }, written in place: this runs once per series.
    const ts = this.tsBytes;
    const sampleSize = 9 + ts.length;
    const r = this.request;
    r.ensure(labels.length + sampleSize + 16);
    const buf = r.buf;
    let p = r.pos;
    buf[p++] = 0x0a;
    p = putVarint(buf, p, labels.length + 1 + varintSize(sampleSize) + sampleSize);
    buf.set(labels, p);
    p += labels.length;
    buf[p++] = 0x12;
    p = putVarint(buf, p, sampleSize);
    buf[p] = 0x09;
    buf.writeDoubleLE(value, p + 1);
    p += 9;
    for (let i = 0; i < ts.length; i++) buf[p++] = ts[i] as number;
    r.pos = p;
    this.count++;
  }

  /** The encoded request, not copied: valid until the next `add`. The builder is empty again afterwards. */
  takeView(): Buffer {
    const out = this.request.view();
    this.request.reset();
    this.count = 0;
    return out;
  }

  /** The encoded request (a copy); the builder is empty again afterwards. */
  take(): Buffer {
    return Buffer.from(this.takeView());
  }
}
