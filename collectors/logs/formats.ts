/**
 * The two container log line formats, as the runtimes write them.
 *
 * - Docker `json-file` (daemon/logger/jsonfilelog): one JSON object per line,
 *   `{"log":"text\n","stream":"stdout","time":"2026-11-25T01:04:27.710798097Z"}`, possibly
 *   with more keys (`attrs` from `--log-opt labels=`). A line longer than 16 KiB is written
 *   as several objects whose `log` does not end in `\n` except the last one; the output a
 *   container leaves without a final newline ends the same way.
 * - CRI (kubelet pkg/kubelet/kuberuntime/logs, containerd, CRI-O, Podman `k8s-file`):
 *   `<RFC3339Nano> <stdout|stderr> <tag> <message>` where the tag is `F` (full) or `P`
 *   (partial: more of the same line follows), possibly followed by `:`-separated extras.
 */
import type { Stream } from '../../src/logs.js';

/** One physical line's content: a whole line, or a piece of one when `partial`. */
export interface Piece {
  readonly time: string;
  readonly stream: Stream;
  /** The text, without the line's newline. */
  readonly text: string;
  /** More of the same line follows in a later piece. */
  readonly partial: boolean;
}

export type Format = 'docker' | 'cri';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const LOG_HEAD = Buffer.from('{"log":"', 'latin1');
const STREAM_OUT = Buffer.from('","stream":"stdout","time":"', 'latin1');
const STREAM_ERR = Buffer.from('","stream":"stderr","time":"', 'latin1');
/** Where an escaped `log` value is unescaped into; grown for a longer one. */
let scratch = Buffer.allocUnsafe(64 * 1024);
const HEX: Int8Array = (() => {
  const h = new Int8Array(128).fill(-1);
  for (let i = 0; i < 10; i++) h[0x30 + i] = i;
  for (let i = 0; i < 6; i++) h[0x41 + i] = h[0x61 + i] = 10 + i;
  return h;
})();
/** What the letter after a backslash stands for, or -1 (`u`, or not an escape). */
const SIMPLE_ESCAPES: Int16Array = (() => {
  const t = new Int16Array(256).fill(-1);
  for (const [k, v] of [[0x22, 0x22], [0x5c, 0x5c], [0x2f, 0x2f], [0x62, 0x08], [0x66, 0x0c], [0x6e, 0x0a], [0x72, 0x0d], [0x74, 0x09]] as const) t[k] = v;
  return t;
})();

/**
 * A Docker json-file line between `start` and `end` (without the newline); undefined when
 * malformed. Docker writes its three keys in one order (`log`, `stream`, `time`, no spaces):
 * such a line is read in place, without the line as a string and `JSON.parse` building an object and strings per
 * line (its largest cost on this path); anything else (`attrs`, another order, escapes the
 * in-place reader does not take) goes through {@link parseDockerLineJson}, whose result the
 * in-place reader matches exactly.
 */
export function parseDockerLine(buf: Buffer, start: number, end: number): Piece | undefined {
  return parseDockerInPlace(buf, start, end) ?? parseDockerLineJson(buf, start, end);
}

/** Whether `buf` holds `want` at `at` (compared here: a call into Buffer.compare costs more for a few bytes). */
function bytesAt(buf: Buffer, at: number, want: Buffer): boolean {
  for (let k = 0; k < want.length; k++) if (buf[at + k] !== want[k]) return false;
  return true;
}

/**
 * The common Docker line, or undefined to leave it to `JSON.parse` (which may still take it,
 * or find it malformed). One pass over the `log` value copies it, unescaped, into `scratch`:
 * escapes become UTF-8 bytes beside the raw ones and the whole is decoded once, which maps
 * invalid raw bytes to U+FFFD exactly as decoding the line first would (an escape never
 * yields a continuation byte). A `\u` escape of a surrogate (which UTF-8 bytes cannot carry
 * alone), a raw control character or an invalid escape is left to `JSON.parse`.
 */
function parseDockerInPlace(buf: Buffer, start: number, end: number): Piece | undefined {
  if (end - start < LOG_HEAD.length + STREAM_OUT.length + 2 || !bytesAt(buf, start, LOG_HEAD)) return undefined;
  // The unescaped value is never longer than its JSON form.
  if (scratch.length < end - start) scratch = Buffer.allocUnsafe(end - start);
  const out = scratch;
  let o = 0;
  let i = start + LOG_HEAD.length;
  for (;;) {
    if (i >= end) return undefined;
    const c = buf[i++] as number;
    if (c === QUOTE) break;
    if (c >= 0x20 && c !== BACKSLASH) {
      out[o++] = c;
      continue;
    }
    if (c !== BACKSLASH || i >= end) return undefined;
    const e = buf[i++] as number;
    const simple = SIMPLE_ESCAPES[e] as number;
    if (simple >= 0) {
      out[o++] = simple;
      continue;
    }
    if (e !== 0x75 || i + 4 > end) return undefined;
    let u = 0;
    for (let k = 0; k < 4; k++) {
      const h = buf[i + k] as number;
      const d = h < 128 ? (HEX[h] as number) : -1;
      if (d < 0) return undefined;
      u = (u << 4) | d;
    }
    i += 4;
    if (u < 0x80) out[o++] = u;
    else if (u < 0x800) {
      out[o++] = 0xc0 | (u >> 6);
      out[o++] = 0x80 | (u & 0x3f);
    } else if (u >= 0xd800 && u <= 0xdfff) return undefined;
    else {
      out[o++] = 0xe0 | (u >> 12);
      out[o++] = 0x80 | ((u >> 6) & 0x3f);
      out[o++] = 0x80 | (u & 0x3f);
    }
  }
  // i: just past the value's closing quote; then the stream, the time, and `"}` to the end.
  i--;
  if (i + STREAM_OUT.length + 2 > end) return undefined;
  let stream: Stream;
  if (bytesAt(buf, i, STREAM_OUT)) stream = 'stdout';
  else if (bytesAt(buf, i, STREAM_ERR)) stream = 'stderr';
  else return undefined;
  const timeFrom = i + STREAM_OUT.length;
  if (buf[end - 1] !== 0x7d || buf[end - 2] !== QUOTE) return undefined;
  let ascii = true;
  for (let j = timeFrom; j < end - 2; j++) {
    const c = buf[j] as number;
    if (c === QUOTE || c === BACKSLASH || c < 0x20) return undefined;
    if (c >= 0x80) ascii = false;
  }
  // Every newline in `out` came from an escape (raw ones are refused above); a final one makes the line whole.
  const partial = o === 0 || out[o - 1] !== 0x0a;
  return { time: buf.toString(ascii ? 'latin1' : 'utf8', timeFrom, end - 2), stream, text: out.toString('utf8', 0, partial ? o : o - 1), partial };
}

/** A Docker json-file line through `JSON.parse`: any key order, extra keys; undefined when malformed. */
export function parseDockerLineJson(buf: Buffer, start: number, end: number): Piece | undefined {
  let o: unknown;
  try {
    o = JSON.parse(buf.toString('utf8', start, end));
  } catch {
    return undefined;
  }
  if (typeof o !== 'object' || o === null) return undefined;
  const { log, stream, time } = o as { log?: unknown; stream?: unknown; time?: unknown };
  if (typeof log !== 'string' || typeof time !== 'string' || (stream !== 'stdout' && stream !== 'stderr')) return undefined;
  const partial = !log.endsWith('\n');
  return { time, stream, text: partial ? log : log.slice(0, -1), partial };
}

const SPACE = 0x20;
const P = 0x50;
const F = 0x46;

/** A CRI line between `start` and `end` (without the newline); undefined when malformed. */
export function parseCriLine(buf: Buffer, start: number, end: number): Piece | undefined {
  const s1 = buf.indexOf(SPACE, start);
  if (s1 <= start || s1 >= end) return undefined;
  const s2 = buf.indexOf(SPACE, s1 + 1);
  if (s2 < 0 || s2 >= end) return undefined;
  // `stdout` or `stderr`, compared in place: no string per line.
  if (s2 - s1 !== 7 || buf[s1 + 1] !== 0x73 || buf[s1 + 2] !== 0x74 || buf[s1 + 3] !== 0x64) return undefined;
  let stream: Stream;
  const a = buf[s1 + 4];
  const b = buf[s1 + 5];
  const c = buf[s1 + 6];
  if (a === 0x6f && b === 0x75 && c === 0x74) stream = 'stdout';
  else if (a === 0x65 && b === 0x72 && c === 0x72) stream = 'stderr';
  else return undefined;
  // The tag runs to the next space; an empty message may leave the line without one.
  let s3 = buf.indexOf(SPACE, s2 + 1);
  if (s3 < 0 || s3 > end) s3 = end;
  const tag = buf[s2 + 1];
  if (s3 === s2 + 1 || (tag !== P && tag !== F) || (s3 > s2 + 2 && buf[s2 + 2] !== 0x3a)) return undefined;
  const c0 = buf[start] as number;
  if (c0 < 0x30 || c0 > 0x39) return undefined;
  return { time: buf.toString('latin1', start, s1), stream, text: s3 < end ? buf.toString('utf8', s3 + 1, end) : '', partial: tag === P };
}

export function parseLine(format: Format, buf: Buffer, start: number, end: number): Piece | undefined {
  return format === 'docker' ? parseDockerLine(buf, start, end) : parseCriLine(buf, start, end);
}
