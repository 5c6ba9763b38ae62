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
 * small; the tests decode it with protobufjs.
 */

import { ProtoWriter } from '../../src/protobuf.js';

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
 * Builds one WriteRequest, one single-sample series at a time. Each label set is encoded
 * once and cached by object (the collectors reuse one Labels object per container and per
 * label combination), so a series costs a merge of a few sorted lists and some copies.
 */
export class WriteRequestBuilder {
  private readonly request = new ProtoWriter();
  private readonly sample = new ProtoWriter();
  private readonly sets = new WeakMap<LabelSource, EncodedLabel[]>();
  private readonly names = new Map<string, EncodedLabel[]>();
  private readonly external: EncodedLabel[];
  private readonly lists: EncodedLabel[][] = [[], [], [], []];
  private readonly at = [0, 0, 0, 0];
  private readonly chosen: EncodedLabel[] = [];
  count = 0;

  /** `external` labels are added to every series that has no label of that name. */
  constructor(external: LabelPairs = []) {
    this.external = encodeLabels(external);
  }

  private set(labels: LabelSource | null | undefined): EncodedLabel[] {
    if (!labels) return [];
    let e = this.sets.get(labels);
    if (e === undefined) this.sets.set(labels, (e = encodeLabels(labels.pairs)));
    return e;
  }

  private nameLabel(name: string): EncodedLabel[] {
    let e = this.names.get(name);
    if (e === undefined) this.names.set(name, (e = encodeLabels([['__name__', name]])));
    return e;
  }

  /**
   * Adds a series with one sample: `__name__`, the target's labels, the metric's own labels
   * and the external labels, sorted by name; on a name clash the first of those wins.
   */
  add(name: string, target: LabelSource | null, extra: LabelSource | null, value: number, timestampMs: number): void {
    const lists = this.lists;
    const at = this.at;
    lists[0] = this.nameLabel(name);
    lists[1] = this.set(target);
    lists[2] = this.set(extra);
    lists[3] = this.external;
    at[0] = at[1] = at[2] = at[3] = 0;
    const chosen = this.chosen;
    chosen.length = 0;
    let size = 0;
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
      const pick = (lists[best] as EncodedLabel[])[at[best] as number] as EncodedLabel;
      chosen.push(pick);
      size += pick.bytes.length;
      for (let l = 0; l < 4; l++) {
        const list = lists[l] as EncodedLabel[];
        while ((at[l] as number) < list.length && (list[at[l] as number] as EncodedLabel).name === bestName) at[l] = (at[l] as number) + 1;
      }
    }
    const s = this.sample;
    s.reset();
    s.double(1, value);
    s.int64(2, Math.round(timestampMs));
    const r = this.request;
    r.tag(1, 2);
    r.varint(size + 1 + varintSize(s.pos) + s.pos);
    for (const l of chosen) r.raw(l.bytes);
    r.message(2, s);
    this.count++;
  }

  /** The encoded request; the builder is empty again afterwards. */
  take(): Buffer {
    const out = this.request.bytes();
    this.request.reset();
    this.count = 0;
    return out;
  }
}

function varintSize(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 0x80);
    n++;
  }
  return n;
}
