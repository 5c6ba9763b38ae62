/** The agent's structured JSON log (pino, on stderr) and rate limiting for repeated problems. */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string): Logger {
  return pino({ level, base: { name: 'lookout' }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination(2));
}

/**
 * Logs a problem the first time its key is seen and then at most once per interval, with
 * the number of occurrences in between, so a broken file read every second is one line a
 * minute rather than sixty.
 */
export class RateLimitedLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();
  constructor(
    private readonly log: Logger,
    private readonly now: () => number,
    private readonly intervalMs = 60_000,
  ) {}

  warn(key: string, obj: Record<string, unknown>, msg: string): void {
    const t = this.now();
    const prev = this.last.get(key);
    if (prev && t - prev.at < this.intervalMs) {
      prev.suppressed++;
      return;
    }
    this.last.set(key, { at: t, suppressed: 0 });
    this.log.warn({ ...obj, suppressed: prev?.suppressed ?? 0 }, msg);
  }
}
