/**
 * The InfluxDB exporter: line protocol (our own encoder, see lineprotocol.ts) in the
 * Telegraf docker layout or the generic one, pushed on its own interval through a Delivery.
 *
 * - `api: v1` (InfluxDB 1.x, or 2.x's 1.x-compatible /write): the `influx` client's InfluxDB
 *   class creates the database (its pool's own retries and host backoff turned off: the
 *   Delivery retries, with its bounded queue); the writes are plain POSTs of the encoded
 *   bytes to `/write` with Basic authentication, never credentials in the query string.
 * - `api: v2` (InfluxDB 2.x, 3.x, Cloud): `/api/v2/write?org=&bucket=&precision=` with
 *   `Authorization: Token ...`, the same line protocol.
 * - `logs.enabled`: container log records too, in Telegraf's syslog layout (logs.ts), through
 *   the shared log push (src/logpush.ts) with its own batches, buffer and Delivery
 *   (`exporter="influxdb_logs"`), over the same connection settings with precision ns.
 */
import type { InfluxDB } from 'influx';
import type { IBackoffStrategy } from 'influx/lib/src/backoff/backoff.js';
import type { Exporter, ExporterContext, ExporterFactory } from '../../src/component.js';
import { type Batch, BodyPool, DeliveryError, httpFailure, type Sender } from '../../src/delivery.js';
import { LookoutError } from '../../src/errors.js';
import { LogPusher, urlForLog, withLogs } from '../../src/logpush.js';
import type { Snapshot } from '../../src/model.js';
import { defaultHostname, describeError, type Encode, post, PushExporter, Scrubber } from '../../src/push.js';
import { ProtoWriter } from '../../src/protobuf.js';
import { parseDuration, readSecret } from '../../src/schema.js';
import { VERSION } from '../../src/version.js';
import { configSchema, type InfluxConfig } from './config.js';
import { PointBuilder } from './layout.js';
import { type Precision, timestamp } from './lineprotocol.js';
import { SyslogEncoder } from './logs.js';

const V1_PRECISION: Record<Precision, string> = { s: 's', ms: 'ms', us: 'u', ns: 'n' };

/**
 * The `influx` client, loaded when a 1.x sender first needs it: the exporter is off by
 * default, and loading the package at start-up cost every agent about 90 ms of CPU and
 * a few MB. Memoized; `pool` is set once loaded, for the error classes `failure()` checks.
 */
interface InfluxClient {
  readonly InfluxDB: typeof InfluxDB;
  readonly pool: typeof import('influx/lib/src/pool.js');
}
let influxClient: Promise<InfluxClient> | undefined;
let influxPool: InfluxClient['pool'] | undefined;
function loadInflux(): Promise<InfluxClient> {
  influxClient ??= Promise.all([import('influx'), import('influx/lib/src/pool.js')]).then(([main, pool]) => {
    influxPool = pool;
    return { InfluxDB: main.InfluxDB, pool };
  });
  return influxClient;
}

/** No backoff in the influx pool: a failed host stays in the pool, and the Delivery decides when to try again. */
const NO_BACKOFF: IBackoffStrategy = {
  getDelay: () => 0,
  next: () => NO_BACKOFF,
  reset: () => NO_BACKOFF,
};

/**
 * Encodes snapshots into line-protocol batches of at most `maxItems` field values (a point is
 * never split). The builder writes each line straight into a Buffer (a string grown line by
 * line and then turned into bytes costs more than building it), and batches are copied out
 * into pooled bodies.
 */
export function lineProtocolEncoder(builder: PointBuilder, precision: Precision): Encode {
  const out = new ProtoWriter(256 * 1024);
  const bodies = new BodyPool();
  let calls = 0;
  return function* encode(snapshot: Snapshot, maxItems: number): Iterable<Batch> {
    const call = ++calls;
    const ts = Buffer.from(` ${timestamp(snapshot.time, precision)}\n`, 'latin1');
    out.reset();
    let items = 0;
    /** Where the line being written starts: the end of the batch so far. */
    let lineStart = 0;
    for (const n of builder.write(snapshot, out)) {
      if (items > 0 && items + n > maxItems) {
        yield bodies.batch(items, out.buf.subarray(0, lineStart - 1), snapshot.time);
        // A walk started meanwhile has taken over the buffer: this one ends.
        if (calls !== call) return;
        out.buf.copyWithin(0, lineStart, out.pos);
        out.pos -= lineStart;
        items = 0;
      }
      out.raw(ts);
      items += n;
      lineStart = out.pos;
    }
    if (items > 0 && calls === call) yield bodies.batch(items, out.buf.subarray(0, out.pos - 1), snapshot.time);
  };
}

/** The same batches from {@link PointBuilder.lines}, a string per line: the reference the tests hold the encoder to. */
export function lineProtocolStrings(builder: PointBuilder, precision: Precision): Encode {
  return function* encode(snapshot: Snapshot, maxItems: number): Iterable<Batch> {
    const ts = ` ${timestamp(snapshot.time, precision)}\n`;
    let text = '';
    let items = 0;
    const batch = (): Batch => ({ items, body: Buffer.from(text.slice(0, -1), 'utf8'), createdAt: snapshot.time });
    for (const [line, n] of builder.lines(snapshot)) {
      if (items > 0 && items + n > maxItems) {
        yield batch();
        text = '';
        items = 0;
      }
      text += line + ts;
      items += n;
    }
    if (items > 0) yield batch();
  };
}

function hostConfig(url: string) {
  const u = new URL(url);
  const protocol = u.protocol === 'https:' ? ('https' as const) : ('http' as const);
  return { host: u.hostname, port: u.port !== '' ? Number(u.port) : protocol === 'https' ? 443 : 80, protocol, path: u.pathname.replace(/\/+$/, '') };
}

/**
 * The 1.x sender: the `influx` client creates the database (when allowed), then each batch is
 * POSTed to `/write?db=&precision=&rp=` as bytes with Basic authentication. (The client's
 * pool takes a string body: a batch would be decoded from UTF-8 and encoded again per send.)
 */
function v1Sender(cfg: InfluxConfig, ctx: ExporterContext, password: string, scrub: Scrubber, precision: Precision): Sender {
  const timeoutMs = parseDuration(cfg.timeout);
  const host = hostConfig(cfg.url);
  let admin: InfluxDB | undefined;
  const base = cfg.url.replace(/\/+$/, '');
  let query = `db=${encodeURIComponent(cfg.database)}&precision=${V1_PRECISION[precision]}`;
  if (cfg.retention_policy !== '') query += `&rp=${encodeURIComponent(cfg.retention_policy)}`;
  const url = `${base}/write?${query}`;
  const headers: Record<string, string> = { 'content-type': 'text/plain; charset=utf-8', 'user-agent': `lookout/${VERSION}` };
  if (cfg.username !== '') headers['authorization'] = `Basic ${Buffer.from(`${cfg.username}:${password}`).toString('base64')}`;
  let databaseReady = !cfg.create_database;

  const failure = (err: unknown, what: string): DeliveryError => {
    // Before the client is loaded, no error can come from it.
    const pool = influxPool;
    if (pool !== undefined && err instanceof pool.RequestError) {
      const status = err.res.statusCode ?? 0;
      const body = err.message.replace(/^A \d+ [^:]*: /, '');
      const retryAfter = err.res.headers['retry-after'];
      return httpFailure(status, body, Array.isArray(retryAfter) ? retryAfter[0] : retryAfter) ?? new DeliveryError(`${what}: HTTP ${status}`, false, status);
    }
    if (pool !== undefined && err instanceof pool.ServiceNotAvailableError) return new DeliveryError(`${what}: ${err.message}`, true);
    return new DeliveryError(`${what}: ${describeError(err)}`, true);
  };

  const ensureDatabase = async (): Promise<void> => {
    if (databaseReady) return;
    try {
      if (admin === undefined) {
        const client = await loadInflux();
        admin = new client.InfluxDB({
          ...host,
          ...(cfg.username !== '' ? { username: cfg.username, password } : {}),
          pool: { maxRetries: 0, requestTimeout: timeoutMs, backoff: NO_BACKOFF },
        });
      }
      await admin.createDatabase(cfg.database);
      ctx.log.info({ exporter: 'influxdb', database: cfg.database }, 'database created (or already there)');
      databaseReady = true;
    } catch (err) {
      const e = failure(err, `CREATE DATABASE at ${cfg.url}`);
      if (e.retryable) throw e;
      // Refused (no admin rights, say): the database may well exist; the writes will tell.
      ctx.log.warn({ exporter: 'influxdb', database: cfg.database, err: scrub.text(e.message) }, 'could not create the database; writing anyway');
      databaseReady = true;
    }
  };

  return async (body, signal) => {
    try {
      await ensureDatabase();
      await post(url, body, headers, timeoutMs, signal);
    } catch (err) {
      const e = err instanceof DeliveryError ? err : failure(err, `POST ${base}/write?db=${encodeURIComponent(cfg.database)}`);
      if (cfg.create_database && e.status === 404 && /database not found/i.test(e.message)) {
        databaseReady = false; // dropped behind our back: create it again, then retry
        throw scrub.error(new DeliveryError(e.message, true, e.status));
      }
      throw scrub.error(e);
    }
  };
}

/** The 2.x/3.x sender: `/api/v2/write` with a token. */
function v2Sender(cfg: InfluxConfig, token: string, scrub: Scrubber, precision: Precision): Sender {
  const params = new URLSearchParams();
  if (cfg.org !== '') params.set('org', cfg.org);
  params.set('bucket', cfg.bucket);
  params.set('precision', precision);
  const url = `${cfg.url.replace(/\/+$/, '')}/api/v2/write?${params.toString()}`;
  const headers: Record<string, string> = { 'content-type': 'text/plain; charset=utf-8', 'user-agent': `lookout/${VERSION}` };
  if (token !== '') headers['authorization'] = `Token ${token}`;
  const timeoutMs = parseDuration(cfg.timeout);
  return async (body, signal) => {
    try {
      await post(url, body, headers, timeoutMs, signal);
    } catch (err) {
      throw scrub.error(err);
    }
  };
}

function create(cfg: InfluxConfig, ctx: ExporterContext): Exporter {
  const key = (k: string): string => `exporters.influxdb.${k}`;
  // One sender per precision: metrics in `precision`, logs always in ns.
  let sender: (precision: Precision) => Sender;
  if (cfg.api === 'v1') {
    if (cfg.token !== '' || cfg.token_file !== '' || cfg.bucket !== '') {
      throw new LookoutError('LOOKOUT_ERR_CONFIG', `config keys "${key('token')}" and "${key('bucket')}" are for api: v2; with api: v1 use database, username and password`);
    }
    const password = readSecret(key('password'), cfg.password, cfg.password_file);
    const scrub = new Scrubber([password]).withBasic(cfg.username, password);
    sender = (precision) => v1Sender(cfg, ctx, password, scrub, precision);
  } else {
    if (cfg.bucket === '') throw new LookoutError('LOOKOUT_ERR_CONFIG', `config key "${key('bucket')}" is required with api: v2`);
    if (cfg.username !== '' || cfg.password !== '' || cfg.password_file !== '') {
      throw new LookoutError('LOOKOUT_ERR_CONFIG', `config keys "${key('username')}" and "${key('password')}" are for api: v1; with api: v2 use token`);
    }
    const token = readSecret(key('token'), cfg.token, cfg.token_file);
    const scrub = new Scrubber([token]);
    sender = (precision) => v2Sender(cfg, token, scrub, precision);
  }
  const host = defaultHostname(cfg.hostname);
  const builder = new PointBuilder({ layout: cfg.layout, host, tags: cfg.tags, rawCgroups: cfg.raw_cgroups });
  const metrics = new PushExporter('influxdb', cfg, ctx, lineProtocolEncoder(builder, cfg.precision), sender(cfg.precision));
  if (!cfg.logs.enabled) return metrics;
  const syslog = new SyslogEncoder({ measurement: cfg.logs.measurement, host, tags: cfg.tags, now: ctx.now });
  const logs = new LogPusher('influxdb_logs', cfg.logs, ctx, (records) => syslog.encode(records), sender('ns'), urlForLog(cfg.url));
  return withLogs(metrics, logs);
}

export const influxdbExporter: ExporterFactory<InfluxConfig> = {
  type: 'influxdb',
  description: 'Pushes to InfluxDB: 1.x through the `influx` client (database, retention policy, credentials), 2.x/3.x through /api/v2/write (org, bucket, token); Telegraf docker layout by default; container logs too with `logs.enabled`, in Telegraf\'s syslog layout.',
  configSchema,
  create,
};
