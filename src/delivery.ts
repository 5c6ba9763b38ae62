/**
 * Delivery for push exporters: a bounded queue of encoded batches (in memory, or on disk so
 * that it survives a restart) drained by one sender loop per exporter, with exponential
 * backoff and jitter on retryable failures (network errors, 408, 429, 5xx) and no retry on
 * failures that will not heal (other 4xx). When the queue is full the oldest batches are
 * dropped and counted. A destination that is down never blocks the caller: `enqueue` only
 * appends.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { LookoutError } from './errors.js';
import type { Logger } from './log.js';
import { RateLimitedLog } from './log.js';
import type { SelfMetrics } from './selfmetrics.js';

/**
 * What became of a batch, as its `done` callback hears it:
 * - `buffered`: written and fsync'd to the on-disk buffer (it survives a restart there);
 * - `delivered`: the destination took it;
 * - `rejected`: the destination refused it for good (counted in lookout_exporter_failed_total);
 * - `dropped`: the oldest batch of a full queue, made room (counted in lookout_exporter_dropped_total);
 * - `abandoned`: the delivery stopped with the batch neither delivered nor on disk. It is not
 *   counted as dropped when it has a `done`: its owner still holds the data (a log source
 *   re-reads it from its checkpoint on the next start) and must treat this as a failure.
 */
export type BatchOutcome = 'buffered' | 'delivered' | 'rejected' | 'dropped' | 'abandoned';

export interface Batch {
  /** Samples or log records in the batch: what the counters count. */
  readonly items: number;
  /** The encoded request body, exactly as it will be sent. */
  readonly body: Buffer;
  /** When the batch was made, in milliseconds since the epoch. */
  readonly createdAt: number;
  /**
   * Called once, with the first thing that became of the batch (see {@link BatchOutcome}):
   * every outcome but `abandoned` means the batch is safe or accounted for, which is when a
   * log source may advance its checkpoint (src/logpush.ts).
   */
  readonly done?: (outcome: BatchOutcome) => void;
  /** Gives the body's memory back for a later batch (see {@link BodyPool}); called once the batch is delivered, when nothing refers to the body any more. */
  readonly recycle?: () => void;
}

/**
 * Request bodies reused once delivered. A push copies each batch out of its encoder's
 * buffer; without reuse that is a snapshot's worth of new off-heap memory per push (6 to 8
 * MB per exporter at 1000 containers), which V8 counts as external memory pressure and
 * answers with full garbage collections, costing more than the encoding. A body that is not
 * delivered (dropped, rejected, on disk, shut down) is simply left to the garbage collector.
 */
export class BodyPool {
  private readonly free: Buffer[] = [];

  /** `keep`: at most this many buffers wait in the pool (about the batches of one snapshot). */
  constructor(private readonly keep = 64) {}

  /** A batch whose body is a copy of `bytes`, in a pooled buffer. */
  batch(items: number, bytes: Uint8Array, createdAt: number): Batch {
    const n = bytes.length;
    const free = this.free;
    let buf: Buffer | undefined;
    for (let i = free.length - 1; i >= 0; i--) {
      if ((free[i] as Buffer).length >= n) {
        buf = free[i] as Buffer;
        free[i] = free[free.length - 1] as Buffer;
        free.pop();
        break;
      }
    }
    // Room to spare: the next snapshot's batch is often a little bigger.
    buf ??= Buffer.allocUnsafeSlow(n + (n >> 3));
    buf.set(bytes);
    const kept = buf;
    return {
      items,
      body: buf.subarray(0, n),
      createdAt,
      recycle: () => {
        if (free.length < this.keep) free.push(kept);
      },
    };
  }
}

/** A failed send. `retryable` says whether sending the same batch again may succeed. */
export class DeliveryError extends LookoutError {
  constructor(
    message: string,
    override readonly retryable: boolean,
    readonly status?: number,
    /** The server's Retry-After, in milliseconds, when it gave one. */
    readonly retryAfterMs?: number,
  ) {
    super(retryable ? 'LOOKOUT_ERR_DELIVERY' : 'LOOKOUT_ERR_DELIVERY_REJECTED', message);
  }
}

/**
 * Classifies an HTTP response: 2xx is success (undefined); 408, 429 and 5xx are worth
 * retrying; any other status will fail the same way again. The server's message is kept
 * (truncated), since it is what tells the user what to fix.
 */
export function httpFailure(status: number, body: string, retryAfter?: string | null): DeliveryError | undefined {
  if (status >= 200 && status < 300) return undefined;
  const retryable = status === 408 || status === 429 || status >= 500;
  let retryAfterMs: number | undefined;
  if (retryAfter) {
    const secs = Number(retryAfter);
    retryAfterMs = Number.isFinite(secs) ? secs * 1000 : Math.max(0, Date.parse(retryAfter) - Date.now()) || undefined;
  }
  return new DeliveryError(`HTTP ${status}: ${body.trim().slice(0, 300)}`, retryable, status, retryAfterMs);
}

export interface QueueOptions {
  /** Upper bound of the queued bodies' bytes; past it the oldest batches are dropped. */
  readonly maxBytes: number;
  /** Directory for the on-disk buffer, or undefined for memory only. */
  readonly dir?: string;
}

interface Queued extends Batch {
  /** The batch's file in the on-disk buffer, if it is there. */
  file?: string;
  acked?: boolean;
}

function ack(q: Queued, outcome: BatchOutcome): void {
  if (!q.acked) {
    q.acked = true;
    q.done?.(outcome);
  }
}

/**
 * The bounded FIFO of batches. With `dir`, every batch is written (fsync'd, then renamed into
 * place) before `push` returns, and a new queue on the same directory starts with what an
 * earlier process left there. If the disk refuses a write (full, read-only), the batch is
 * kept in memory instead and the failure is reported through `onDiskError`.
 */
export class BatchQueue {
  private readonly items: Queued[] = [];
  private bytes = 0;
  private seq = 0;

  constructor(
    private readonly opts: QueueOptions,
    private readonly onDrop: (batch: Batch) => void,
    private readonly onDiskError: (err: unknown) => void,
  ) {
    if (opts.dir !== undefined) this.load(opts.dir);
  }

  get length(): number {
    return this.items.length;
  }

  get queuedBytes(): number {
    return this.bytes;
  }

  get queuedItems(): number {
    return this.items.reduce((a, b) => a + b.items, 0);
  }

  peek(): Batch | undefined {
    return this.items[0];
  }

  push(batch: Batch): void {
    const q: Queued = { ...batch };
    if (this.opts.dir !== undefined) {
      try {
        q.file = this.write(this.opts.dir, batch);
        ack(q, 'buffered');
      } catch (err) {
        this.onDiskError(err);
      }
    }
    this.items.push(q);
    this.bytes += batch.body.length;
    while (this.bytes > this.opts.maxBytes && this.items.length > 1) {
      const dropped = this.items.shift() as Queued;
      this.remove(dropped);
      this.onDrop(dropped);
      ack(dropped, 'dropped');
    }
  }

  /** Removes the head after it was delivered (or rejected for good). */
  shift(outcome: 'delivered' | 'rejected' = 'delivered'): void {
    const q = this.items.shift();
    if (q) {
      this.remove(q);
      ack(q, outcome);
    }
  }

  /**
   * Drops the oldest batches until at most `keepBytes` stay queued; returns the items dropped.
   * Batches whose owner still waits for them (a log source's, in memory) are kept: the owner
   * holds its reading back meanwhile, so they are bounded already, and dropping them would
   * lose lines that are only delayed.
   */
  shed(keepBytes: number): number {
    let dropped = 0;
    const kept: Queued[] = [];
    for (const q of this.items) {
      if (this.bytes <= keepBytes || (q.done !== undefined && !q.acked)) {
        kept.push(q);
        continue;
      }
      this.remove(q);
      ack(q, 'dropped');
      dropped += q.items;
    }
    this.items.splice(0, this.items.length, ...kept);
    return dropped;
  }

  /** Empties the memory queue (on-disk batches stay for the next process); returns what was not persisted. */
  abandon(): Batch[] {
    const lost = this.items.filter((q) => q.file === undefined);
    for (const q of this.items) ack(q, q.file === undefined ? 'abandoned' : 'buffered');
    this.items.length = 0;
    this.bytes = 0;
    return lost;
  }

  private remove(q: Queued): void {
    this.bytes -= q.body.length;
    if (q.file !== undefined) {
      try {
        unlinkSync(q.file);
      } catch {
        // already gone: nothing to release
      }
    }
  }

  private write(dir: string, batch: Batch): string {
    const name = `${String(Date.now()).padStart(14, '0')}-${String(this.seq++).padStart(8, '0')}.batch`;
    const tmp = join(dir, `.${name}.tmp`);
    const header = Buffer.from(`${JSON.stringify({ items: batch.items, createdAt: batch.createdAt })}\n`);
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, header);
      writeSync(fd, batch.body);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    const file = join(dir, name);
    renameSync(tmp, file);
    return file;
  }

  private load(dir: string): void {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const name of readdirSync(dir).sort()) {
      const file = join(dir, name);
      if (name.startsWith('.')) {
        // A write the previous process did not finish: it was never acknowledged.
        try {
          unlinkSync(file);
        } catch {
          // gone already
        }
        continue;
      }
      if (!name.endsWith('.batch')) continue;
      try {
        const buf = readFileSync(file);
        const nl = buf.indexOf(10);
        const header = JSON.parse(buf.subarray(0, nl).toString('utf8')) as { items?: unknown; createdAt?: unknown };
        if (typeof header.items !== 'number' || typeof header.createdAt !== 'number' || nl < 0) throw new Error('bad header');
        const q: Queued = { items: header.items, createdAt: header.createdAt, body: buf.subarray(nl + 1), file };
        this.items.push(q);
        this.bytes += q.body.length;
      } catch (err) {
        this.onDiskError(new LookoutError('LOOKOUT_ERR_DELIVERY', `unreadable buffered batch ${file}; removed`, { cause: err }));
        try {
          unlinkSync(file);
        } catch {
          // gone already
        }
      }
    }
  }
}

export interface DeliveryOptions extends QueueOptions {
  readonly backoffMinMs: number;
  readonly backoffMaxMs: number;
}

/** Sends one batch; throws DeliveryError (or any error, taken as retryable) on failure. */
export type Sender = (body: Buffer, signal: AbortSignal) => Promise<void>;

/**
 * A queue the memory budget (src/budget.ts) may shrink. `shed` drops the oldest batches until
 * at most `keepBytes` remain (acknowledging each as dropped) and returns the samples or
 * records dropped, which the budget counts with reason `memory`.
 */
export interface Sheddable {
  readonly name: string;
  queuedBytes(): number;
  shed(keepBytes: number): number;
}

/** One exporter's queue and sender loop, with its self-metrics under `exporter="<name>"`. */
export class Delivery implements Sheddable {
  private readonly queue: BatchQueue;
  private readonly stop = new AbortController();
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private readonly problems: RateLimitedLog;
  private readonly labels: { exporter: string };

  constructor(
    readonly name: string,
    private readonly send: Sender,
    private readonly opts: DeliveryOptions,
    private readonly self: SelfMetrics,
    log: Logger,
    now: () => number = Date.now,
  ) {
    this.labels = { exporter: name };
    this.problems = new RateLimitedLog(log, now);
    this.queue = new BatchQueue(
      opts,
      (b) => {
        self.exporterDropped.inc({ ...this.labels, reason: 'queue_full' }, b.items);
        this.problems.warn('drop', { exporter: name, items: b.items, max_bytes: opts.maxBytes }, 'queue full: oldest batch dropped (counted in lookout_exporter_dropped_total)');
      },
      (err) => {
        self.exporterBufferErrors.inc(this.labels);
        this.problems.warn('disk', { exporter: name, err: String(err) }, 'on-disk buffer write failed; batch kept in memory');
      },
    );
    this.updateGauges();
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Queues a batch; returns at once whatever the destination's state. */
  enqueue(batch: Batch): void {
    this.queue.push(batch);
    this.updateGauges();
    this.wake?.();
  }

  get pending(): number {
    return this.queue.length;
  }

  queuedBytes(): number {
    return this.queue.queuedBytes;
  }

  shed(keepBytes: number): number {
    const n = this.queue.shed(keepBytes);
    this.updateGauges();
    return n;
  }

  private updateGauges(): void {
    this.self.exporterQueueItems.set(this.labels, this.queue.queuedItems);
    this.self.exporterQueueBytes.set(this.labels, this.queue.queuedBytes);
  }

  private async sleep(ms: number): Promise<void> {
    const signal = this.stop.signal;
    await new Promise<void>((resolve) => {
      const onAbort = (): void => {
        clearTimeout(t);
        resolve();
      };
      // The listener goes when the wait ends, so that waits do not pile listeners on the signal.
      const t = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private async run(): Promise<void> {
    let backoff = this.opts.backoffMinMs;
    const signal = this.stop.signal;
    while (!signal.aborted) {
      const head = this.queue.peek();
      if (head === undefined) {
        await new Promise<void>((resolve) => {
          const onAbort = (): void => resolve();
          this.wake = () => {
            signal.removeEventListener('abort', onAbort);
            resolve();
          };
          signal.addEventListener('abort', onAbort, { once: true });
        });
        this.wake = undefined;
        continue;
      }
      const t0 = performance.now();
      try {
        await this.send(head.body, signal);
        // Delivered: the receiver has read the whole body.
        head.recycle?.();
        this.self.exporterSendDuration.set(this.labels, (performance.now() - t0) / 1000);
        this.self.exporterSent.inc(this.labels, head.items);
        this.self.exporterLastSuccess.set(this.labels, Date.now() / 1000);
        // A full queue may have dropped the head while it was in flight: then it is gone already.
        if (this.queue.peek() === head) this.queue.shift();
        this.updateGauges();
        backoff = this.opts.backoffMinMs;
      } catch (err) {
        if (signal.aborted) break;
        const retryable = !(err instanceof DeliveryError) || err.retryable;
        if (!retryable) {
          this.self.exporterFailed.inc(this.labels, head.items);
          this.problems.warn(`reject/${(err as DeliveryError).status ?? ''}`, { exporter: this.name, err: (err as Error).message }, 'destination rejected a batch; not retrying (counted in lookout_exporter_failed_total)');
          if (this.queue.peek() === head) this.queue.shift('rejected');
          this.updateGauges();
          continue;
        }
        this.self.exporterRetries.inc(this.labels);
        this.problems.warn('retry', { exporter: this.name, err: (err as Error).message, retry_ms: Math.round(backoff) }, 'send failed; retrying with backoff');
        const hinted = err instanceof DeliveryError && err.retryAfterMs !== undefined ? err.retryAfterMs : 0;
        await this.sleep(Math.max(hinted, backoff / 2 + Math.random() * (backoff / 2)));
        backoff = Math.min(backoff * 2, this.opts.backoffMaxMs);
      }
    }
  }

  /**
   * Tries to deliver what is queued within `deadlineMs`, then stops the loop. Batches left
   * in memory are counted as dropped (reason "shutdown"), except those with a `done`, which
   * hear `abandoned` and stay their owner's; on-disk ones wait for the next start.
   */
  async shutdown(deadlineMs: number): Promise<void> {
    const end = Date.now() + deadlineMs;
    while (this.queue.length > 0 && Date.now() < end && this.loop) await new Promise((r) => setTimeout(r, 20));
    this.stop.abort();
    await this.loop;
    for (const b of this.queue.abandon()) if (b.done === undefined) this.self.exporterDropped.inc({ ...this.labels, reason: 'shutdown' }, b.items);
    this.updateGauges();
  }
}
