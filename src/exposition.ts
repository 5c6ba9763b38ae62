/**
 * A purpose-built writer for the Prometheus text format (0.0.4) and OpenMetrics 1.0.
 *
 * Container series are written from the snapshot's columns with label text rendered once per
 * container; prom-client's own rendering builds every label string on every scrape, which
 * at thousands of containers costs more than the collection itself. The agent's own metrics
 * (kept in prom-client) go through the same writer via `registry.getMetricsAsJSON()`, so
 * both formats come from one place and prom-client's OpenMetrics rendering, which renames
 * counters for good, is never used.
 */
import type { ChunkSink } from './gzip.js';
import type { Family, Labels } from './model.js';

export type Format = 'text' | 'openmetrics';

export const CONTENT_TYPE: Readonly<Record<Format, string>> = {
  text: 'text/plain; version=0.0.4; charset=utf-8',
  openmetrics: 'application/openmetrics-text; version=1.0.0; charset=utf-8',
};

/** Picks OpenMetrics only when the client asks for it, as Prometheus does with its Accept header. */
export function negotiate(accept: string | undefined): Format {
  if (!accept) return 'text';
  let best: Format = 'text';
  let bestQ = -1;
  for (const part of accept.split(',')) {
    const [type = '', ...params] = part.trim().split(';');
    const q = Number(params.map((p) => p.trim()).find((p) => p.startsWith('q='))?.slice(2) ?? '1');
    const fmt: Format | undefined = type.trim() === 'application/openmetrics-text' ? 'openmetrics' : type.trim() === 'text/plain' || type.trim() === '*/*' ? 'text' : undefined;
    if (fmt && q > bestQ) {
      best = fmt;
      bestQ = q;
    }
  }
  return best;
}

export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function escapeHelp(help: string, format: Format): string {
  const s = help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
  return format === 'openmetrics' ? s.replace(/"/g, '\\"') : s;
}

/** A metric family as the agent's own metrics give it: any sample names (histogram buckets too). */
export interface SampleFamily {
  readonly name: string;
  readonly type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  readonly help: string;
  readonly unit: string;
  readonly samples: ReadonlyArray<{ readonly name: string; readonly labels: Labels | null; readonly value: number }>;
}

function header(name: string, type: SampleFamily['type'], help: string, unit: string, format: Format): string {
  if (format === 'text') return `# HELP ${name} ${escapeHelp(help, format)}\n# TYPE ${name} ${type}\n`;
  // OpenMetrics names a counter family without `_total`; its samples keep it.
  const family = type === 'counter' && name.endsWith('_total') ? name.slice(0, -6) : name;
  const omType = type === 'untyped' ? 'unknown' : type;
  let out = `# HELP ${family} ${escapeHelp(help, format)}\n# TYPE ${family} ${omType}\n`;
  if (unit !== '' && family.endsWith(`_${unit}`)) out += `# UNIT ${family} ${unit}\n`;
  return out;
}

/** A document's buffer given back by `ExpositionWriter.release()`, taken by the next writer that fits in it. */
let spare: Buffer | undefined;

/** Size of the chunks a writer with a sink hands on: small enough to keep a few in flight, big enough that a fresh deflate dictionary per chunk costs under 1%. */
export const CHUNK_BYTES = 256 * 1024;
/** Chunks the sink is done with, for the next chunk or the next scrape: a scrape has a few in flight at a time. */
const chunks: Buffer[] = [];
const CHUNKS_KEPT = 16;

function takeChunk(): Buffer {
  return chunks.pop() ?? Buffer.allocUnsafe(CHUNK_BYTES);
}

function recycleChunk(b: Buffer): void {
  if (b.length === CHUNK_BYTES && chunks.length < CHUNKS_KEPT) chunks.push(b);
}

/**
 * Appends exposition text to one growing Buffer, or, given a sink, to fixed-size chunks
 * handed to the sink as each fills (see src/gzip.ts). Writing the pieces of each line
 * straight into bytes avoids building (and then flattening) tens of thousands of
 * intermediate strings per scrape, which dominated both the render time and the garbage.
 */
export class ExpositionWriter {
  private buf: Buffer;
  private pos = 0;
  /** Bytes already handed to the sink. */
  private handed = 0;
  private released = false;
  private readonly sink: ChunkSink | undefined;

  /**
   * `new ExpositionWriter(sizeHint?)`: the document in one buffer of at least `sizeHint`
   * bytes (the one an earlier writer released, when it is big enough), grown as needed.
   * `new ExpositionWriter(sink)`: the document handed to `sink` in chunks of CHUNK_BYTES.
   * A writer with a sink takes no size hint: its chunks all have one size so that they can be
   * pooled across scrapes, whatever the document's length.
   */
  constructor(sizeHint?: number);
  constructor(sink: ChunkSink);
  constructor(target: number | ChunkSink = 1 << 16) {
    if (typeof target !== 'number') {
      this.sink = target;
      this.buf = takeChunk();
      return;
    }
    this.sink = undefined;
    const want = Math.max(1024, target);
    if (spare !== undefined && spare.length >= want) {
      this.buf = spare;
      spare = undefined;
    } else this.buf = Buffer.allocUnsafe(want);
  }

  /**
   * Gives the buffer back for the next writer, once the document is no longer needed (sent,
   * or compressed). Optional, but each document left to the garbage collector is an
   * off-heap allocation of its full size (13 MB at 1000 containers) that V8 frees only at
   * its next full collection, so several of them pile up between two. The writer, and
   * every Buffer `toBuffer()` returned, must not be used afterwards.
   */
  release(): void {
    if (this.released || this.sink !== undefined) return;
    this.released = true;
    if (spare === undefined || this.buf.length > spare.length) spare = this.buf;
    this.pos = 0;
  }

  put(s: string): void {
    // A UTF-16 code unit takes at most 3 bytes in UTF-8; only near the end is the exact
    // length worth computing. Growing on the bound alone would double a buffer sized from
    // the previous document (13 MB at 1000 containers) for its last few lines.
    const room = this.buf.length - this.pos;
    if (s.length * 3 > room) {
      const need = Buffer.byteLength(s, 'utf8');
      if (need > room) {
        if (this.sink !== undefined) this.hand(false);
        if (need > this.buf.length - this.pos) this.grow(need);
      }
    }
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }

  /** Hands the chunk written so far to the sink and starts the next. */
  private hand(last: boolean): void {
    const sink = this.sink as ChunkSink;
    const full = this.buf;
    this.handed += this.pos;
    sink.write(full.subarray(0, this.pos), last, () => recycleChunk(full));
    if (!last) this.buf = takeChunk();
    this.pos = 0;
  }

  /** Resolves when the sink (if any) can take more chunks without compressing them on this thread. */
  room(): Promise<void> {
    return this.sink === undefined ? Promise.resolve() : this.sink.room();
  }

  /** Ends the document: a writer with a sink hands it the last chunk; must be called once, and the writer not used afterwards. */
  end(): void {
    if (this.sink !== undefined) this.hand(true);
  }

  private grow(need: number): void {
    // By a quarter rather than double: a writer is sized ahead (reserve), so running short
    // means a small miss, and doubling would leave a buffer twice the document as garbage.
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length + (this.buf.length >> 2), this.pos + need));
    this.buf.copy(bigger, 0, 0, this.pos);
    this.buf = bigger;
  }

  /**
   * Makes room for `bytes` more bytes in one allocation when the buffer is short of `atLeast`
   * (a lower bound of what will be written): sizing once avoids the chain of doublings
   * (and their garbage) of a writer started small. A writer with a sink has fixed chunks.
   */
  reserve(atLeast: number, bytes: number): void {
    if (this.sink === undefined && this.buf.length - this.pos < atLeast) this.grow(Math.max(atLeast, bytes));
  }

  /** Bytes of the document so far. */
  get length(): number {
    return this.handed + this.pos;
  }

  /** The bytes written so far (a view, not a copy: the writer must not be used afterwards). */
  toBuffer(): Buffer {
    if (this.sink !== undefined) throw new Error('ExpositionWriter: a writer with a sink has handed its bytes on');
    return this.buf.subarray(0, this.pos);
  }

  toString(): string {
    return this.toBuffer().toString('utf8');
  }
}

function putLabels(w: ExpositionWriter, a: Labels | null, b: Labels | null): void {
  const at = a === null ? '' : a.text;
  const bt = b === null ? '' : b.text;
  if (at === '' && bt === '') {
    w.put(' ');
    return;
  }
  w.put('{');
  w.put(at);
  if (at !== '' && bt !== '') w.put(',');
  w.put(bt);
  w.put('} ');
}

/** Room per value beyond its first character, when sizing a document ahead: most values are integers of a few digits, seconds have up to 17 significant digits. */
const VALUE_GUESS = 12;

/**
 * Bytes a document of `families` takes, without the values: a lower bound, and with a guess
 * of the values: what to allocate. Label texts are ASCII in practice; a longer UTF-8 form
 * only makes the writer grow once near the end.
 */
function sizeOf(families: readonly Family[]): { min: number; guess: number } {
  let min = 0;
  let values = 0;
  for (const fam of families) {
    const n = fam.values.length;
    if (n === 0) continue;
    min += 2 * fam.def.help.length + 4 * fam.def.name.length + 64;
    const { targets, extras } = fam;
    // name, '{', '} ', the value's first character, '\n'
    min += n * (fam.def.name.length + 5);
    for (let i = 0; i < n; i++) {
      const t = (targets[i] as Labels).text.length;
      const e = extras[i]?.text.length ?? 0;
      min += t + e + (t > 0 && e > 0 ? 1 : 0);
    }
    values += n;
  }
  return { min, guess: min + values * VALUE_GUESS };
}

/** Writes snapshot families (columnar). */
export function writeFamilies(families: readonly Family[], format: Format, w: ExpositionWriter): void {
  const size = sizeOf(families);
  w.reserve(size.min, size.guess);
  for (const fam of families) {
    const n = fam.values.length;
    if (n === 0) continue;
    const { name, type, help, unit } = fam.def;
    w.put(header(name, type, help, unit, format));
    const { targets, extras, values } = fam;
    for (let i = 0; i < n; i++) {
      w.put(name);
      putLabels(w, targets[i] as Labels, extras[i] ?? null);
      w.put(formatValue(values[i] as number));
      w.put('\n');
    }
  }
}

/** Writes sample families (the agent's own metrics). */
export function writeSampleFamilies(families: readonly SampleFamily[], format: Format, w: ExpositionWriter): void {
  for (const fam of families) {
    if (fam.samples.length === 0) continue;
    w.put(header(fam.name, fam.type, fam.help, fam.unit, format));
    for (const s of fam.samples) {
      w.put(s.name);
      putLabels(w, s.labels, null);
      w.put(formatValue(s.value));
      w.put('\n');
    }
  }
}

/** Ends a document: OpenMetrics requires `# EOF`. */
export function writeEnd(format: Format, w: ExpositionWriter): void {
  if (format === 'openmetrics') w.put('# EOF\n');
}

/** A whole document of snapshot families as a string (tests, golden files). */
export function render(families: readonly Family[], format: Format): string {
  const w = new ExpositionWriter();
  writeFamilies(families, format, w);
  writeEnd(format, w);
  const text = w.toString();
  w.release();
  return text;
}
