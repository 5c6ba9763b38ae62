/**
 * Container logs: follows Docker json-file, CRI, Podman k8s-file and user-configured log
 * files into the log sink (see tail.ts), and reports what it read and delivered as metrics.
 * Idle unless a log destination is configured.
 */
import { join } from 'node:path';
import type { Collector, CollectorFactory, ComponentContext } from '../../src/component.js';
import { LookoutError } from '../../src/errors.js';
import { hostPath } from '../../src/hostpath.js';
import { type Accumulator, Labels, metric } from '../../src/model.js';
import { parseDuration } from '../../src/schema.js';
import { configSchema, type LogsConfig } from './config.js';
import { type ExtraSources, globBase } from './discover.js';
import { type ProcessOptions, Processor } from './process.js';
import { Tailer } from './tail.js';

export const M = {
  lines: metric({
    name: 'lookout_log_lines_total',
    type: 'counter',
    unit: '',
    help: 'Log records of the container delivered to the log destinations, by stream and level (partial lines joined into one; level "" unless collectors.logs.detect_level found one).',
    labels: ['stream', 'level'],
    source: 'container log files',
  }),
  bytes: metric({
    name: 'lookout_log_bytes_total',
    type: 'counter',
    unit: 'bytes',
    help: 'Message bytes (UTF-8, without newlines) of the log records of the container delivered to the log destinations, by stream and level.',
    labels: ['stream', 'level'],
    source: 'container log files',
  }),
  lagBytes: metric({
    name: 'lookout_log_lag_bytes',
    type: 'gauge',
    unit: 'bytes',
    help: 'Bytes of a followed log file not yet acknowledged by the log destinations (its size at the last look minus the checkpoint).',
    labels: ['file'],
    source: 'container log files',
  }),
  lagSeconds: metric({
    name: 'lookout_log_lag_seconds',
    type: 'gauge',
    unit: 'seconds',
    help: "While a container's log files hold undelivered bytes: the age of the newest record delivered from them; 0 when caught up.",
    labels: [],
    source: 'container log files',
  }),
  files: metric({
    name: 'lookout_log_files',
    type: 'gauge',
    unit: '',
    help: 'Log files followed (current and rotated), open or not.',
    labels: [],
    source: 'agent',
  }),
  read: metric({
    name: 'lookout_log_records_read_total',
    type: 'counter',
    unit: '',
    help: 'Log records read from files (partial lines joined), delivered or not yet.',
    labels: [],
    source: 'agent',
  }),
  delivered: metric({
    name: 'lookout_log_records_delivered_total',
    type: 'counter',
    unit: '',
    help: 'Log records acknowledged by every log destination.',
    labels: [],
    source: 'agent',
  }),
  truncated: metric({
    name: 'lookout_log_truncated_lines_total',
    type: 'counter',
    unit: '',
    help: 'Log lines cut at collectors.logs.max_line_bytes (the message ends in " [lookout: truncated]").',
    labels: [],
    source: 'agent',
  }),
  dropped: metric({
    name: 'lookout_log_dropped_lines_total',
    type: 'counter',
    unit: '',
    help: 'Log records not sent, by reason: filter (collectors.logs.keep or drop).',
    labels: ['reason'],
    source: 'agent',
  }),
  copyTruncates: metric({
    name: 'lookout_log_copy_truncates_total',
    type: 'counter',
    unit: '',
    help: 'Log files found truncated in place (copy-truncate rotation) and read again from the start.',
    labels: [],
    source: 'agent',
  }),
  errors: metric({
    name: 'lookout_log_errors_total',
    type: 'counter',
    unit: '',
    help: 'Problems while following logs, by kind: read, parse (a line not in the expected format, passed on as it is), scan, watch, checkpoint_read, checkpoint_write, deliver.',
    labels: ['kind'],
    source: 'agent',
  }),
};

const FILTER = new Labels([['reason', 'filter']]);
const ERROR_KINDS = ['read', 'parse', 'scan', 'watch', 'checkpoint_read', 'checkpoint_write', 'deliver'] as const;
const KIND = new Map(ERROR_KINDS.map((k) => [k, new Labels([['kind', k]])]));

function processOptions(c: LogsConfig): ProcessOptions {
  return { keep: c.keep, drop: c.drop, redact: c.redact, parseJson: c.parse_json, detectLevel: c.detect_level };
}

class LogsCollector implements Collector {
  private tailer: Tailer | undefined;
  private stopped = false;

  constructor(
    private readonly config: LogsConfig,
    private readonly ctx: ComponentContext,
  ) {
    // Bad regular expressions are configuration errors: fail now, not when tailing starts.
    new Processor(processOptions(config));
    try {
      new RegExp(config.multiline_start);
    } catch (err) {
      throw new LookoutError('LOOKOUT_ERR_CONFIG', `config key "collectors.logs.multiline_start" = ${JSON.stringify(config.multiline_start)} is invalid: expected a regular expression (${(err as Error).message})`);
    }
  }

  async start(signal?: AbortSignal): Promise<void> {
    if (this.stopped || this.tailer || !this.config.enabled || !this.ctx.logs.enabled) return;
    const c = this.config;
    const root = this.ctx.root;
    const extraSources: ExtraSources = {
      ...(c.podman ? { podmanDir: hostPath(root, join(c.podman_storage_root, 'overlay-containers')) } : {}),
      files: c.files.map((f) => ({ glob: join(hostPath(root, globBase(f.path)), f.path.slice(globBase(f.path).length)), format: f.format, labels: f.labels })),
    };
    this.tailer = new Tailer(this.ctx, {
      ...(c.docker ? { dockerDir: hostPath(root, join(c.docker_data_root, 'containers')) } : {}),
      ...(c.cri ? { podsDir: hostPath(root, c.pods_dir), linksDir: hostPath(root, c.containers_dir) } : {}),
      extraSources,
      stateDir: join(this.ctx.stateDir, 'logs'),
      watch: c.watch,
      rescanMs: parseDuration(c.rescan_interval),
      pollMs: parseDuration(c.poll_interval),
      maxLineBytes: c.max_line_bytes,
      partialTimeoutMs: parseDuration(c.partial_timeout),
      rotateWaitMs: parseDuration(c.rotate_wait),
      batchMaxLines: c.batch_max_lines,
      batchMaxBytes: c.batch_max_bytes,
      checkpointMs: parseDuration(c.checkpoint_interval),
      multilineStart: c.multiline_start,
      multilineTimeoutMs: parseDuration(c.multiline_timeout),
      process: processOptions(c),
    });
    this.tailer.start();
    // The agent aborts before it flushes the destinations: stop sending then; shutdown() persists.
    signal?.addEventListener('abort', () => void this.tailer?.stop(), { once: true });
    this.ctx.log.info({ files: this.tailer.files.size, containers: this.tailer.groups.size, watch: this.tailer.watchMode }, 'following container logs');
  }

  async collect(acc: Accumulator): Promise<void> {
    const t = this.tailer;
    if (!t) return;
    const now = this.ctx.now();
    // Groups with the same labels (user files given the same labels, say) are one series.
    const byLabels = new Map<string, { labels: Labels; counts: Map<string, { stream: string; level: string; lines: number; bytes: number }>; lagSeconds: number }>();
    for (const g of t.groups.values()) {
      const labels = g.labels(this.ctx);
      let s = byLabels.get(labels.text);
      if (s === undefined) {
        s = { labels, counts: new Map(), lagSeconds: 0 };
        byLabels.set(labels.text, s);
      }
      for (const [k, c] of g.counts) {
        const sum = s.counts.get(k) ?? { stream: c.stream, level: c.level, lines: 0, bytes: 0 };
        sum.lines += c.lines;
        sum.bytes += c.bytes;
        s.counts.set(k, sum);
      }
      let lag = 0;
      for (const f of g.files) {
        const l = Math.max(0, f.size - f.acked);
        lag += l;
        acc.add(M.lagBytes, labels, l, new Labels([['file', f.path]]));
      }
      s.lagSeconds = Math.max(s.lagSeconds, lag > 0 && g.lastDelivered > 0 ? Math.max(0, (now - g.lastDelivered) / 1000) : 0);
    }
    for (const s of byLabels.values()) {
      for (const c of s.counts.values()) {
        const extra = new Labels([['stream', c.stream], ['level', c.level]]);
        acc.add(M.lines, s.labels, c.lines, extra);
        acc.add(M.bytes, s.labels, c.bytes, extra);
      }
      acc.add(M.lagSeconds, s.labels, s.lagSeconds);
    }
    acc.add(M.files, Labels.EMPTY, t.files.size);
    acc.add(M.read, Labels.EMPTY, t.recordsRead);
    acc.add(M.delivered, Labels.EMPTY, t.recordsDelivered);
    acc.add(M.truncated, Labels.EMPTY, t.truncatedLines);
    acc.add(M.dropped, Labels.EMPTY, t.droppedLines, FILTER);
    acc.add(M.copyTruncates, Labels.EMPTY, t.copyTruncates);
    for (const k of ERROR_KINDS) acc.add(M.errors, Labels.EMPTY, t.errors.get(k) ?? 0, KIND.get(k));
  }

  async shutdown(): Promise<void> {
    this.stopped = true;
    await this.tailer?.stop();
  }
}

export const logsCollector: CollectorFactory<LogsConfig> = {
  type: 'logs',
  description: 'Container logs: follows Docker json-file, CRI (containerd, CRI-O), Podman k8s-file and user-configured log files across rotation and restarts into the log destinations, with checkpoints in the state directory.',
  configSchema,
  metrics: Object.values(M),
  create: (config, ctx) => new LogsCollector(config, ctx),
};
