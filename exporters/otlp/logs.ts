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
import { SeverityNumber } from '@opentelemetry/api-logs';
import { ProtobufLogsSerializer } from '@opentelemetry/otlp-transformer';
import { type Resource, resourceFromAttributes } from '@opentelemetry/resources';
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

const SEVERITY: Readonly<Record<Level, readonly [SeverityNumber, string]>> = {
  trace: [SeverityNumber.TRACE, 'TRACE'],
  debug: [SeverityNumber.DEBUG, 'DEBUG'],
  info: [SeverityNumber.INFO, 'INFO'],
  warn: [SeverityNumber.WARN, 'WARN'],
  error: [SeverityNumber.ERROR, 'ERROR'],
  fatal: [SeverityNumber.FATAL, 'FATAL'],
};

export class OtlpLogsEncoder {
  /** One object: the serializer groups records by scope identity. */
  private readonly scope = { name: 'lookout', version: VERSION };
  private readonly resources = new WeakMap<Labels, Resource>();
  private readonly host: Record<string, string>;

  constructor(private readonly opts: OtlpLogsOptions) {
    this.host = { ...opts.resourceAttributes, 'host.name': opts.hostName };
  }

  /** The container's resource, one object per identity label set (the serializer groups records by resource identity). */
  private resource(labels: Labels): Resource {
    let r = this.resources.get(labels);
    if (r === undefined) this.resources.set(labels, (r = resourceFromAttributes({ ...this.host, ...identityAttributes(labels) })));
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

  /** One ExportLogsServiceRequest body. */
  encode(records: readonly LogRecord[]): Buffer {
    const bytes = ProtobufLogsSerializer.serializeRequest(this.records(records));
    if (bytes === undefined) throw new Error('the OTLP serializer could not encode a logs request');
    return Buffer.from(bytes);
  }
}
