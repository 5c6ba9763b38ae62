/**
 * InfluxDB line protocol, as InfluxDB's parser reads it (the same parser in 1.x and 2.x):
 *
 *   measurement[,tag=value...] field=value[,field=value...] timestamp
 *
 * - Measurement: `,` and space are escaped with a backslash.
 * - Tag keys, tag values, field keys: `,`, `=` and space are escaped with a backslash. Any
 *   other backslash is literal, so `a\b` needs no escaping and a backslash before one of those
 *   characters is written as `\\,` (literal, then escaped). A trailing backslash cannot be
 *   written (it would escape the delimiter that follows): it is dropped.
 * - String field values are in double quotes; `"` and `\` are escaped with a backslash.
 * - Newlines end a point; none may appear in names or values, so each becomes a space.
 * - Tag values cannot be empty: a tag with an empty value is left out.
 * - Floats are written as JavaScript prints them (`1.5`, `1e+21`); integers with an `i`
 *   suffix; NaN and infinities cannot be written, and such fields are left out.
 */

const MEASUREMENT = /[, \n\r\\]/;
const KEY = /[,= \n\r\\]/;

function stripTrailingBackslashes(s: string): string {
  let end = s.length;
  while (end > 0 && s.charCodeAt(end - 1) === 92) end--;
  return end === s.length ? s : s.slice(0, end);
}

export function escapeMeasurement(s: string): string {
  if (!MEASUREMENT.test(s)) return s;
  return stripTrailingBackslashes(s.replace(/[\n\r]/g, ' ')).replace(/[, ]/g, (c) => `\\${c}`);
}

/** Tag keys, tag values and field keys. */
export function escapeKey(s: string): string {
  if (!KEY.test(s)) return s;
  return stripTrailingBackslashes(s.replace(/[\n\r]/g, ' ')).replace(/[,= ]/g, (c) => `\\${c}`);
}

export function fieldString(s: string): string {
  return `"${s.replace(/[\n\r]/g, ' ').replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/** Largest magnitude written as an integer field: int64. */
const INT_LIMIT = 9_223_372_036_854_775_000;

/** Whether `v` can be an integer field (an int64 once rounded). */
export function intField(v: number): boolean {
  return Number.isFinite(v) && Math.abs(v) < INT_LIMIT;
}

/** `42i`, or undefined when the value cannot be an int64. */
export function fieldInt(v: number): string | undefined {
  if (!intField(v)) return undefined;
  return `${String(Math.round(v) + 0)}i`; // + 0 turns -0 into 0; below 1e21 String() prints every digit
}

/** A float field value, or undefined for NaN and infinities. */
export function fieldFloat(v: number): string | undefined {
  return Number.isFinite(v) ? String(v) : undefined;
}

export type Precision = 's' | 'ms' | 'us' | 'ns';

/** A timestamp in milliseconds as line protocol writes it in `precision` (exact: no float rounding past 2^53). */
export function timestamp(ms: number, precision: Precision): string {
  const whole = Math.floor(ms);
  switch (precision) {
    case 's':
      return String(Math.floor(whole / 1000));
    case 'ms':
      return String(whole);
    case 'us':
      return whole === 0 ? '0' : `${whole}000`;
    case 'ns':
      return whole === 0 ? '0' : `${whole}000000`;
  }
}

/** `measurement,tag=value,...` with the tags sorted by key (what InfluxDB recommends) and empty tag values left out. */
export function seriesKey(measurement: string, tags: ReadonlyArray<readonly [string, string]>): string {
  const sorted = tags.filter(([k, v]) => k !== '' && v !== '').sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  let out = escapeMeasurement(measurement);
  let last = '';
  for (const [k, v] of sorted) {
    if (k === last) continue; // a key twice: the first (sorted stable) wins
    last = k;
    const ek = escapeKey(k);
    const ev = escapeKey(v);
    if (ek === '' || ev === '') continue;
    out += `,${ek}=${ev}`;
  }
  return out;
}

/** A point being assembled: its series key and fields (escaped key to encoded value). */
export class Point {
  readonly fields = new Map<string, string>();
  constructor(readonly key: string) {}

  /** Sets a field; `encoded` undefined (NaN, out of range) leaves it out. */
  set(field: string, encoded: string | undefined): void {
    if (encoded !== undefined) this.fields.set(escapeKey(field), encoded);
  }

  line(ts: string): string {
    let f = '';
    for (const [k, v] of this.fields) f += f === '' ? `${k}=${v}` : `,${k}=${v}`;
    return `${this.key} ${f} ${ts}`;
  }
}
