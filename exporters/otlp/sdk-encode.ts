/**
 * The reference OTLP metrics encoding: the OpenTelemetry SDK's data model (`ResourceMetrics`
 * from @opentelemetry/sdk-metrics, resources from @opentelemetry/resources) serialized by
 * @opentelemetry/otlp-transformer's `ProtobufMetricsSerializer`, the serializer of the OTLP
 * proto exporter. This was the exporter's encoder; it now serves the tests, which check that
 * the hand-written encoder (encode.ts) writes the same requests.
 */
import { type Attributes, type HrTime, ValueType } from '@opentelemetry/api';
import { ProtobufMetricsSerializer } from '@opentelemetry/otlp-transformer';
import { type Resource, resourceFromAttributes } from '@opentelemetry/resources';
import { AggregationTemporality, type DataPoint, DataPointType, type MetricData, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { Batch } from '../../src/delivery.js';
import type { Family, Labels, MetricDef, Snapshot } from '../../src/model.js';
import { VERSION } from '../../src/version.js';
import { identityAttributes, type OtlpEncodeOptions, otlpName, otlpUnit } from './encode.js';

function hr(ms: number): HrTime {
  const s = Math.floor(ms / 1000);
  return [s, Math.round((ms - s * 1000) * 1e6)];
}

/**
 * The SDK path: snapshots as the SDK's `ResourceMetrics`, serialized by `ProtobufMetricsSerializer`.
 * Keeps resources and first-seen times of targets across snapshots. Not used by the exporter
 * (see encode.ts): the tests hold the hand-written encoder to what this one writes.
 */
export class SdkOtlpEncoder {
  private readonly scope = { name: 'lookout', version: VERSION };
  private readonly host: Attributes;
  private hostResource: Resource | undefined;
  private readonly identities = new WeakMap<Labels, { resource: Resource; attrs: Attributes }>();
  private readonly extraAttrs = new WeakMap<Labels, Attributes>();
  private firstSeen = new Map<string, number>();
  private static readonly NONE: Attributes = Object.freeze({});

  constructor(private readonly opts: OtlpEncodeOptions) {
    this.host = { ...opts.resourceAttributes, 'host.name': opts.hostName };
  }

  private identity(target: Labels): { resource: Resource; attrs: Attributes } {
    let e = this.identities.get(target);
    if (e === undefined) {
      const attrs = identityAttributes(target);
      const resource = this.opts.containerAttributes === 'resource' ? resourceFromAttributes({ ...this.host, ...attrs }) : (this.hostResource ??= resourceFromAttributes(this.host));
      e = { resource, attrs };
      this.identities.set(target, e);
    }
    return e;
  }

  /** A data point's attributes: the metric's own labels, and in datapoint mode the container's identity too. */
  private pointAttributes(identity: Attributes, extra: Labels | null | undefined): Attributes {
    if (this.opts.containerAttributes === 'datapoint') {
      const a: Attributes = { ...identity };
      if (extra) for (const [k, v] of extra.pairs) a[k] = v;
      return a;
    }
    if (!extra) return SdkOtlpEncoder.NONE;
    let a = this.extraAttrs.get(extra);
    if (a === undefined) this.extraAttrs.set(extra, (a = Object.fromEntries(extra.pairs)));
    return a;
  }

  private metricData(def: MetricDef, dataPoints: DataPoint<number>[]): MetricData {
    const descriptor = { name: otlpName(def), description: def.help, unit: otlpUnit(def), valueType: ValueType.DOUBLE };
    if (def.type === 'counter') {
      return { descriptor, aggregationTemporality: AggregationTemporality.CUMULATIVE, dataPointType: DataPointType.SUM, isMonotonic: true, dataPoints };
    }
    return { descriptor, aggregationTemporality: AggregationTemporality.CUMULATIVE, dataPointType: DataPointType.GAUGE, dataPoints };
  }

  private serialize(parts: ResourceMetrics[]): Buffer {
    // An ExportMetricsServiceRequest is `repeated ResourceMetrics resource_metrics = 1`, and
    // protobuf parses concatenated messages as one with the repeated fields joined: so one
    // request per resource, concatenated, is the request with all the resources.
    const bytes = parts.map((rm) => {
      const b = ProtobufMetricsSerializer.serializeRequest(rm);
      if (b === undefined) throw new Error('the OTLP serializer could not encode a request');
      return b;
    });
    return Buffer.concat(bytes);
  }

  /**
   * Batches of at most `maxItems` data points, made target by target (a resource's metrics
   * are split across batches when they must be), so the caller can yield between batches.
   */
  *batches(snapshot: Snapshot, maxItems: number): Iterable<Batch> {
    const end = hr(snapshot.time);
    const families = snapshot.families;
    // The snapshot is family by family; resources group a target's series of all families.
    const byTarget = new Map<Labels, number[]>();
    const started = new Map<Labels, number>();
    families.forEach((f, fi) => {
      const isStart = f.def.name === 'container_start_time_seconds';
      for (let i = 0; i < f.values.length; i++) {
        const t = f.targets[i] as Labels;
        let list = byTarget.get(t);
        if (list === undefined) byTarget.set(t, (list = []));
        list.push(fi, i);
        // Cumulative sums start when the container started: lookout reads kernel counters
        // that begin with the cgroup.
        const v = f.values[i] as number;
        if (isStart && v > 0 && v * 1000 <= snapshot.time) started.set(t, v * 1000);
      }
    });
    // In datapoint mode every target shares the host resource: gather them under it.
    const groups = new Map<Resource, Array<[Labels, number[]]>>();
    for (const entry of byTarget) {
      const r = this.identity(entry[0]).resource;
      let g = groups.get(r);
      if (g === undefined) groups.set(r, (g = []));
      g.push(entry);
    }
    const seen = new Map<string, number>();
    let parts: ResourceMetrics[] = [];
    let items = 0;
    const flush = (): Batch => {
      const b = { items, body: this.serialize(parts), createdAt: snapshot.time };
      parts = [];
      items = 0;
      return b;
    };
    for (const [resource, targets] of groups) {
      let metrics = new Map<MetricDef, DataPoint<number>[]>();
      const close = (): void => {
        if (metrics.size === 0) return;
        parts.push({ resource, scopeMetrics: [{ scope: this.scope, metrics: [...metrics].map(([def, points]) => this.metricData(def, points)) }] });
        metrics = new Map();
      };
      for (const [target, list] of targets) {
        const id = this.identity(target);
        const first = this.firstSeen.get(target.text) ?? snapshot.time;
        seen.set(target.text, first);
        const start = hr(started.get(target) ?? first);
        for (let n = 0; n < list.length; n += 2) {
          const f = families[list[n] as number] as Family;
          const i = list[n + 1] as number;
          let points = metrics.get(f.def);
          if (points === undefined) metrics.set(f.def, (points = []));
          points.push({ startTime: f.def.type === 'counter' ? start : end, endTime: end, attributes: this.pointAttributes(id.attrs, f.extras[i]), value: f.values[i] as number });
          if (++items >= maxItems) {
            close();
            yield flush();
          }
        }
      }
      close();
    }
    if (items > 0) yield flush();
    this.firstSeen = seen;
  }
}
