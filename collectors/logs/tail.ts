/**
 * Following container log files into the log sink, losing nothing across rotation and
 * restarts.
 *
 * - Files are tracked by device and inode (plus a fingerprint of their first bytes, which
 *   tells a reused inode and a copy-truncated file apart), so a rename rotation keeps the
 *   old file's state: it is read to its end through the descriptor held open, even after
 *   it was renamed or deleted, before the newer file is read.
 * - One loop reads a batch of records from the files with data (oldest file of a container
 *   first, containers in turn), hands it to the sink, and waits for the acknowledgement
 *   before reading on: a slow destination pauses reading, and at most one batch is in
 *   flight. Only then do the files' acknowledged offsets move, and the checkpoint journal
 *   gets them.
 * - Lines are read with `fs.read` into one reused buffer from the last offset. A line
 *   longer than the buffer is cut there (with a marker, counted) and the rest of it is
 *   skipped; a message longer than `max_line_bytes` after joining partial pieces likewise.
 *   Lines that are not in the expected format are passed on as they are, and counted.
 */
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import type { ComponentContext } from '../../src/component.js';
import { isVanished } from '../../src/errors.js';
import { RateLimitedLog } from '../../src/log.js';
import type { LogRecord, Stream } from '../../src/logs.js';
import { Labels } from '../../src/model.js';
import { type CheckpointEntry, CheckpointStore, fileKey } from './checkpoints.js';
import { type ExtraSources, type FoundGroup, globBase, globDepth, Scanner } from './discover.js';
import { type Format, parseLine, type Piece } from './formats.js';
import { type ProcessOptions, Processor } from './process.js';
import { LogWatcher, type RootKind, type WatchEvent } from './watch.js';

export const TRUNCATION_MARKER = ' [lookout: truncated]';
/** Bytes of a file's beginning hashed into its fingerprint. */
export const FINGERPRINT_BYTES = 256;
/** Room beyond `max_line_bytes` in the read buffer, so that a 16 KiB Docker piece whose every character is escaped still parses. */
const RAW_SLACK = 128 * 1024;
/** Compressed rotated files larger than this are not read (counted as a read error); kubelet's and Docker's are a few MiB. */
const MAX_GZ_BYTES = 64 * 1024 * 1024;
const MAX_GUNZIPPED_BYTES = 256 * 1024 * 1024;
/** How long a file that left the directory is remembered (for a listing that missed it for a moment). */
const RETIRED_MS = 10 * 60_000;

export interface TailerOptions {
  readonly dockerDir?: string;
  readonly podsDir?: string;
  readonly linksDir?: string;
  /**
   * Podman's `k8s-file` logs and user-configured files: scanned with the others, their
   * directories watched by the same watcher, and a user file's configured labels put on its
   * records and log metrics.
   */
  readonly extraSources?: ExtraSources;
  readonly stateDir: string;
  readonly watch: boolean;
  readonly rescanMs: number;
  readonly pollMs: number;
  readonly maxLineBytes: number;
  readonly partialTimeoutMs: number;
  readonly rotateWaitMs: number;
  readonly batchMaxLines: number;
  readonly batchMaxBytes: number;
  readonly checkpointMs: number;
  /** A line matching this starts a record; other lines are added to the record before. Off when absent or empty. */
  readonly multilineStart?: string;
  readonly multilineTimeoutMs?: number;
  /** Filtering, redaction, parsing; none when absent. */
  readonly process?: ProcessOptions;
}

export type ErrorKind = 'read' | 'parse' | 'scan' | 'watch' | 'checkpoint_read' | 'checkpoint_write' | 'deliver';

/** Delivered records of one container with one stream and level. */
export interface Count {
  readonly stream: Stream;
  readonly level: string;
  lines: number;
  bytes: number;
}

interface Pending {
  readonly time: string;
  readonly stream: Stream;
  readonly parts: string[];
  bytes: number;
  truncated: boolean;
  /** Where the pieces began in each file they came from: those files' safe offsets. */
  readonly from: Map<TrackedFile, number>;
  /** When the last piece came (ms). */
  at: number;
  source: string;
}

export class TrackedFile {
  readonly key: string;
  fd: number | undefined;
  /** Size at the last look. */
  size = 0;
  /** Read and handled up to here: the end of the last line taken. */
  offset = 0;
  /** Acknowledged by the sink up to here: what the checkpoint says. */
  acked = 0;
  /** While the rest of an over-long line is skipped: where that line began; else -1. */
  skipFrom = -1;
  fp = '';
  fpLen = 0;
  /** No longer listed in its directory. */
  gone = false;
  /** May have data: read it in the next batch. */
  hot = true;
  /** When its end was reached (ms), 0 while it has data. */
  eofAt = 0;
  /** Incremented at a copy-truncate, so that an acknowledgement of older offsets is ignored. */
  generation = 0;
  /** A gzip-compressed rotated file: offsets count decompressed bytes; `size` is the decompressed size once known. */
  gz = false;
  /** Its decompressed content while it is being read. */
  gzData: Buffer | undefined;

  constructor(
    readonly dev: number,
    readonly ino: number,
    public path: string,
    public age: number,
    /** The scan that found it: files found later are newer. */
    readonly born: number,
    readonly group: Group,
  ) {
    this.key = fileKey(dev, ino);
  }

  entry(): CheckpointEntry {
    return { dev: this.dev, ino: this.ino, fp: this.fp, fpLen: this.fpLen, offset: this.acked, path: this.path };
  }
}

export class Group {
  id: string | undefined;
  namespace: string | undefined;
  pod: string | undefined;
  container: string | undefined;
  files: TrackedFile[] = [];
  readonly pending = new Map<Stream, Pending>();
  /** Multi-line records being gathered (`multiline_start`), by stream. */
  readonly multi = new Map<Stream, Pending>();
  present = true;
  /** By `<stream>/<level>`. */
  readonly counts = new Map<string, Count>();
  /** Timestamp (ms) of the newest record delivered. */
  lastDelivered = 0;
  private base: Labels | undefined;
  private merged: Labels | undefined;
  /** A user file's configured labels (`collectors.logs.files[].labels`); undefined for containers. */
  private configured: Readonly<Record<string, string>> | undefined;

  constructor(
    readonly key: string,
    readonly format: Format,
  ) {}

  /** Sets a user file's configured labels; `labels()` forms the labels again when they change. */
  configure(labels: Readonly<Record<string, string>> | undefined): void {
    if (labels === this.configured) return;
    this.configured = labels;
    this.merged = undefined;
  }

  /**
   * The container's identity labels, as on its metric series; the pod path's names fill in
   * what the directory does not know, and a user file's configured labels go on top. Formed
   * again only when the directory's identity changes, so records share one Labels object.
   */
  labels(ctx: ComponentContext): Labels {
    const extra: Array<[string, string]> = [];
    let base: Labels;
    if (this.id !== undefined) {
      const dir = ctx.containers;
      const path = dir.lastCgroupPath(this.id) ?? dir.get(this.id)?.cgroupPath ?? (this.format === 'docker' ? `/docker/${this.id}` : '');
      base = dir.identity(this.id, path, this.id);
    } else {
      base = new Labels([['id', ''], ['image', ''], ['name', '']]);
    }
    if (base === this.base && this.merged) return this.merged;
    for (const [k, v] of [['namespace', this.namespace], ['pod', this.pod], ['container', this.container]] as const) {
      if (v !== undefined && base.get(k) === undefined) extra.push([k, v]);
    }
    this.base = base;
    const merged = extra.length > 0 ? new Labels([...base.pairs, ...extra]) : base;
    this.merged = this.configured === undefined ? merged : withLabels(merged, this.configured);
    return this.merged;
  }

  sort(): void {
    this.files.sort((a, b) => a.born - b.born || b.age - a.age);
  }
}

/** `base` with `extra` on top: a configured label replaces the identity label of the same name. */
function withLabels(base: Labels, extra: Readonly<Record<string, string>>): Labels {
  const keys = Object.keys(extra);
  if (keys.length === 0) return base;
  return new Labels([...base.pairs.filter(([k]) => !(k in extra)), ...keys.sort().map((k) => [k, extra[k] as string] as const)]);
}

/** One batch being filled: the records, and the files whose offsets it moves. */
class Batch {
  readonly records: LogRecord[] = [];
  bytes = 0;
  /** Raw bytes read while filling: bounds the work of one turn even when it yields no record. */
  raw = 0;
  readonly files = new Set<TrackedFile>();
  /** Offsets safe to acknowledge once the records are taken, with the file's generation. */
  readonly safe = new Map<TrackedFile, { offset: number; generation: number }>();
  /** Per container: what the records count for its stream counters, and the newest record's time. */
  readonly counts = new Map<Group, { byKey: Map<string, Count>; time: string }>();
  /** Each container's labels, looked up once per batch. */
  readonly labels = new Map<Group, Labels>();

  constructor(
    private readonly maxLines: number,
    private readonly maxBytes: number,
  ) {}

  get full(): boolean {
    return this.records.length >= this.maxLines || this.bytes >= this.maxBytes || this.raw >= 4 * this.maxBytes;
  }
}

const hash = (b: Buffer): string => createHash('sha256').update(b).digest('base64url').slice(0, 22);

export class Tailer {
  readonly groups = new Map<string, Group>();
  readonly files = new Map<string, TrackedFile>();
  private readonly scanner: Scanner;
  private readonly store: CheckpointStore;
  private saved = new Map<string, CheckpointEntry>();
  private readonly retired = new Map<string, { entry: CheckpointEntry; at: number }>();
  private readonly buf: Buffer;
  private readonly problems: RateLimitedLog;
  private readonly processor: Processor;
  private readonly multiStart: RegExp | undefined;
  /** The .gz file whose decompressed content is in memory. */
  private gzHeld: TrackedFile | undefined;
  private readonly multiTimeoutMs: number;
  /** Containers with a partial line being joined. */
  private readonly joining = new Set<Group>();
  private watcher: LogWatcher | undefined;
  private scans = 0;
  private rr = 0;
  private stopping = false;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  /** Ends the wait of {@link untilStopped} in progress, if any. */
  private onStop: (() => void) | undefined;
  private rescanWanted = false;
  private stopPromise: Promise<void> | undefined;
  private dirty = false;
  private lastSave = 0;
  private lastPoll = 0;
  private lastScan = 0;

  // Counters, reported by the collector.
  recordsRead = 0;
  recordsDelivered = 0;
  truncatedLines = 0;
  droppedLines = 0;
  copyTruncates = 0;
  readonly errors = new Map<ErrorKind, number>();

  constructor(
    private readonly ctx: ComponentContext,
    private readonly opts: TailerOptions,
  ) {
    this.scanner = new Scanner(opts.dockerDir, opts.podsDir, opts.linksDir, ctx.now);
    if (opts.extraSources !== undefined) this.scanner.configure(opts.extraSources);
    this.store = new CheckpointStore(opts.stateDir, (kind, err) => this.error(kind, err));
    this.buf = Buffer.allocUnsafe(opts.maxLineBytes + RAW_SLACK);
    this.problems = new RateLimitedLog(ctx.log, ctx.now);
    this.multiStart = opts.multilineStart ? new RegExp(opts.multilineStart) : undefined;
    this.multiTimeoutMs = opts.multilineTimeoutMs ?? 1000;
    this.processor = new Processor(opts.process ?? { keep: [], drop: [], redact: [], parseJson: false, detectLevel: false });
  }

  get watchMode(): string {
    return this.watcher?.mode ?? 'off';
  }

  error(kind: ErrorKind, err: unknown, extra: Record<string, unknown> = {}): void {
    this.errors.set(kind, (this.errors.get(kind) ?? 0) + 1);
    this.problems.warn(kind, { kind, err: err instanceof Error ? err.message : String(err), ...extra }, 'log collection problem (counted in lookout_log_errors_total)');
  }

  /** Loads the checkpoints, finds the files, and starts following them. */
  start(): void {
    this.saved = this.store.load();
    this.lastSave = this.ctx.now();
    this.rescan();
    // Entries for files that are gone: nothing left to resume.
    this.saved.clear();
    if (this.opts.watch) {
      const roots: Array<[string, RootKind, number?]> = [];
      if (this.opts.dockerDir) roots.push([this.opts.dockerDir, 'docker']);
      if (this.opts.podsDir) roots.push([this.opts.podsDir, 'pods']);
      const extra = this.opts.extraSources;
      if (extra?.podmanDir !== undefined) roots.push([extra.podmanDir, 'podman']);
      for (const f of extra?.files ?? []) roots.push([globBase(f.glob), 'files', globDepth(f.glob)]);
      this.watcher = new LogWatcher(roots, this.ctx.log, (ev, p) => this.onWatch(ev, p), (err) => this.error('watch', err));
      this.watcher.start();
    }
    this.loop = this.run();
  }

  /** A container directory (or a user file) appeared or went: rescan now, and again shortly (its log file may come a moment after it). */
  private onWatch(_ev: WatchEvent, _path: string): void {
    this.rescanWanted = true;
    this.wake();
    for (const ms of [100, 400]) setTimeout(() => {
      this.rescanWanted = true;
      this.wake();
    }, ms).unref();
  }

  private wake(): void {
    const w = this.wakeUp;
    this.wakeUp = undefined;
    w?.();
  }

  /** Resolves true when woken by `wake()`, false when `ms` passed. */
  private sleep(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.wakeUp = undefined;
        resolve(false);
      }, ms);
      this.wakeUp = () => {
        clearTimeout(t);
        resolve(true);
      };
    });
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      try {
        const turn = await this.turn();
        if (turn === 'stopped') break;
        if (turn === 'more' && !this.stopping) {
          // More is waiting: go on, after letting other work run.
          await new Promise((r) => setImmediate(r));
          continue;
        }
        if (!this.stopping && !this.rescanWanted) {
          const t = this.ctx.now();
          await this.sleep(Math.max(1, Math.min(this.opts.pollMs - (t - this.lastPoll), this.opts.rescanMs - (t - this.lastScan))));
        }
      } catch (err) {
        // A bug must not end the loop for good; say so, and go on after a pause.
        this.error('read', err);
        if (!this.stopping) await this.sleep(1000);
      }
    }
  }

  /**
   * One batch: read, deliver, acknowledge. A method of its own so that the batch is
   * unreachable once it returns: held in the loop's frame, it stayed alive while the next
   * one was read, so a garbage collection found two batches of records alive, and promoted
   * them to the old generation with small young-generation sizes.
   */
  private async turn(): Promise<'more' | 'idle' | 'stopped'> {
    const now = this.ctx.now();
    if (this.rescanWanted || now - this.lastScan >= this.opts.rescanMs) this.rescan();
    if (now - this.lastPoll >= this.opts.pollMs) {
      this.lastPoll = now;
      for (const f of this.files.values()) if (f.fd !== undefined) f.hot = true;
    }
    const b = this.fill();
    if (!b.full && this.joining.size > 0) this.flushPartials(b);
    if (b.records.length > 0 || b.files.size > 0) {
      this.closeBatch(b);
      if (b.records.length > 0 && !(await this.deliver(b))) return 'stopped';
      this.acknowledge(b);
    }
    if (this.dirty && this.ctx.now() - this.lastSave >= this.opts.checkpointMs) this.save();
    this.release();
    return b.full ? 'more' : 'idle';
  }

  /** Lists the directories and reconciles what changed with the files followed. */
  rescan(): void {
    this.rescanWanted = false;
    this.lastScan = this.ctx.now();
    const born = ++this.scans;
    const r = this.scanner.scan();
    for (const err of r.errors) this.error('scan', err);
    for (const fg of r.changed) this.reconcile(fg, born);
    for (const g of this.groups.values()) {
      if (!r.present.has(g.key)) {
        g.present = false;
        for (const f of g.files) f.gone = true;
      } else g.present = true;
    }
    // Open files: truncation, deletion, growth, fingerprints.
    for (const f of this.files.values()) if (f.fd !== undefined && !f.gz) this.check(f);
    const now = this.ctx.now();
    for (const [k, v] of this.retired) if (now - v.at > RETIRED_MS) this.retired.delete(k);
  }

  private reconcile(fg: FoundGroup, born: number): void {
    let g = this.groups.get(fg.key);
    if (!g) {
      g = new Group(fg.key, fg.format);
      this.groups.set(fg.key, g);
    }
    g.id = fg.id ?? g.id;
    g.namespace = fg.namespace;
    g.pod = fg.pod;
    g.container = fg.container;
    g.configure(fg.labels);
    const seen = new Set<TrackedFile>();
    for (const ff of fg.files) {
      const key = fileKey(ff.dev, ff.ino);
      let f = this.files.get(key);
      if (f && f.group !== g) {
        // The inode now belongs to another container's file: the old one was deleted and its number reused.
        if (f.fd !== undefined) continue;
        this.forget(f);
        f = undefined;
      }
      if (!f) {
        f = new TrackedFile(ff.dev, ff.ino, ff.path, ff.age, born, g);
        f.size = ff.size;
        f.gz = ff.gz;
        this.files.set(key, f);
        g.files.push(f);
        this.open(f);
        this.resume(f);
      } else {
        f.path = ff.path;
        f.age = ff.age;
        f.gone = false;
        if (f.fd === undefined && ff.size !== f.size && !f.gz) {
          f.size = ff.size;
          this.open(f);
          if (f.fd !== undefined) this.check(f);
        }
      }
      seen.add(f);
    }
    for (const f of g.files) if (!seen.has(f)) f.gone = true;
    g.sort();
  }

  private open(f: TrackedFile): void {
    if (f.fd !== undefined) return;
    try {
      f.fd = openSync(f.path, 'r');
      const st = fstatSync(f.fd);
      if (st.ino !== f.ino || st.dev !== f.dev) {
        // Replaced between the listing and the open: leave it to the next rescan.
        closeSync(f.fd);
        f.fd = undefined;
        return;
      }
      f.size = st.size;
      f.hot = true;
    } catch (err) {
      f.fd = undefined;
      if (!isVanished(err)) this.error('read', err, { path: f.path });
    }
  }

  private readFingerprint(f: TrackedFile, len: number): string | undefined {
    if (f.fd === undefined) return undefined;
    const b = Buffer.allocUnsafe(len);
    try {
      const n = readSync(f.fd, b, 0, len, 0);
      return n === len ? hash(b) : undefined;
    } catch {
      return undefined;
    }
  }

  /** Where a newly found file starts: its checkpoint when the identity matches, else the beginning. */
  private resume(f: TrackedFile): void {
    if (f.gz) {
      this.resumeGz(f);
      return;
    }
    const e = this.saved.get(f.key) ?? this.retired.get(f.key)?.entry;
    this.retired.delete(f.key);
    this.updateFingerprint(f);
    if (!e) return;
    if (e.fpLen > 0 && this.readFingerprint(f, e.fpLen) !== e.fp) return; // another file on a reused inode
    if (e.offset > f.size) {
      this.copyTruncates++;
      return;
    }
    f.offset = f.acked = e.offset;
    if (f.offset >= f.size) f.hot = false;
  }

  /** Decompresses a .gz file whole (it is bounded by the runtime's rotation size); undefined, counted, when it cannot. */
  private decompress(f: TrackedFile): Buffer | undefined {
    if (f.gzData !== undefined) return f.gzData;
    if (f.fd === undefined) return undefined;
    try {
      const st = fstatSync(f.fd);
      if (st.size > MAX_GZ_BYTES) throw new Error(`compressed log file larger than ${MAX_GZ_BYTES} bytes; not read`);
      const raw = Buffer.allocUnsafe(st.size);
      let n = 0;
      while (n < st.size) {
        const r = readSync(f.fd, raw, n, st.size - n, n);
        if (r === 0) break;
        n += r;
      }
      // One decompressed file in memory at a time.
      if (this.gzHeld !== undefined && this.gzHeld !== f) this.gzHeld.gzData = undefined;
      f.gzData = gunzipSync(raw.subarray(0, n), { maxOutputLength: MAX_GUNZIPPED_BYTES });
      this.gzHeld = f;
      f.size = f.gzData.length;
      return f.gzData;
    } catch (err) {
      this.error('read', err, { path: f.path });
      return undefined;
    }
  }

  /**
   * A compressed rotated file. Its own checkpoint when it has one; else the progress made in
   * the plain file it was compressed from (same first bytes): still being read through its
   * descriptor (then the compressed copy is skipped), or remembered in the checkpoints (then
   * reading goes on from there); else from the beginning.
   */
  private resumeGz(f: TrackedFile): void {
    const own = this.saved.get(f.key) ?? this.retired.get(f.key)?.entry;
    this.updateFingerprint(f);
    const data = this.decompress(f);
    if (data === undefined) {
      f.hot = false;
      return;
    }
    f.size = data.length;
    if (own && own.fp === f.fp && own.fpLen === f.fpLen) {
      f.offset = f.acked = Math.min(own.offset, data.length);
    } else {
      const len = Math.min(data.length, FINGERPRINT_BYTES);
      const fp = len > 0 ? hash(data.subarray(0, len)) : '';
      const same = (e: { fp: string; fpLen: number }) => len > 0 && e.fpLen === len && e.fp === fp;
      const plain = [...this.files.values()].find((x) => x !== f && !x.gz && x.group === f.group && same(x));
      let from: number | undefined;
      if (plain !== undefined) from = data.length;
      else {
        for (const e of [...this.saved.values(), ...[...this.retired.values()].map((r) => r.entry)]) if (same(e)) from = Math.max(from ?? 0, e.offset);
      }
      if (from !== undefined) f.offset = f.acked = Math.min(from, data.length);
    }
    if (f.offset >= data.length) f.hot = false;
    // Read later, decompressed again then: discovery must not hold every compressed file in memory.
    f.gzData = undefined;
  }

  private updateFingerprint(f: TrackedFile): void {
    if (f.fpLen >= FINGERPRINT_BYTES || f.size <= f.fpLen) return;
    const len = Math.min(f.size, FINGERPRINT_BYTES);
    const fp = this.readFingerprint(f, len);
    if (fp !== undefined) {
      f.fp = fp;
      f.fpLen = len;
    }
  }

  /** Looks at an open file: deleted, truncated (copy-truncate), or grown. */
  private check(f: TrackedFile): void {
    if (f.fd === undefined) return;
    let size: number;
    let nlink: number;
    try {
      const st = fstatSync(f.fd);
      size = st.size;
      nlink = st.nlink;
    } catch (err) {
      this.error('read', err, { path: f.path });
      return;
    }
    if (nlink === 0) f.gone = true;
    const changed = size !== f.size;
    let truncated = size < f.offset;
    if (!truncated && changed && f.fpLen > 0 && this.readFingerprint(f, f.fpLen) !== f.fp) truncated = true;
    f.size = size;
    if (truncated) this.truncated(f);
    else if (size > f.offset) f.hot = true;
    this.updateFingerprint(f);
  }

  /** Copy-truncate: the file was emptied in place (and may have been written again): read it from the start. */
  private truncated(f: TrackedFile): void {
    this.copyTruncates++;
    this.ctx.log.info({ path: f.path, offset: f.offset, size: f.size }, 'log file truncated in place (copy-truncate); reading it from the start');
    f.generation++;
    f.offset = f.acked = 0;
    f.skipFrom = -1;
    f.fp = '';
    f.fpLen = 0;
    f.hot = true;
    f.eofAt = 0;
    for (const [stream, p] of f.group.pending) if (p.from.has(f)) f.group.pending.delete(stream);
    for (const [stream, p] of f.group.multi) if (p.from.has(f)) f.group.multi.delete(stream);
    this.dirty = true;
  }

  /** Reads from the files with data, oldest of each container first, containers in turn, until the batch is full. */
  private fill(): Batch {
    const b = new Batch(this.opts.batchMaxLines, this.opts.batchMaxBytes);
    const groups = [...this.groups.values()];
    const n = groups.length;
    for (let i = 0; i < n && !b.full; i++) {
      const g = groups[(this.rr + i) % n] as Group;
      for (const f of g.files) {
        if (!f.hot || f.fd === undefined) continue;
        if ((f.gz ? this.readGz(f, b) : this.readFile(f, b)) === 'full') break;
      }
    }
    this.rr = n > 0 ? (this.rr + 1) % n : 0;
    return b;
  }

  private readFile(f: TrackedFile, b: Batch): 'eof' | 'full' {
    const fd = f.fd as number;
    const buf = this.buf;
    const want = buf.length;
    b.files.add(f);
    while (!b.full) {
      let n: number;
      try {
        n = readSync(fd, buf, 0, want, f.offset);
      } catch (err) {
        this.error('read', err, { path: f.path });
        f.hot = false;
        return 'eof';
      }
      if (n === 0) {
        f.hot = false;
        if (f.eofAt === 0) f.eofAt = this.ctx.now();
        return 'eof';
      }
      f.eofAt = 0;
      b.raw += n;
      const base = f.offset;
      if (base + n > f.size) f.size = base + n;
      // Searches stop at what was read, not at the stale end of the buffer.
      const view = n === want ? buf : buf.subarray(0, n);
      let pos = 0;
      if (f.skipFrom >= 0) {
        const nl = view.indexOf(10, 0);
        if (nl < 0) {
          f.offset = base + n;
          continue;
        }
        pos = nl + 1;
        f.offset = base + pos;
        f.skipFrom = -1;
      }
      while (pos < n) {
        const nl = view.indexOf(10, pos);
        if (nl < 0) break;
        this.line(f, view, pos, nl, base + pos, b, false);
        pos = nl + 1;
        f.offset = base + pos;
        if (b.full) return 'full';
      }
      if (pos < n) {
        if (pos === 0 && n === want) {
          // A line longer than the buffer: take what fits, skip the rest.
          this.line(f, view, 0, n, base, b, true);
          f.skipFrom = base;
          f.offset = base + n;
          continue;
        }
        if (n < want) {
          // The end of the file is an unfinished line: wait for the rest.
          f.hot = false;
          if (f.eofAt === 0) f.eofAt = this.ctx.now();
          return 'eof';
        }
      } else if (n < want) {
        f.hot = false;
        if (f.eofAt === 0) f.eofAt = this.ctx.now();
        return 'eof';
      }
    }
    return 'full';
  }

  /** Lines of a decompressed .gz file, from its offset. */
  private readGz(f: TrackedFile, b: Batch): 'eof' | 'full' {
    b.files.add(f);
    const data = this.decompress(f);
    if (data === undefined) {
      f.hot = false;
      return 'eof';
    }
    const limit = this.buf.length;
    while (!b.full && f.offset < data.length) {
      const start = f.offset;
      let nl = data.indexOf(10, start);
      if (nl < 0) nl = data.length;
      b.raw += nl + 1 - start;
      if (nl - start > limit) this.line(f, data, start, start + limit, start, b, true);
      else this.line(f, data, start, nl, start, b, false);
      f.offset = Math.min(nl + 1, data.length);
    }
    if (f.offset < data.length) return 'full';
    f.gzData = undefined;
    f.hot = false;
    if (f.eofAt === 0) f.eofAt = this.ctx.now();
    return 'eof';
  }

  /** One physical line (or the first part of an over-long one, `cut`) of `f` in the buffer. */
  private line(f: TrackedFile, buf: Buffer, start: number, end: number, offset: number, b: Batch, cut: boolean): void {
    const g = f.group;
    let p: Piece | undefined = parseLine(g.format, buf, start, end);
    if (p === undefined) {
      if (!cut) this.error('parse', new Error(`not a ${g.format === 'docker' ? 'Docker json-file' : 'CRI'} log line; passed on as it is`), { path: f.path, offset });
      p = { time: new Date(this.ctx.now()).toISOString(), stream: 'stdout', text: buf.toString('utf8', start, end), partial: false };
    }
    const pend = g.pending.get(p.stream);
    if (pend === undefined && !p.partial) {
      if (this.multiStart === undefined) this.emit(b, g, f.path, p.time, p.stream, p.text, cut);
      else this.complete(b, g, new Map([[f, offset]]), f.path, p.time, p.stream, p.text, cut);
      return;
    }
    let pd = pend;
    if (pd === undefined) {
      pd = { time: p.time, stream: p.stream, parts: [], bytes: 0, truncated: false, from: new Map([[f, offset]]), at: 0, source: f.path };
      g.pending.set(p.stream, pd);
      this.joining.add(g);
    } else if (!pd.from.has(f)) pd.from.set(f, offset);
    this.append(pd, p.text);
    if (cut) pd.truncated = true;
    pd.at = this.ctx.now();
    if (!p.partial) {
      g.pending.delete(p.stream);
      this.complete(b, g, pd.from, pd.source, pd.time, pd.stream, pd.parts.join(''), pd.truncated);
    }
  }

  /**
   * A whole line (partial pieces joined), from the files and offsets in `from`. With
   * `multiline_start`, a line that does not match it is added to the record before it, and a
   * record is sent when the next one starts or after `multiline_timeout`.
   */
  private complete(b: Batch, g: Group, from: Map<TrackedFile, number>, source: string, time: string, stream: Stream, text: string, truncated: boolean): void {
    for (const f of from.keys()) b.files.add(f);
    const start = this.multiStart;
    if (start === undefined) {
      this.emit(b, g, source, time, stream, text, truncated);
      return;
    }
    const m = g.multi.get(stream);
    if (m !== undefined && !start.test(text)) {
      for (const [f, o] of from) if (!m.from.has(f)) m.from.set(f, o);
      this.append(m, `\n${text}`);
      if (truncated) m.truncated = true;
      m.at = this.ctx.now();
      return;
    }
    if (m !== undefined) {
      g.multi.delete(stream);
      for (const f of m.from.keys()) b.files.add(f);
      this.emit(b, g, m.source, m.time, stream, m.parts.join(''), m.truncated);
    }
    const next: Pending = { time, stream, parts: [], bytes: 0, truncated, from: new Map(from), at: this.ctx.now(), source };
    this.append(next, text);
    g.multi.set(stream, next);
    this.joining.add(g);
  }

  private append(pd: Pending, text: string): void {
    const max = this.opts.maxLineBytes;
    if (pd.truncated) return;
    const len = Buffer.byteLength(text);
    if (pd.bytes + len <= max) {
      pd.parts.push(text);
      pd.bytes += len;
      return;
    }
    pd.parts.push(clip(text, max - pd.bytes));
    pd.bytes = max;
    pd.truncated = true;
  }

  private emit(b: Batch, g: Group, source: string, time: string, stream: Stream, text: string, truncated: boolean): void {
    const max = this.opts.maxLineBytes;
    let message = text;
    let cut = truncated;
    if (text.length > max / 3 && Buffer.byteLength(text) > max) {
      message = clip(text, max);
      cut = true;
    }
    if (cut) {
      message += TRUNCATION_MARKER;
      this.truncatedLines++;
    }
    this.recordsRead++;
    let level = '';
    let record: LogRecord;
    let labels = b.labels.get(g);
    if (labels === undefined) b.labels.set(g, (labels = g.labels(this.ctx)));
    if (this.processor.active) {
      const p = this.processor.apply(message);
      if (p === undefined) {
        this.droppedLines++;
        return;
      }
      message = p.message;
      level = p.level ?? '';
      record = { time, stream, message, labels, source, ...(p.level !== undefined ? { level: p.level } : {}), ...(p.fields !== undefined ? { fields: p.fields } : {}) };
    } else record = { time, stream, message, labels, source };
    b.records.push(record);
    b.bytes += message.length;
    let c = b.counts.get(g);
    if (!c) b.counts.set(g, (c = { byKey: new Map(), time }));
    const key = level === '' ? (stream === 'stdout' ? 'stdout/' : 'stderr/') : `${stream}/${level}`;
    let n = c.byKey.get(key);
    if (!n) c.byKey.set(key, (n = { stream, level, lines: 0, bytes: 0 }));
    n.lines++;
    n.bytes += Buffer.byteLength(message);
    c.time = time;
  }

  /** Sends partial lines whose continuation did not come in time. */
  private flushPartials(b: Batch): void {
    const now = this.ctx.now();
    for (const g of this.joining) {
      if (g.pending.size === 0 && g.multi.size === 0) {
        this.joining.delete(g);
        continue;
      }
      for (const [stream, pd] of g.pending) {
        if (now - pd.at < this.opts.partialTimeoutMs) continue;
        g.pending.delete(stream);
        this.complete(b, g, pd.from, pd.source, pd.time, pd.stream, pd.parts.join(''), pd.truncated);
      }
      for (const [stream, m] of g.multi) {
        if (now - m.at < this.multiTimeoutMs) continue;
        g.multi.delete(stream);
        for (const f of m.from.keys()) b.files.add(f);
        this.emit(b, g, m.source, m.time, stream, m.parts.join(''), m.truncated);
      }
    }
  }

  /** What each file of the batch may be acknowledged up to: not past a partial line still being joined, nor into a line being skipped. */
  private closeBatch(b: Batch): void {
    for (const f of b.files) {
      let s = f.skipFrom >= 0 ? f.skipFrom : f.offset;
      for (const map of [f.group.pending, f.group.multi]) {
        for (const pd of map.values()) {
          const o = pd.from.get(f);
          if (o !== undefined && o < s) s = o;
        }
      }
      b.safe.set(f, { offset: s, generation: f.generation });
    }
  }

  /** Hands the batch to the sink until it is taken; false if the tailer stopped first. */
  private async deliver(b: Batch): Promise<boolean> {
    let backoff = 100;
    for (;;) {
      if (this.stopping) return false;
      // A write still pending when the tailer stops is left to finish on its own; its failure is then moot.
      const r = await this.untilStopped(
        this.ctx.logs.write(b.records).then(
          () => undefined,
          (err: unknown) => ({ err }),
        ),
      );
      if (r === undefined) return true;
      if (r === 'stopped') return false;
      this.error('deliver', r.err);
      let timer: NodeJS.Timeout | undefined;
      await this.untilStopped(new Promise<void>((resolve) => (timer = setTimeout(resolve, backoff))));
      clearTimeout(timer);
      backoff = Math.min(backoff * 2, 5000);
    }
  }

  /**
   * `p`, or 'stopped' when the tailer stops first. Not `Promise.race` with the stop promise:
   * that adds a reaction to it on every call, kept until the tailer stops, one per batch.
   */
  private untilStopped<T>(p: Promise<T>): Promise<T | 'stopped'> {
    if (this.stopping) return Promise.resolve('stopped');
    return new Promise<T | 'stopped'>((resolve, reject) => {
      const stop = (): void => resolve('stopped');
      const done = (): void => {
        // A later wait may have taken the slot already.
        if (this.onStop === stop) this.onStop = undefined;
      };
      this.onStop = stop;
      p.then(
        (v) => {
          done();
          resolve(v);
        },
        (err: unknown) => {
          done();
          reject(err);
        },
      );
    });
  }

  private acknowledge(b: Batch): void {
    const moved: CheckpointEntry[] = [];
    for (const [f, s] of b.safe) {
      if (s.generation !== f.generation || s.offset === f.acked) continue;
      f.acked = s.offset;
      moved.push(f.entry());
    }
    this.recordsDelivered += b.records.length;
    for (const [g, c] of b.counts) {
      for (const [key, n] of c.byKey) {
        const total = g.counts.get(key);
        if (total) {
          total.lines += n.lines;
          total.bytes += n.bytes;
        } else g.counts.set(key, { ...n });
      }
      const t = Date.parse(c.time);
      if (Number.isFinite(t)) g.lastDelivered = t;
    }
    if (moved.length > 0) {
      this.store.journal(moved);
      this.dirty = true;
    }
  }

  /** Writes the checkpoints whole. */
  save(): void {
    const entries: CheckpointEntry[] = [];
    for (const f of this.files.values()) entries.push(f.entry());
    for (const [k, r] of this.retired) if (!this.files.has(k)) entries.push(r.entry);
    for (const [k, e] of this.saved) if (!this.files.has(k)) entries.push(e);
    this.lastSave = this.ctx.now();
    if (this.store.save(entries)) this.dirty = false;
  }

  /**
   * Closes rotated files read to their end `rotate_wait` ago, forgets deleted ones once
   * acknowledged, and containers with nothing left.
   */
  private release(): void {
    const now = this.ctx.now();
    for (const g of [...this.groups.values()]) {
      const newest = g.files[g.files.length - 1];
      for (const f of [...g.files]) {
        if (f.fd === undefined || f.hot || f.eofAt === 0 || now - f.eofAt < this.opts.rotateWaitMs) continue;
        if (f === newest && !f.gone) continue;
        if (f.skipFrom >= 0 || f.offset < f.size) continue;
        try {
          closeSync(f.fd);
        } catch {
          // closed already
        }
        f.fd = undefined;
      }
      for (const f of [...g.files]) {
        if (f.gone && f.fd === undefined && f.acked === f.offset && ![...g.pending.values(), ...g.multi.values()].some((p) => p.from.has(f))) this.forget(f);
      }
      if (!g.present && g.files.length === 0 && g.pending.size === 0 && g.multi.size === 0) this.groups.delete(g.key);
    }
  }

  private forget(f: TrackedFile): void {
    if (f.fd !== undefined) {
      try {
        closeSync(f.fd);
      } catch {
        // closed already
      }
      f.fd = undefined;
    }
    this.files.delete(f.key);
    f.group.files = f.group.files.filter((x) => x !== f);
    this.retired.set(f.key, { entry: f.entry(), at: this.ctx.now() });
    this.dirty = true;
  }

  /** Stops reading; the batch in flight is not acknowledged unless it already was. Then persists the checkpoints. */
  stop(): Promise<void> {
    this.stopping = true;
    this.stopPromise ??= this.doStop();
    return this.stopPromise;
  }

  private async doStop(): Promise<void> {
    this.onStop?.();
    this.wake();
    await this.loop;
    await this.watcher?.close();
    if (this.loop !== undefined) this.save();
    this.store.close();
    for (const f of this.files.values()) {
      if (f.fd !== undefined) {
        try {
          closeSync(f.fd);
        } catch {
          // closed already
        }
        f.fd = undefined;
      }
    }
  }
}

/** The longest prefix of `text` that fits in `max` UTF-8 bytes. */
export function clip(text: string, max: number): string {
  if (max <= 0) return '';
  if (text.length * 3 <= max) return text;
  const b = Buffer.from(text, 'utf8');
  if (b.length <= max) return text;
  let end = max;
  // Do not cut a multi-byte character: back up to its first byte.
  while (end > 0 && ((b[end] as number) & 0xc0) === 0x80) end--;
  return b.toString('utf8', 0, end);
}
