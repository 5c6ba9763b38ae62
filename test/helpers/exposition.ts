/**
 * A small, strict parser of the Prometheus text format (0.0.4) and OpenMetrics 1.0 as the
 * tests read them: every line must be a HELP, TYPE (and in OpenMetrics UNIT and the final
 * EOF) comment or a sample; anything else throws with the line number. It also rejects
 * what a scraper would reject or silently mangle: a repeated series, a repeated label, a
 * second TYPE or HELP, metadata after its samples, a family split in two, a sample of a
 * typed family whose name that type does not allow.
 */
export type Format = 'text' | 'openmetrics';

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
  readonly timestamp?: number;
}

export interface FamilyMeta {
  type?: string;
  help?: string;
  unit?: string;
}

export interface Parsed {
  readonly samples: Sample[];
  /** By family name as written in the metadata lines. */
  readonly families: Map<string, FamilyMeta>;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const NUMBER = /^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|Inf|inf)$|^NaN$/;
const TYPES: Record<Format, readonly string[]> = {
  text: ['counter', 'gauge', 'histogram', 'summary', 'untyped'],
  openmetrics: ['counter', 'gauge', 'histogram', 'gaugehistogram', 'stateset', 'info', 'summary', 'unknown'],
};
/** Sample-name suffixes a family of each type may have ('' is the family name itself). */
const SUFFIXES: Record<Format, Record<string, readonly string[]>> = {
  text: { counter: [''], gauge: [''], untyped: [''], histogram: ['_bucket', '_sum', '_count'], summary: ['', '_sum', '_count'] },
  openmetrics: {
    counter: ['_total', '_created'],
    gauge: [''],
    unknown: [''],
    histogram: ['_bucket', '_sum', '_count', '_created'],
    gaugehistogram: ['_bucket', '_gsum', '_gcount'],
    summary: ['', '_sum', '_count', '_created'],
    stateset: [''],
    info: ['_info'],
  },
};

export class ExpositionError extends Error {}

function fail(lineNo: number, line: string, why: string): never {
  throw new ExpositionError(`line ${lineNo}: ${why}: ${JSON.stringify(line.length > 200 ? `${line.slice(0, 200)}...` : line)}`);
}

function parseNumber(s: string, lineNo: number, line: string): number {
  if (!NUMBER.test(s)) fail(lineNo, line, `"${s}" is not a number`);
  if (s === 'NaN') return NaN;
  if (/^[+]?[Ii]nf$/.test(s)) return Infinity;
  if (/^-[Ii]nf$/.test(s)) return -Infinity;
  return Number(s);
}

/** Parses `{a="x",b="y"}` starting at `i` (on the `{`); returns the labels and the index after `}`. */
function parseLabels(line: string, i: number, lineNo: number): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  i++; // {
  if (line[i] === '}') return { labels, end: i + 1 };
  for (;;) {
    const m = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(i));
    if (!m) fail(lineNo, line, `bad label name at column ${i + 1}`);
    const name = m[0];
    i += name.length;
    if (line[i] !== '=' || line[i + 1] !== '"') fail(lineNo, line, `expected =" after label ${name}`);
    i += 2;
    let value = '';
    for (;;) {
      const c = line[i];
      if (c === undefined) fail(lineNo, line, `unterminated value of label ${name}`);
      if (c === '"') break;
      if (c === '\\') {
        const n = line[i + 1];
        if (n === '\\') value += '\\';
        else if (n === '"') value += '"';
        else if (n === 'n') value += '\n';
        else fail(lineNo, line, `bad escape \\${n ?? ''} in label ${name}`);
        i += 2;
      } else {
        value += c;
        i++;
      }
    }
    i++; // closing quote
    if (Object.prototype.hasOwnProperty.call(labels, name)) fail(lineNo, line, `label ${name} repeated`);
    labels[name] = value;
    if (line[i] === '}') return { labels, end: i + 1 };
    if (line[i] !== ',') fail(lineNo, line, `expected , or } after label ${name}`);
    i++;
  }
}

function unescapeHelp(s: string, lineNo: number, line: string, format: Format): string {
  return s.replace(/\\(.)/g, (_w, c: string) => {
    if (c === '\\') return '\\';
    if (c === 'n') return '\n';
    if (c === '"' && format === 'openmetrics') return '"';
    return fail(lineNo, line, `bad escape \\${c} in HELP`);
  });
}

export function seriesKey(name: string, labels: Readonly<Record<string, string>>): string {
  return `${name}{${Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`)
    .join(',')}}`;
}

export function parseExposition(text: string, format: Format = 'text'): Parsed {
  const lines = text.split('\n');
  if (lines[lines.length - 1] !== '') throw new ExpositionError('the exposition does not end with a newline');
  lines.pop();
  const samples: Sample[] = [];
  const families = new Map<string, FamilyMeta>();
  const seen = new Set<string>();
  /** Families whose samples have started, and the one whose samples are being read. */
  const started = new Set<string>();
  let current: string | undefined;
  let eof = false;

  /** The family a sample name belongs to: a declared family whose type allows this suffix, else the name itself. */
  const familyOf = (name: string, lineNo: number, line: string): string => {
    const exact = families.get(name);
    if (exact?.type !== undefined && (SUFFIXES[format][exact.type] ?? []).includes('')) return name;
    for (const suffix of ['_total', '_created', '_bucket', '_sum', '_count', '_gsum', '_gcount', '_info']) {
      if (!name.endsWith(suffix)) continue;
      const fam = name.slice(0, -suffix.length);
      const meta = families.get(fam);
      if (meta?.type !== undefined && (SUFFIXES[format][meta.type] ?? []).includes(suffix)) return fam;
    }
    if (format === 'openmetrics') fail(lineNo, line, `sample ${name} has no TYPE line for its family`);
    if (exact?.type !== undefined) fail(lineNo, line, `sample ${name} does not fit its family's type ${exact.type}`);
    return name;
  };

  lines.forEach((line, idx) => {
    const lineNo = idx + 1;
    if (eof) fail(lineNo, line, 'content after # EOF');
    if (line.startsWith('#')) {
      if (format === 'openmetrics' && line === '# EOF') {
        eof = true;
        return;
      }
      const m = /^# (HELP|TYPE|UNIT) ([^ ]+)(?: (.*))?$/.exec(line);
      if (!m) fail(lineNo, line, 'not a HELP or TYPE line');
      const [, kind, name = '', rest] = m;
      if (kind === 'UNIT' && format !== 'openmetrics') fail(lineNo, line, 'UNIT is OpenMetrics only');
      if (!METRIC_NAME.test(name)) fail(lineNo, line, `bad metric name ${name}`);
      if (started.has(name)) fail(lineNo, line, `${kind} of ${name} after its samples`);
      const meta = families.get(name) ?? {};
      families.set(name, meta);
      if (kind === 'HELP') {
        if (meta.help !== undefined) fail(lineNo, line, `second HELP for ${name}`);
        meta.help = unescapeHelp(rest ?? '', lineNo, line, format);
      } else if (kind === 'TYPE') {
        if (meta.type !== undefined) fail(lineNo, line, `second TYPE for ${name}`);
        if (rest === undefined || !TYPES[format].includes(rest)) fail(lineNo, line, `unknown type ${rest ?? ''}`);
        meta.type = rest;
      } else {
        if (meta.unit !== undefined) fail(lineNo, line, `second UNIT for ${name}`);
        if (rest === undefined || !/^[a-zA-Z0-9_:]+$/.test(rest)) fail(lineNo, line, 'bad UNIT');
        if (!name.endsWith(`_${rest}`)) fail(lineNo, line, `family ${name} does not end with its unit ${rest}`);
        meta.unit = rest;
      }
      current = undefined;
      return;
    }
    const nm = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
    if (!nm) fail(lineNo, line, 'not a sample, HELP or TYPE line');
    const name = nm[0];
    let i = name.length;
    let labels: Record<string, string> = {};
    if (line[i] === '{') {
      const l = parseLabels(line, i, lineNo);
      labels = l.labels;
      i = l.end;
    }
    const rest = line.slice(i);
    const vm = format === 'text' ? /^[ \t]+([^ \t]+)(?:[ \t]+(-?\d+))?$/.exec(rest) : /^ ([^ ]+)(?: ([0-9.eE+-]+))?$/.exec(rest);
    if (!vm) fail(lineNo, line, 'expected " VALUE [TIMESTAMP]" after the name and labels');
    const value = parseNumber(vm[1] ?? '', lineNo, line);
    const timestamp = vm[2] === undefined ? undefined : Number(vm[2]);
    for (const k of Object.keys(labels)) if (!LABEL_NAME.test(k) || k.startsWith('__')) fail(lineNo, line, `reserved or bad label name ${k}`);
    const fam = familyOf(name, lineNo, line);
    if (fam !== current) {
      if (started.has(fam)) fail(lineNo, line, `family ${fam} is split: its samples are not together`);
      started.add(fam);
      current = fam;
    }
    const key = seriesKey(name, labels);
    if (seen.has(key)) fail(lineNo, line, `series ${key} repeated`);
    seen.add(key);
    samples.push(timestamp === undefined ? { name, labels, value } : { name, labels, value, timestamp });
  });
  if (format === 'openmetrics' && !eof) throw new ExpositionError('OpenMetrics exposition without # EOF');
  return { samples, families };
}

/** Whether every label in `match` has that value in `labels` (a subset match). */
export function matches(labels: Readonly<Record<string, string>>, match: Readonly<Record<string, string>>): boolean {
  return Object.entries(match).every(([k, v]) => labels[k] === v);
}

/** Samples named `name` whose labels include `match`. */
export function select(samples: readonly Sample[], name: string, match: Readonly<Record<string, string>> = {}): Sample[] {
  return samples.filter((s) => s.name === name && matches(s.labels, match));
}

/** The one sample named `name` with labels including `match`; throws when there are none or several. */
export function one(samples: readonly Sample[], name: string, match: Readonly<Record<string, string>> = {}): Sample {
  const found = select(samples, name, match);
  if (found.length !== 1) throw new Error(`expected one ${name}${JSON.stringify(match)}, found ${found.length}`);
  return found[0] as Sample;
}

/** The value of the one matching sample. */
export function value(samples: readonly Sample[], name: string, match: Readonly<Record<string, string>> = {}): number {
  return one(samples, name, match).value;
}
