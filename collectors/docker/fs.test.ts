import { linkSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ContainerDirectory } from '../../src/containers.js';
import { SnapshotBuilder } from '../../src/model.js';
import { deviceOf, diskUsage, FS, LayerUsage, majorMinor } from './fs.js';

const ID = 'a'.repeat(64);
const MOUNT = 'f0e1d2c3b4a5';
const MiB = 1024 * 1024;

/** du's figure for the files given: st_blocks * 512 each. */
const blocks = (...paths: string[]): number => paths.reduce((a, p) => a + statSync(p).blocks * 512, 0);

describe('container_fs_usage_bytes: the writable layer walk', () => {
  let root: string;
  let dataRoot: string;
  let diff: string;
  let state: string;

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'lookout-fs-'));
    dataRoot = join(root, 'var/lib/docker');
    mkdirSync(join(dataRoot, 'image/overlay2/layerdb/mounts', ID), { recursive: true });
    writeFileSync(join(dataRoot, 'image/overlay2/layerdb/mounts', ID, 'mount-id'), MOUNT);
    diff = join(dataRoot, 'overlay2', MOUNT, 'diff');
    mkdirSync(join(diff, 'etc/deep/er'), { recursive: true });
    writeFileSync(join(diff, 'big'), Buffer.alloc(2 * MiB, 1));
    writeFileSync(join(diff, 'etc/deep/er/small'), 'x');
    linkSync(join(diff, 'big'), join(diff, 'etc/big-again'));
    state = join(dataRoot, 'containers', ID);
    mkdirSync(state, { recursive: true });
    writeFileSync(join(state, `${ID}-json.log`), Buffer.alloc(100_000, 2));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('adds up the blocks of the upper directory and the state directory, a hard link once', async () => {
    const r = await diskUsage([diff, state]);
    const dirs = [diff, join(diff, 'etc'), join(diff, 'etc/deep'), join(diff, 'etc/deep/er'), state];
    const expected = blocks(...dirs, join(diff, 'big'), join(diff, 'etc/deep/er/small'), join(state, `${ID}-json.log`));
    expect(r.bytes).toBe(expected);
    expect(r.bytes).toBeGreaterThanOrEqual(2 * MiB);
    expect(r.bytes).toBeLessThan(3 * MiB);
    expect(r.truncated).toBe(false);
  });

  it('stops at its bound on entries and says the figure is partial; a missing directory counts 0', async () => {
    const r = await diskUsage([diff], 3);
    expect(r.truncated).toBe(true);
    expect(r.files).toBeLessThanOrEqual(3 + 3);
    expect(await diskUsage([join(root, 'nope')])).toEqual({ bytes: 0, files: 0, truncated: false });
  });

  it('names the device from mountinfo: the longest mount point above the path, of that MAJ:MIN', () => {
    const mountinfo = [
      '26 1 254:0 / / rw,relatime - ext4 /dev/vda rw',
      '41 26 254:0 /var/lib/docker /var/lib/docker rw,relatime shared:1 - ext4 /dev/vdb1 rw,discard',
      '42 26 0:45 / /var/lib/docker/overlay2/x/merged rw - overlay overlay rw',
    ].join('\n');
    expect(deviceOf(mountinfo, '254:0', '/var/lib/docker')).toBe('/dev/vdb1');
    expect(deviceOf(mountinfo, '254:0', '/srv')).toBe('/dev/vda');
    expect(deviceOf(mountinfo, '8:1', '/var/lib/docker')).toBe('8:1');
    expect(majorMinor(65024)).toBe('254:0');
    expect(majorMinor((259 << 8) | 3)).toBe('259:3');
  });

  it('serves cached figures on collect, walks in the background, and labels them with the container and device', async () => {
    const dir = new ContainerDirectory();
    dir.update(ID, { runtime: 'docker', name: 'web', image: 'nginx', state: 'running', cgroupPath: `/docker/${ID}` });
    dir.update('b'.repeat(64), { runtime: 'docker', name: 'stopped', state: 'exited' });
    const usage = new LayerUsage({ root, dataRoot, hostDataRoot: '/var/lib/docker', intervalMs: 60_000, now: Date.now, log: pino({ level: 'silent' }) });
    expect(usage.layerDirs(ID)).toEqual([diff, state]);
    const ac = new AbortController();
    const scrape = (): ReturnType<SnapshotBuilder['build']> => {
      const b = new SnapshotBuilder(Date.now(), (kind, err) => {
        throw new Error(`${kind}: ${String(err)}`);
      });
      usage.collect(b, dir, 'docker');
      return b.build();
    };
    // The first collection only queues the walk: nothing to serve yet.
    expect(scrape().seriesCount).toBe(0);
    usage.start(ac.signal);
    let snap = scrape();
    for (let i = 0; i < 100 && snap.seriesCount === 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
      snap = scrape();
    }
    const fam = (name: string) => snap.families.find((f) => f.def.name === name);
    const used = fam(FS.usage.name);
    const limit = fam(FS.limit.name);
    expect(used?.values).toHaveLength(1);
    expect(used?.targets[0]?.toObject()).toEqual({ id: `/docker/${ID}`, image: 'nginx', name: 'web' });
    expect(used?.extras[0]?.get('device')).toMatch(/.+/);
    expect(used?.values[0]).toBe(await diskUsage([diff, state]).then((r) => r.bytes));
    expect(limit?.values[0]).toBeGreaterThan(used?.values[0] as number);
    // A container that is no longer running leaves the cache and the output.
    dir.update(ID, { state: 'exited' });
    expect(scrape().seriesCount).toBe(0);
    ac.abort();
    await usage.shutdown();
    await usage.shutdown();
  });
});
