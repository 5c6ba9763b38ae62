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

/** Fans records out to every log destination and waits for all of them. */
export class LogRouter implements LogSink {
  private readonly writers: LogWriter[] = [];

  add(w: LogWriter): void {
    this.writers.push(w);
  }

  get enabled(): boolean {
    return this.writers.length > 0;
  }

  async write(records: readonly LogRecord[]): Promise<void> {
    if (records.length === 0 || this.writers.length === 0) return;
    if (this.writers.length === 1) return (this.writers[0] as LogWriter).writeLogs(records);
    await Promise.all(this.writers.map((w) => w.writeLogs(records)));
  }
}
