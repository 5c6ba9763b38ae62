import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  countLines,
  type DeviceIo,
  firstPid,
  parseBlkioV1,
  parseCpuMax,
  parseFlatKeyed,
  parseIoStat,
  parseLimit,
  parsePressure,
  parseSingle,
} from '../../collectors/cgroups/parse.js';
import { anyText, corrupted, counter, expectThrows, onlyThrows, RUNS } from './arbitraries.js';

const CODE = 'LOOKOUT_ERR_CGROUP_PARSE';

// ---- generators of valid kernel content -------------------------------------------------

const statKey = fc.stringMatching(/^[a-z][a-z0-9_]{0,24}$/);
const flatMap = fc.uniqueArray(fc.tuple(statKey, counter), { selector: ([k]) => k, maxLength: 40 });
const renderFlat = (entries: ReadonlyArray<readonly [string, number]>): string => entries.map(([k, v]) => `${k} ${v}\n`).join('');
const flatText = flatMap.map(renderFlat);

const devKey = fc.tuple(fc.nat({ max: 259 }), fc.nat({ max: 1023 })).map(([a, b]) => `${a}:${b}`);
const devices = fc.uniqueArray(fc.tuple(devKey, counter, counter, counter, counter), { selector: ([k]) => k, maxLength: 8 });
type Dev = [string, number, number, number, number];

function renderBlkio(devs: readonly Dev[]): string {
  let total = 0;
  let out = '';
  for (const [k, r, w] of devs) {
    out += `${k} Read ${r}\n${k} Write ${w}\n${k} Sync ${r}\n${k} Async ${w}\n${k} Discard 0\n${k} Total ${r + w}\n`;
    total += r + w;
  }
  return `${out}Total ${total}\n`;
}
const renderIoStat = (devs: readonly Dev[]): string => devs.map(([k, rb, wb, ri, wi]) => `${k} rbytes=${rb} wbytes=${wb} rios=${ri} wios=${wi} dbytes=0 dios=0\n`).join('');

const avg = fc.integer({ min: 0, max: 10000 }).map((n) => (n / 100).toFixed(2));
const psiLine = (kind: string) => fc.tuple(avg, avg, avg, counter).map(([a, b, c, t]) => ({ line: `${kind} avg10=${a} avg60=${b} avg300=${c} total=${t}\n`, total: t }));
const pressure = fc.record({ some: psiLine('some'), full: fc.option(psiLine('full'), { nil: undefined }) });
const renderPressure = (p: { some: { line: string }; full: { line: string } | undefined }): string => p.some.line + (p.full?.line ?? '');

const cpuMax = fc.tuple(fc.option(fc.integer({ min: 1000, max: 1e9 }), { nil: null }), fc.integer({ min: 1000, max: 1000000 }));
const pids = fc.array(fc.integer({ min: 1, max: 4194304 }), { maxLength: 20 });

/** Arbitrary text plus near-valid versions of every format. */
const garbage = fc.oneof(
  anyText,
  corrupted(flatText),
  corrupted(devices.map(renderBlkio)),
  corrupted(devices.map(renderIoStat)),
  corrupted(pressure.map(renderPressure)),
  corrupted(cpuMax.map(([q, p]) => `${q ?? 'max'} ${p}\n`)),
  corrupted(counter.map((n) => `${n}\n`)),
  corrupted(pids.map((p) => p.map((x) => `${x}\n`).join(''))),
);

const collect = (m: Map<string, DeviceIo>): Record<string, Omit<DeviceIo, never>> => Object.fromEntries(m);

// ---- robustness: a result or LOOKOUT_ERR_CGROUP_PARSE, nothing else ---------------------

describe('cgroup parsers on arbitrary and corrupted text', () => {
  it('never throw anything but LOOKOUT_ERR_CGROUP_PARSE', () => {
    fc.assert(
      fc.property(garbage, (text) => {
        const single = onlyThrows(CODE, () => parseSingle(text, 'f'));
        if (single.ok) expect(Number.isFinite(single.value)).toBe(true);
        const limit = onlyThrows(CODE, () => parseLimit(text, 'f'));
        if (limit.ok && limit.value !== null) expect(Number.isFinite(limit.value)).toBe(true);
        const cpu = onlyThrows(CODE, () => parseCpuMax(text, 'f'));
        if (cpu.ok) expect(Number.isFinite(cpu.value.period)).toBe(true);
        onlyThrows(CODE, () => parseBlkioV1(text, 'f', 'bytes', new Map()));
        onlyThrows(CODE, () => parseBlkioV1(text, 'f', 'ops', new Map()));
        const io = new Map<string, DeviceIo>();
        const r = onlyThrows(CODE, () => parseIoStat(text, 'f', io));
        if (r.ok) for (const d of io.values()) for (const v of Object.values(d)) expect(Number.isFinite(v)).toBe(true);
        const psi = onlyThrows(CODE, () => parsePressure(text, 'f'));
        if (psi.ok) for (const v of Object.values(psi.value)) expect(Number.isFinite(v)).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });

  it('parseFlatKeyed: all or nothing — on a throw, `into` was never called', () => {
    fc.assert(
      fc.property(garbage, (text) => {
        const got: Array<[string, number]> = [];
        const r = onlyThrows(CODE, () => parseFlatKeyed(text, 'f', (k, v) => got.push([k, v])));
        if (!r.ok) expect(got).toEqual([]);
        else for (const [, v] of got) expect(Number.isFinite(v)).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });

  it('firstPid and countLines never throw; firstPid is a positive integer or undefined', () => {
    fc.assert(
      fc.property(garbage, (text) => {
        const p = firstPid(text);
        if (p !== undefined) expect(Number.isInteger(p) && p > 0).toBe(true);
        expect(countLines(text)).toBe(text.split('\n').filter((l) => l.length > 0).length);
      }),
      { numRuns: 5000 },
    );
  });

  it('error messages are bounded however long the input', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 200, maxLength: 2000 }), (junk) => {
        const e = expectThrows(CODE, () => parseSingle(`x${junk}`, 'memory.current'));
        expect(e.message.length).toBeLessThan(600);
        expect(e.message).toContain('memory.current');
      }),
      RUNS,
    );
  });
});

// ---- round trips on valid content ------------------------------------------------------

describe('cgroup parsers round-trip what the kernel writes', () => {
  it('parseSingle / parseLimit', () => {
    fc.assert(
      fc.property(counter, fc.constantFrom('', '\n'), (n, nl) => {
        expect(parseSingle(`${n}${nl}`, 'f')).toBe(n);
        expect(parseLimit(`${n}${nl}`, 'f')).toBe(n);
        expect(parseLimit(`max${nl}`, 'f')).toBeNull();
      }),
      RUNS,
    );
  });

  it('parseFlatKeyed: a rendered key/value map parses back to the same map, in order', () => {
    fc.assert(
      fc.property(flatMap, (entries) => {
        const got: Array<[string, number]> = [];
        parseFlatKeyed(renderFlat(entries), 'f', (k, v) => got.push([k, v]));
        expect(got).toEqual(entries);
      }),
      RUNS,
    );
  });

  it('parseFlatKeyed: one bad line anywhere delivers nothing', () => {
    const badLine = fc.oneof(
      statKey, // no value
      statKey.map((k) => `${k} `), // empty value
      fc.tuple(statKey, fc.constantFrom('abc', 'NaN', 'Infinity', '-Infinity', '1 2', '12x')).map(([k, v]) => `${k} ${v}`),
    );
    fc.assert(
      fc.property(flatMap, badLine, fc.nat(), (entries, bad, at) => {
        const lines = entries.map(([k, v]) => `${k} ${v}`);
        lines.splice(at % (lines.length + 1), 0, bad);
        const got: unknown[] = [];
        expectThrows(CODE, () => parseFlatKeyed(`${lines.join('\n')}\n`, 'f', (k, v) => got.push([k, v])));
        expect(got).toEqual([]);
      }),
      RUNS,
    );
  });

  it('parseCpuMax', () => {
    fc.assert(
      fc.property(cpuMax, ([q, p]) => {
        expect(parseCpuMax(`${q ?? 'max'} ${p}\n`, 'f')).toEqual({ quota: q, period: p });
      }),
      RUNS,
    );
  });

  it('parseBlkioV1 (bytes and ops) keeps Read and Write per device', () => {
    fc.assert(
      fc.property(devices, (devs) => {
        const text = renderBlkio(devs);
        const bytes = new Map<string, DeviceIo>();
        parseBlkioV1(text, 'f', 'bytes', bytes);
        const ops = new Map<string, DeviceIo>();
        parseBlkioV1(text, 'f', 'ops', ops);
        const expected = (field: 'bytes' | 'ops') =>
          Object.fromEntries(
            devs.map(([k, r, w]) => {
              const [maj, min] = k.split(':').map(Number) as [number, number];
              return [k, { major: maj, minor: min, readBytes: field === 'bytes' ? r : 0, writeBytes: field === 'bytes' ? w : 0, reads: field === 'ops' ? r : 0, writes: field === 'ops' ? w : 0 }];
            }),
          );
        expect(collect(bytes)).toEqual(expected('bytes'));
        expect(collect(ops)).toEqual(expected('ops'));
      }),
      RUNS,
    );
  });

  it('parseIoStat', () => {
    fc.assert(
      fc.property(devices, (devs) => {
        const m = new Map<string, DeviceIo>();
        parseIoStat(renderIoStat(devs), 'f', m);
        expect(collect(m)).toEqual(
          Object.fromEntries(
            devs.map(([k, rb, wb, ri, wi]) => {
              const [maj, min] = k.split(':').map(Number) as [number, number];
              return [k, { major: maj, minor: min, readBytes: rb, writeBytes: wb, reads: ri, writes: wi }];
            }),
          ),
        );
      }),
      RUNS,
    );
  });

  it('parsePressure', () => {
    fc.assert(
      fc.property(pressure, (p) => {
        const want: { some?: number; full?: number } = { some: p.some.total };
        if (p.full !== undefined) want.full = p.full.total;
        expect(parsePressure(renderPressure(p), 'f')).toEqual(want);
      }),
      RUNS,
    );
  });

  it('firstPid / countLines on cgroup.procs', () => {
    fc.assert(
      fc.property(pids, (ps) => {
        const text = ps.map((p) => `${p}\n`).join('');
        expect(firstPid(text)).toBe(ps[0]);
        expect(countLines(text)).toBe(ps.length);
      }),
      RUNS,
    );
  });
});
