import { describe, expect, it } from 'vitest';
import { negotiate, render } from './exposition.js';
import { Labels, metric, SnapshotBuilder } from './model.js';

const counter = metric({ name: 'x_seconds_total', type: 'counter', unit: 'seconds', help: 'A "counter"\nwith \\ escapes.', labels: ['cpu'], source: 'test' });
const gauge = metric({ name: 'x_bytes', type: 'gauge', unit: 'bytes', help: 'A gauge.', labels: [], source: 'test' });

function snapshot() {
  const b = new SnapshotBuilder(0, () => undefined);
  const t = new Labels([['id', '/docker/a'], ['name', 'we"ird\\na\nme']]);
  b.add(counter, t, 1.5, new Labels([['cpu', 'total']]));
  b.add(gauge, t, 1024);
  b.add(gauge, Labels.EMPTY, NaN);
  return b.build();
}

describe('exposition', () => {
  it('writes the text format with escaped labels and HELP', () => {
    expect(render(snapshot().families, 'text')).toBe(
      [
        '# HELP x_seconds_total A "counter"\\nwith \\\\ escapes.',
        '# TYPE x_seconds_total counter',
        'x_seconds_total{id="/docker/a",name="we\\"ird\\\\na\\nme",cpu="total"} 1.5',
        '# HELP x_bytes A gauge.',
        '# TYPE x_bytes gauge',
        'x_bytes{id="/docker/a",name="we\\"ird\\\\na\\nme"} 1024',
        'x_bytes NaN',
        '',
      ].join('\n'),
    );
  });

  it('writes OpenMetrics with counter families named without _total, UNIT where the name carries it, and # EOF', () => {
    const text = render(snapshot().families, 'openmetrics');
    expect(text).toContain('# TYPE x_seconds counter\n# UNIT x_seconds seconds\nx_seconds_total{');
    expect(text).toContain('# HELP x_seconds A \\"counter\\"');
    expect(text).toContain('# TYPE x_bytes gauge\n# UNIT x_bytes bytes\n');
    expect(text.endsWith('# EOF\n')).toBe(true);
  });

  it('a text render after an OpenMetrics render still names counters with _total', () => {
    const snap = snapshot();
    render(snap.families, 'openmetrics');
    expect(render(snap.families, 'text')).toContain('# TYPE x_seconds_total counter');
  });

  it('writes label values outside Latin-1 as UTF-8', () => {
    const b = new SnapshotBuilder(0, () => undefined);
    b.add(gauge, new Labels([['name', 'café-☕-日本']]), 1);
    expect(render(b.build().families, 'text')).toContain('x_bytes{name="café-☕-日本"} 1\n');
  });

  it('negotiates OpenMetrics only when asked, honouring q-values', () => {
    expect(negotiate(undefined)).toBe('text');
    expect(negotiate('text/plain;version=0.0.4')).toBe('text');
    expect(negotiate('application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1')).toBe('openmetrics');
    expect(negotiate('application/openmetrics-text;q=0.2,text/plain;q=0.9')).toBe('text');
  });
});
