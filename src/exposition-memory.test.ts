/** The exposition writer's memory behaviour: sized once ahead, no doubling near the end, buffers reused only once released. */
import { describe, expect, it } from 'vitest';
import { ExpositionWriter, render, writeFamilies } from './exposition.js';
import { Labels, metric, SnapshotBuilder } from './model.js';

const g = metric({ name: 'm_bytes', type: 'gauge', unit: 'bytes', help: 'A gauge.', labels: ['device'], source: 'test' });

function families(n: number, value = (i: number): number => i * 1.5) {
  const b = new SnapshotBuilder(0, () => undefined);
  const dev = new Labels([['device', 'vda']]);
  for (let i = 0; i < n; i++) b.add(g, new Labels([['id', `/system.slice/docker-${String(i).padStart(64, '0')}.scope`], ['name', `c${i}`], ['image', 'ünïcode/image']]), value(i), i % 2 ? dev : null);
  return b.build().families;
}

/** The writer's buffer, for the identity checks. */
const bufOf = (w: ExpositionWriter): Buffer => (w as unknown as { buf: Buffer }).buf;

describe('ExpositionWriter memory', () => {
  it('sizes a small writer once for the whole document, and what it writes is what render() gives', () => {
    const fams = families(2000);
    const w = new ExpositionWriter(1024);
    writeFamilies(fams, 'text', w);
    const text = w.toString();
    expect(text).toBe(render(fams, 'text'));
    // One allocation of about the document's size, not a chain of doublings ending at up to twice it.
    expect(bufOf(w).length).toBeGreaterThanOrEqual(w.length);
    expect(bufOf(w).length).toBeLessThan(w.length * 1.3);
  });

  it('does not double a buffer sized from the previous document for its last lines', () => {
    const fams = families(2000);
    const first = new ExpositionWriter(1024);
    writeFamilies(fams, 'text', first);
    const size = first.length;
    const w = new ExpositionWriter(size);
    writeFamilies(fams, 'text', w);
    expect(w.length).toBe(size);
    expect(bufOf(w).length).toBe(size);
    // Longer values than last time: grows by a quarter, not twice.
    const longer = new ExpositionWriter(size);
    writeFamilies(families(2000, (i) => i + 0.123456789), 'text', longer);
    expect(bufOf(longer).length).toBeLessThan(Math.max(size * 1.3, longer.length * 1.3));
    expect(longer.toString()).toBe(render(families(2000, (i) => i + 0.123456789), 'text'));
  });

  it('hands a released buffer to the next writer that fits, never one still in use', () => {
    const fams = families(500);
    const a = new ExpositionWriter(1 << 16);
    writeFamilies(fams, 'text', a);
    const expected = a.toString();
    const b = new ExpositionWriter(1 << 16);
    expect(bufOf(b)).not.toBe(bufOf(a));
    const held = bufOf(a);
    a.release();
    a.release();
    const c = new ExpositionWriter(1024);
    expect(bufOf(c)).toBe(held);
    // Taken once: the writer after that gets a buffer of its own.
    expect(bufOf(new ExpositionWriter(1024))).not.toBe(held);
    writeFamilies(fams, 'text', c);
    expect(c.toString()).toBe(expected);
  });
});
