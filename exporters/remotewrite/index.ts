/**
 * The Prometheus remote-write exporter (protocol 1.0): each snapshot becomes WriteRequests of
 * at most `max_batch_samples` series (one sample each, at the snapshot's time), protobuf
 * encoded and snappy block compressed (protobuf.ts, snappy.ts), POSTed with the protocol's headers.
 * Series carry the metric's catalogue name, the target's identity labels, the metric's own
 * labels and the external labels: the same series a Prometheus scraping lookout would store
 * (less `job` and `instance`).
 */
import type { Exporter, ExporterContext, ExporterFactory } from '../../src/component.js';
import type { Batch, Sender } from '../../src/delivery.js';
import { LookoutError } from '../../src/errors.js';
import type { Snapshot } from '../../src/model.js';
import { type Encode, post, PushExporter, Scrubber } from '../../src/push.js';
import { parseDuration, readSecret } from '../../src/schema.js';
import { VERSION } from '../../src/version.js';
import { configSchema, type RemoteWriteConfig } from './config.js';
import { type LabelPairs, WriteRequestEncoder } from './protobuf.js';

/** Encodes snapshots into snappy-compressed WriteRequests of at most `maxItems` series (see {@link WriteRequestEncoder}). */
export function remoteWriteEncoder(external: LabelPairs): Encode {
  const encoder = new WriteRequestEncoder(external);
  return (snapshot: Snapshot, maxItems: number): Iterable<Batch> => encoder.encode(snapshot, maxItems);
}

/** The request headers: the protocol's, the configured ones, and the credentials (which win over a configured Authorization). */
export function requestHeaders(cfg: RemoteWriteConfig, password: string, token: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(cfg.headers)) headers[k.toLowerCase()] = v;
  Object.assign(headers, {
    'content-type': 'application/x-protobuf',
    'content-encoding': 'snappy',
    'x-prometheus-remote-write-version': '0.1.0',
    'user-agent': `lookout/${VERSION}`,
  });
  if (cfg.basic_auth.username !== '') headers['authorization'] = `Basic ${Buffer.from(`${cfg.basic_auth.username}:${password}`).toString('base64')}`;
  else if (token !== '') headers['authorization'] = `Bearer ${token}`;
  return headers;
}

function create(cfg: RemoteWriteConfig, ctx: ExporterContext): Exporter {
  const password = readSecret('exporters.remotewrite.basic_auth.password', cfg.basic_auth.password, cfg.basic_auth.password_file);
  const token = readSecret('exporters.remotewrite.bearer_token', cfg.bearer_token, cfg.bearer_token_file);
  if (cfg.basic_auth.username !== '' && token !== '') {
    throw new LookoutError('LOOKOUT_ERR_CONFIG', 'config keys "exporters.remotewrite.basic_auth" and "exporters.remotewrite.bearer_token" are both set; use one');
  }
  if (cfg.basic_auth.username === '' && password !== '') {
    throw new LookoutError('LOOKOUT_ERR_CONFIG', 'config key "exporters.remotewrite.basic_auth.password" is set without basic_auth.username');
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
  return new PushExporter('remotewrite', cfg, ctx, remoteWriteEncoder(Object.entries(cfg.external_labels)), send);
}

export const remoteWriteExporter: ExporterFactory<RemoteWriteConfig> = {
  type: 'remotewrite',
  description: 'Pushes to a Prometheus remote-write receiver (protocol 1.0: protobuf and snappy) with external labels; basic auth or bearer token.',
  configSchema,
  create,
};
