import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { type Batch, BatchQueue, BodyPool, Delivery, DeliveryError, httpFailure } from './delivery.js';
import { SelfMetrics } from './selfmetrics.js';

const batch = (n: number, text = `b${n}`): Batch => ({ items: n, body: Buffer.from(text), createdAt: 1 });
const log = pino({ level: 'silent' });

async function value(self: SelfMetrics, name: string, labels: Record<string, string>): Promise<number> {
  const m = (await self.registry.getMetricsAsJSON()).find((x) => x.name === name);
  return m?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value ?? 0;
}

async function until(cond: () => boolean | Promise<boolean>, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('httpFailure', () => {
  it('retries 408, 429 and 5xx, not other 4xx, and keeps the server message and Retry-After', () => {
    expect(httpFailure(204, '')).toBeUndefined();
    expect(httpFailure(503, 'overloaded')?.retryable).toBe(true);
    expect(httpFailure(429, 'slow down', '2')?.retryAfterMs).toBe(2000);
    expect(httpFailure(408, '')?.retryable).toBe(true);
    const e = httpFailure(400, 'partial write: field type conflict\n');
    expect(e?.retryable).toBe(false);
    expect(e?.code).toBe('LOOKOUT_ERR_DELIVERY_REJECTED');
    expect(e?.message).toBe('HTTP 400: partial write: field type conflict');
  });
});

describe('Delivery', () => {
  const opts = { maxBytes: 1 << 20, backoffMinMs: 1, backoffMaxMs: 4 };

  it('reuses a pooled body only once it was delivered: never while it waits for a retry, never after a rejection', async () => {
    const self = new SelfMetrics('t');
    const pool = new BodyPool(8);
    const sent: string[] = [];
    let fail = 2;
    let reject = true;
    const d = new Delivery('x', async (body) => {
      const text = body.toString();
      if (text === 'reject me' && reject) {
        reject = false;
        throw new DeliveryError('HTTP 400: bad', false, 400);
      }
      if (fail-- > 0) throw new DeliveryError('HTTP 503: down', true, 503);
      sent.push(text);
    }, opts, self, log);
    const first = pool.batch(1, Buffer.from('first body'), 1);
    const rejected = pool.batch(1, Buffer.from('reject me'), 1);
    d.start();
    d.enqueue(first);
    d.enqueue(rejected);
    // While `first` is retried its memory is not handed out again.
    const meanwhile = pool.batch(1, Buffer.from('other'), 1);
    expect(meanwhile.body.buffer).not.toBe(first.body.buffer);
    await until(() => sent.length === 1 && !reject);
    expect(sent).toEqual(['first body']);
    // Delivered: the next batch of a size that fits takes its buffer; the rejected one's stays out of the pool.
    const next = pool.batch(1, Buffer.from('next'), 2);
    expect(next.body.buffer).toBe(first.body.buffer);
    expect(next.body.toString()).toBe('next');
    expect(pool.batch(1, Buffer.from('one more'), 3).body.buffer).not.toBe(rejected.body.buffer);
    await d.shutdown(100);
  });

  it('retries a destination that is down until it is back, in order, and counts it all', async () => {
    const self = new SelfMetrics('t');
    const got: string[] = [];
    let failures = 3;
    const d = new Delivery('x', async (body) => {
      if (failures-- > 0) throw new DeliveryError('HTTP 503: down', true, 503);
      got.push(body.toString());
    }, opts, self, log);
    d.start();
    d.enqueue(batch(2, 'first'));
    d.enqueue(batch(3, 'second'));
    await until(() => got.length === 2);
    expect(got).toEqual(['first', 'second']);
    expect(await value(self, 'lookout_exporter_sent_total', { exporter: 'x' })).toBe(5);
    expect(await value(self, 'lookout_exporter_retries_total', { exporter: 'x' })).toBe(3);
    expect(await value(self, 'lookout_exporter_queue_items', { exporter: 'x' })).toBe(0);
    expect(await value(self, 'lookout_exporter_last_success_timestamp_seconds', { exporter: 'x' })).toBeGreaterThan(1.7e9);
    await d.shutdown(100);
  });

  it('drops a batch the destination rejects for good, counts it, and goes on', async () => {
    const self = new SelfMetrics('t');
    const got: string[] = [];
    const d = new Delivery('x', async (body) => {
      if (body.toString() === 'bad') throw new DeliveryError('HTTP 400: bad', false, 400);
      got.push(body.toString());
    }, opts, self, log);
    d.start();
    d.enqueue(batch(4, 'bad'));
    d.enqueue(batch(1, 'good'));
    await until(() => got.length === 1);
    expect(got).toEqual(['good']);
    expect(await value(self, 'lookout_exporter_failed_total', { exporter: 'x' })).toBe(4);
    expect(await value(self, 'lookout_exporter_retries_total', { exporter: 'x' })).toBe(0);
    await d.shutdown(100);
  });

  it('keeps the queue bounded: the oldest batches are dropped and counted', async () => {
    const self = new SelfMetrics('t');
    const d = new Delivery('x', async () => {
      throw new Error('ECONNREFUSED');
    }, { ...opts, maxBytes: 10 }, self, log);
    for (let i = 0; i < 5; i++) d.enqueue(batch(1, 'abcd'));
    expect(d.pending).toBe(2);
    expect(await value(self, 'lookout_exporter_dropped_total', { exporter: 'x', reason: 'queue_full' })).toBe(3);
    await d.shutdown(10);
    expect(await value(self, 'lookout_exporter_dropped_total', { exporter: 'x', reason: 'shutdown' })).toBe(2);
  });

  it('tells each batch\'s owner what became of it; abandoned batches with an owner are not counted as dropped', async () => {
    const self = new SelfMetrics('t');
    const heard: string[] = [];
    const d = new Delivery('x', async (body) => {
      if (body.toString() === 'bad') throw new DeliveryError('HTTP 400: bad', false, 400);
      if (body.toString() !== 'good') throw new DeliveryError('HTTP 503: down', true, 503);
    }, { ...opts, maxBytes: 16 }, self, log);
    d.start();
    const own = (text: string): Batch => ({ ...batch(1, text), done: (o) => heard.push(`${text}:${o}`) });
    d.enqueue(own('good'));
    d.enqueue(own('bad'));
    await until(() => heard.length === 2);
    d.enqueue(own('stuck'));
    d.enqueue(own('late-1'));
    d.enqueue(own('late-2')); // 5 + 6 + 6 bytes > 16: 'stuck' is dropped
    await d.shutdown(10);
    expect(heard).toEqual(['good:delivered', 'bad:rejected', 'stuck:dropped', 'late-1:abandoned', 'late-2:abandoned']);
    expect(await value(self, 'lookout_exporter_dropped_total', { exporter: 'x', reason: 'shutdown' })).toBe(0);
    expect(await value(self, 'lookout_exporter_dropped_total', { exporter: 'x', reason: 'queue_full' })).toBe(1);
  });

  it('does not make enqueue wait for a slow destination', async () => {
    const self = new SelfMetrics('t');
    const d = new Delivery('x', () => new Promise((r) => setTimeout(r, 10_000)), opts, self, log);
    d.start();
    const t0 = performance.now();
    for (let i = 0; i < 100; i++) d.enqueue(batch(1));
    expect(d.pending).toBe(100);
    expect(performance.now() - t0).toBeLessThan(1000);
    await d.shutdown(0);
  });
});

describe('BatchQueue.shed (the memory budget)', () => {
  it('drops the oldest batches down to the bytes to keep, acknowledging them, but keeps batches whose owner still waits', () => {
    const outcomes: string[] = [];
    const q = new BatchQueue({ maxBytes: 1 << 20 }, () => undefined, () => undefined);
    const waited = (n: number): Batch => ({ ...batch(n, 'x'.repeat(100)), done: (o) => outcomes.push(`${n}:${o}`) });
    q.push(batch(1, 'a'.repeat(100)));
    q.push(waited(2));
    q.push(batch(3, 'c'.repeat(100)));
    q.push(batch(4, 'd'.repeat(100)));
    expect(q.queuedBytes).toBe(400);
    // Down to 200 bytes: batch 1 and batch 3 go; batch 2's owner is waiting for it, so it stays.
    expect(q.shed(200)).toBe(1 + 3);
    expect(q.queuedBytes).toBe(200);
    expect(q.length).toBe(2);
    expect(q.peek()?.items).toBe(2);
    expect(outcomes).toEqual([]);
    expect(q.shed(0)).toBe(4);
    expect(q.length).toBe(1);
    q.shift();
    expect(outcomes).toEqual(['2:delivered']);
  });
});

describe('BatchQueue on disk', () => {
  it('survives a restart: a new queue on the directory starts with the undelivered batches, in order', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lookout-buffer-'));
    const q1 = new BatchQueue({ maxBytes: 1 << 20, dir }, () => undefined, (e) => {
      throw e;
    });
    const heard: string[] = [];
    q1.push({ ...batch(1, 'one'), done: (o) => heard.push(o) });
    expect(heard).toEqual(['buffered']); // fsync'd before push returned
    q1.push(batch(2, 'two'));
    q1.push(batch(3, 'three'));
    q1.shift(); // delivered
    // A crash mid-write leaves a temporary file: it was never acknowledged.
    writeFileSync(join(dir, '.99999999999999-00000009.batch.tmp'), 'partial');
    const q2 = new BatchQueue({ maxBytes: 1 << 20, dir }, () => undefined, (e) => {
      throw e;
    });
    expect(q2.length).toBe(2);
    expect(q2.peek()?.body.toString()).toBe('two');
    expect(q2.queuedItems).toBe(5);
    q2.shift();
    expect(q2.peek()?.body.toString()).toBe('three');
    expect(readdirSync(dir)).toHaveLength(1);
  });

  it('removes and reports a corrupt buffered batch', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lookout-buffer-'));
    writeFileSync(join(dir, '00000000000001-00000000.batch'), 'no header at all');
    const errors: unknown[] = [];
    const q = new BatchQueue({ maxBytes: 100, dir }, () => undefined, (e) => errors.push(e));
    expect(q.length).toBe(0);
    expect(errors).toHaveLength(1);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('keeps a batch in memory when the disk refuses it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lookout-buffer-'));
    const errors: unknown[] = [];
    const q = new BatchQueue({ maxBytes: 100, dir: join(dir, 'missing', 'nested') }, () => undefined, (e) => errors.push(e));
    // The constructor made the directory; make writes fail by pointing at a file instead.
    const q2 = new BatchQueue({ maxBytes: 100, dir }, () => undefined, (e) => errors.push(e));
    writeFileSync(join(dir, 'x'), '');
    Object.assign(q2, { opts: { maxBytes: 100, dir: join(dir, 'x') } });
    q2.push(batch(1, 'kept'));
    expect(q2.peek()?.body.toString()).toBe('kept');
    expect(errors).toHaveLength(1);
    expect(q.length).toBe(0);
  });
});
