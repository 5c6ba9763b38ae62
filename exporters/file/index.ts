/**
 * Log records as JSON lines, appended to a file or written to stdout: for debugging and
 * for piping to anything else. A batch is acknowledged once it is written (`write(2)` into
 * the file, so it survives the agent's death; with `fsync`, a power loss too). Metrics are
 * not written here.
 */
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import type { Exporter, ExporterContext, ExporterFactory } from '../../src/component.js';
import { LookoutError } from '../../src/errors.js';
import type { LogRecord } from '../../src/logs.js';
import type { Labels } from '../../src/model.js';
import { configSchema, type FileConfig } from './config.js';

/** Each label set's JSON, made once: a container's records share one Labels object. */
const labelsJson = new WeakMap<Labels, string>();

/** One record as its JSON line (without the newline): `JSON.stringify` of {time, stream, message, labels, level?, fields?, source?}, built by parts. */
export function recordLine(r: LogRecord): string {
  let labels = labelsJson.get(r.labels);
  if (labels === undefined) labelsJson.set(r.labels, (labels = JSON.stringify(r.labels.toObject())));
  let line = `{"time":${JSON.stringify(r.time)},"stream":"${r.stream}","message":${JSON.stringify(r.message)},"labels":${labels}`;
  if (r.level !== undefined) line += `,"level":${JSON.stringify(r.level)}`;
  if (r.fields !== undefined) line += `,"fields":${JSON.stringify(r.fields)}`;
  if (r.source !== undefined) line += `,"source":${JSON.stringify(r.source)}`;
  return `${line}}`;
}

class FileExporter implements Exporter {
  private fd: number | undefined;
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
        this.fd = openSync(this.path, 'a', 0o640);
      } catch (err) {
        throw new LookoutError('LOOKOUT_ERR_CONFIG', `exporters.file.path: cannot open ${this.path} for appending: ${(err as Error).message}`, { cause: err });
      }
    }
    return this.fd;
  }

  async start(): Promise<void> {
    if (this.path !== '-') this.open();
    this.ctx.log.info({ path: this.path === '-' ? 'stdout' : this.path }, 'writing log records as JSON lines');
  }

  async export(): Promise<void> {}

  async writeLogs(records: readonly LogRecord[]): Promise<void> {
    if (this.closed) throw new Error('the file exporter is shut down');
    if (records.length === 0) return;
    let text = '';
    for (const r of records) text += `${recordLine(r)}\n`;
    if (this.path === '-') {
      // Writes to pipes and files are synchronous on Linux; the callback says it is done.
      await new Promise<void>((resolve, reject) => process.stdout.write(text, (err) => (err ? reject(err) : resolve())));
    } else {
      const fd = this.open();
      const buf = Buffer.from(text, 'utf8');
      let off = 0;
      while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
      if (this.fsync) fsyncSync(fd);
    }
    this.ctx.self.exporterSent.inc(this.labels, records.length);
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
