/**
 * The Loki exporter: container log records pushed to `/loki/api/v1/push` (protobuf and
 * snappy, or JSON; see encode.ts) through the shared log push (src/logpush.ts): bounded
 * batches, a Delivery retrying network errors, 408, 429 (after the server's Retry-After) and
 * 5xx with backoff, a 4xx other than those counted and not retried, and backpressure or an
 * on-disk buffer by `buffer`. Metrics are not sent here. Its self-metrics carry
 * `exporter="loki"`.
 */
import type { Exporter, ExporterContext, ExporterFactory } from '../../src/component.js';
import type { Sender } from '../../src/delivery.js';
import { LookoutError } from '../../src/errors.js';
import { RateLimitedLog } from '../../src/log.js';
import { LogPusher, urlForLog } from '../../src/logpush.js';
import { defaultHostname, post, Scrubber } from '../../src/push.js';
import { parseDuration, readSecret } from '../../src/schema.js';
import { VERSION } from '../../src/version.js';
import { configSchema, type LokiConfig } from './config.js';
import { LokiEncoder } from './encode.js';

const key = (k: string): string => `exporters.loki.${k}`;

/** The request headers: the configured ones, then the protocol's, the tenant and the credentials (which win over a configured Authorization). */
export function requestHeaders(cfg: LokiConfig, password: string, token: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(cfg.headers)) headers[k.toLowerCase()] = v;
  headers['user-agent'] = `lookout/${VERSION}`;
  if (cfg.encoding === 'protobuf') {
    // Loki reads a protobuf push as snappy block data whatever Content-Encoding says, as Promtail sends it.
    headers['content-type'] = 'application/x-protobuf';
  } else headers['content-type'] = 'application/json';
  if (cfg.tenant_id !== '') headers['x-scope-orgid'] = cfg.tenant_id;
  if (cfg.basic_auth.username !== '') headers['authorization'] = `Basic ${Buffer.from(`${cfg.basic_auth.username}:${password}`).toString('base64')}`;
  else if (token !== '') headers['authorization'] = `Bearer ${token}`;
  return headers;
}

function create(cfg: LokiConfig, ctx: ExporterContext): Exporter {
  const password = readSecret(key('basic_auth.password'), cfg.basic_auth.password, cfg.basic_auth.password_file);
  const token = readSecret(key('bearer_token'), cfg.bearer_token, cfg.bearer_token_file);
  if (cfg.basic_auth.username !== '' && token !== '') {
    throw new LookoutError('LOOKOUT_ERR_CONFIG', `config keys "${key('basic_auth')}" and "${key('bearer_token')}" are both set; use one`);
  }
  if (cfg.basic_auth.username === '' && password !== '') {
    throw new LookoutError('LOOKOUT_ERR_CONFIG', `config key "${key('basic_auth.password')}" is set without basic_auth.username`);
  }
  const headers = requestHeaders(cfg, password, token);
  const scrub = new Scrubber([password, token, ...Object.values(cfg.headers)]).withBasic(cfg.basic_auth.username, password);
  const timeoutMs = parseDuration(cfg.timeout);
  const send: Sender = async (body, signal) => {
    try {
      await post(cfg.url, body, headers, timeoutMs, signal);
    } catch (err) {
      throw scrub.error(err);
    }
  };
  const moved = new RateLimitedLog(ctx.log, ctx.now);
  const encoder = new LokiEncoder({
    encoding: cfg.encoding,
    labels: cfg.labels,
    staticLabels: cfg.static_labels,
    job: cfg.job,
    host: defaultHostname(cfg.hostname),
    maxOutOfOrderNs: parseDuration(cfg.max_out_of_order) * 1e6,
    now: ctx.now,
    onRewritten: (entries) =>
      moved.warn('out_of_order', { exporter: 'loki', entries, max_out_of_order: cfg.max_out_of_order }, 'log entries older than their stream\'s newest sent entry by more than max_out_of_order were sent with that newest time'),
  });
  const pusher = new LogPusher('loki', cfg, ctx, (records) => encoder.encode(records), send, urlForLog(cfg.url));
  return {
    start: async () => pusher.start(),
    export: async () => undefined,
    writeLogs: (records) => pusher.writeLogs(records),
    queues: () => [pusher.delivery],
    shutdown: () => pusher.shutdown(),
  };
}

export const lokiExporter: ExporterFactory<LokiConfig> = {
  type: 'loki',
  description: 'Pushes container log records to Grafana Loki (`/loki/api/v1/push`, protobuf and snappy or JSON) with low-cardinality stream labels, a tenant, basic auth or a bearer token.',
  configSchema,
  create,
};
