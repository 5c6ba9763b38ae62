/**
 * What happens to a message between the file and the destinations, per configuration, in
 * this order: keep/drop by regular expression (on the message as read), redaction (before
 * anything leaves the node), JSON parsing into fields, level detection.
 */
import { LookoutError } from '../../src/errors.js';

export interface ProcessOptions {
  readonly keep: readonly string[];
  readonly drop: readonly string[];
  readonly redact: ReadonlyArray<{ readonly pattern: string; readonly replacement: string }>;
  readonly parseJson: boolean;
  readonly detectLevel: boolean;
}

export interface Processed {
  readonly message: string;
  readonly level?: string;
  readonly fields?: Readonly<Record<string, unknown>>;
}

/** Levels as records carry them. */
const LEVELS: Record<string, string> = {
  trace: 'trace',
  debug: 'debug',
  dbug: 'debug',
  info: 'info',
  information: 'info',
  notice: 'info',
  warn: 'warn',
  warning: 'warn',
  error: 'error',
  err: 'error',
  eror: 'error',
  fatal: 'fatal',
  panic: 'fatal',
  crit: 'fatal',
  critical: 'fatal',
  alert: 'fatal',
  emerg: 'fatal',
};

const LEVEL_KEYS = ['level', 'lvl', 'severity', 'loglevel', 'log.level', 'levelname', 'severity_text'];
/** `level=warn`, `"level":"warn"`, `severity: ERROR`. */
const LEVEL_PAIR = /\b(?:level|lvl|severity|loglevel)["']?\s*[=:]\s*["']?([A-Za-z]+)/i;
/** A level word standing out: `ERROR`, `[error]`, `<warn>`, `E0101`-style klog prefixes excluded. */
const LEVEL_WORD = /(?:^|[\s[(<|])(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|FATAL|PANIC|CRIT|CRITICAL|trace|debug|info|warn|warning|error|fatal|panic)(?=$|[\s\]):>|,])/;

function compile(list: readonly string[], key: string): RegExp[] {
  return list.map((p, i) => {
    try {
      return new RegExp(p);
    } catch (err) {
      throw new LookoutError('LOOKOUT_ERR_CONFIG', `config key "collectors.logs.${key}[${i}]" = ${JSON.stringify(p)} is invalid: expected a regular expression (${(err as Error).message})`);
    }
  });
}

export function levelOf(message: string, fields: Readonly<Record<string, unknown>> | undefined): string | undefined {
  if (fields !== undefined) {
    for (const k of LEVEL_KEYS) {
      const v = fields[k];
      if (typeof v === 'string') {
        const l = LEVELS[v.toLowerCase()];
        if (l !== undefined) return l;
      }
    }
  }
  const head = message.length > 256 ? message.slice(0, 256) : message;
  const pair = LEVEL_PAIR.exec(head);
  if (pair) {
    const l = LEVELS[(pair[1] as string).toLowerCase()];
    if (l !== undefined) return l;
  }
  const word = LEVEL_WORD.exec(head);
  return word ? LEVELS[(word[1] as string).toLowerCase()] : undefined;
}

export class Processor {
  private readonly keep: RegExp[];
  private readonly drop: RegExp[];
  private readonly redact: Array<{ re: RegExp; replacement: string }>;
  /** Whether it does anything at all: when not, the tailer skips it. */
  readonly active: boolean;

  constructor(private readonly opts: ProcessOptions) {
    this.keep = compile(opts.keep, 'keep');
    this.drop = compile(opts.drop, 'drop');
    this.redact = compile(opts.redact.map((r) => r.pattern), 'redact').map((re, i) => ({ re: new RegExp(re.source, `${re.flags}g`), replacement: opts.redact[i]?.replacement ?? '' }));
    this.active = this.keep.length + this.drop.length + this.redact.length > 0 || opts.parseJson || opts.detectLevel;
  }

  /** The message as it is to be sent, or undefined when it is to be dropped. */
  apply(message: string): Processed | undefined {
    if (this.keep.length > 0 && !this.keep.some((re) => re.test(message))) return undefined;
    if (this.drop.some((re) => re.test(message))) return undefined;
    let m = message;
    for (const { re, replacement } of this.redact) m = m.replace(re, replacement);
    let fields: Record<string, unknown> | undefined;
    if (this.opts.parseJson) {
      const t = m.trimStart();
      if (t.startsWith('{')) {
        try {
          const v = JSON.parse(m) as unknown;
          if (typeof v === 'object' && v !== null && !Array.isArray(v)) fields = v as Record<string, unknown>;
        } catch {
          // Not JSON after all: the message stays as it is.
        }
      }
    }
    const level = this.opts.detectLevel ? levelOf(m, fields) : undefined;
    return { message: m, ...(level !== undefined ? { level } : {}), ...(fields !== undefined ? { fields } : {}) };
  }
}
