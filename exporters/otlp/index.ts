/**
 * The OTLP exporter: snapshots as OpenTelemetry metrics (encode.ts), protobuf over HTTP
 * (`application/x-protobuf`, optionally gzip), POSTed to the endpoint through a Delivery.
 * A response reporting a partial success (data points the backend rejected) is logged.
 * With `logs.enabled`, container log records go to the logs endpoint too (logs.ts), through
 * the shared log push (src/logpush.ts) with its own Delivery (`exporter="otlp_logs"`).
 */
import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import type { Exporter, ExporterContext, ExporterFactory } from '../../src/component.js';
import type { Batch, Sender } from '../../src/delivery.js';
import { LookoutError } from '../../src/errors.js';
import { RateLimitedLog } from '../../src/log.js';
import { LogPusher, urlForLog, withLogs } from '../../src/logpush.js';
import type { Snapshot } from '../../src/model.js';
import { defaultHostname, post, PushExporter, Scrubber } from '../../src/push.js';
import { parseDuration } from '../../src/schema.js';
import { VERSION } from '../../src/version.js';
import { configSchema, type OtlpConfig } from './config.js';
import { OtlpEncoder } from './encode.js';
import { loadOtlpTransformer, OtlpLogsEncoder } from './logs.js';

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
  const postTo = async (url: string, body: Buffer, signal: AbortSignal): Promise<Buffer> => {
    try {
      return await post(url, cfg.compression === 'gzip' ? await gzip(body) : body, headers, timeoutMs, signal);
    } catch (err) {
      throw scrub.error(err);
    }
  };
  const send: Sender = async (body, signal) => {
    const res = await postTo(cfg.url, body, signal);
    if (res.length === 0) return;
    try {
      const { ProtobufMetricsSerializer } = await loadOtlpTransformer();
      const r = ProtobufMetricsSerializer.deserializeResponse(new Uint8Array(res));
      const rejected = Number(r.partialSuccess?.rejectedDataPoints ?? 0);
      if (rejected > 0) partial.warn('partial', { exporter: 'otlp', rejected_data_points: rejected, err: scrub.text(r.partialSuccess?.errorMessage ?? '') }, 'the OTLP endpoint accepted the request but rejected some data points');
    } catch {
      // Not an OTLP response body (a proxy's, say): the 2xx status is what counts.
    }
  };
  const encode = (snapshot: Snapshot, maxItems: number): Iterable<Batch> => encoder.batches(snapshot, maxItems);
  const metrics = new PushExporter('otlp', cfg, ctx, encode, send);
  if (!cfg.logs.enabled) return metrics;

  const logsUrl = logsEndpoint(cfg);
  const sendLogs: Sender = async (body, signal) => {
    const res = await postTo(logsUrl, body, signal);
    if (res.length === 0) return;
    try {
      const { ProtobufLogsSerializer } = await loadOtlpTransformer();
      const r = ProtobufLogsSerializer.deserializeResponse(new Uint8Array(res));
      const rejected = Number(r.partialSuccess?.rejectedLogRecords ?? 0);
      if (rejected > 0) partial.warn('partial_logs', { exporter: 'otlp_logs', rejected_log_records: rejected, err: scrub.text(r.partialSuccess?.errorMessage ?? '') }, 'the OTLP endpoint accepted the request but rejected some log records');
    } catch {
      // Not an OTLP response body: the 2xx status is what counts.
    }
  };
  const logsEncoder = new OtlpLogsEncoder({ hostName: defaultHostname(cfg.host_name), resourceAttributes: cfg.resource_attributes, now: ctx.now });
  return withLogs(metrics, new LogPusher('otlp_logs', cfg.logs, ctx, (records) => logsEncoder.encode(records), sendLogs, urlForLog(logsUrl), () => logsEncoder.load()));
}

/** `logs.url`, or `url` with `/v1/metrics` replaced by `/v1/logs`, as the OTLP/HTTP paths go. */
export function logsEndpoint(cfg: OtlpConfig): string {
  if (cfg.logs.url !== '') return cfg.logs.url;
  const u = new URL(cfg.url);
  if (!u.pathname.endsWith('/v1/metrics')) {
    throw new LookoutError('LOOKOUT_ERR_CONFIG', `config key "exporters.otlp.logs.url" is needed: "exporters.otlp.url" does not end in /v1/metrics, so the logs endpoint cannot be derived from it`);
  }
  u.pathname = `${u.pathname.slice(0, -'/v1/metrics'.length)}/v1/logs`;
  return u.toString();
}

export const otlpExporter: ExporterFactory<OtlpConfig> = {
  type: 'otlp',
  description: 'Pushes OpenTelemetry metrics (and with `logs.enabled`, container logs) over OTLP/HTTP (protobuf) with semantic-convention resource attributes (host.name, container.*, k8s.*).',
  configSchema,
  create,
};
