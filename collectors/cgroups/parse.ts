/**
 * Parsers for the cgroup files the kernel writes (Documentation/admin-guide/cgroup-v1/*.rst,
 * Documentation/admin-guide/cgroup-v2.rst). Each throws a LOOKOUT_ERR_CGROUP_PARSE error on
 * content the kernel does not write, so the caller can count it and skip the file.
 */
import { LookoutError } from '../../src/errors.js';

function bad(what: string, text: string): LookoutError {
  const shown = text.length > 80 ? `${text.slice(0, 80)}...` : text;
  return new LookoutError('LOOKOUT_ERR_CGROUP_PARSE', `${what}: unexpected content ${JSON.stringify(shown)}`);
}

function toNumber(s: string, what: string, text: string): number {
  // Number('') is 0 and Number(' ') too: refuse them, the kernel never writes an empty value.
  if (s.length === 0) throw bad(what, text);
  const n = Number(s);
  if (!Number.isFinite(n)) throw bad(what, text);
  return n;
}

/** A file holding one integer (`memory.usage_in_bytes`, `pids.current`, `cpu.shares`). */
export function parseSingle(text: string, what: string): number {
  return toNumber(text.trim(), what, text);
}

/**
 * A limit file: one integer or `max` (`pids.max`, `memory.max`, `memory.swap.max`).
 * Returns null for `max`, meaning unlimited.
 */
export function parseLimit(text: string, what: string): number | null {
  const t = text.trim();
  return t === 'max' ? null : toNumber(t, what, text);
}

/**
 * The number in `text[start, end)`: digit strings of up to 15 digits (every value the kernel
 * writes in practice) are computed in place, without a slice; anything else goes through
 * Number() exactly as before. NaN when it is not a finite number (or is empty).
 */
function numberAt(text: string, start: number, end: number): number {
  const len = end - start;
  if (len > 0 && len <= 15) {
    let v = 0;
    let i = start;
    for (; i < end; i++) {
      const d = text.charCodeAt(i) - 48;
      if (d < 0 || d > 9) break;
      v = v * 10 + d;
    }
    if (i === end) return v;
  }
  if (len === 0) return Number.NaN;
  const n = Number(text.slice(start, end));
  return Number.isFinite(n) ? n : Number.NaN;
}

/** Offsets of the keys and the values of the last flat keyed file, reused from one file to the next. */
let offsets = new Int32Array(512);
let parsed = new Float64Array(128);
let busy = false;

/**
 * Flat keyed files, `key value` per line (`memory.stat`, `cpu.stat`, `cpuacct.stat`,
 * `memory.events`, `memory.oom_control`). The whole file is checked before `into` is
 * called, so a file with one bad line contributes nothing rather than half its values.
 */
export function parseFlatKeyed(text: string, what: string, into: (key: string, value: number) => void): void {
  // Should `into` parse another flat keyed file, that one gets arrays of its own.
  const nested = busy;
  let o = nested ? new Int32Array(512) : offsets;
  let p = nested ? new Float64Array(128) : parsed;
  let n = 0;
  let start = 0;
  const len = text.length;
  while (start < len) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = len;
    if (end > start) {
      const sp = text.indexOf(' ', start);
      if (sp < 0 || sp >= end) throw bad(what, text.slice(start, end));
      const v = numberAt(text, sp + 1, end);
      if (Number.isNaN(v)) throw bad(what, text.slice(start, end));
      if (n === p.length) {
        const o2 = new Int32Array(o.length * 2);
        o2.set(o);
        o = o2;
        const p2 = new Float64Array(p.length * 2);
        p2.set(p);
        p = p2;
        if (!nested) {
          offsets = o;
          parsed = p;
        }
      }
      o[2 * n] = start;
      o[2 * n + 1] = sp;
      p[n] = v;
      n++;
    }
    start = end + 1;
  }
  busy = true;
  try {
    for (let i = 0; i < n; i++) into(text.slice(o[2 * i] as number, o[2 * i + 1] as number), p[i] as number);
  } finally {
    busy = nested;
  }
}

/** `cpu.max` (v2): `$MAX $PERIOD`, `$MAX` may be `max`. */
export function parseCpuMax(text: string, what: string): { quota: number | null; period: number } {
  const parts = text.trim().split(' ');
  if (parts.length !== 2) throw bad(what, text);
  const [q = '', p = ''] = parts;
  return { quota: q === 'max' ? null : toNumber(q, what, text), period: toNumber(p, what, text) };
}

export interface DeviceIo {
  major: number;
  minor: number;
  readBytes: number;
  writeBytes: number;
  reads: number;
  writes: number;
}

/** Adds one file's per-device values into `into`, field by field (bytes and operations come from two files on v1). */
export function mergeDevices(into: Map<string, DeviceIo>, from: Map<string, DeviceIo>, fields: 'bytes' | 'ops' | 'all'): void {
  for (const [key, d] of from) {
    const t = into.get(key) ?? { major: d.major, minor: d.minor, readBytes: 0, writeBytes: 0, reads: 0, writes: 0 };
    if (fields !== 'ops') {
      t.readBytes = d.readBytes;
      t.writeBytes = d.writeBytes;
    }
    if (fields !== 'bytes') {
      t.reads = d.reads;
      t.writes = d.writes;
    }
    into.set(key, t);
  }
}

function device(map: Map<string, DeviceIo>, key: string, what: string, text: string): DeviceIo {
  let d = map.get(key);
  if (d === undefined) {
    const colon = key.indexOf(':');
    if (colon < 0) throw bad(what, text);
    d = {
      major: toNumber(key.slice(0, colon), what, text),
      minor: toNumber(key.slice(colon + 1), what, text),
      readBytes: 0,
      writeBytes: 0,
      reads: 0,
      writes: 0,
    };
    map.set(key, d);
  }
  return d;
}

/**
 * v1 `blkio.throttle.io_service_bytes[_recursive]` and `..._io_serviced[_recursive]`:
 * `MAJ:MIN Op value` lines (Op is Read, Write, Sync, Async, Discard, Total) and a final
 * `Total value`. `field` says whether the values are bytes or operations.
 */
export function parseBlkioV1(text: string, what: string, field: 'bytes' | 'ops', devices: Map<string, DeviceIo>): void {
  for (const line of text.split('\n')) {
    if (line.length === 0) continue;
    const parts = line.split(' ');
    if (parts.length === 2 && parts[0] === 'Total') {
      toNumber(parts[1] ?? '', what, line);
      continue;
    }
    if (parts.length !== 3) throw bad(what, line);
    const [key = '', op, v = ''] = parts;
    const value = toNumber(v, what, line);
    if (op !== 'Read' && op !== 'Write') continue;
    const d = device(devices, key, what, line);
    if (field === 'bytes') {
      if (op === 'Read') d.readBytes = value;
      else d.writeBytes = value;
    } else if (op === 'Read') d.reads = value;
    else d.writes = value;
  }
}

/** v2 `io.stat`: `MAJ:MIN rbytes=N wbytes=N rios=N wios=N dbytes=N dios=N` per device. */
export function parseIoStat(text: string, what: string, devices: Map<string, DeviceIo>): void {
  for (const line of text.split('\n')) {
    if (line.length === 0) continue;
    const parts = line.split(' ');
    const d = device(devices, parts[0] ?? '', what, line);
    for (let i = 1; i < parts.length; i++) {
      const kv = parts[i] ?? '';
      const eq = kv.indexOf('=');
      if (eq < 0) throw bad(what, line);
      const v = toNumber(kv.slice(eq + 1), what, line);
      switch (kv.slice(0, eq)) {
        case 'rbytes': d.readBytes = v; break;
        case 'wbytes': d.writeBytes = v; break;
        case 'rios': d.reads = v; break;
        case 'wios': d.writes = v; break;
        default: break; // dbytes, dios and fields newer kernels add
      }
    }
  }
}

/** PSI totals in microseconds: `some avg10=.. avg60=.. avg300=.. total=N` and `full ...`. */
export function parsePressure(text: string, what: string): { some?: number; full?: number } {
  const out: { some?: number; full?: number } = {};
  for (const line of text.split('\n')) {
    if (line.length === 0) continue;
    const kind = line.startsWith('some ') ? 'some' : line.startsWith('full ') ? 'full' : null;
    const t = line.lastIndexOf(' total=');
    if (kind === null || t < 0) throw bad(what, line);
    out[kind] = toNumber(line.slice(t + 7), what, line);
  }
  return out;
}

/** The first PID of `cgroup.procs`, or undefined when the cgroup has no process. */
export function firstPid(text: string): number | undefined {
  const nl = text.indexOf('\n');
  const line = (nl < 0 ? text : text.slice(0, nl)).trim();
  if (line === '') return undefined;
  const n = Number(line);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

/** Number of non-empty lines (`cgroup.procs`: one PID per line). */
export function countLines(text: string): number {
  let n = 0;
  let start = 0;
  for (;;) {
    const end = text.indexOf('\n', start);
    if (end < 0) {
      if (start < text.length) n++;
      return n;
    }
    if (end > start) n++;
    start = end + 1;
  }
}
