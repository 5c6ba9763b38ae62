/**
 * Log records as OpenTelemetry logs: the SDK's `ReadableLogRecord` (@opentelemetry/sdk-logs)
 * serialized by @opentelemetry/otlp-transformer's `ProtobufLogsSerializer`, the serializer
 * of the OTLP proto log exporter. As for metrics, the SDK's LoggerProvider is not used: the
 * records exist already, and the Delivery owns queueing and retries.
 *
 * - Resource per container: `host.name`, `resource_attributes`, and the container's identity
 *   as the metrics carry it (`container.id`, `container.name`, `container.image.name`,
 *   `container.image.tags`, `k8s.namespace.name`, `k8s.pod.name`, `k8s.container.name`, ...).
 * - Body: the message. Severity: the detected level as number and text (TRACE 1, DEBUG 5,
 *   INFO 9, WARN 13, ERROR 17, FATAL 21); unspecified (0, no text) when none was detected.
 * - Attributes: `log.iostream` (stdout or stderr), `log.file.path` when known.
 * - Time: the record's, in nanoseconds (exact); observed time: when it was encoded.
 */
import type { HrTime } from '@opentelemetry/api';
import type { SeverityNumber } from '@opentelemetry/api-logs';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { type Level, levelOf, type LogRecord, recordTime } from '../../src/logs.js';
import type { Labels } from '../../src/model.js';
import { VERSION } from '../../src/version.js';
import { identityAttributes } from './encode.js';

export interface OtlpLogsOptions {
  readonly hostName: string;
  readonly resourceAttributes: Readonly<Record<string, string>>;
  readonly now: () => number;
}

/** SeverityNumber's values, written out: the enum is only a type here, so api-logs is not loaded for it. */
const SEVERITY: Readonly<Record<Level, readonly [SeverityNumber, string]>> = {
  trace: [1, 'TRACE'],
  debug: [5, 'DEBUG'],
  info: [9, 'INFO'],
  warn: [13, 'WARN'],
  error: [17, 'ERROR'],
  fatal: [21, 'FATAL'],
};

type OtlpTransformer = typeof import('@opentelemetry/otlp-transformer');
let transformer: Promise<OtlpTransformer> | undefined;

/**
 * @opentelemetry/otlp-transformer, loaded on first use and kept: the OTLP exporter is off by
 * default, and loading it (with its protobuf tables) at start-up cost every agent about
 * 200 ms of CPU and a few MB.
 */
export function loadOtlpTransformer(): Promise<OtlpTransformer> {
  transformer ??= import('@opentelemetry/otlp-transformer');
  return transformer;
}

/** What encoding needs from the SDK, once loaded. */
interface LogsSdk {
  readonly serializer: OtlpTransformer['ProtobufLogsSerializer'];
  readonly resourceFromAttributes: (typeof import('@opentelemetry/resources'))['resourceFromAttributes'];
}
let logsSdk: Promise<LogsSdk> | undefined;
function loadLogsSdk(): Promise<LogsSdk> {
  logsSdk ??= Promise.all([loadOtlpTransformer(), import('@opentelemetry/resources')]).then(([t, r]) => ({ serializer: t.ProtobufLogsSerializer, resourceFromAttributes: r.resourceFromAttributes }));
  return logsSdk;
}

export class OtlpLogsEncoder {
  /** One object: the serializer groups records by scope identity. */
  private readonly scope = { name: 'lookout', version: VERSION };
  private readonly resources = new WeakMap<Labels, Resource>();
  private readonly host: Record<string, string>;
  private sdk: LogsSdk | undefined;

  constructor(private readonly opts: OtlpLogsOptions) {
    this.host = { ...opts.resourceAttributes, 'host.name': opts.hostName };
  }

  /** Loads the SDK's serializer; `records` and `encode` may be called once it resolves. Safe to call again. */
  async load(): Promise<void> {
    this.sdk ??= await loadLogsSdk();
  }

  private loaded(): LogsSdk {
    if (this.sdk === undefined) throw new Error('OtlpLogsEncoder used before load() resolved');
    return this.sdk;
  }

  /** The container's resource, one object per identity label set (the serializer groups records by resource identity). */
  private resource(labels: Labels): Resource {
    let r = this.resources.get(labels);
    if (r === undefined) this.resources.set(labels, (r = this.loaded().resourceFromAttributes({ ...this.host, ...identityAttributes(labels) })));
    return r;
  }

  records(records: readonly LogRecord[]): ReadableLogRecord[] {
    const nowMs = this.opts.now();
    const observedS = Math.floor(nowMs / 1000);
    const observed: HrTime = [observedS, Math.round((nowMs - observedS * 1000) * 1e6)];
    return records.map((r) => {
      const t = recordTime(r, nowMs);
      const level = levelOf(r);
      const sev = level !== undefined ? SEVERITY[level] : undefined;
      const attributes: Record<string, string> = { 'log.iostream': r.stream };
      if (r.source !== undefined) attributes['log.file.path'] = r.source;
      return {
        hrTime: [t.seconds, t.nanos],
        hrTimeObserved: observed,
        ...(sev !== undefined ? { severityNumber: sev[0], severityText: sev[1] } : {}),
        body: r.message,
        resource: this.resource(r.labels),
        instrumentationScope: this.scope,
        attributes,
        droppedAttributesCount: 0,
      };
    });
  }

  /** One ExportLogsServiceRequest body (after {@link load}). */
  encode(records: readonly LogRecord[]): Buffer {
    const bytes = this.loaded().serializer.serializeRequest(this.records(records));
    if (bytes === undefined) throw new Error('the OTLP serializer could not encode a logs request');
    return Buffer.from(bytes);
  }
}
