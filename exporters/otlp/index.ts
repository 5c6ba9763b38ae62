/**
 * The OTLP exporter: snapshots as OpenTelemetry metrics (encode.ts), protobuf over HTTP
 * (`application/x-protobuf`, optionally gzip), POSTed to the endpoint through a Delivery.
 * A response reporting a partial success (data points the backend rejected) is logged.
 */
import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import { ProtobufMetricsSerializer } from '@opentelemetry/otlp-transformer';
import type { Exporter, ExporterContext, ExporterFactory } from '../../src/component.js';
import type { Batch, Sender } from '../../src/delivery.js';
import { RateLimitedLog } from '../../src/log.js';
import type { Snapshot } from '../../src/model.js';
import { defaultHostname, post, PushExporter, Scrubber } from '../../src/push.js';
import { parseDuration } from '../../src/schema.js';
import { VERSION } from '../../src/version.js';
import { configSchema, type OtlpConfig } from './config.js';
import { OtlpEncoder } from './encode.js';

const gzip = promisify(gzipCb);

function create(cfg: OtlpConfig, ctx: ExporterContext): Exporter {
  const encoder = new OtlpEncoder({ hostName: defaultHostname(cfg.host_name), resourceAttributes: cfg.resource_attributes, containerAttributes: cfg.container_attributes });
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(cfg.headers)) headers[k.toLowerCase()] = v;
  Object.assign(headers, { 'content-type': 'application/x-protobuf', 'user-agent': `lookout/${VERSION}` });
  if (cfg.compression === 'gzip') headers['content-encoding'] = 'gzip';
  const scrub = new Scrubber(Object.values(cfg.headers));
  const timeoutMs = parseDuration(cfg.timeout);
  const partial = new RateLimitedLog(ctx.log, ctx.now);
  const send: Sender = async (body, signal) => {
    let res: Buffer;
    try {
      res = await post(cfg.url, cfg.compression === 'gzip' ? await gzip(body) : body, headers, timeoutMs, signal);
    } catch (err) {
      throw scrub.error(err);
    }
    if (res.length === 0) return;
    try {
      const r = ProtobufMetricsSerializer.deserializeResponse(new Uint8Array(res));
      const rejected = Number(r.partialSuccess?.rejectedDataPoints ?? 0);
      if (rejected > 0) partial.warn('partial', { exporter: 'otlp', rejected_data_points: rejected, err: scrub.text(r.partialSuccess?.errorMessage ?? '') }, 'the OTLP endpoint accepted the request but rejected some data points');
    } catch {
      // Not an OTLP response body (a proxy's, say): the 2xx status is what counts.
    }
  };
  const encode = (snapshot: Snapshot, maxItems: number): Iterable<Batch> => encoder.batches(snapshot, maxItems);
  return new PushExporter('otlp', cfg, ctx, encode, send);
}

export const otlpExporter: ExporterFactory<OtlpConfig> = {
  type: 'otlp',
  description: 'Pushes OpenTelemetry metrics over OTLP/HTTP (protobuf) with semantic-convention resource attributes (host.name, container.*, k8s.*).',
  configSchema,
  create,
};
