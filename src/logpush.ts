/**
 * How push exporters ship log records (Loki, InfluxDB's `logs`, OTLP's `logs`): `writeLogs`
 * cuts the records into bounded batches, encodes each with the exporter's encoder, queues
 * them into a {@link Delivery} (the same queue, retries, backoff and self-metrics as the
 * metric pushes, under its own `exporter` label such as `loki` or `influxdb_logs`), and
 * resolves when every batch is safe, as {@link LogWriter} requires:
 *
 * - `buffer: memory`: when the destination acknowledged it (or refused it for good, or a
 *   full queue dropped it: both counted). A destination that is slow or down keeps
 *   `writeLogs` pending, and the log collector reads no further meanwhile: backpressure,
 *   nothing lost, the files themselves are the buffer.
 * - `buffer: disk`: once the batch is written and fsync'd under `<state_dir>/buffers/<name>`.
 *   Reading goes on while the destination is down; the buffer keeps what is not delivered
 *   across restarts, bounded by `max_buffer_bytes` (past it the oldest batch is dropped and
 *   counted in `lookout_exporter_dropped_total{reason="queue_full"}`).
 *
 * On shutdown, batches neither delivered nor on disk make `writeLogs` reject: the collector
 * then keeps its checkpoint before them and reads them again on the next start.
 */
import { join } from 'node:path';
import { Type } from '@sinclair/typebox';
import type { Exporter, ExporterContext } from './component.js';
import { type BatchOutcome, Delivery, DeliveryError, type Sender } from './delivery.js';
import { LookoutError } from './errors.js';
import type { LogRecord, LogWriter } from './logs.js';
import { Duration, parseDuration } from './schema.js';

/** The settings every log push has. */
export interface LogPushSettings {
  readonly max_batch_records: number;
  readonly max_batch_bytes: number;
  readonly buffer: 'memory' | 'disk';
  readonly max_buffer_bytes: number;
  readonly min_backoff: string;
  readonly max_backoff: string;
  readonly flush_timeout: string;
}

/** TypeBox properties of {@link LogPushSettings}, to spread into an exporter's schema. */
export function logPushSettings(name: string) {
  return {
    max_batch_records: Type.Integer({ minimum: 1, maximum: 100_000, default: 1000, description: 'Most log records in one request.' }),
    max_batch_bytes: Type.Integer({
      minimum: 1024,
      maximum: 64 * 1024 * 1024,
      default: 1024 * 1024,
      description: 'Most message bytes (UTF-8) in one request, before encoding; a longer single record goes alone.',
    }),
    buffer: Type.Union([Type.Literal('memory'), Type.Literal('disk')], {
      default: 'memory',
      description: `\`memory\`: the log collector waits until the destination has each batch, so reading pauses while it is slow or down (backpressure; the log files are the buffer); \`disk\`: batches are written and fsync'd to \`<state_dir>/buffers/${name}\` and reading goes on, bounded by \`max_buffer_bytes\`; they survive a restart.`,
    }),
    max_buffer_bytes: Type.Integer({
      minimum: 1024,
      default: 256 * 1024 * 1024,
      description: 'Cap of the queued batches\' encoded bytes; past it the oldest batch is dropped and counted in `lookout_exporter_dropped_total{reason="queue_full"}`.',
    }),
    min_backoff: Duration('200ms', 'First wait before retrying a failed send (network error, 408, 429, 5xx; a Retry-After is honoured); doubled on each failure, with jitter.'),
    max_backoff: Duration('30s', 'Longest wait between retries.'),
    flush_timeout: Duration('700ms', 'On shutdown, how long to keep delivering what is queued; what is left is kept on disk with `buffer: disk`, else read again from the log files on the next start.'),
  };
}

/** Encodes records (at most one batch's worth, in the order read) into one request body. */
export type LogEncode = (records: readonly LogRecord[]) => Buffer;

/** Rough bytes a record adds to a request beyond its message: timestamp, framing, a label reference. */
const RECORD_OVERHEAD = 32;

/** One exporter's log pipeline: batches, encoding, and its Delivery under the label `name`. */
export class LogPusher implements LogWriter {
  readonly delivery: Delivery;
  private readonly flushMs: number;
  private started = false;
  private closed = false;
  private stopping: Promise<void> | undefined;
  private prepared: Promise<void> | undefined;

  constructor(
    /** The Delivery's name: the `exporter` label of its metrics and the on-disk buffer's folder. */
    readonly type: string,
    private readonly settings: LogPushSettings,
    private readonly ctx: ExporterContext,
    private readonly encode: LogEncode,
    send: Sender,
    /** Origin and path of the destination, for the start line in the agent's log. */
    private readonly where: string,
    /**
     * What `encode` needs first (an encoding package loaded on demand, so that an exporter
     * that is off costs nothing at start-up): begun by `start()`, awaited before the first
     * encoding, run once.
     */
    private readonly prepare?: () => Promise<void>,
  ) {
    this.flushMs = parseDuration(settings.flush_timeout);
    const min = parseDuration(settings.min_backoff);
    this.delivery = new Delivery(
      type,
      send,
      {
        maxBytes: settings.max_buffer_bytes,
        dir: settings.buffer === 'disk' ? join(ctx.stateDir, 'buffers', type) : undefined,
        backoffMinMs: min,
        backoffMaxMs: Math.max(parseDuration(settings.max_backoff), min),
      },
      ctx.self,
      ctx.log,
      ctx.now,
    );
  }

  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    this.ctx.log.info({ exporter: this.type, url: this.where, buffer: this.settings.buffer, pending_batches: this.delivery.pending }, 'log push started');
    this.delivery.start();
    // Early, so that the first batch does not wait for it; a failure is reported by writeLogs.
    this.ready()?.catch((err: unknown) => this.ctx.log.error({ exporter: this.type, err: String(err) }, 'log push cannot encode: loading its encoder failed'));
  }

  private ready(): Promise<void> | undefined {
    if (this.prepare === undefined) return undefined;
    this.prepared ??= this.prepare();
    return this.prepared;
  }

  /** The records cut into batches of at most `max_batch_records` records and `max_batch_bytes` message bytes. */
  private *chunks(records: readonly LogRecord[]): Iterable<readonly LogRecord[]> {
    const { max_batch_records: maxRecords, max_batch_bytes: maxBytes } = this.settings;
    let from = 0;
    let bytes = 0;
    for (let i = 0; i < records.length; i++) {
      const b = Buffer.byteLength((records[i] as LogRecord).message, 'utf8') + RECORD_OVERHEAD;
      if (i > from && (i - from >= maxRecords || bytes + b > maxBytes)) {
        yield records.slice(from, i);
        from = i;
        bytes = 0;
      }
      bytes += b;
    }
    if (from < records.length) yield from === 0 ? records : records.slice(from);
  }

  /**
   * Resolves once every batch of `records` is delivered, on disk, or counted as rejected or
   * dropped; rejects when the exporter is shut down or stops before that (see the module
   * comment). Batches are encoded in call order, so a destination sees records in the order
   * they were read.
   */
  async writeLogs(records: readonly LogRecord[]): Promise<void> {
    if (this.closed) throw new LookoutError('LOOKOUT_ERR_DELIVERY', `the ${this.type} log exporter is shut down`);
    if (records.length === 0) return;
    // Concurrent calls resume in call order after this (promise reactions run first in, first out), so batches stay in order.
    const ready = this.ready();
    if (ready !== undefined) await ready;
    if (this.closed) throw new LookoutError('LOOKOUT_ERR_DELIVERY', `the ${this.type} log exporter is shut down`);
    const waits: Array<Promise<void>> = [];
    for (const chunk of this.chunks(records)) {
      const body = this.encode(chunk);
      waits.push(
        new Promise<void>((resolve, reject) => {
          const done = (outcome: BatchOutcome): void => {
            if (outcome === 'abandoned') reject(new DeliveryError(`the ${this.type} log exporter stopped before ${chunk.length} records were delivered; they are read again on the next start`, true));
            else resolve();
          };
          this.delivery.enqueue({ items: chunk.length, body, createdAt: this.ctx.now(), done });
        }),
      );
    }
    await Promise.all(waits);
  }

  /** Delivers what is queued within `flush_timeout`, then stops. Safe to call twice and before `start()`. */
  shutdown(): Promise<void> {
    this.closed = true;
    this.stopping ??= this.delivery.shutdown(this.started ? this.flushMs : 0);
    return this.stopping;
  }
}

/**
 * An exporter that pushes metrics (`metrics`, when there is one) and logs (`logs`): what
 * InfluxDB and OTLP make when their `logs` setting is on. Start and shutdown go to both.
 */
export function withLogs(metrics: Exporter | undefined, logs: LogPusher): Exporter {
  return {
    start: async (signal) => {
      await metrics?.start(signal);
      logs.start();
    },
    export: async (snapshot) => {
      await metrics?.export(snapshot);
    },
    writeLogs: (records) => logs.writeLogs(records),
    queues: () => [...(metrics?.queues?.() ?? []), logs.delivery],
    encodesSnapshots: metrics?.encodesSnapshots ?? false,
    shutdown: async () => {
      await Promise.all([metrics?.shutdown(), logs.shutdown()]);
    },
  };
}

/** Origin and path of a URL, without a query string that may carry a key. */
export function urlForLog(url: string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
}
