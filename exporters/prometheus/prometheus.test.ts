import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { HttpRoute } from '../../src/component.js';
import { validate } from '../../src/config.js';
import type { Snapshot } from '../../src/model.js';
import { SelfMetrics } from '../../src/selfmetrics.js';
import { fakeContext, sampleSnapshot, selfValue } from '../../test/e2e/exporters-support.js';
import type { PrometheusConfig } from './config.js';
import { collectionWait, prometheusExporter } from './index.js';

describe('collectionWait', () => {
  it('is 25% of the timeout Prometheus sends, and unlimited without a usable one', () => {
    expect(collectionWait('10')).toBe(2500);
    expect(collectionWait('0.5')).toBe(125);
    for (const bad of [undefined, '', '0', '-1', 'ten', 'Infinity']) expect(collectionWait(bad)).toBe(Infinity);
  });
});

/** SelfMetrics whose families() (read while rendering) can be held back, to make a render slow. */
class SlowSelf extends SelfMetrics {
  hold: Promise<void> | undefined;
  /** Renders begun (each reads the agent's own metrics once). */
  renders = 0;
  override async families(): ReturnType<SelfMetrics['families']> {
    this.renders++;
    await this.hold;
    return super.families();
  }
}

function endpoint(snapshot: () => Snapshot, self: SelfMetrics, collecting: () => Promise<Snapshot> | undefined = () => undefined): (headers: Record<string, string>) => Promise<{ body: Buffer; text: string; ms: number }> {
  let route: HttpRoute | undefined;
  const cfg = validate({}, 'test').exporters.prometheus as PrometheusConfig;
  prometheusExporter.create(cfg, { ...fakeContext({ snapshot, self }), collecting, route: (r) => (route = r) });
  return async (headers) => {
    const t0 = performance.now();
    const res = await (route as HttpRoute).handle({ headers: { 'accept-encoding': 'gzip', ...headers }, signal: new AbortController().signal });
    const body = res.body as Buffer;
    return { body, text: gunzipSync(body).toString(), ms: performance.now() - t0 };
  };
}

const T = 1_764_000_000_000;
const cpu = (text: string): string | undefined => /^container_cpu_usage_seconds_total\{[^}]*\} (\S+)$/m.exec(text)?.[1];

describe('the scrape endpoint', () => {
  it('renders a gzipped response once per snapshot: a second scraper of the same snapshot gets the same bytes', async () => {
    let snap = sampleSnapshot(T);
    const scrape = endpoint(() => snap, new SelfMetrics('test'));
    const a = await scrape({ 'x-prometheus-scrape-timeout-seconds': '10' });
    const b = await scrape({});
    expect(b.body).toBe(a.body);
    snap = { ...sampleSnapshot(T + 1000), families: snap.families.map((f) => ({ ...f, values: f.values.map((v) => v + 1) })) };
    const c = await scrape({});
    expect(c.body).not.toBe(a.body);
    expect(Number(cpu(c.text))).toBe(Number(cpu(a.text)) + 1);
  });

  it('answers with the last finished response when a new one is not rendered by 40% of the scraper\'s timeout, and counts it', async () => {
    const self = new SlowSelf('test');
    let snap = sampleSnapshot(T);
    const scrape = endpoint(() => snap, self);
    const first = await scrape({ 'x-prometheus-scrape-timeout-seconds': '0.5' });
    snap = { ...snap, time: T + 1000, families: snap.families.map((f) => ({ ...f, values: f.values.map((v) => v + 1) })) };
    let release = (): void => undefined;
    self.hold = new Promise((r) => (release = r));
    const late = await scrape({ 'x-prometheus-scrape-timeout-seconds': '0.5' });
    expect(late.ms).toBeGreaterThanOrEqual(190);
    expect(late.body).toBe(first.body);
    expect(await selfValue(self, 'lookout_stale_snapshots_total', {})).toBe(1);
    // Meanwhile the slow render goes on; a scrape arriving now waits for it rather than starting another.
    const next = scrape({ 'x-prometheus-scrape-timeout-seconds': '60' });
    release();
    const fresh = await next;
    expect(Number(cpu(fresh.text))).toBe(Number(cpu(first.text)) + 1);
    // Without a deadline (curl), a scrape gets its own snapshot, however long it takes.
    self.hold = new Promise((r) => setTimeout(r, 700));
    snap = { ...snap, time: T + 2000, families: snap.families.map((f) => ({ ...f, values: f.values.map((v) => v + 1) })) };
    const patient = await scrape({});
    expect(patient.ms).toBeGreaterThanOrEqual(690);
    expect(Number(cpu(patient.text))).toBe(Number(cpu(first.text)) + 2);
  });

  it('renders the collection that was still going on when a scrape was answered without it, ready for the next scrape', async () => {
    const self = new SlowSelf('test');
    let snap = sampleSnapshot(T);
    let inProgress: Promise<Snapshot> | undefined;
    const scrape = endpoint(() => snap, self, () => inProgress);
    const first = await scrape({ 'x-prometheus-scrape-timeout-seconds': '10' });
    expect(self.renders).toBe(1);
    let finish = (_: Snapshot): void => undefined;
    inProgress = new Promise((r) => (finish = r));
    // The pipeline answers with the previous snapshot while a collection goes on: the same bytes.
    expect((await scrape({ 'x-prometheus-scrape-timeout-seconds': '10' })).body).toBe(first.body);
    expect(self.renders).toBe(1);
    const next = { ...snap, time: T + 1000, families: snap.families.map((f) => ({ ...f, values: f.values.map((v) => v + 1) })) };
    finish(next);
    await new Promise((r) => setTimeout(r, 50));
    expect(self.renders).toBe(2);
    inProgress = undefined;
    snap = next;
    const second = await scrape({ 'x-prometheus-scrape-timeout-seconds': '10' });
    expect(self.renders).toBe(2);
    expect(Number(cpu(second.text))).toBe(Number(cpu(first.text)) + 1);
  });
});
