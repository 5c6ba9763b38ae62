/**
 * A log sink for tests that keeps what it is given; `hold()` makes the next writes wait until
 * `release()`, and `failNext` makes that many writes fail as a destination that is down.
 */
import type { LogRecord, LogSink } from '../../src/logs.js';

export class MemorySink implements LogSink {
  readonly enabled = true;
  records: LogRecord[] = [];
  writes = 0;
  private gate: Promise<void> | undefined;
  private open: (() => void) | undefined;
  failNext = 0;
  async write(records: readonly LogRecord[]): Promise<void> {
    this.writes++;
    if (this.gate) await this.gate;
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('destination down');
    }
    this.records.push(...records);
  }
  hold(): void {
    this.gate = new Promise((r) => (this.open = r));
  }
  release(): void {
    this.gate = undefined;
    this.open?.();
  }
  messages(filter: (r: LogRecord) => boolean = () => true): string[] {
    return this.records.filter(filter).map((r) => r.message);
  }
}
