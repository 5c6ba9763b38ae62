/**
 * Log records as JSON lines, appended to a file or written to stdout: for debugging and
 * for piping to anything else. A batch is acknowledged once it is written (`write(2)` into
 * the file, so it survives the agent's death; with `fsync`, a power loss too). Metrics are
 * not written here.
 */
import { closeSync, fstatSync, fsyncSync, openSync, readSync, writeSync } from 'node:fs';
import type { Exporter, ExporterContext, ExporterFactory } from '../../src/component.js';
import { LookoutError } from '../../src/errors.js';
import type { LogRecord } from '../../src/logs.js';
import type { Labels } from '../../src/model.js';
import { configSchema, type FileConfig } from './config.js';

/** Each label set's JSON, made once: a container's records share one Labels object. */
const labelsJson = new WeakMap<Labels, string>();
/** The end of a record without level or fields: `,"labels":{...},"source":"..."}`, as text and as bytes. */
interface Tail {
  readonly text: string;
  readonly bytes: Buffer;
}
/** Per label set, by source: each tail made once per file. */
const tails = new WeakMap<Labels, Map<string | undefined, Tail>>();
/** Sources remembered per label set; past this the map starts over (rotated CRI files have a new name each time). */
const MAX_TAILS = 16;
/** A timestamp that JSON needs no escaping for (RFC 3339 as the runtimes write it). */
const PLAIN_TIME = /^[0-9A-Za-z:.+-]*$/;

function labelsOf(l: Labels): string {
  let json = labelsJson.get(l);
  if (json === undefined) labelsJson.set(l, (json = JSON.stringify(l.toObject())));
  return json;
}

/** One record as its JSON line (without the newline): `JSON.stringify` of {time, stream, message, labels, level?, fields?, source?}, built by parts. */
export function recordLine(r: LogRecord): string {
  const time = PLAIN_TIME.test(r.time) ? `"${r.time}"` : JSON.stringify(r.time);
  const head = `{"time":${time},"stream":"${r.stream}","message":${JSON.stringify(r.message)}`;
  if (r.level === undefined && r.fields === undefined) return head + tailOf(r).text;
  let line = `${head},"labels":${labelsOf(r.labels)}`;
  if (r.level !== undefined) line += `,"level":${JSON.stringify(r.level)}`;
  if (r.fields !== undefined) line += `,"fields":${JSON.stringify(r.fields)}`;
  if (r.source !== undefined) line += `,"source":${JSON.stringify(r.source)}`;
  return `${line}}`;
}

/** The tail of a record without level or fields (see {@link Tail}). */
function tailOf(r: LogRecord): Tail {
  let bySource = tails.get(r.labels);
  if (bySource === undefined) tails.set(r.labels, (bySource = new Map()));
  let tail = bySource.get(r.source);
  if (tail === undefined) {
    if (bySource.size >= MAX_TAILS) bySource.clear();
    const text = `,"labels":${labelsOf(r.labels)}${r.source !== undefined ? `,"source":${JSON.stringify(r.source)}` : ''}}`;
    tail = { text, bytes: Buffer.from(text, 'utf8') };
    bySource.set(r.source, tail);
  }
  return tail;
}

const TIME_HEAD = Buffer.from('{"time":"', 'latin1');
const STREAM_HEAD: Readonly<Record<LogRecord['stream'], Buffer>> = {
  stdout: Buffer.from('","stream":"stdout","message":', 'latin1'),
  stderr: Buffer.from('","stream":"stderr","message":', 'latin1'),
};
/** JSON.stringify's escapes of the characters below 0x20, as bytes. */
const CONTROL_ESCAPES: readonly Buffer[] = Array.from({ length: 0x20 }, (_, c) => Buffer.from(JSON.stringify(String.fromCharCode(c)).slice(1, -1), 'latin1'));
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Writes `s` as JSON.stringify would (quotes included), byte for byte, at `off` in `buf`,
 * which must have room for `s.length * 6 + 2` bytes; returns the offset after it. ASCII is
 * copied a byte at a time, escapes where JSON.stringify puts them; from the first
 * non-ASCII character on, the rest goes through JSON.stringify and a UTF-8 write. Unlike
 * building the record as a string, nothing is allocated for an ASCII message: a string per
 * record, then flattened, was most of what the log path allocated, and so the young
 * generation's garbage collections.
 */
export function writeJsonString(buf: Buffer, off: number, s: string): number {
  buf[off++] = QUOTE;
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c < 0x80) {
      if (c === QUOTE || c === BACKSLASH) buf[off++] = BACKSLASH;
      buf[off++] = c;
    } else if (c < 0x20) {
      const e = CONTROL_ESCAPES[c] as Buffer;
      buf.set(e, off);
      off += e.length;
    } else {
      // The rest through JSON.stringify: it starts after an ASCII character, so no surrogate pair
      // is split and its escapes are those of the whole string. Its opening quote is written already.
      return off + buf.write(JSON.stringify(s.slice(i)).slice(1), off, 'utf8');
    }
  }
  buf[off++] = QUOTE;
  return off;
}

/** Most bytes {@link writeRecord} writes for a record with this end: 6 per UTF-16 unit escaped (`\u001f`), 3 unescaped. */
function roomFor(r: LogRecord, tail: Buffer): number {
  return 40 + r.time.length * 6 + r.message.length * 6 + tail.length;
}

/**
 * Writes a record without level or fields and with a plain time as its JSON line and a
 * newline at `off`, the same bytes as `recordLine(r)`; returns the offset after it. The
 * caller has made {@link roomFor} room.
 */
function writeRecord(buf: Buffer, off: number, r: LogRecord, tail: Buffer): number {
  buf.set(TIME_HEAD, off);
  off += TIME_HEAD.length;
  const t = r.time;
  for (let i = 0; i < t.length; i++) buf[off++] = t.charCodeAt(i);
  const head = STREAM_HEAD[r.stream];
  buf.set(head, off);
  off = writeJsonString(buf, off + head.length, r.message);
  buf.set(tail, off);
  off += tail.length;
  buf[off++] = 10;
  return off;
}

/**
 * Initial size of the reused output buffer; it grows only for a record longer than that.
 * Every page of it counts in the resident set once a batch has filled it: a quarter of a
 * MiB is a few hundred records per write(2), enough.
 */
const BUFFER_BYTES = 256 * 1024;

class FileExporter implements Exporter {
  private fd: number | undefined;
  /**
   * Records are encoded one by one into this reused buffer, which is written out whenever it
   * fills: concatenating a batch into one string and converting that with `Buffer.from`
   * cost several times more (the rope of thousands of pieces is flattened, then encoded).
   */
  private buf = Buffer.allocUnsafe(BUFFER_BYTES);
  private closed = false;
  private readonly labels = { exporter: 'file' };

  constructor(
    private readonly path: string,
    private readonly fsync: boolean,
    private readonly ctx: ExporterContext,
  ) {}

  private open(): number {
    if (this.fd === undefined) {
      try {
        this.fd = openSync(this.path, 'a+', 0o640);
        this.endTornRecord(this.fd);
      } catch (err) {
        throw new LookoutError('LOOKOUT_ERR_CONFIG', `exporters.file.path: cannot open ${this.path} for appending: ${(err as Error).message}`, { cause: err });
      }
    }
    return this.fd;
  }

  /**
   * A process killed inside write(2) can leave part of a record without its newline at the
   * end of the file. Ending it here keeps the fragment on a line of its own, so the first
   * record this process writes (the undelivered batch, again) stays readable.
   */
  private endTornRecord(fd: number): void {
    const size = fstatSync(fd).size;
    if (size === 0) return;
    const last = Buffer.alloc(1);
    readSync(fd, last, 0, 1, size - 1);
    if (last[0] === 10) return;
    writeSync(fd, '\n');
    this.ctx.log.warn({ path: this.path }, 'the output file ended inside a record (the agent was killed while writing); that partial line is left unreadable');
  }

  async start(): Promise<void> {
    if (this.path !== '-') this.open();
    this.ctx.log.info({ path: this.path === '-' ? 'stdout' : this.path }, 'writing log records as JSON lines');
  }

  async export(): Promise<void> {}

  async writeLogs(records: readonly LogRecord[]): Promise<void> {
    if (this.closed) throw new Error('the file exporter is shut down');
    if (records.length === 0) return;
    if (this.path === '-') {
      // Copies: the buffer is reused before stdout may have taken it.
      const chunks: Buffer[] = [];
      this.encode(records, (b) => chunks.push(Buffer.from(b)));
      const data = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
      // Writes to pipes and files are synchronous on Linux; the callback says it is done.
      await new Promise<void>((resolve, reject) => process.stdout.write(data, (err) => (err ? reject(err) : resolve())));
    } else {
      const fd = this.open();
      this.encode(records, (b) => {
        let off = 0;
        while (off < b.length) off += writeSync(fd, b, off, b.length - off);
      });
      if (this.fsync) fsyncSync(fd);
    }
    this.ctx.self.exporterSent.inc(this.labels, records.length);
  }

  /** The records as JSON lines into the reused buffer, handed to `out` each time it fills and at the end. */
  private encode(records: readonly LogRecord[], out: (b: Buffer) => void): void {
    let buf = this.buf;
    let off = 0;
    for (const r of records) {
      // Records with a level or fields (options that are off by default), or a time JSON must escape, are built as a string.
      const tail = r.level === undefined && r.fields === undefined && PLAIN_TIME.test(r.time) ? tailOf(r).bytes : undefined;
      const line = tail === undefined ? recordLine(r) : undefined;
      // For a string: at most 3 bytes of UTF-8 per UTF-16 unit, and the newline.
      const room = line !== undefined ? line.length * 3 + 1 : roomFor(r, tail as Buffer);
      if (off + room > buf.length) {
        if (off > 0) out(buf.subarray(0, off));
        off = 0;
        if (room > buf.length) this.buf = buf = Buffer.allocUnsafe(room);
      }
      if (line !== undefined) {
        off += buf.write(line, off, 'utf8');
        buf[off++] = 10;
      } else off = writeRecord(buf, off, r, tail as Buffer);
    }
    if (off > 0) out(buf.subarray(0, off));
    // A buffer grown for an exceptional record is not kept.
    if (buf.length > BUFFER_BYTES) this.buf = Buffer.allocUnsafe(BUFFER_BYTES);
  }

  async shutdown(): Promise<void> {
    this.closed = true;
    if (this.fd !== undefined) {
      const fd = this.fd;
      this.fd = undefined;
      try {
        if (this.fsync) fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
  }
}

/** What `enabled: auto` with no path makes: nothing, and no log destination. */
const inactive: Exporter = {
  start: async () => undefined,
  export: async () => undefined,
  shutdown: async () => undefined,
};

export const fileExporter: ExporterFactory<FileConfig> = {
  type: 'file',
  description: 'Log records as JSON lines (time, stream, message, labels, source) appended to a file, or to stdout with `-`. Off unless a path is set (`--log-output-file PATH`).',
  configSchema,
  create: (config, ctx) => {
    const on = config.enabled === true || (config.enabled === 'auto' && config.path !== '');
    if (!on) return inactive;
    return new FileExporter(config.path === '' ? '-' : config.path, config.fsync, ctx);
  },
};
