/**
 * Log records and their route from sources (log collectors) to destinations (exporters with
 * `writeLogs`). Delivery is at-least-once and acknowledged: `LogSink.write` resolves only
 * when every log destination has taken the records (delivered them, written them durably,
 * or counted them as dropped), so a source advances and persists its checkpoint only past
 * records that are safe. A slow destination makes `write` slow, which is the backpressure
 * that pauses reading.
 */
import type { Labels } from './model.js';

export type Stream = 'stdout' | 'stderr';

export interface LogRecord {
  /** The runtime's timestamp, RFC 3339 with up to nanoseconds, as written (kept as text: a JS number cannot hold nanoseconds since the epoch). */
  readonly time: string;
  readonly stream: Stream;
  /** The line without its trailing newline; partial lines already joined. */
  readonly message: string;
  /** Identity labels (`id`, `image`, `name`, and `namespace`, `pod`, `container` when known), as on the container's metric series. */
  readonly labels: Labels;
  /** Detected level (error, warn, info, debug, ...), when detection is on and found one. */
  readonly level?: string;
  /** Fields parsed from a JSON message, when parsing is on. */
  readonly fields?: Readonly<Record<string, unknown>>;
  /** Where the line came from, for the file destination and debugging. */
  readonly source?: string;
}

/** Where log sources write. */
export interface LogSink {
  /** Whether any destination wants logs at all; sources stay idle when none does. */
  readonly enabled: boolean;
  /** Resolves when every log destination has taken `records` (see the module comment). */
  write(records: readonly LogRecord[]): Promise<void>;
}

/** A destination for log records: what an exporter implements to receive logs. */
export interface LogWriter {
  readonly type: string;
  /** Resolves once the records are delivered, durably buffered, or counted as dropped. */
  writeLogs(records: readonly LogRecord[]): Promise<void>;
}

/** A line as the live page shows it. */
export interface RecentLine {
  readonly time: string;
  readonly stream: Stream;
  readonly message: string;
}

/**
 * The last few lines of each container, for the live page: bounded per container, in
 * length, and in containers (the longest-quiet container is forgotten first).
 */
export class RecentLines {
  private readonly byId = new Map<string, RecentLine[]>();

  constructor(
    private readonly perContainer = 3,
    private readonly maxContainers = 5000,
    private readonly maxChars = 500,
  ) {}

  add(records: readonly LogRecord[]): void {
    // Only each container's last lines of the batch can stay: walk it from the end, so that a
    // long batch costs a lookup per record and no copy of the lines that would fall out.
    const latest = new Map<Labels, RecentLine[]>();
    for (let i = records.length - 1; i >= 0; i--) {
      const r = records[i] as LogRecord;
      let lines = latest.get(r.labels);
      if (lines === undefined) latest.set(r.labels, (lines = []));
      if (lines.length < this.perContainer) lines.push({ time: r.time, stream: r.stream, message: r.message.length > this.maxChars ? `${r.message.slice(0, this.maxChars)}…` : r.message });
    }
    for (const [labels, newest] of latest) {
      const id = labels.get('id');
      if (id === undefined) continue;
      const kept = this.byId.get(id) ?? [];
      // Deleted and set again, so the map's order stays least recently written first.
      this.byId.delete(id);
      if (this.byId.size >= this.maxContainers) this.byId.delete(this.byId.keys().next().value as string);
      this.byId.set(id, [...kept, ...newest.reverse()].slice(-this.perContainer));
    }
  }

  get(id: string): readonly RecentLine[] {
    return this.byId.get(id) ?? [];
  }
}

/** Fans records out to every log destination and waits for all of them; keeps each container's last lines for the page. */
export class LogRouter implements LogSink {
  private readonly writers: LogWriter[] = [];
  readonly recent = new RecentLines();

  add(w: LogWriter): void {
    this.writers.push(w);
  }

  get enabled(): boolean {
    return this.writers.length > 0;
  }

  async write(records: readonly LogRecord[]): Promise<void> {
    if (records.length === 0 || this.writers.length === 0) return;
    this.recent.add(records);
    if (this.writers.length === 1) return (this.writers[0] as LogWriter).writeLogs(records);
    await Promise.all(this.writers.map((w) => w.writeLogs(records)));
  }
}

/** A record's time as Unix seconds and nanoseconds, exactly (both integers, nanos in [0, 1e9)). */
export interface LogTime {
  readonly seconds: number;
  readonly nanos: number;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/**
 * Parses RFC 3339 text (`2026-11-25T01:04:27.710798097Z`, `...+02:00`) into seconds and
 * nanoseconds without going through a float, which cannot hold nanoseconds since the epoch
 * (2^53 ns is about 104 days). Digits past the ninth are cut. Undefined when the text is not
 * RFC 3339.
 */
export function parseLogTime(text: string): LogTime | undefined {
  const m = RFC3339.exec(text);
  if (!m) return undefined;
  const n = (i: number): number => Number(m[i]);
  const month = n(2);
  const day = n(3);
  if (month < 1 || month > 12 || day < 1 || day > 31 || n(4) > 23 || n(5) > 59 || n(6) > 60) return undefined;
  let seconds = Date.UTC(n(1), month - 1, day, n(4), n(5), n(6)) / 1000;
  if (m[9] !== undefined) seconds -= (m[9] === '-' ? -1 : 1) * (n(10) * 3600 + n(11) * 60);
  const frac = m[7] ?? '';
  const nanos = frac === '' ? 0 : Number(frac.length >= 9 ? frac.slice(0, 9) : frac.padEnd(9, '0'));
  return { seconds, nanos };
}

/** A record's time, or `fallbackMs` (the moment it is encoded) when its text is not RFC 3339. */
export function recordTime(r: LogRecord, fallbackMs: number): LogTime {
  const t = parseLogTime(r.time);
  if (t !== undefined) return t;
  const seconds = Math.floor(fallbackMs / 1000);
  return { seconds, nanos: Math.round((fallbackMs - seconds * 1000) * 1e6) };
}

/** Nanoseconds since the epoch as decimal text (exact), as Loki's JSON and line protocol want them. */
export function timeNs(t: LogTime): string {
  if (t.seconds > 0) return `${t.seconds}${String(t.nanos).padStart(9, '0')}`;
  return (BigInt(t.seconds) * 1_000_000_000n + BigInt(t.nanos)).toString();
}

/** Orders two times: negative when `a` is earlier. */
export function compareTime(a: LogTime, b: LogTime): number {
  return a.seconds !== b.seconds ? a.seconds - b.seconds : a.nanos - b.nanos;
}

/**
 * The level a record carries, normalized to the collector's names (trace, debug, info, warn,
 * error, fatal), or undefined when none was detected.
 */
export type Level = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

const LEVELS: ReadonlySet<string> = new Set<Level>(['trace', 'debug', 'info', 'warn', 'error', 'fatal']);

export function levelOf(r: LogRecord): Level | undefined {
  return r.level !== undefined && LEVELS.has(r.level) ? (r.level as Level) : undefined;
}
