/**
 * Reads cgroup files through descriptors kept open between collections and re-read with
 * pread at offset 0: the kernel regenerates a cgroup file's content on every read from the
 * start, so this skips the open/close pair that dominates a naive read loop.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { isVanished } from '../../src/errors.js';

/** How long a file found missing is not asked for again (files of a live cgroup rarely appear later). */
const MISSING_RETRY_MS = 30_000;

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

  constructor(
    private readonly maxOpen: number,
    private readonly now: () => number,
  ) {}

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
