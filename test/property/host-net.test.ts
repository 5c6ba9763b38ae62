import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseNetDev } from '../../collectors/cgroups/network.js';
import { parseCpuinfo, parseMeminfo } from '../../collectors/host/index.js';
import { anyText, corrupted, counter, onlyThrows, RUNS } from './arbitraries.js';

const HEADER =
  'Inter-|   Receive                                                |  Transmit\n' +
  ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n';

const ifName = fc.stringMatching(/^[a-z][a-z0-9_.@-]{0,14}$/);
const iface = fc.tuple(ifName, fc.array(counter, { minLength: 16, maxLength: 16 }));
const ifaces = fc.uniqueArray(iface, { selector: ([n]) => n, maxLength: 10 });
const renderNetDev = (list: ReadonlyArray<readonly [string, readonly number[]]>): string =>
  HEADER + list.map(([n, f]) => `${n.padStart(6)}: ${f.join(' ')}\n`).join('');

const cpu = fc.array(fc.tuple(fc.nat({ max: 3 }), fc.nat({ max: 15 })), { minLength: 1, maxLength: 64 });
const renderCpuinfo = (cpus: ReadonlyArray<readonly [number, number]>): string =>
  cpus.map(([s, c], i) => `processor\t: ${i}\nvendor_id\t: GenuineIntel\nphysical id\t: ${s}\ncore id\t\t: ${c}\nflags\t\t: fpu vme\n\n`).join('');
const meminfo = fc.nat({ max: 2 ** 40 }).map((kb) => ({ kb, text: `MemTotal:       ${kb} kB\nMemFree:         1234 kB\n` }));

describe('parseNetDev', () => {
  it('never throws anything but LOOKOUT_ERR_CGROUP_PARSE; every value finite', () => {
    fc.assert(
      fc.property(fc.oneof(anyText, anyText.map((t) => HEADER + t), corrupted(ifaces.map(renderNetDev))), (text) => {
        const r = onlyThrows('LOOKOUT_ERR_CGROUP_PARSE', () => parseNetDev(text, 'net/dev'));
        if (r.ok) for (const s of r.value) for (const v of Object.values(s)) if (typeof v === 'number') expect(Number.isFinite(v)).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });

  it('round-trips generated interfaces', () => {
    fc.assert(
      fc.property(ifaces, (list) => {
        expect(parseNetDev(renderNetDev(list), 'net/dev')).toEqual(
          list.map(([name, f]) => ({
            name, rxBytes: f[0], rxPackets: f[1], rxErrors: f[2], rxDropped: f[3],
            txBytes: f[8], txPackets: f[9], txErrors: f[10], txDropped: f[11],
          })),
        );
      }),
      RUNS,
    );
  });
});

describe('host parsers', () => {
  it('parseCpuinfo / parseMeminfo never throw anything but LOOKOUT_ERR_HOST', () => {
    fc.assert(
      fc.property(fc.oneof(anyText, corrupted(cpu.map(renderCpuinfo)), corrupted(meminfo.map((m) => m.text))), (text) => {
        const c = onlyThrows('LOOKOUT_ERR_HOST', () => parseCpuinfo(text));
        if (c.ok) {
          expect(c.value.logical).toBeGreaterThan(0);
          expect(c.value.physical).toBeGreaterThan(0);
          expect(c.value.sockets).toBeGreaterThan(0);
        }
        const m = onlyThrows('LOOKOUT_ERR_HOST', () => parseMeminfo(text));
        if (m.ok) expect(Number.isInteger(m.value) && m.value >= 0).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });

  it('parseCpuinfo counts processors, distinct (socket, core) pairs and sockets', () => {
    fc.assert(
      fc.property(cpu, (cpus) => {
        expect(parseCpuinfo(renderCpuinfo(cpus))).toEqual({
          logical: cpus.length,
          physical: new Set(cpus.map(([s, c]) => `${s}/${c}`)).size,
          sockets: new Set(cpus.map(([s]) => s)).size,
        });
      }),
      RUNS,
    );
  });

  // Was a bug found by this property (fixed): `\d+` accepts any number of digits, so a garbage
  // MemTotal of 309+ digits yields Infinity (machine_memory_bytes +Inf) instead of LOOKOUT_ERR_HOST.
  // Minimal counterexample: "MemTotal: " + "9".repeat(306) + " kB".
  it('parseMeminfo: a MemTotal of any length of digits is a finite number or LOOKOUT_ERR_HOST', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('0', '1', '9'), minLength: 1, maxLength: 400 }).map((d) => d.padStart(310, '9')), (digits) => {
        const m = onlyThrows('LOOKOUT_ERR_HOST', () => parseMeminfo(`MemTotal: ${digits} kB\n`));
        if (m.ok) expect(Number.isFinite(m.value)).toBe(true);
      }),
      RUNS,
    );
  });

  it('parseMeminfo returns MemTotal in bytes', () => {
    fc.assert(fc.property(meminfo, ({ kb, text }) => {
      expect(parseMeminfo(text)).toBe(kb * 1024);
    }), RUNS);
  });
});
