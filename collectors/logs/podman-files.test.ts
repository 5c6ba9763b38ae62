/**
 * Podman `k8s-file` logs (fixture copied from a real Podman 4.3.1 run, see
 * testdata/podman/README.md) named by the podman collector's on-disk state, and user
 * configured files (`collectors.logs.files`).
 */
import { appendFileSync, cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Value } from '@sinclair/typebox/value';
import { MemorySink } from '../../test/helpers/logsink.js';
import { tmpRoot } from '../../test/helpers/collector.js';
import { afterEach, describe, expect, it } from 'vitest';
import type { Collector } from '../../src/component.js';
import { createContext } from '../../src/context.js';
import { type Family, SnapshotBuilder } from '../../src/model.js';
import { waitFor } from '../../test/helpers/util.js';
import { configSchema as podmanSchema, type PodmanConfig } from '../podman/config.js';
import { podmanCollector } from '../podman/index.js';
import { configSchema, type LogsConfig } from './config.js';
import { globBase, globDepth, Scanner, segmentRegExp } from './discover.js';
import { logsCollector } from './index.js';

const TD = fileURLToPath(new URL('./testdata/', import.meta.url));
const PODMAN_STATE = fileURLToPath(new URL('../podman/testdata/captured/root/', import.meta.url));
/** The running container of the capture (collectors/podman/testdata/capture.sh). */
const WEB = 'ae9d4af5cd46b527144cc3307fcd6223158cdd7a8b735bdec52c2743ea9b6aaa';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const tmp = (prefix: string): string => tmpRoot(cleanups, `logs-${prefix}`);

const defaults = (over: Partial<LogsConfig> = {}): LogsConfig => ({ ...(Value.Default(configSchema, {}) as LogsConfig), watch: false, poll_interval: '10ms', rescan_interval: '30ms', partial_timeout: '100ms', ...over });

async function run(c: Collector): Promise<Collector> {
  cleanups.push(() => c.shutdown());
  await c.start(new AbortController().signal);
  return c;
}

async function families(c: Collector): Promise<Map<string, Family>> {
  const b = new SnapshotBuilder(0, () => undefined);
  await c.collect(b);
  return new Map(b.build().families.map((f) => [f.def.name, f]));
}

describe('Podman k8s-file logs', () => {
  it("reads ctr.log as CRI lines, joins conmon's partial pieces, and labels records as the container's series", async () => {
    const r = tmp('podman');
    cpSync(PODMAN_STATE, r, { recursive: true });
    cpSync(join(TD, 'podman'), r, { recursive: true });
    const sink = new MemorySink();
    const ctx = createContext({ root: r, logs: sink, stateDir: tmp('state') });
    // The podman collector names the container from disk (no API socket in the fixture).
    await run(podmanCollector.create(Value.Default(podmanSchema, {}) as PodmanConfig, ctx));
    const c = await run(logsCollector.create(defaults(), ctx));
    await waitFor('the long line', () => (sink.records.length >= 4 ? true : undefined), 5000);
    expect(sink.messages().slice(0, 3)).toEqual(['hello from podman', 'no newline yet ...now', 'to stderr']);
    // 20000 bytes that conmon wrote as two 8 KiB `P` pieces and an `F` one.
    expect(sink.records[3]?.message).toBe('x'.repeat(20000));
    expect(sink.records).toHaveLength(4);
    expect(sink.records.map((x) => x.stream)).toEqual(['stdout', 'stdout', 'stderr', 'stdout']);
    expect(sink.records[0]?.time).toBe('2026-11-25T02:39:10.454177711+00:00');
    for (const rec of sink.records) {
      expect(rec.labels.toObject()).toEqual({ id: `/libpod_parent/libpod-${WEB}`, image: 'localhost/lookout-busybox:latest', name: 'lookout-capture-web' });
      expect(rec.source).toBe(join(r, 'var/lib/containers/storage/overlay-containers', WEB, 'userdata/ctr.log'));
    }
    const lines = (await families(c)).get('lookout_log_lines_total') as Family;
    expect(lines.targets.map((t) => t.get('name'))).toEqual(['lookout-capture-web', 'lookout-capture-web']);
    expect(lines.values.reduce((a, v) => a + v, 0)).toBe(4);
  });

  it('is off with podman: false', async () => {
    const r = tmp('podman-off');
    cpSync(join(TD, 'podman'), r, { recursive: true });
    const sink = new MemorySink();
    const c = await run(logsCollector.create(defaults({ podman: false }), createContext({ root: r, logs: sink, stateDir: tmp('state') })));
    await new Promise((res) => setTimeout(res, 150));
    expect(sink.records).toHaveLength(0);
    expect((await families(c)).get('lookout_log_files')?.values).toEqual([0]);
  });
});

describe('user log files', () => {
  it('globs: segment wildcards, the watched base and its depth', () => {
    expect(segmentRegExp('*.log')?.test('app.log')).toBe(true);
    expect(segmentRegExp('*.log')?.test('app.log.1')).toBe(false);
    expect(segmentRegExp('*.log')?.test('.hidden.log')).toBe(false);
    expect(segmentRegExp('app-[0-9].log')?.test('app-7.log')).toBe(true);
    expect(segmentRegExp('app-[!0-9].log')?.test('app-7.log')).toBe(false);
    expect(segmentRegExp('a?c')?.test('abc')).toBe(true);
    expect(segmentRegExp('plain.log')).toBeUndefined();
    expect(globBase('/var/log/app/*.log')).toBe('/var/log/app');
    expect(globDepth('/var/log/app/*.log')).toBe(0);
    expect(globBase('/var/log/*/current')).toBe('/var/log');
    expect(globDepth('/var/log/*/current')).toBe(1);
    expect(globBase('/srv/**/*.log')).toBe('/srv');
    expect(globDepth('/srv/**/*.log')).toBe(8);
    expect(globBase('/var/log/app.log')).toBe('/var/log');
  });

  it('follows every matching file with its format and configured labels, and picks up new ones', async () => {
    const r = tmp('files');
    mkdirSync(join(r, 'var/log/app/a'), { recursive: true });
    mkdirSync(join(r, 'var/log/app/b'), { recursive: true });
    mkdirSync(join(r, 'srv/svc'), { recursive: true });
    // Lines as Podman's k8s-file driver wrote them (testdata/podman), under other names.
    writeFileSync(join(r, 'var/log/app/a/out.log'), '2026-11-25T02:39:10.454177711+00:00 stdout F hello a\n2026-11-25T02:39:10.454177711+00:00 stdout P part\n');
    writeFileSync(join(r, 'var/log/app/b/out.log'), '2026-11-25T02:39:11.518553340+00:00 stderr F hello b\n');
    writeFileSync(join(r, 'var/log/app/b/out.log.1'), '2026-11-25T02:39:11.518553340+00:00 stderr F rotated copy: not matched\n');
    writeFileSync(join(r, 'srv/svc/json.log'), '{"log":"from json\\n","stream":"stdout","time":"2026-11-25T01:04:27.710798097Z"}\n');
    const sink = new MemorySink();
    const cfg = defaults({
      docker: false,
      cri: false,
      podman: false,
      files: [
        { path: '/var/log/app/*/out.log', format: 'cri', labels: { name: 'app', team: 'payments' } },
        { path: '/srv/**/*.log', format: 'docker', labels: {} },
      ],
    });
    const c = await run(logsCollector.create(cfg, createContext({ root: r, logs: sink, stateDir: tmp('state') })));
    await waitFor('three records', () => (sink.records.length >= 3 ? true : undefined), 5000);
    appendFileSync(join(r, 'var/log/app/a/out.log'), '2026-11-25T02:39:11.518481855+00:00 stdout F  joined\n');
    mkdirSync(join(r, 'var/log/app/c'));
    writeFileSync(join(r, 'var/log/app/c/out.log'), '2026-11-25T02:39:12.000000000+00:00 stdout F hello c\n');
    await waitFor('the new file and the joined line', () => (sink.records.length >= 5 ? true : undefined), 5000);
    await new Promise((res) => setTimeout(res, 100));
    const by = new Map(sink.records.map((x) => [x.message, x]));
    expect([...by.keys()].sort()).toEqual(['from json', 'hello a', 'hello b', 'hello c', 'part joined']);
    expect(sink.records).toHaveLength(5);
    expect(by.get('hello a')?.labels.toObject()).toEqual({ id: '', image: '', name: 'app', team: 'payments' });
    expect(by.get('hello b')?.stream).toBe('stderr');
    expect(by.get('from json')?.labels.toObject()).toEqual({ id: '', image: '', name: '' });
    expect(by.get('from json')?.time).toBe('2026-11-25T01:04:27.710798097Z');
    // Three files with the same labels are one series; no duplicate series.
    const f = await families(c);
    const lines = f.get('lookout_log_lines_total') as Family;
    const keys = lines.targets.map((t, i) => `${t.text}|${lines.extras[i]?.text}`);
    expect(new Set(keys).size).toBe(keys.length);
    const app = lines.targets.map((t, i) => (t.get('name') === 'app' ? lines.values[i] : 0)).reduce((a = 0, v = 0) => a + v, 0);
    expect(app).toBe(4);
    expect(f.get('lookout_log_files')?.values).toEqual([4]);
    expect((f.get('lookout_log_errors_total') as Family).values.every((v) => v === 0)).toBe(true);
  });

  it('a rescan lists a glob directory again only when it changed', () => {
    const r = tmp('scan');
    mkdirSync(join(r, 'logs'));
    writeFileSync(join(r, 'logs/x.log'), '');
    let now = 1_000_000;
    const s = new Scanner(undefined, undefined, undefined, () => now);
    s.configure({ files: [{ glob: join(r, 'logs/*.log'), format: 'cri', labels: { a: 'b' } }] });
    // A directory modified within two seconds is listed again whatever its mtime: let time pass.
    now = Date.now() + 10_000;
    const first = s.scan().changed;
    expect(first.map((g) => g.key)).toEqual([`file:${join(r, 'logs/x.log')}`]);
    expect(first[0]?.labels).toEqual({ a: 'b' });
    const again = s.scan();
    expect(again.changed).toEqual([]);
    expect([...again.present]).toEqual([`file:${join(r, 'logs/x.log')}`]);
  });

  it('with watch: a file in a new directory is picked up by chokidar before the next rescan', async () => {
    const r = tmp('watch');
    mkdirSync(join(r, 'var/log/w'), { recursive: true });
    const sink = new MemorySink();
    await run(logsCollector.create(defaults({ docker: false, cri: false, podman: false, watch: true, rescan_interval: '1h', files: [{ path: '/var/log/w/*/out.log', format: 'cri', labels: {} }] }), createContext({ root: r, logs: sink, stateDir: tmp('state') })));
    await new Promise((res) => setTimeout(res, 300));
    mkdirSync(join(r, 'var/log/w/new'));
    writeFileSync(join(r, 'var/log/w/new/out.log'), '2026-11-25T02:39:12.000000000+00:00 stdout F watched\n');
    await waitFor('the watched line', () => (sink.messages().includes('watched') ? true : undefined), 5000);
  });
});
