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

/** A Docker json-file line between `start` and `end` (without the newline); undefined when malformed. */
export function parseDockerLine(buf: Buffer, start: number, end: number): Piece | undefined {
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
