import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { escapeKey, escapeMeasurement, fieldFloat, fieldInt, fieldString, Point, seriesKey, timestamp } from './lineprotocol.js';

/**
 * An independent line-protocol reader, written from InfluxDB's parser rules (checked against
 * a real influxd 1.6): in measurements, tag keys/values and field keys a backslash escapes
 * `,`, `=` and space (the measurement: `,` and space) and is literal before anything else;
 * in string fields `\\` and `\"` are escapes.
 */
function readLine(line: string): { measurement: string; tags: Array<[string, string]>; fields: Array<[string, string]>; ts: string } {
  let i = 0;
  const until = (stops: string, escapable: string): string => {
    let out = '';
    while (i < line.length && !stops.includes(line[i] as string)) {
      const c = line[i] as string;
      if (c === '\\' && i + 1 < line.length && escapable.includes(line[i + 1] as string)) {
        out += line[i + 1];
        i += 2;
      } else {
        out += c;
        i++;
      }
    }
    return out;
  };
  const measurement = until(', ', ', ');
  const tags: Array<[string, string]> = [];
  while (line[i] === ',') {
    i++;
    const k = until('=', ',= ');
    i++;
    const v = until(', ', ',= ');
    tags.push([k, v]);
  }
  expect(line[i]).toBe(' ');
  i++;
  const fields: Array<[string, string]> = [];
  for (;;) {
    const k = until('=', ',= ');
    i++;
    let v = '';
    if (line[i] === '"') {
      i++;
      while (line[i] !== '"') {
        if (line[i] === '\\' && (line[i + 1] === '"' || line[i + 1] === '\\')) i++;
        v += line[i];
        i++;
        if (i > line.length) throw new Error(`unterminated string in ${line}`);
      }
      i++;
      v = `"${v}`; // mark strings
    } else v = until(', ', '');
    fields.push([k, v]);
    if (line[i] !== ',') break;
    i++;
  }
  expect(line[i]).toBe(' ');
  return { measurement, tags, fields, ts: line.slice(i + 1) };
}

/** Strings without newlines, with a good share of the characters that need escaping. */
const nasty = fc.string({ unit: fc.oneof(fc.constantFrom(',', '=', ' ', '\\', '"', 'a', 'é', '💥', '\t'), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })), maxLength: 20 }).filter((s) => !/[\n\r]/.test(s));

describe('line protocol escaping', () => {
  it('escapes the characters each element needs escaped', () => {
    expect(escapeMeasurement('cpu load,x=y')).toBe('cpu\\ load\\,x=y');
    expect(escapeKey('a b,c=d')).toBe('a\\ b\\,c\\=d');
    expect(escapeKey('C:\\Windows')).toBe('C:\\Windows');
    expect(escapeKey('x\\,y')).toBe('x\\\\,y');
    expect(escapeKey('trailing\\')).toBe('trailing');
    expect(fieldString('say "hi" \\o/')).toBe('"say \\"hi\\" \\\\o/"');
    expect(escapeKey('two\nlines')).toBe('two\\ lines');
  });

  it('round-trips any measurement, tag and field string through a reader of the InfluxDB rules', () => {
    fc.assert(
      fc.property(nasty, nasty, nasty, nasty, nasty, (measurement, tagKey, tagValue, fieldKey, text) => {
        fc.pre(!measurement.endsWith('\\') && !tagKey.endsWith('\\') && !tagValue.endsWith('\\') && !fieldKey.endsWith('\\'));
        fc.pre(measurement !== '' && tagKey !== '' && tagValue !== '' && fieldKey !== '' && fieldKey !== 'n');
        const p = new Point(seriesKey(measurement, [[tagKey, tagValue]]));
        p.set(fieldKey, fieldString(text));
        p.set('n', fieldInt(42));
        const got = readLine(p.line('1700000000000'));
        expect(got.measurement).toBe(measurement);
        expect(got.tags).toEqual([[tagKey, tagValue]]);
        expect(got.fields).toEqual([
          [fieldKey, `"${text}`],
          ['n', '42i'],
        ]);
        expect(got.ts).toBe('1700000000000');
      }),
      { numRuns: 2000 },
    );
  });

  it('drops a trailing backslash (unrepresentable) and keeps the line parseable', () => {
    fc.assert(
      fc.property(nasty, (v) => {
        const p = new Point(seriesKey('m', [['k', `${v}\\`]]));
        p.set('f', fieldInt(1));
        const got = readLine(p.line('0'));
        const expected = v.replace(/\\+$/, '');
        expect(got.tags).toEqual(expected === '' ? [] : [['k', expected]]);
      }),
    );
  });

  it('sorts tags by key and leaves out empty values', () => {
    expect(seriesKey('m', [['z', '1'], ['a', ''], ['b', '2']])).toBe('m,b=2,z=1');
  });

  it('writes numbers InfluxDB accepts, and nothing for NaN or infinities', () => {
    expect(fieldInt(2.5e9)).toBe('2500000000i');
    expect(fieldInt(-0)).toBe('0i');
    expect(fieldInt(1.23e18)).toBe('1230000000000000000i');
    expect(fieldInt(1e19)).toBeUndefined();
    expect(fieldInt(Number.NaN)).toBeUndefined();
    expect(fieldFloat(0.1)).toBe('0.1');
    expect(fieldFloat(Number.POSITIVE_INFINITY)).toBeUndefined();
  });

  it('writes timestamps exactly in each precision', () => {
    const ms = 1_764_000_000_123;
    expect(timestamp(ms, 's')).toBe('1764000000');
    expect(timestamp(ms, 'ms')).toBe('1764000000123');
    expect(timestamp(ms, 'us')).toBe('1764000000123000');
    expect(timestamp(ms, 'ns')).toBe('1764000000123000000');
  });
});
