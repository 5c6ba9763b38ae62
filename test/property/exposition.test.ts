import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { render } from '../../src/exposition.js';
import { escapeLabelValue, type Family, Labels, metric, sanitizeLabelName } from '../../src/model.js';
import { char16, RUNS } from './arbitraries.js';

const DEF = metric({ name: 'container_memory_usage_bytes', type: 'gauge', unit: 'bytes', help: 'h', labels: ['device'], source: 'test' });

/** Exact inverse of the exposition escaping: `\\`, `\"`, `\n`; anything else after `\` is an error. */
function unescape(s: string, from: number): { value: string; next: number } {
  let out = '';
  for (let i = from; i < s.length; i++) {
    const c = s[i] as string;
    if (c === '"') return { value: out, next: i + 1 };
    if (c === '\n') throw new Error(`raw newline inside a label value at ${i}`);
    if (c === '\\') {
      const d = s[++i];
      if (d === '\\') out += '\\';
      else if (d === '"') out += '"';
      else if (d === 'n') out += '\n';
      else throw new Error(`bad escape \\${String(d)} at ${i}`);
    } else out += c;
  }
  throw new Error('unterminated label value');
}

/** Parses `name{k="v",...} value` into its label pairs. */
function parseSample(line: string): Array<[string, string]> {
  const open = line.indexOf('{');
  expect(line.slice(0, open)).toBe(DEF.name);
  const pairs: Array<[string, string]> = [];
  let i = open + 1;
  for (;;) {
    const eq = line.indexOf('="', i);
    const key = line.slice(i, eq);
    expect(key).toMatch(/^[a-zA-Z_][a-zA-Z0-9_]*$/);
    const { value, next } = unescape(line, eq + 2);
    pairs.push([key, value]);
    if (line[next] === ',') i = next + 1;
    else {
      expect(line.slice(next)).toBe('} 1');
      return pairs;
    }
  }
}

function roundTrip(values: readonly string[], device: string, format: 'text' | 'openmetrics'): { got: Array<Array<[string, string]>>; text: string } {
  const fam: Family = {
    def: DEF,
    targets: values.map((v) => new Labels([['id', '/docker/x'], ['name', v], ['image', v]])),
    extras: values.map(() => new Labels([['device', device]])),
    values: values.map(() => 1),
  };
  const text = render([fam], format);
  const lines = text.split('\n');
  expect(lines.pop()).toBe(''); // ends with a newline
  if (format === 'openmetrics') expect(lines.pop()).toBe('# EOF');
  const samples = lines.filter((l) => !l.startsWith('#'));
  expect(samples).toHaveLength(values.length); // no value broke a line
  return { got: samples.map(parseSample), text };
}

const wellFormed = (s: string): string => Buffer.from(s, 'utf8').toString('utf8');

describe('label values in the exposition', () => {
  it('escapeLabelValue output has no raw newline and unescapes to the input', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string({ unit: fc.constantFrom('\\', '"', '\n', 'n', 'a', '\r') })), (v) => {
        const e = escapeLabelValue(v);
        expect(e).not.toContain('\n');
        expect(unescape(`${e}"`, 0)).toEqual({ value: v, next: e.length + 1 });
      }),
      { numRuns: 5000 },
    );
  });

  it('render(): any Unicode name/image/device parses back exactly, in both formats', () => {
    const value = fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' }), fc.string({ unit: fc.constantFrom('\\', '"', '\n', '}', ',', '=', '{', ' ', '#', 'n') }));
    fc.assert(
      fc.property(fc.array(value, { minLength: 1, maxLength: 5 }), value, fc.constantFrom('text' as const, 'openmetrics' as const), (values, device, format) => {
        const { got } = roundTrip(values, device, format);
        expect(got).toEqual(values.map((v) => [['id', '/docker/x'], ['name', v], ['image', v], ['device', device]]));
      }),
      { numRuns: 3000 },
    );
  });

  it('render(): lone surrogates cannot break the document (they become U+FFFD)', () => {
    fc.assert(
      fc.property(fc.string({ unit: char16 }), (v) => {
        const { got } = roundTrip([v], '', 'text');
        expect(got[0]?.[1]).toEqual(['name', wellFormed(v)]);
      }),
      RUNS,
    );
  });

  it('sanitizeLabelName makes any non-empty key a valid label name', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ minLength: 1 }), fc.string({ unit: 'binary', minLength: 1 })), (k) => {
        expect(sanitizeLabelName(k)).toMatch(/^[a-zA-Z_][a-zA-Z0-9_]*$/);
        expect(`container_label_${sanitizeLabelName(k)}`).toMatch(/^[a-zA-Z_][a-zA-Z0-9_]*$/);
      }),
      RUNS,
    );
  });
});
