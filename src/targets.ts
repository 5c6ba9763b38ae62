/**
 * A snapshot's series grouped by target (container), for the encoders that write one target's
 * series together (InfluxDB's Telegraf points, OTLP resources, remote_write's per-container
 * templates), while the snapshot itself is stored by family.
 */
import type { Family, Labels, Snapshot } from './model.js';

/** What an encoder keeps per target across snapshots: the target's series in the snapshot being written. */
export interface TargetSeries {
  /** The snapshot (`round`) that `series` and `count` are of. */
  round: number;
  /**
   * The target's series as (family index, series index) pairs, `count` numbers of it, in
   * family order. Kept and overwritten from one snapshot to the next, so that once every
   * target has been seen, grouping allocates nothing.
   */
  readonly series: number[];
  count: number;
}

/**
 * The targets of `snapshot` in order of first appearance, each with its series filled in.
 * `entry` gives the encoder's kept state for a target (from its own weak map); `round` must
 * differ from the previous call's (a counter the encoder bumps per snapshot).
 */
export function groupByTarget<T extends TargetSeries>(snapshot: Snapshot, round: number, entry: (target: Labels) => T): T[] {
  const order: T[] = [];
  const families = snapshot.families;
  for (let fi = 0; fi < families.length; fi++) {
    const f = families[fi] as Family;
    const targets = f.targets;
    for (let i = 0; i < f.values.length; i++) {
      const t = entry(targets[i] as Labels);
      if (t.round !== round) {
        t.round = round;
        t.count = 0;
        order.push(t);
      }
      t.series[t.count++] = fi;
      t.series[t.count++] = i;
    }
  }
  return order;
}
