/**
 * The normalized data model shared by collectors, the pipeline and exporters.
 *
 * A collection produces a {@link Snapshot}: for each metric family, columnar arrays of
 * series. Columns instead of one object per sample keep a 1000-container collection to a
 * few allocations per family, which matters at 50k+ series per scrape.
 */

export type MetricType = 'counter' | 'gauge' | 'untyped';

/** One entry of the metric catalogue. A metric's name is written here and nowhere else. */
export interface MetricDef {
  /** Full Prometheus name; counters end in `_total`. */
  readonly name: string;
  readonly type: MetricType;
  /** Base unit (`seconds`, `bytes`, ...) or '' for counts and ratios. */
  readonly unit: string;
  readonly help: string;
  /** Labels this metric adds beyond the target's identity labels (`id`, `name`, `image`, ...). */
  readonly labels: readonly string[];
  /** Which cgroup versions or sources provide it; documentation only. */
  readonly source: string;
}

export function metric(def: MetricDef): MetricDef {
  if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(def.name)) throw new Error(`invalid metric name ${def.name}`);
  if ((def.type === 'counter') !== def.name.endsWith('_total') && def.type !== 'untyped') {
    throw new Error(`metric ${def.name}: "_total" suffix if and only if a counter`);
  }
  for (const l of def.labels) {
    if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(l)) throw new Error(`metric ${def.name}: invalid label name ${l}`);
  }
  return Object.freeze(def);
}

/** Escapes a label value for the Prometheus text and OpenMetrics formats. */
export function escapeLabelValue(v: string): string {
  return /[\\"\n]/.test(v) ? v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : v;
}

/** Turns an arbitrary key (a Docker label, say) into a valid Prometheus label name. */
export function sanitizeLabelName(name: string): string {
  const s = name.replace(/[^a-zA-Z0-9_]/g, '_');
  return /^[0-9]/.test(s) ? `_${s}` : s;
}

/**
 * An immutable, ordered label set with its exposition text rendered once.
 * Collectors cache one per container and reuse it for every series of that container.
 */
export class Labels {
  /** `a="x",b="y"`, already escaped; '' for the empty set. */
  readonly text: string;
  constructor(readonly pairs: ReadonlyArray<readonly [string, string]>) {
    this.text = pairs.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(',');
  }
  static readonly EMPTY = new Labels([]);
  get(name: string): string | undefined {
    for (const [k, v] of this.pairs) if (k === name) return v;
    return undefined;
  }
  toObject(): Record<string, string> {
    return Object.fromEntries(this.pairs);
  }
}

/** All series of one metric in one snapshot, stored as parallel columns. */
export interface Family {
  readonly def: MetricDef;
  /** The target's identity labels per series. */
  readonly targets: Labels[];
  /** Per-series labels named in `def.labels`, or null when the metric has none. */
  readonly extras: (Labels | null)[];
  readonly values: number[];
}

/** What one collection produced: every family, in catalogue order, plus when it was taken. */
export interface Snapshot {
  /** Milliseconds since the epoch at the start of the collection. */
  readonly time: number;
  readonly families: readonly Family[];
  /** Number of series across all families. */
  readonly seriesCount: number;
}

/**
 * What a collector writes into. A collector may call `add` and `error` any number of times;
 * an error never aborts the collection of others.
 */
export interface Accumulator {
  /** When this collection started, in milliseconds since the epoch. */
  readonly time: number;
  add(def: MetricDef, target: Labels, value: number, extra?: Labels | null): void;
  /** Records a partial failure; counted per collector and kind, logged with rate limiting. */
  error(kind: string, err: unknown): void;
}

/** Builds a snapshot from `add` calls, keeping families in the order their defs were first seen. */
export class SnapshotBuilder implements Accumulator {
  private readonly byDef = new Map<MetricDef, Family>();
  private count = 0;
  /** Series refused because the snapshot already held `maxSeries`. */
  dropped = 0;
  constructor(
    readonly time: number,
    private readonly onError: (kind: string, err: unknown) => void,
    /** A bound on the series of one snapshot, so that no node can make the agent's memory grow without end. */
    private readonly maxSeries = Infinity,
  ) {}

  add(def: MetricDef, target: Labels, value: number, extra: Labels | null = null): void {
    if (this.count >= this.maxSeries) {
      this.dropped++;
      return;
    }
    let fam = this.byDef.get(def);
    if (fam === undefined) {
      fam = { def, targets: [], extras: [], values: [] };
      this.byDef.set(def, fam);
    }
    fam.targets.push(target);
    fam.extras.push(extra);
    fam.values.push(value);
    this.count++;
  }

  error(kind: string, err: unknown): void {
    this.onError(kind, err);
  }

  build(order?: readonly MetricDef[]): Snapshot {
    let families = [...this.byDef.values()];
    if (order) {
      const rank = new Map(order.map((d, i) => [d, i]));
      families = families.sort((a, b) => (rank.get(a.def) ?? 1e9) - (rank.get(b.def) ?? 1e9));
    }
    return { time: this.time, families, seriesCount: this.count };
  }
}
