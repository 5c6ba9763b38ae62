/**
 * What the push exporters (InfluxDB, Prometheus remote_write, OTLP) share: their common
 * settings, the loop that takes a snapshot on each exporter's own interval, encodes it into
 * batches of bounded size and queues them into a {@link Delivery}, an HTTP POST that
 * classifies failures for the delivery's retry logic, and credentials read from the config
 * (where `${VAR}` brings them from the environment) or from a file.
 *
 * Credentials are never printed: config schemas mark them `writeOnly` (config errors and
 * `lookout validate` redact them), and every error an exporter raises goes through
 * {@link Scrubber}, which blanks any credential a server might echo back.
 */
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { Type } from '@sinclair/typebox';
import type { Exporter, ExporterContext } from './component.js';
import { type Batch, Delivery, DeliveryError, httpFailure, type Sender, type Sheddable } from './delivery.js';
import { LookoutError } from './errors.js';
import { RateLimitedLog } from './log.js';
import type { Snapshot } from './model.js';
import { Duration, parseDuration } from './schema.js';

/** http(s) URLs without user info: credentials have their own settings, so they never sit in a URL that gets logged. */
export const PUSH_URL_PATTERN = '^https?://[^/?#@\\s]+([/?][^\\s]*)?$';

/** Settings every push exporter has, with the exporter's own defaults. */
export interface PushSettings {
  readonly enabled: boolean;
  readonly url: string;
  readonly interval: string;
  readonly max_batch_samples: number;
  readonly buffer: 'memory' | 'disk';
  readonly max_buffer_bytes: number;
  readonly timeout: string;
  readonly min_backoff: string;
  readonly max_backoff: string;
  readonly flush_timeout: string;
}

export function pushSettings(d: { what: string; url: string; urlHelp: string; interval: string; maxBatchSamples: number; samples: string }) {
  return {
    enabled: Type.Boolean({ default: false, description: `Push metrics to ${d.what}. Off by default: the agent pushes nowhere unless told to.` }),
    url: Type.String({ default: d.url, pattern: PUSH_URL_PATTERN, description: `${d.urlHelp} http or https; credentials go in their own settings, never in the URL.` }),
    interval: Duration(d.interval, 'How often this exporter takes a snapshot (shared with scrapes within `collect.min_interval`) and queues it for sending.'),
    max_batch_samples: Type.Integer({ minimum: 1, maximum: 1_000_000, default: d.maxBatchSamples, description: `Upper bound of ${d.samples} in one request.` }),
    buffer: Type.Union([Type.Literal('memory'), Type.Literal('disk')], {
      default: 'memory',
      description: '`memory`: batches wait in a bounded queue in memory; `disk`: in `<state_dir>/buffers/<exporter>`, written and fsync\'d before they are queued, so they survive a restart.',
    }),
    max_buffer_bytes: Type.Integer({ minimum: 1024, default: 64 * 1024 * 1024, description: 'Cap of the queued batches\' encoded bytes; past it the oldest batches are dropped and counted in `lookout_exporter_dropped_total`.' }),
    timeout: Duration('10s', 'Timeout of one request.'),
    min_backoff: Duration('200ms', 'First wait before retrying a failed send (network error, 408, 429, 5xx); doubled on each failure, with jitter.'),
    max_backoff: Duration('30s', 'Longest wait between retries.'),
    flush_timeout: Duration('700ms', 'On shutdown, how long to keep delivering what is queued before stopping (what is left is kept on disk with `buffer: disk`, else counted as dropped).'),
  };
}

/** Replaces every occurrence of the given credentials (and their Basic-auth base64 forms) in a text. */
export class Scrubber {
  private readonly secrets: string[];
  constructor(secrets: ReadonlyArray<string | undefined>) {
    const all = new Set<string>();
    for (const s of secrets) {
      if (s === undefined || s.length < 3) continue;
      all.add(s);
      all.add(encodeURIComponent(s));
    }
    this.secrets = [...all].sort((a, b) => b.length - a.length);
  }

  /** Also blanks `user:password` in base64, as a server echoing an Authorization header would show it. */
  withBasic(user: string, password: string): this {
    if (password.length >= 3) this.secrets.unshift(Buffer.from(`${user}:${password}`).toString('base64'));
    return this;
  }

  text(s: string): string {
    let out = s;
    for (const secret of this.secrets) if (out.includes(secret)) out = out.split(secret).join('(redacted)');
    return out;
  }

  /** The same error with credentials blanked from its message; a DeliveryError keeps its classification. */
  error(err: unknown): Error {
    if (err instanceof DeliveryError) {
      const msg = this.text(err.message);
      return msg === err.message ? err : new DeliveryError(msg, err.retryable, err.status, err.retryAfterMs);
    }
    return new DeliveryError(this.text(describeError(err)), true);
  }
}

/** A network error in one line: the message and the system error under fetch's "fetch failed". */
export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? err.cause : undefined;
  if (cause) {
    const inner = cause.cause instanceof Error ? `: ${cause.cause.message}` : '';
    return `${err.message}: ${cause.message}${inner}`;
  }
  return err.message;
}

/** Connections kept open between pushes, as a long-running sender wants (a few per destination). */
const AGENTS = { http: new HttpAgent({ keepAlive: true, maxSockets: 4 }), https: new HttpsAgent({ keepAlive: true, maxSockets: 4 }) };

/**
 * POSTs a body; resolves on 2xx with the response body, throws a DeliveryError otherwise
 * (retryable for network errors, timeouts, 408, 429 and 5xx; redirects are not followed).
 * The URL, never the headers, goes into messages. node:http rather than fetch: fetch copies
 * every request body once more, which was a third of a push exporter's cost at 1000 containers.
 */
export function post(url: string, body: Buffer, headers: Record<string, string>, timeoutMs: number, signal: AbortSignal): Promise<Buffer> {
  const u = new URL(url);
  const secure = u.protocol === 'https:';
  return new Promise<Buffer>((resolve, reject) => {
    let settled = false;
    const settle = (err: DeliveryError | undefined, text?: Buffer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve(text as Buffer);
    };
    const req = (secure ? httpsRequest : httpRequest)(
      u,
      { method: 'POST', headers: { ...headers, 'content-length': String(body.length) }, agent: secure ? AGENTS.https : AGENTS.http },
      (res) => {
        const status = res.statusCode ?? 0;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => settle(new DeliveryError(`POST ${url}: HTTP ${status}, then reading the response failed: ${describeError(err)}`, true, status)));
        res.on('end', () => {
          const text = Buffer.concat(chunks);
          const retryAfter = res.headers['retry-after'];
          settle(httpFailure(status, text.toString('utf8'), Array.isArray(retryAfter) ? retryAfter[0] : retryAfter), text);
        });
      },
    );
    const timer = setTimeout(() => req.destroy(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
    const onAbort = (): void => {
      req.destroy(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    req.on('error', (err) => settle(new DeliveryError(`POST ${url}: ${describeError(err)}`, true)));
    if (signal.aborted) onAbort();
    req.end(body);
  });
}

export function defaultHostname(configured: string): string {
  return configured !== '' ? configured : hostname();
}

/** Encodes one snapshot into batches of at most `maxItems` items each. */
export type Encode = (snapshot: Snapshot, maxItems: number) => Iterable<Batch>;

/**
 * The push loop: on start, and then every `interval`, takes a snapshot and queues its
 * batches; the delivery sends them in the background. A push never waits for the
 * destination, and yields to the event loop between batches so scrapes go on meanwhile.
 */
export class PushExporter implements Exporter {
  readonly encodesSnapshots = true;
  readonly delivery: Delivery;
  private readonly intervalMs: number;
  private readonly flushMs: number;
  private timer: NodeJS.Timeout | undefined;
  private inflight: Promise<void> | undefined;
  private lastTime = Number.NEGATIVE_INFINITY;
  private started = false;
  private stopping: Promise<void> | undefined;
  private readonly problems: RateLimitedLog;

  constructor(
    readonly type: string,
    private readonly settings: PushSettings,
    private readonly ctx: ExporterContext,
    private readonly encode: Encode,
    send: Sender,
  ) {
    this.intervalMs = parseDuration(settings.interval);
    this.flushMs = parseDuration(settings.flush_timeout);
    if (this.intervalMs <= 0) throw new LookoutError('LOOKOUT_ERR_CONFIG', `config key "exporters.${type}.interval" must be more than 0`);
    this.problems = new RateLimitedLog(ctx.log, ctx.now);
    this.delivery = new Delivery(
      type,
      send,
      {
        maxBytes: settings.max_buffer_bytes,
        dir: settings.buffer === 'disk' ? join(ctx.stateDir, 'buffers', type) : undefined,
        backoffMinMs: parseDuration(settings.min_backoff),
        backoffMaxMs: Math.max(parseDuration(settings.max_backoff), parseDuration(settings.min_backoff)),
      },
      ctx.self,
      ctx.log,
      ctx.now,
    );
  }

  queues(): readonly Sheddable[] {
    return [this.delivery];
  }

  async start(): Promise<void> {
    if (this.started || this.stopping) return;
    this.started = true;
    const u = new URL(this.settings.url);
    // Origin and path only: a query string may carry a key.
    this.ctx.log.info({ exporter: this.type, url: `${u.origin}${u.pathname}`, interval: this.settings.interval, buffer: this.settings.buffer, pending_batches: this.delivery.pending }, 'push exporter started');
    this.delivery.start();
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.tick();
  }

  /** Starts a push unless the previous one is still collecting or encoding (then this interval is skipped). */
  private tick(): void {
    if (this.inflight || this.stopping) return;
    this.inflight = this.ctx
      .snapshot()
      .then((snap) => this.export(snap))
      .catch((err: unknown) => this.problems.warn('push', { exporter: this.type, err: describeError(err) }, 'push failed: could not collect or encode a snapshot'))
      .finally(() => {
        this.inflight = undefined;
      });
  }

  /** Encodes a snapshot and queues its batches; a snapshot already pushed (shared with a scrape) is not pushed twice. */
  async export(snapshot: Snapshot): Promise<void> {
    if (snapshot.time <= this.lastTime) return;
    this.lastTime = snapshot.time;
    for (const batch of this.encode(snapshot, this.settings.max_batch_samples)) {
      if (batch.items === 0) continue;
      this.delivery.enqueue(batch);
      await yieldToLoop();
    }
  }

  shutdown(): Promise<void> {
    this.stopping ??= (async () => {
      if (this.timer) clearInterval(this.timer);
      await this.inflight;
      await this.delivery.shutdown(this.started ? this.flushMs : 0);
    })();
    return this.stopping;
  }
}

/** The 64-hex container id in a cgroup path (`/docker/<id>`, `.../cri-containerd-<id>.scope`, `.../libpod-<id>.scope`), if there is one. */
export function containerIdOf(cgroupPath: string): string | undefined {
  return /(?:^|[/-])([0-9a-f]{64})(?:\.scope)?$/.exec(cgroupPath)?.[1];
}

/**
 * An image reference split into repository and tag (`docker.io/library/nginx:1.27` into
 * `docker.io/library/nginx` and `1.27`); a digest (`@sha256:...`) is dropped, a registry port
 * (`host:5000/app`) is not taken for a tag. `tag` is undefined when there is none.
 */
export function splitImage(image: string): { name: string; tag: string | undefined } {
  const at = image.indexOf('@');
  const ref = at === -1 ? image : image.slice(0, at);
  const colon = ref.lastIndexOf(':');
  if (colon === -1 || colon < ref.lastIndexOf('/')) return { name: ref, tag: undefined };
  return { name: ref.slice(0, colon), tag: ref.slice(colon + 1) };
}
