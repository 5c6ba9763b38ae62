/** Shared generators and assertions for the property tests. */
import fc from 'fast-check';
import { expect } from 'vitest';
import { type ErrorCode, LookoutError } from '../../src/errors.js';

/** Characters the kernel formats are made of, so random text often looks almost valid. */
const kernelToken = fc.constantFrom(' ', ' ', '\n', '\n', '0', '1', '7', '9', ':', '=', '-', '.', 'e', 'x', '\t', '\r', 'max', 'total=', 'some ', 'full ', 'Read', 'Write', 'Total', '8:0', 'rbytes=', '|', 'NaN', 'Infinity', '\u00a0', '\u2028');

/** Any UTF-16 code unit, lone surrogates included. */
export const char16 = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));

/** Arbitrary text: ASCII, full Unicode, graphemes, lone surrogates and kernel-like tokens. */
export const anyText: fc.Arbitrary<string> = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.string({ unit: 'grapheme' }),
  fc.string({ unit: char16 }),
  fc.string({ unit: kernelToken, maxLength: 40 }),
);

/** Valid content with up to three random edits (insert / delete / replace). */
export function corrupted(valid: fc.Arbitrary<string>): fc.Arbitrary<string> {
  const edit = fc.record({ at: fc.nat(), del: fc.nat({ max: 4 }), ins: fc.string({ unit: fc.oneof(kernelToken, char16), maxLength: 3 }) });
  return fc.tuple(valid, fc.array(edit, { minLength: 1, maxLength: 3 })).map(([s, edits]) => {
    for (const e of edits) {
      const at = s.length === 0 ? 0 : e.at % (s.length + 1);
      s = s.slice(0, at) + e.ins + s.slice(at + e.del);
    }
    return s;
  });
}

/** Runs fn; it may return anything, or throw a LookoutError with `code`; anything else fails the property. */
export function onlyThrows<T>(code: ErrorCode, fn: () => T): { ok: true; value: T } | { ok: false; error: LookoutError } {
  try {
    return { ok: true, value: fn() };
  } catch (err) {
    if (!(err instanceof LookoutError) || err.code !== code) {
      throw new Error(`expected a LookoutError ${code}, got ${String(err)}`, { cause: err });
    }
    return { ok: false, error: err };
  }
}

/** Expects fn to throw a LookoutError with `code`. */
export function expectThrows(code: ErrorCode, fn: () => unknown): LookoutError {
  const r = onlyThrows(code, fn);
  expect(r.ok, 'expected a LookoutError').toBe(false);
  return (r as { error: LookoutError }).error;
}

/** Non-negative integers as the kernel writes counters (kept exact in a double). */
export const counter = fc.oneof(fc.nat({ max: 1000 }), fc.maxSafeNat());

export const RUNS = { numRuns: 2000 } as const;
