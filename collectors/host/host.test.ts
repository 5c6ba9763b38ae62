import { createContext } from '../../src/context.js';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { ComponentContext } from '../../src/component.js';
import { LookoutError } from '../../src/errors.js';
import { SnapshotBuilder } from '../../src/model.js';
import { hostCollector, parseCpuinfo, parseMeminfo } from './index.js';

const td = join(dirname(fileURLToPath(import.meta.url)), 'testdata');
const proc = (c: string, f: string): string => readFileSync(join(td, c, 'root/proc', f), 'latin1');

const temps: string[] = [];
afterAll(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

function expectHostError(fn: () => unknown, text: string): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(LookoutError);
  expect((err as LookoutError).code).toBe('LOOKOUT_ERR_HOST');
  expect((err as LookoutError).message).toContain(text);
}

describe('parseCpuinfo', () => {
  it('the real /proc/cpuinfo of the capture machine: 2 logical CPUs, 2 cores, 1 socket', () => {
    expect(parseCpuinfo(proc('real', 'cpuinfo'))).toEqual({ logical: 2, physical: 2, sockets: 1 });
  });

  it('a two-socket machine with hyper-threads: core ids repeat per socket and are not contiguous', () => {
    // 8 processors; (physical id, core id) in {0,1} x {0,4}, each twice.
    expect(parseCpuinfo(proc('two-socket', 'cpuinfo'))).toEqual({ logical: 8, physical: 4, sockets: 2 });
  });

  it('without topology lines (some VMs, arm64) every processor counts as a core on one socket', () => {
    const text = 'processor\t: 0\nBogoMIPS\t: 48.00\nFeatures\t: fp asimd\n\nprocessor\t: 1\nBogoMIPS\t: 48.00\n\n';
    expect(parseCpuinfo(text)).toEqual({ logical: 2, physical: 2, sockets: 1 });
  });

  it('ignores the "Processor" model line of old arm kernels', () => {
    expect(parseCpuinfo('Processor\t: ARMv7 Processor rev 4 (v7l)\nprocessor\t: 0\n\nprocessor\t: 1\n')).toEqual({ logical: 2, physical: 2, sockets: 1 });
  });

  it('refuses garbage, an empty file and a file without processor lines', () => {
    expectHostError(() => parseCpuinfo(''), 'no "processor" line in /proc/cpuinfo');
    expectHostError(() => parseCpuinfo('\u0000\u0001garbage without colons\n'), 'no "processor" line');
    expectHostError(() => parseCpuinfo(proc('real', 'meminfo')), 'no "processor" line');
  });
});

describe('parseMeminfo', () => {
  it('MemTotal of the real /proc/meminfo, in bytes', () => {
    expect(proc('real', 'meminfo').split('\n')[0]).toBe('MemTotal:       24683620 kB');
    expect(parseMeminfo(proc('real', 'meminfo'))).toBe(24683620 * 1024);
  });

  it('MemTotal of the two-socket machine', () => {
    expect(parseMeminfo(proc('two-socket', 'meminfo'))).toBe(263921640 * 1024);
  });

  it('refuses garbage, an empty file, another unit and a missing MemTotal', () => {
    expectHostError(() => parseMeminfo(''), 'no "MemTotal: N kB" line');
    expectHostError(() => parseMeminfo('MemTotal: lots\n'), 'MemTotal');
    expectHostError(() => parseMeminfo('MemTotal:       24683620 MB\n'), 'MemTotal');
    expectHostError(() => parseMeminfo('MemFree:        23999120 kB\n'), 'MemTotal');
    expectHostError(() => parseMeminfo(proc('real', 'cpuinfo')), 'MemTotal');
  });
});

function context(root: string): ComponentContext {
  return createContext({ root, now: () => 0 });
}

async function collect(root: string): Promise<{ values: Record<string, number>; errors: Array<{ kind: string; err: unknown }> }> {
  const c = hostCollector.create({ enabled: true }, context(root));
  await c.start(new AbortController().signal);
  const errors: Array<{ kind: string; err: unknown }> = [];
  const b = new SnapshotBuilder(0, (kind, err) => errors.push({ kind, err }));
  await c.collect(b);
  await c.shutdown();
  const values: Record<string, number> = {};
  for (const f of b.build().families) values[f.def.name] = f.values[0] as number;
  return { values, errors };
}

describe('host collector', () => {
  it('lifecycle: shutdown before start, start, collect, shutdown, shutdown again', async () => {
    const c = hostCollector.create({ enabled: true }, context(join(td, 'real/root')));
    await expect(c.shutdown()).resolves.toBeUndefined();
    await c.start(new AbortController().signal);
    const b = new SnapshotBuilder(0, () => {
      throw new Error('no error expected');
    });
    await c.collect(b);
    expect(b.build().seriesCount).toBe(4);
    await c.shutdown();
    await expect(c.shutdown()).resolves.toBeUndefined();
  });

  it('reports the machine from <root>/proc', async () => {
    expect(await collect(join(td, 'two-socket/root'))).toEqual({
      values: { machine_cpu_cores: 8, machine_cpu_physical_cores: 4, machine_cpu_sockets: 2, machine_memory_bytes: 263921640 * 1024 },
      errors: [],
    });
  });

  it('a missing /proc is two counted host errors naming the file, not a throw', async () => {
    const root = mkdtempSync(join(tmpdir(), 'lookout-host-'));
    temps.push(root);
    const { values, errors } = await collect(root);
    expect(values).toEqual({});
    expect(errors.map((e) => e.kind)).toEqual(['host', 'host']);
    expect(errors.map((e) => (e.err as LookoutError).code)).toEqual(['LOOKOUT_ERR_HOST', 'LOOKOUT_ERR_HOST']);
    expect((errors[0]?.err as Error).message).toContain(join(root, 'proc', 'cpuinfo'));
    expect((errors[1]?.err as Error).message).toContain(join(root, 'proc', 'meminfo'));
  });

  it('garbage in one file costs only that file\'s series', async () => {
    const root = mkdtempSync(join(tmpdir(), 'lookout-host-'));
    temps.push(root);
    mkdirSync(join(root, 'proc'));
    writeFileSync(join(root, 'proc/cpuinfo'), 'garbage\n');
    writeFileSync(join(root, 'proc/meminfo'), proc('real', 'meminfo'));
    const { values, errors } = await collect(root);
    expect(values).toEqual({ machine_memory_bytes: 24683620 * 1024 });
    expect(errors).toHaveLength(1);
    expect(errors[0]?.kind).toBe('host');
    expect((errors[0]?.err as LookoutError).message).toContain('no "processor" line');
  });
});
