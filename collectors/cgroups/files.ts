/**
 * Reads cgroup files through descriptors kept open between collections and re-read with
 * pread at offset 0: the kernel regenerates a cgroup file's content on every read from the
 * start, so this skips the open/close pair that dominates a naive read loop.
 */
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { errnoCode, isVanished } from '../../src/errors.js';

/** How long a file found missing is not asked for again (files of a live cgroup rarely appear later). */
const MISSING_RETRY_MS = 30_000;

/** Descriptors left for everything else (the HTTP server, log files, sockets, one-off reads). */
const HEADROOM = 2048;

/** The process's soft limit on open files, from /proc/self/limits; undefined where unreadable. */
export function openFileLimit(): number | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'latin1').split('\n').find((l) => l.startsWith('Max open files'));
    const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
    return soft === undefined || soft === 'unlimited' ? undefined : Number(soft);
  } catch {
    return undefined;
  }
}

/**
 * How many descriptors to keep open: the configured number, but never so many that the
 * process could not open anything else (a quarter of the limit, and at least HEADROOM, stay free).
 */
export function keptFileBudget(configured: number, limit: number | undefined): number {
  if (limit === undefined || !Number.isFinite(limit)) return configured;
  return Math.max(0, Math.min(configured, Math.floor(limit * 0.75), limit - HEADROOM));
}

export class CachedFile {
  fd = -1;
  missingAt = 0;
  constructor(readonly path: string) {}
}

export class FileReader {
  private buf = Buffer.allocUnsafe(64 * 1024);
  private openCount = 0;
  /** Set when a read found its cgroup gone (ENODEV on a kept descriptor, or ENOENT on reopen). */
  vanished = false;
  /** Set when a kept descriptor's cgroup was gone but the path names a new one (a restart). */
  reopened = false;

  /** Set when opening failed for lack of descriptors (EMFILE, ENFILE): the budget was lowered. */
  exhausted = false;

  constructor(
    private maxOpen: number,
    private readonly now: () => number,
  ) {}

  /** The number of descriptors this reader may keep open. */
  get budget(): number {
    return this.maxOpen;
  }

  get open(): number {
    return this.openCount;
  }

  /**
   * The file's whole content, or undefined if it does not exist. Throws on other errors
   * (EACCES, EIO, ...), which the caller counts.
   */
  read(f: CachedFile): string | undefined {
    if (f.fd < 0) {
      if (f.missingAt !== 0 && this.now() - f.missingAt < MISSING_RETRY_MS) return undefined;
      if (!this.openFile(f)) return undefined;
    }
    let n: number;
    try {
      n = this.pread(f.fd);
    } catch (err) {
      if (!isVanished(err)) throw err;
      // The cgroup behind this descriptor was removed; the path may name a new one (a
      // restarted systemd service), so try the path once more before calling it gone.
      this.close(f);
      if (!this.openFile(f)) {
        this.vanished = true;
        return undefined;
      }
      this.reopened = true;
      try {
        n = this.pread(f.fd);
      } catch (err2) {
        if (!isVanished(err2)) throw err2;
        this.close(f);
        this.vanished = true;
        return undefined;
      }
    }
    const text = this.buf.toString('latin1', 0, n);
    if (f.fd >= 0 && this.openCount > this.maxOpen) this.close(f);
    return text;
  }

  close(f: CachedFile): void {
    if (f.fd >= 0) {
      try {
        closeSync(f.fd);
      } catch {
        // already invalid; nothing to release
      }
      f.fd = -1;
      this.openCount--;
    }
  }

  private openFile(f: CachedFile): boolean {
    try {
      f.fd = openSync(f.path, 'r');
    } catch (err) {
      if (isVanished(err)) {
        f.missingAt = this.now();
        return false;
      }
      const code = errnoCode(err);
      if (code === 'EMFILE' || code === 'ENFILE') {
        // Out of descriptors: keep fewer from now on, so the descriptors closed after their
        // next reads make room for everything else the process must open.
        this.maxOpen = Math.max(0, Math.min(this.maxOpen, this.openCount - HEADROOM));
        this.exhausted = true;
      }
      throw err;
    }
    f.missingAt = 0;
    this.openCount++;
    return true;
  }

  private pread(fd: number): number {
    for (;;) {
      const n = readSync(fd, this.buf, 0, this.buf.length, 0);
      if (n < this.buf.length) return n;
      // A full buffer may be a truncated read (a large cgroup.procs): grow and read again.
      this.buf = Buffer.allocUnsafe(this.buf.length * 2);
    }
  }
}
