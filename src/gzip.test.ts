/** Chunked gzip: one valid gzip member whatever the chunking, read back by zlib (which checks the CRC-32 and the length). */
import { execFileSync } from 'node:child_process';
import { gunzipSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CHUNK_BYTES, ExpositionWriter, render, writeEnd, writeFamilies } from './exposition.js';
import { ParallelGzip } from './gzip.js';
import { Labels, metric, SnapshotBuilder } from './model.js';

async function gzipInChunks(parts: readonly Buffer[], level = 1): Promise<{ gz: Buffer; recycled: number }> {
  const g = new ParallelGzip(level);
  let recycled = 0;
  parts.forEach((p, i) => g.write(p, i === parts.length - 1, () => recycled++));
  return { gz: await g.result(), recycled };
}

const g = metric({ name: 'container_memory_usage_bytes', type: 'gauge', unit: 'bytes', help: 'Memory "usage"\\.', labels: [], source: 'test' });

function families(n: number, long = '') {
  const b = new SnapshotBuilder(0, () => undefined);
  for (let i = 0; i < n; i++) {
    b.add(g, new Labels([['id', `/system.slice/docker-${String(i).padStart(64, '0')}.scope`], ['name', `web-${i}${i === 7 ? long : ''}`], ['image', 'ünïcode/image:1']]), i * 4096.5, null);
  }
  return b.build().families;
}

describe('ParallelGzip', () => {
  it('gives what gunzip reads back as the concatenated chunks, for any chunking (empty chunks and an empty last one included)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 3000 }), { minLength: 1, maxLength: 12 }), fc.integer({ min: 0, max: 9 }), async (arrays, level) => {
        const parts = arrays.map((a) => Buffer.from(a));
        const { gz, recycled } = await gzipInChunks(parts, level);
        expect(gunzipSync(gz).equals(Buffer.concat(parts))).toBe(true);
        expect(recycled).toBe(parts.length);
      }),
      { numRuns: 300 },
    );
  });

  it('is read by the gzip command line tool too, with the CRC it checks', async () => {
    const text = Buffer.from(render(families(3000), 'text'));
    const parts: Buffer[] = [];
    for (let off = 0; off < text.length; off += 64 * 1024) parts.push(text.subarray(off, off + 64 * 1024));
    const { gz } = await gzipInChunks(parts);
    expect(execFileSync('gzip', ['-t', '-v'], { input: gz, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] })).toBeDefined();
    expect(execFileSync('gzip', ['-dc'], { input: gz }).equals(text)).toBe(true);
  });

  it('keeps chunks past the threadpool waiting, uncompressed, until room() says none waits; a writer that never waits still gets its document', async () => {
    const text = Buffer.from(render(families(4000), 'text'));
    const parts: Buffer[] = [];
    for (let off = 0; off < text.length; off += 16 * 1024) parts.push(text.subarray(off, off + 16 * 1024));
    expect(parts.length).toBeGreaterThan(40);
    const paced = new ParallelGzip(1);
    let recycled = 0;
    for (let i = 0; i < 10; i++) paced.write(parts[i] as Buffer, false, () => recycled++);
    // At most 4 on the threadpool; the rest wait, none compressed on this thread.
    expect(paced.backlog).toBeGreaterThanOrEqual(6);
    expect(recycled).toBe(0);
    await paced.room();
    expect(paced.backlog).toBe(0);
    for (let i = 10; i < parts.length; i++) {
      paced.write(parts[i] as Buffer, i === parts.length - 1, () => recycled++);
      await paced.room();
    }
    expect(gunzipSync(await paced.result()).equals(text)).toBe(true);
    expect(recycled).toBe(parts.length);
    // Never waiting: past 16 waiting chunks, the writer's thread compresses (bounded memory).
    const { gz, recycled: all } = await gzipInChunks(parts);
    expect(gunzipSync(gz).equals(text)).toBe(true);
    expect(all).toBe(parts.length);
  });

  it('refuses a result before the last chunk and a chunk after it', async () => {
    const gz = new ParallelGzip(1);
    gz.write(Buffer.from('a'), false, () => undefined);
    await expect(gz.result()).rejects.toThrow(/before the last chunk/);
    gz.write(Buffer.from('b'), true, () => undefined);
    expect(() => gz.write(Buffer.from('c'), true, () => undefined)).toThrow(/after the last chunk/);
    expect(gunzipSync(await gz.result()).toString()).toBe('ab');
  });
});

describe('ExpositionWriter with a gzip sink', () => {
  it('streams the same document render() gives, in fixed chunks, at most 1% larger than one gzip stream', async () => {
    // A label longer than a chunk must still be written whole.
    for (const fams of [families(6000), families(50, 'x'.repeat(CHUNK_BYTES + 17))]) {
      const gz = new ParallelGzip(1);
      const w = new ExpositionWriter(gz);
      writeFamilies(fams, 'openmetrics', w);
      writeEnd('openmetrics', w);
      const length = w.length;
      w.end();
      const out = await gz.result();
      const text = render(fams, 'openmetrics');
      expect(gunzipSync(out).toString('utf8')).toBe(text);
      expect(length).toBe(Buffer.byteLength(text));
      expect(out.length).toBeLessThan(gzipSync(text, { level: 1 }).length * 1.01 + 64);
    }
  });

  it('has no single buffer to give: the text went to the sink', () => {
    const w = new ExpositionWriter(new ParallelGzip(1));
    w.put('x');
    expect(() => w.toBuffer()).toThrow(/sink/);
  });
});
