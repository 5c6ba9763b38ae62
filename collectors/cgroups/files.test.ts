import * as fs from 'node:fs';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { CachedFile, FileReader } from './files.js';

// readSync is wrapped so a test can make one read fail the way a kept descriptor of a removed
// cgroup does (ENODEV), which no regular file can do. Every other call goes to the real one.
vi.mock('node:fs', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs')>();
  return { ...actual, readSync: vi.fn(actual.readSync) };
});

const dir = mkdtempSync(join(tmpdir(), 'lookout-files-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => vi.mocked(fs.readSync).mockClear());

let n = 0;
function file(content: string | Buffer): string {
  const p = join(dir, `f${n++}`);
  writeFileSync(p, content);
  return p;
}

function enodev(): NodeJS.ErrnoException {
  return Object.assign(new Error('ENODEV: no such device, read'), { code: 'ENODEV', errno: -19, syscall: 'read' });
}

/** The real descriptors of this process. */
const fds = (): number => readdirSync('/proc/self/fd').length;

describe('FileReader', () => {
  it('reads a file and keeps its descriptor for the next read, which sees new content', () => {
    const r = new FileReader(100, () => 0);
    const p = file('1024\n');
    const f = new CachedFile(p);
    expect(r.read(f)).toBe('1024\n');
    const fd = f.fd;
    expect(fd).toBeGreaterThanOrEqual(0);
    expect(r.open).toBe(1);
    writeFileSync(p, '2048\n'); // same inode, rewritten, as the kernel regenerates a cgroup file
    expect(r.read(f)).toBe('2048\n');
    expect(f.fd).toBe(fd);
    expect(r.open).toBe(1);
    expect(r.vanished).toBe(false);
    expect(r.reopened).toBe(false);
    r.close(f);
  });

  it('caches a missing file as missing for 30 s of the injected clock, then looks again', () => {
    let now = 1_000_000;
    const r = new FileReader(100, () => now);
    const p = join(dir, 'appears-later');
    const f = new CachedFile(p);
    expect(r.read(f)).toBeUndefined();
    expect(f.missingAt).toBe(1_000_000);
    expect(r.open).toBe(0);
    writeFileSync(p, 'max\n');
    now += 29_999;
    expect(r.read(f)).toBeUndefined();
    now += 1;
    expect(r.read(f)).toBe('max\n');
    expect(f.missingAt).toBe(0);
    expect(r.open).toBe(1);
    // A missing file is not a vanished cgroup: the flag is for kept descriptors that die.
    expect(r.vanished).toBe(false);
    r.close(f);
  });

  it('reopens by path when a kept descriptor reports ENODEV (the cgroup was removed and created again)', () => {
    const r = new FileReader(100, () => 0);
    const p = file('old\n');
    const f = new CachedFile(p);
    expect(r.read(f)).toBe('old\n');
    const before = fds();
    rmSync(p);
    writeFileSync(p, 'new\n'); // a new inode at the same path
    vi.mocked(fs.readSync).mockImplementationOnce(() => {
      throw enodev();
    });
    expect(r.read(f)).toBe('new\n');
    expect(r.reopened).toBe(true);
    expect(r.vanished).toBe(false);
    expect(r.open).toBe(1);
    expect(fds()).toBe(before); // the old descriptor was closed, not leaked
    r.close(f);
  });

  it('calls the cgroup vanished when the kept descriptor reports ENODEV and the path is gone', () => {
    const r = new FileReader(100, () => 0);
    const p = file('x\n');
    const f = new CachedFile(p);
    r.read(f);
    rmSync(p);
    vi.mocked(fs.readSync).mockImplementationOnce(() => {
      throw enodev();
    });
    expect(r.read(f)).toBeUndefined();
    expect(r.vanished).toBe(true);
    expect(f.fd).toBe(-1);
    expect(r.open).toBe(0);
  });

  it('calls it vanished when the reopened file fails with ENODEV too', () => {
    const r = new FileReader(100, () => 0);
    const f = new CachedFile(file('x\n'));
    r.read(f);
    vi.mocked(fs.readSync)
      .mockImplementationOnce(() => {
        throw enodev();
      })
      .mockImplementationOnce(() => {
        throw enodev();
      });
    expect(r.read(f)).toBeUndefined();
    expect(r.vanished).toBe(true);
    expect(r.open).toBe(0);
  });

  it('throws errors other than a vanished file (EISDIR here) for the caller to count', () => {
    const r = new FileReader(100, () => 0);
    const d = join(dir, 'a-directory');
    mkdirSync(d);
    const f = new CachedFile(d);
    expect(() => r.read(f)).toThrow(expect.objectContaining({ code: 'EISDIR' }));
    r.close(f);
    expect(r.open).toBe(0);
  });

  it('grows its buffer for a file larger than 64 KiB and reads it whole', () => {
    const r = new FileReader(100, () => 0);
    const pids = Array.from({ length: 40_000 }, (_, i) => `${100_000 + i}\n`).join(''); // 280,000 bytes
    const f = new CachedFile(file(pids));
    expect(r.read(f)).toBe(pids);
    // Exactly one buffer long: a full read must not be taken for the whole file.
    const exact = 'y'.repeat(64 * 1024);
    const g = new CachedFile(file(exact));
    expect(r.read(g)).toBe(exact);
    // And a small file after the big ones is not padded with their leftovers.
    const h = new CachedFile(file('7\n'));
    expect(r.read(h)).toBe('7\n');
    for (const x of [f, g, h]) r.close(x);
  });

  it('keeps at most max_open_files descriptors open and closes the rest after each read', () => {
    const r = new FileReader(2, () => 0);
    const files = Array.from({ length: 5 }, (_, i) => new CachedFile(file(`${i}\n`)));
    const before = fds();
    expect(files.map((f) => r.read(f))).toEqual(['0\n', '1\n', '2\n', '3\n', '4\n']);
    expect(r.open).toBe(2);
    expect(fds() - before).toBe(2);
    expect(files.map((f) => f.fd >= 0)).toEqual([true, true, false, false, false]);
    // Files past the cap are opened and closed on every read, and still read right.
    writeFileSync(files[4]!.path, 'four\n');
    expect(r.read(files[4]!)).toBe('four\n');
    expect(r.open).toBe(2);
    expect(fds() - before).toBe(2);
    for (const f of files) r.close(f);
    expect(r.open).toBe(0);
    expect(fds()).toBe(before);
  });

  it('max_open_files 0 keeps no descriptor at all', () => {
    const r = new FileReader(0, () => 0);
    const before = fds();
    const f = new CachedFile(file('z\n'));
    expect(r.read(f)).toBe('z\n');
    expect(r.read(f)).toBe('z\n');
    expect(r.open).toBe(0);
    expect(f.fd).toBe(-1);
    expect(fds()).toBe(before);
  });

  it('close is safe twice and on a file never opened', () => {
    const r = new FileReader(10, () => 0);
    const f = new CachedFile(file('1\n'));
    r.close(f);
    r.read(f);
    r.close(f);
    r.close(f);
    expect(r.open).toBe(0);
  });
});

describe('keptFileBudget', () => {
  it('never takes more than three quarters of the open-files limit, nor leaves less than 2048 free', async () => {
    const { keptFileBudget, openFileLimit } = await import('./files.js');
    expect(keptFileBudget(50000, 20000)).toBe(15000);
    expect(keptFileBudget(50000, 4096)).toBe(2048);
    expect(keptFileBudget(50000, 1024)).toBe(0);
    expect(keptFileBudget(1000, 1048576)).toBe(1000);
    expect(keptFileBudget(50000, undefined)).toBe(50000);
    expect(openFileLimit()).toBeGreaterThan(0);
  });
});
