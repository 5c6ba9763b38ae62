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
 * small, and so that each container's series can be kept encoded, and compressed, between
 * snapshots; the tests decode it with protobufjs and two snappy decoders.
 */

import { type Batch, BodyPool } from '../../src/delivery.js';
import type { Family, Labels, MetricDef, Snapshot } from '../../src/model.js';
import { ProtoWriter, varintSize } from '../../src/protobuf.js';
import { groupByTarget, type TargetSeries } from '../../src/targets.js';
import { type Compressed, compressWithHoles, preambleBefore } from './snappy.js';

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

/**
 * A series' labels, encoded as they sit in a TimeSeries: `__name__`, the target's labels, the
 * metric's own labels and the external labels, merged and sorted by name (on a name clash the
 * first of those wins). Label sets are encoded once per Labels object (weakly held: the
 * collectors reuse one per container) and names once per metric.
 */
export class SeriesLabels {
  private readonly sets = new WeakMap<LabelSource, EncodedLabel[]>();
  private readonly names = new Map<string, EncodedLabel[]>();
  private readonly external: EncodedLabel[];
  private readonly lists: EncodedLabel[][] = [[], [], [], []];
  private readonly at = [0, 0, 0, 0];
  private readonly merged = new ProtoWriter(1024);

  /** `external` labels are added to every series that has no label of that name. */
  constructor(external: LabelPairs = []) {
    this.external = encodeLabels(external);
  }

  private set(labels: LabelSource | null): EncodedLabel[] {
    if (labels === null) return [];
    let e = this.sets.get(labels);
    if (e === undefined) this.sets.set(labels, (e = encodeLabels(labels.pairs)));
    return e;
  }

  private nameLabel(name: string): EncodedLabel[] {
    let c = this.names.get(name);
    if (c === undefined) this.names.set(name, (c = encodeLabels([['__name__', name]])));
    return c;
  }

  /** The label fields of one TimeSeries (a view, valid until the next call). */
  encode(name: string, target: LabelSource | null, extra: LabelSource | null): Buffer {
    const lists = this.lists;
    const at = this.at;
    lists[0] = this.nameLabel(name);
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
    return out.view();
  }
}

/**
 * A run of one target's series, encoded and snappy compressed once (snappy.ts) with holes
 * where each sample's value and timestamp go.
 */
interface Piece {
  readonly compressed: Compressed;
  /** Bytes of the TimeSeries fields it holds, uncompressed (for the block's preamble). */
  readonly rawLength: number;
  /** Its first series, as a position among the target's series. */
  readonly first: number;
  readonly n: number;
}

/** One target's pieces, kept while the target's series (metric and metric-label objects, in order) stay the same. */
interface TargetPieces extends TargetSeries {
  readonly labels: Labels;
  defs: MetricDef[];
  extras: (Labels | null)[];
  /** The timestamp field's size and the batch size the pieces were cut for. */
  tsSize: number;
  maxItems: number;
  pieces: Piece[];
}

/** Room before a request's elements for its preamble (a varint of at most 5 bytes). */
const PREAMBLE_ROOM = 8;

/**
 * Encodes snapshots into snappy-compressed WriteRequests. Each target's (container's) series
 * are written together, as pieces compressed when the target is first seen or its series
 * change (at most `maxItems` series each); a push copies each piece and writes the new values
 * and timestamp into it. Nothing is compressed per push: before, snappy and copying every
 * series' labels were two thirds of this exporter's CPU. A request holds whole pieces, up to
 * `maxItems` series.
 */
export class WriteRequestEncoder {
  private readonly labels: SeriesLabels;
  private readonly targets = new WeakMap<Labels, TargetPieces>();
  private readonly out = new ProtoWriter(256 * 1024);
  private readonly raw = new ProtoWriter(64 * 1024);
  private readonly bodies = new BodyPool();
  private round = 0;

  constructor(external: LabelPairs = []) {
    this.labels = new SeriesLabels(external);
  }

  private entry(target: Labels): TargetPieces {
    let e = this.targets.get(target);
    if (e === undefined) {
      e = { labels: target, round: -1, series: [], count: 0, defs: [], extras: [], tsSize: -1, maxItems: -1, pieces: [] };
      this.targets.set(target, e);
    }
    return e;
  }

  /** Whether a target's pieces still hold its series in this snapshot. */
  private holds(t: TargetPieces, families: readonly Family[], tsSize: number, maxItems: number): boolean {
    if (t.tsSize !== tsSize || t.maxItems !== maxItems || t.defs.length * 2 !== t.count) return false;
    const s = t.series;
    for (let k = 0; k < t.defs.length; k++) {
      const f = families[s[2 * k] as number] as Family;
      if (f.def !== t.defs[k] || (f.extras[s[2 * k + 1] as number] ?? null) !== t.extras[k]) return false;
    }
    return true;
  }

  private build(t: TargetPieces, families: readonly Family[], ts: Buffer, maxItems: number): void {
    const s = t.series;
    const n = t.count >> 1;
    t.defs = [];
    t.extras = [];
    for (let k = 0; k < n; k++) {
      const f = families[s[2 * k] as number] as Family;
      t.defs.push(f.def);
      t.extras.push(f.extras[s[2 * k + 1] as number] ?? null);
    }
    t.tsSize = ts.length;
    t.maxItems = maxItems;
    t.pieces = [];
    // Sample { double value = 1; int64 timestamp = 2; }: the hole is the value's 8 bytes and the timestamp field.
    const holeLen = 8 + ts.length;
    const sampleSize = 1 + holeLen;
    const raw = this.raw;
    for (let first = 0; first < n; first += maxItems) {
      const end = Math.min(n, first + maxItems);
      raw.reset();
      const holes: number[] = [];
      for (let k = first; k < end; k++) {
        const labels = this.labels.encode((t.defs[k] as MetricDef).name, t.labels, t.extras[k] as Labels | null);
        raw.ensure(labels.length + sampleSize + 24);
        raw.tag(1, 2);
        raw.varint(labels.length + 1 + varintSize(sampleSize) + sampleSize);
        raw.raw(labels);
        raw.tag(2, 2);
        raw.varint(sampleSize);
        raw.buf[raw.pos++] = 0x09;
        holes.push(raw.pos);
        raw.buf.fill(0, raw.pos, raw.pos + 8);
        raw.pos += 8;
        raw.raw(ts);
      }
      t.pieces.push({ compressed: compressWithHoles(raw.view(), holes, holeLen), rawLength: raw.pos, first, n: end - first });
    }
  }

  /** A snapshot's requests, each of at most `maxItems` series (one sample each, at the snapshot's time). */
  *encode(snapshot: Snapshot, maxItems: number): Iterable<Batch> {
    const tsWriter = new ProtoWriter(16);
    tsWriter.int64(2, Math.round(snapshot.time));
    const ts = tsWriter.bytes();
    const families = snapshot.families;
    const out = this.out;
    let items = 0;
    let rawLength = 0;
    out.pos = PREAMBLE_ROOM;
    const take = (): Batch => {
      const start = preambleBefore(out.buf, PREAMBLE_ROOM, rawLength);
      const batch = this.bodies.batch(items, out.buf.subarray(start, out.pos), snapshot.time);
      out.pos = PREAMBLE_ROOM;
      items = 0;
      rawLength = 0;
      return batch;
    };
    const round = ++this.round;
    for (const t of groupByTarget(snapshot, round, (target) => this.entry(target))) {
      if (!this.holds(t, families, ts.length, maxItems)) this.build(t, families, ts, maxItems);
      const s = t.series;
      for (const piece of t.pieces) {
        if (items > 0 && items + piece.n > maxItems) {
          yield take();
          // A walk started meanwhile has taken over the targets' series lists and the buffer: this one ends.
          if (this.round !== round) return;
        }
        const { bytes, holes } = piece.compressed;
        out.ensure(bytes.length);
        const buf = out.buf;
        const base = out.pos;
        buf.set(bytes, base);
        for (let j = 0; j < piece.n; j++) {
          const k = piece.first + j;
          const v = ((families[s[2 * k] as number] as Family).values[s[2 * k + 1] as number] as number);
          const at = base + (holes[j] as number);
          buf.writeDoubleLE(v, at);
          for (let b = 0; b < ts.length; b++) buf[at + 8 + b] = ts[b] as number;
        }
        out.pos = base + bytes.length;
        items += piece.n;
        rawLength += piece.rawLength;
      }
    }
    if (items > 0) yield take();
  }
}
