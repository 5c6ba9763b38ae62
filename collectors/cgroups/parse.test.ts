import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { LookoutError } from '../../src/errors.js';
import {
  countLines,
  type DeviceIo,
  parseBlkioV1,
  parseCpuMax,
  parseFlatKeyed,
  parseIoStat,
  parseLimit,
  parsePressure,
  parseSingle,
} from './parse.js';

const td = join(dirname(fileURLToPath(import.meta.url)), 'testdata');
const HYBRID = join(td, 'v1-hybrid-docker/root/sys/fs/cgroup');
const V2 = join(td, 'v2-systemd/root/sys/fs/cgroup');
const CPU_ID = '7641d6d2bf99a8c50ba691e36e640eee3f3bab4bc85f7bd3ba25d2937a51baa7';
const DIO_ID = '4c27dce492b9293897c4e61e9af6118378204ff5f53ad190ca25ed2a716a4017';
const real = (controller: string, path: string, file: string): string => readFileSync(join(HYBRID, controller, path, file), 'latin1');

/** Asserts that `fn` throws the parse error, naming the file. */
function expectParseError(fn: () => unknown, what: string): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(LookoutError);
  expect((err as LookoutError).code).toBe('LOOKOUT_ERR_CGROUP_PARSE');
  expect((err as LookoutError).retryable).toBe(false);
  expect((err as LookoutError).message).toContain(what);
}

function keyed(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  parseFlatKeyed(text, 'f', (k, v) => {
    out[k] = v;
  });
  return out;
}

describe('parseSingle', () => {
  it('reads the real single-value files', () => {
    expect(parseSingle(real('cpuacct', `docker/${CPU_ID}`, 'cpuacct.usage'), 'cpuacct.usage')).toBe(36451651705);
    expect(parseSingle(real('memory', `docker/${CPU_ID}`, 'memory.limit_in_bytes'), 'memory.limit_in_bytes')).toBe(67108864);
    expect(parseSingle(real('cpu', `docker/${CPU_ID}`, 'cpu.cfs_quota_us'), 'cpu.cfs_quota_us')).toBe(50000);
    expect(parseSingle(real('cpu', '', 'cpu.cfs_quota_us'), 'cpu.cfs_quota_us')).toBe(-1);
  });

  it('reads v1 "unlimited" (2^63 rounded down to the page size) as a number above 2^62', () => {
    const v = parseSingle('9223372036854771712\n', 'memory.limit_in_bytes');
    expect(v).toBeGreaterThan(2 ** 62);
  });

  it('refuses empty, blank, non-numeric and "max" content', () => {
    expectParseError(() => parseSingle('', 'memory.usage_in_bytes'), 'memory.usage_in_bytes');
    expectParseError(() => parseSingle(' \n', 'memory.usage_in_bytes'), 'memory.usage_in_bytes');
    expectParseError(() => parseSingle('not-a-number\n', 'memory.usage_in_bytes'), '"not-a-number\\n"');
    expectParseError(() => parseSingle('12 34\n', 'x'), 'x');
    expectParseError(() => parseSingle('max\n', 'pids.max'), 'pids.max');
    expectParseError(() => parseSingle('Infinity', 'x'), 'x');
  });

  it('shortens long content in the message', () => {
    let msg = '';
    try {
      parseSingle('x'.repeat(500), 'f');
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toContain(`"${'x'.repeat(80)}..."`);
    expect(msg.length).toBeLessThan(150);
  });
});

describe('parseLimit', () => {
  it('reads "max" as null (unlimited) and numbers as numbers', () => {
    expect(parseLimit(real('pids', `docker/${CPU_ID}`, 'pids.max'), 'pids.max')).toBeNull();
    expect(parseLimit('max\n', 'memory.max')).toBeNull();
    expect(parseLimit(readFileSync(join(V2, 'system.slice/ssh.service/pids.max'), 'latin1'), 'pids.max')).toBe(4915);
    expect(parseLimit('0\n', 'memory.swap.max')).toBe(0);
  });

  it('refuses empty and malformed content', () => {
    expectParseError(() => parseLimit('', 'pids.max'), 'pids.max');
    expectParseError(() => parseLimit('maximum\n', 'pids.max'), 'maximum');
    expectParseError(() => parseLimit('MAX\n', 'pids.max'), 'MAX');
  });
});

describe('parseFlatKeyed', () => {
  it('reads the real v1 cpu.stat, cpuacct.stat, memory.oom_control and memory.stat', () => {
    expect(keyed(real('cpu', `docker/${CPU_ID}`, 'cpu.stat'))).toEqual({ nr_periods: 768, nr_throttled: 544, throttled_time: 19636533192, nr_bursts: 0, burst_time: 0 });
    expect(keyed(real('cpuacct', `docker/${CPU_ID}`, 'cpuacct.stat'))).toEqual({ user: 3621, system: 24 });
    expect(keyed(real('memory', 'docker/a7f393d6838cae6bbdb3f413ed0c5cc48ea6ccd73b8374cbd745289328d0dc27', 'memory.oom_control'))).toEqual({ oom_kill_disable: 0, under_oom: 0, oom_kill: 1 });
    const stat = keyed(real('memory', `docker/${DIO_ID}`, 'memory.stat'));
    expect(Object.keys(stat)).toHaveLength(42);
    expect(stat['total_cache']).toBe(8396800);
    expect(stat['total_inactive_file']).toBe(3411968);
    expect(stat['hierarchical_memory_limit']).toBe(9223372036854771712);
  });

  it('reads a v2 memory.stat with every modern key, and cpu.stat keys with dots', () => {
    const stat = keyed(readFileSync(join(V2, 'system.slice/ssh.service/memory.stat'), 'latin1'));
    for (const k of ['anon', 'file', 'kernel', 'sec_pagetables', 'zswapped', 'shmem_thp', 'slab', 'workingset_nodereclaim', 'pgscan_khugepaged', 'zswpwb', 'thp_swpout_fallback']) {
      expect(stat, k).toHaveProperty(k);
    }
    expect(stat['inactive_file']).toBe(1048576);
    expect(keyed('usage_usec 10\ncore_sched.force_idle_usec 0\n')).toEqual({ usage_usec: 10, 'core_sched.force_idle_usec': 0 });
  });

  it('accepts an empty file and a missing final newline, skips empty lines', () => {
    expect(keyed('')).toEqual({});
    expect(keyed('a 1\n\nb 2')).toEqual({ a: 1, b: 2 });
  });

  it('refuses a line without a value, a garbage value and a truncated key', () => {
    expectParseError(() => keyed('nr_periods 1\nthrottled_time 3.1e+11junk\n'), 'throttled_time 3.1e+11junk');
    expectParseError(() => keyed('a 1\ntotal_inactive_fi'), 'total_inactive_fi');
    expectParseError(() => keyed('a \n'), 'a ');
    expectParseError(() => keyed('a\t1\n'), 'a\\t1');
  });

  it('hands nothing to the callback when any line is bad, so a broken file contributes no half values', () => {
    const seen: string[] = [];
    expect(() => parseFlatKeyed('a 1\nb x\nc 3\n', 'f', (k) => seen.push(k))).toThrow(LookoutError);
    expect(seen).toEqual([]);
  });
});

describe('parseCpuMax', () => {
  it('reads a quota and "max"', () => {
    expect(parseCpuMax('150000 100000\n', 'cpu.max')).toEqual({ quota: 150000, period: 100000 });
    expect(parseCpuMax('max 100000\n', 'cpu.max')).toEqual({ quota: null, period: 100000 });
    expect(parseCpuMax(readFileSync(join(V2, 'system.slice/ssh.service/cpu.max'), 'latin1'), 'cpu.max')).toEqual({ quota: null, period: 100000 });
  });

  it('refuses empty, one-field, three-field and "max max" content', () => {
    expectParseError(() => parseCpuMax('', 'cpu.max'), 'cpu.max');
    expectParseError(() => parseCpuMax('max\n', 'cpu.max'), 'cpu.max');
    expectParseError(() => parseCpuMax('1 2 3\n', 'cpu.max'), 'cpu.max');
    expectParseError(() => parseCpuMax('max max\n', 'cpu.max'), 'cpu.max');
  });
});

describe('parseBlkioV1', () => {
  it('reads the real throttle files of a container that did direct I/O', () => {
    const devices = new Map<string, DeviceIo>();
    parseBlkioV1(real('blkio', `docker/${DIO_ID}`, 'blkio.throttle.io_service_bytes_recursive'), 'b', 'bytes', devices);
    parseBlkioV1(real('blkio', `docker/${DIO_ID}`, 'blkio.throttle.io_serviced_recursive'), 'o', 'ops', devices);
    expect([...devices.entries()]).toEqual([['254:0', { major: 254, minor: 0, readBytes: 16777216, writeBytes: 8519680, reads: 134, writes: 49 }]]);
  });

  it('reads "Total 0" alone (no I/O, or throttling never enabled on the device) as no devices', () => {
    const devices = new Map<string, DeviceIo>();
    parseBlkioV1(real('blkio', `docker/${CPU_ID}`, 'blkio.throttle.io_service_bytes_recursive'), 'b', 'bytes', devices);
    expect(devices.size).toBe(0);
    parseBlkioV1('', 'b', 'bytes', devices);
    expect(devices.size).toBe(0);
  });

  it('ignores Sync, Async, Discard and Total per device, and keeps devices apart', () => {
    const devices = new Map<string, DeviceIo>();
    parseBlkioV1('8:0 Read 10\n8:0 Write 20\n8:0 Sync 30\n8:0 Async 0\n8:0 Discard 5\n8:0 Total 30\n8:16 Read 1\nTotal 31\n', 'b', 'bytes', devices);
    expect(devices.get('8:0')).toEqual({ major: 8, minor: 0, readBytes: 10, writeBytes: 20, reads: 0, writes: 0 });
    expect(devices.get('8:16')).toMatchObject({ major: 8, minor: 16, readBytes: 1 });
  });

  it('refuses malformed lines', () => {
    const devices = new Map<string, DeviceIo>();
    expectParseError(() => parseBlkioV1('8:0 Read\n', 'b', 'bytes', devices), '8:0 Read');
    expectParseError(() => parseBlkioV1('8:0 Read ten\n', 'b', 'bytes', devices), 'ten');
    expectParseError(() => parseBlkioV1('80 Read 1\n', 'b', 'bytes', devices), '80 Read 1');
    expectParseError(() => parseBlkioV1('Total x\n', 'b', 'bytes', devices), 'Total x');
    expectParseError(() => parseBlkioV1('a:b Read 1\n', 'b', 'bytes', devices), 'a:b');
  });
});

describe('parseIoStat', () => {
  it('reads the v2 io.stat of the root, with discard fields ignored', () => {
    const devices = new Map<string, DeviceIo>();
    parseIoStat(readFileSync(join(V2, 'io.stat'), 'latin1'), 'io.stat', devices);
    expect(devices.get('8:0')).toEqual({ major: 8, minor: 0, readBytes: 2147483648, writeBytes: 1073741824, reads: 81231, writes: 40117 });
    expect([...devices.keys()]).toEqual(['8:0', '259:0', '253:0']);
  });

  it('ignores fields newer kernels add and accepts a device line without fields', () => {
    const devices = new Map<string, DeviceIo>();
    parseIoStat('8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=5 dios=6 cost.vrate=100.00 cost.usage=1\n8:16\n', 'io.stat', devices);
    expect(devices.get('8:0')).toEqual({ major: 8, minor: 0, readBytes: 1, writeBytes: 2, reads: 3, writes: 4 });
    expect(devices.get('8:16')).toEqual({ major: 8, minor: 16, readBytes: 0, writeBytes: 0, reads: 0, writes: 0 });
    parseIoStat('', 'io.stat', devices);
    expect(devices.size).toBe(2);
  });

  it('refuses fields without "=" or with a non-numeric value, and a bad device', () => {
    const devices = new Map<string, DeviceIo>();
    expectParseError(() => parseIoStat('8:0 rbytes\n', 'io.stat', devices), 'rbytes');
    expectParseError(() => parseIoStat('8:0 rbytes=x\n', 'io.stat', devices), 'rbytes=x');
    expectParseError(() => parseIoStat('sda rbytes=1\n', 'io.stat', devices), 'sda');
  });
});

describe('parsePressure', () => {
  it('reads the real PSI totals, in microseconds', () => {
    expect(parsePressure(real('unified', `docker/${CPU_ID}`, 'cpu.pressure'), 'cpu.pressure')).toEqual({ some: 28991821, full: 28987189 });
    expect(parsePressure(real('unified', '', 'memory.pressure'), 'memory.pressure')).toEqual({ some: 38044, full: 1905 });
  });

  it('reads a "some"-only file (the system-wide cpu.pressure of kernels before 5.13)', () => {
    expect(parsePressure('some avg10=0.00 avg60=0.00 avg300=0.00 total=12\n', 'cpu.pressure')).toEqual({ some: 12 });
    expect(parsePressure('', 'cpu.pressure')).toEqual({});
  });

  it('refuses other line kinds and lines without total', () => {
    expectParseError(() => parsePressure('avg10=0.00 total=1\n', 'cpu.pressure'), 'avg10');
    expectParseError(() => parsePressure('some avg10=0.00 avg60=0.00 avg300=0.00\n', 'cpu.pressure'), 'some avg10');
    expectParseError(() => parsePressure('some avg10=0.00 total=\n', 'cpu.pressure'), 'total=');
    expectParseError(() => parsePressure('some avg10=0.00 total=12x\n', 'cpu.pressure'), 'total=12x');
  });
});

describe('countLines', () => {
  it('counts PIDs in the real cgroup.procs files', () => {
    expect(countLines(real('pids', `docker/${CPU_ID}`, 'cgroup.procs'))).toBe(1);
    const root = real('pids', '', 'cgroup.procs');
    expect(countLines(root)).toBe(root.trim().split('\n').length);
  });

  it('counts non-empty lines with or without a final newline', () => {
    expect(countLines('')).toBe(0);
    expect(countLines('\n')).toBe(0);
    expect(countLines('1')).toBe(1);
    expect(countLines('1\n2\n')).toBe(2);
    expect(countLines('1\n\n2')).toBe(2);
  });
});
