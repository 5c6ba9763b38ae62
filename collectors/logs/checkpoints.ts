/**
 * Checkpoints: for each followed file, identified by device, inode and a fingerprint of its
 * first bytes, the offset just past the last line the destinations acknowledged.
 *
 * Two files in `<state_dir>/logs/`:
 * - `checkpoints.json`, the whole set, written atomically (temporary file, fsync, rename,
 *   fsync of the directory) at most once per `checkpoint_interval` and at shutdown;
 * - `checkpoints.journal`, to which every acknowledged batch appends the offsets it moved
 *   (one JSON array per line, no fsync: it survives the agent's death, not the machine's).
 *   Each entry carries a sequence number; a full write records the last one it includes
 *   and empties the journal, and loading applies only journal entries past it. So after a
 *   SIGKILL the agent resumes after the last acknowledged batch, and after a power loss
 *   after the last full write.
 */
import { closeSync, fstatSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, readSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { errnoCode } from '../../src/errors.js';

export interface CheckpointEntry {
  readonly dev: number;
  readonly ino: number;
  /** Hash of the file's first `fpLen` bytes ('' when `fpLen` is 0). */
  readonly fp: string;
  readonly fpLen: number;
  /** Just past the last acknowledged line. */
  readonly offset: number;
  /** Where the file was last seen; informational. */
  readonly path: string;
}

export const fileKey = (dev: number, ino: number): string => `${dev}:${ino}`;

interface Doc {
  version: 1;
  seq: number;
  files: CheckpointEntry[];
}

function isEntry(e: unknown): e is CheckpointEntry {
  const o = e as Record<string, unknown>;
  return (
    typeof o === 'object' && o !== null &&
    Number.isSafeInteger(o['dev']) && Number.isSafeInteger(o['ino']) && typeof o['fp'] === 'string' &&
    Number.isSafeInteger(o['fpLen']) && Number.isSafeInteger(o['offset']) && (o['offset'] as number) >= 0 && typeof o['path'] === 'string'
  );
}

export class CheckpointStore {
  readonly file: string;
  readonly journalFile: string;
  private seq = 0;
  private journalFd: number | undefined;
  private dirMade = false;

  /** `onError` hears of every failed read or write; the store keeps going (the state directory may be full or read-only). */
  constructor(
    readonly dir: string,
    private readonly onError: (what: 'checkpoint_read' | 'checkpoint_write', err: unknown) => void,
  ) {
    this.file = join(dir, 'checkpoints.json');
    this.journalFile = join(dir, 'checkpoints.journal');
  }

  /** What the last process left: the full set, updated by the journal. */
  load(): Map<string, CheckpointEntry> {
    const out = new Map<string, CheckpointEntry>();
    let seq = 0;
    try {
      const doc = JSON.parse(readFileSync(this.file, 'utf8')) as Partial<Doc>;
      if (typeof doc.seq === 'number') seq = doc.seq;
      for (const e of Array.isArray(doc.files) ? doc.files : []) if (isEntry(e)) out.set(fileKey(e.dev, e.ino), e);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') this.onError('checkpoint_read', err);
    }
    let journal = '';
    try {
      journal = readFileSync(this.journalFile, 'utf8');
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') this.onError('checkpoint_read', err);
    }
    let top = seq;
    for (const line of journal.split('\n')) {
      if (line === '') continue;
      let a: unknown;
      try {
        a = JSON.parse(line);
      } catch {
        continue; // the last line of a process that died while writing it
      }
      if (!Array.isArray(a) || a.length !== 7 || typeof a[0] !== 'number' || a[0] <= seq) continue;
      const e = { dev: a[1], ino: a[2], offset: a[3], fpLen: a[4], fp: a[5], path: a[6] } as unknown;
      if (!isEntry(e)) continue;
      out.set(fileKey(e.dev, e.ino), e);
      top = Math.max(top, a[0]);
    }
    this.seq = top;
    return out;
  }

  private ensureDir(): void {
    if (!this.dirMade) {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      this.dirMade = true;
    }
  }

  /**
   * The journal, opened for appending once. A process killed inside write(2) may have left a
   * torn last entry; it is ended with a newline first, so that the first entry this process
   * appends is a line of its own and not ignored with the torn one at the next load.
   */
  private openJournal(): number {
    if (this.journalFd === undefined) {
      const fd = openSync(this.journalFile, 'a+', 0o600);
      this.journalFd = fd;
      const size = fstatSync(fd).size;
      const last = Buffer.alloc(1);
      if (size > 0 && readSync(fd, last, 0, 1, size - 1) === 1 && last[0] !== 10) writeSync(fd, '\n');
    }
    return this.journalFd;
  }

  /** Appends the offsets an acknowledged batch moved. */
  journal(entries: readonly CheckpointEntry[]): void {
    if (entries.length === 0) return;
    const seq = ++this.seq;
    let text = '';
    for (const e of entries) text += `${JSON.stringify([seq, e.dev, e.ino, e.offset, e.fpLen, e.fp, e.path])}\n`;
    try {
      this.ensureDir();
      writeSync(this.openJournal(), text);
    } catch (err) {
      this.onError('checkpoint_write', err);
    }
  }

  /** Writes the whole set atomically and empties the journal; false when the write failed. */
  save(entries: readonly CheckpointEntry[]): boolean {
    const doc: Doc = { version: 1, seq: this.seq, files: [...entries] };
    const tmp = join(this.dir, '.checkpoints.json.tmp');
    try {
      this.ensureDir();
      const fd = openSync(tmp, 'w', 0o600);
      try {
        writeSync(fd, JSON.stringify(doc));
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, this.file);
      try {
        const d = openSync(this.dir, 'r');
        try {
          fsyncSync(d);
        } finally {
          closeSync(d);
        }
      } catch {
        // Directories cannot be fsync'd on every filesystem; the rename is done either way.
      }
    } catch (err) {
      this.onError('checkpoint_write', err);
      return false;
    }
    try {
      ftruncateSync(this.openJournal(), 0);
    } catch (err) {
      // Harmless: journal entries up to `seq` are ignored on load.
      this.onError('checkpoint_write', err);
    }
    return true;
  }

  close(): void {
    if (this.journalFd !== undefined) {
      try {
        closeSync(this.journalFd);
      } catch {
        // already closed
      }
      this.journalFd = undefined;
    }
  }
}
