import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseCriLine, parseDockerLine, parseLine, type Piece } from '../../collectors/logs/formats.js';
import { anyText, RUNS } from './arbitraries.js';

// Contract (formats.ts): a Piece for a well-formed line, `undefined` for a malformed one; never a throw.

const bytes = fc.oneof(
  fc.uint8Array({ maxLength: 200 }),
  anyText.map((s) => new Uint8Array(Buffer.from(s, 'utf8'))),
  fc.string({ unit: fc.constantFrom('2', '0', 'T', ':', ' ', 'stdout', 'stderr', 'F', 'P', ':x', '{', '}', '"log"', '"stream"', '"time"', '"', ',', '\\n', '\n', 'é') }).map((s) => new Uint8Array(Buffer.from(s, 'utf8'))),
);
/** A buffer with the line somewhere inside it, and [start, end) bounds (possibly garbage-surrounded). */
const framed = fc.tuple(bytes, bytes, bytes).map(([pre, line, post]) => ({
  buf: Buffer.concat([pre, line, post]),
  start: pre.length,
  end: pre.length + line.length,
}));

const time = fc.date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true }).chain((d) =>
  fc.nat({ max: 999_999 }).map((ns) => d.toISOString().replace(/\.(\d{3})Z$/, (_, ms: string) => `.${ms}${String(ns).padStart(6, '0')}Z`)),
);
const stream = fc.constantFrom('stdout' as const, 'stderr' as const);
const message = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' }));
const garbageByte = fc.uint8Array({ maxLength: 8 }).map((b) => Buffer.from(b));

function isPiece(p: Piece | undefined): void {
  if (p === undefined) return;
  expect(typeof p.time).toBe('string');
  expect(['stdout', 'stderr']).toContain(p.stream);
  expect(typeof p.text).toBe('string');
  expect(typeof p.partial).toBe('boolean');
}

describe('log line parsers on arbitrary bytes', () => {
  it('never throw; a Piece or undefined; only the bytes in [start, end) count', () => {
    fc.assert(
      fc.property(framed, ({ buf, start, end }) => {
        const alone = Buffer.from(buf.subarray(start, end));
        for (const fmt of ['docker', 'cri'] as const) {
          const p = parseLine(fmt, buf, start, end);
          isPiece(p);
          expect(p).toEqual(parseLine(fmt, alone, 0, alone.length));
        }
      }),
      { numRuns: 5000 },
    );
  });
});

describe('Docker json-file lines', () => {
  it('round-trip time, stream, partial flag and message (extra keys allowed)', () => {
    fc.assert(
      fc.property(time, stream, message, fc.boolean(), fc.boolean(), garbageByte, garbageByte, (t, s, msg, partial, attrs, pre, post) => {
        fc.pre(!(partial && msg.endsWith('\n')));
        const o: Record<string, unknown> = { log: partial ? msg : `${msg}\n`, stream: s, time: t };
        if (attrs) o['attrs'] = { tag: msg };
        const line = Buffer.from(JSON.stringify(o), 'utf8');
        const buf = Buffer.concat([pre, line, post]);
        expect(parseDockerLine(buf, pre.length, pre.length + line.length)).toEqual({ time: t, stream: s, text: msg, partial });
      }),
      { numRuns: 3000 },
    );
  });

  it('a JSON line without a string log, a string time or a known stream is undefined', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), fc.jsonValue(), (log, s, t) => {
        fc.pre(!(typeof log === 'string' && typeof t === 'string' && (s === 'stdout' || s === 'stderr')));
        const line = Buffer.from(JSON.stringify({ log, stream: s, time: t }), 'utf8');
        expect(parseDockerLine(line, 0, line.length)).toBeUndefined();
      }),
      RUNS,
    );
  });
});

describe('CRI lines', () => {
  const tag = fc.tuple(fc.boolean(), fc.option(fc.stringMatching(/^[a-z0-9]{1,6}$/), { nil: undefined }));
  it('round-trip time, stream, partial flag and message', () => {
    fc.assert(
      fc.property(time, stream, tag, message, garbageByte, garbageByte, (t, s, [partial, extra], msg, pre, post) => {
        fc.pre(!msg.includes('\n'));
        const line = Buffer.from(`${t} ${s} ${partial ? 'P' : 'F'}${extra === undefined ? '' : `:${extra}`} ${msg}`, 'utf8');
        const buf = Buffer.concat([pre, line, post]);
        expect(parseCriLine(buf, pre.length, pre.length + line.length)).toEqual({ time: t, stream: s, text: msg, partial });
      }),
      { numRuns: 3000 },
    );
  });

  it('an empty message may omit the separating space', () => {
    fc.assert(
      fc.property(time, stream, fc.boolean(), garbageByte, (t, s, partial, post) => {
        const line = Buffer.from(`${t} ${s} ${partial ? 'P' : 'F'}`, 'latin1');
        expect(parseCriLine(Buffer.concat([line, post]), 0, line.length)).toEqual({ time: t, stream: s, text: '', partial });
      }),
      RUNS,
    );
  });

  it('a line with an unknown stream or tag is undefined', () => {
    fc.assert(
      fc.property(time, fc.string({ minLength: 1 }), fc.string({ minLength: 1 }), message, (t, s, tg, msg) => {
        fc.pre(!s.includes(' ') && !tg.includes(' '));
        fc.pre(!['stdout', 'stderr'].includes(s) || !/^[PF](:|$)/.test(tg));
        const line = Buffer.from(`${t} ${s} ${tg} ${msg}`, 'utf8');
        expect(parseCriLine(line, 0, line.length)).toBeUndefined();
      }),
      RUNS,
    );
  });
});
