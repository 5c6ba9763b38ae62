import { describe, expect, it } from 'vitest';
import { Labels, metric, SnapshotBuilder } from './model.js';
import { LogRouter, type LogRecord } from './logs.js';
import { containersView } from './page.js';

const def = (name: string, type: 'counter' | 'gauge' = 'gauge', labels: string[] = []) =>
  metric({ name, type, unit: '', help: 'test metric', labels, source: 'test' });
const CPU = def('container_cpu_usage_seconds_total', 'counter', ['cpu']);
const WS = def('container_memory_working_set_bytes');
const LIMIT = def('container_spec_memory_limit_bytes');
const QUOTA = def('container_spec_cpu_quota');
const PERIOD = def('container_spec_cpu_period');
const SEEN = def('container_last_seen');
const REASON = def('container_last_terminated_reason', 'gauge', ['reason']);

const web = new Labels([['id', '/docker/a'], ['image', 'nginx'], ['name', 'web']]);
const raw = new Labels([['id', '/system.slice/ssh.service'], ['image', ''], ['name', '']]);
const total = new Labels([['cpu', 'total']]);

function snap(time: number, cpu: number) {
  const b = new SnapshotBuilder(time, () => undefined);
  for (const t of [web, raw]) {
    b.add(CPU, t, cpu, total);
    b.add(SEEN, t, time / 1000);
  }
  b.add(WS, web, 100);
  b.add(LIMIT, web, 400);
  b.add(QUOTA, web, 50000);
  b.add(PERIOD, web, 100000);
  b.add(REASON, web, 1, new Labels([['reason', 'OOMKilled']]));
  return b.build();
}

describe('containersView', () => {
  it('lists containers only, with CPU as a rate between two snapshots and limits', () => {
    const first = containersView(snap(10_000, 5), undefined);
    expect(first.containers).toHaveLength(1);
    expect(first.containers[0]?.cpuCores).toBeUndefined();
    const v = containersView(snap(12_000, 6), snap(10_000, 5));
    expect(v.containers[0]).toMatchObject({ name: 'web', image: 'nginx', cpuCores: 0.5, cpuLimitCores: 0.5, memoryWorkingSetBytes: 100, memoryLimitBytes: 400, lastTermination: 'OOMKilled' });
  });
});

describe('recent log lines for the page', () => {
  const rec = (labels: Labels, message: string, stream: 'stdout' | 'stderr' = 'stdout'): LogRecord => ({ time: '2026-11-25T03:00:00.123456789Z', stream, message, labels });

  it('keeps the last three lines of each container, shown on its row, only while a destination takes logs', async () => {
    const router = new LogRouter();
    await router.write([rec(web, 'dropped: nobody wants logs')]);
    expect(router.recent.get('/docker/a')).toEqual([]);
    router.add({ type: 'test', writeLogs: async () => undefined });
    await router.write(['one', 'two', 'three', 'four'].map((m) => rec(web, m)));
    await router.write([rec(web, 'x'.repeat(600), 'stderr')]);
    const lines = router.recent.get('/docker/a');
    expect(lines.map((l) => l.message.slice(0, 5))).toEqual(['three', 'four', 'xxxxx']);
    expect(lines[2]?.message).toHaveLength(501);
    expect(lines[2]?.stream).toBe('stderr');
    const v = containersView(snap(12_000, 6), snap(10_000, 5), (id) => router.recent.get(id));
    expect(v.containers[0]?.logs?.map((l) => l.message.slice(0, 4))).toEqual(['thre', 'four', 'xxxx']);
  });
});
