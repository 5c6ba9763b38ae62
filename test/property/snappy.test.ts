import fc from 'fast-check';
import { uncompressSync } from 'snappy';
import { describe, expect, it } from 'vitest';
import { compressWithHoles, preambleBefore } from '../../exporters/remotewrite/snappy.js';
import { RUNS } from './arbitraries.js';

/** Bytes that repeat (so matches happen, short and long, near and far) or not at all. */
const bytes = fc.oneof(
  fc.uint8Array({ maxLength: 3000 }),
  fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 400 }), fc.uint8Array({ maxLength: 50 })).map(([unit, times, tail]) => {
    const out = new Uint8Array(unit.length * times + tail.length);
    for (let i = 0; i < times; i++) out.set(unit, i * unit.length);
    out.set(tail, unit.length * times);
    return out;
  }),
  fc.array(fc.constantFrom(0, 0, 0, 65, 66, 255), { maxLength: 5000 }).map((a) => Uint8Array.from(a)),
);

describe('snappy pieces with holes (exporters/remotewrite/snappy.ts)', () => {
  it('decode, with Google\'s decoder, to the input with whatever was written into the holes, alone and concatenated', () => {
    fc.assert(
      fc.property(bytes, fc.integer({ min: 1, max: 20 }), fc.array(fc.nat(), { maxLength: 40 }), fc.uint8Array({ minLength: 20, maxLength: 20 }), (input, holeLen, gaps, fill) => {
        const raw = Buffer.from(input);
        const holes: number[] = [];
        let at = 0;
        for (const g of gaps) {
          at += g % 200;
          if (at + holeLen > raw.length) break;
          holes.push(at);
          at += holeLen;
        }
        const { bytes: piece, holes: where } = compressWithHoles(raw, holes, holeLen);
        expect(where).toHaveLength(holes.length);
        const filled = Buffer.from(piece);
        const expected = Buffer.from(raw);
        holes.forEach((h, k) => {
          filled.set(fill.subarray(0, holeLen), where[k] as number);
          expected.set(fill.subarray(0, holeLen), h);
        });
        for (const [pieces, want] of [[[filled], expected], [[filled, piece], Buffer.concat([expected, raw])]] as const) {
          const body = Buffer.concat([Buffer.alloc(8), ...pieces]);
          const block = body.subarray(preambleBefore(body, 8, want.length));
          expect((uncompressSync(block) as Buffer).equals(want)).toBe(true);
        }
      }),
      RUNS,
    );
  });
});
