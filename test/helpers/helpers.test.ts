/** The end-to-end helpers' own logic: the strict exposition parser, PromQL reading, availability. */
import { describe, expect, it } from 'vitest';
import { ExpositionError, one, parseExposition, select, value } from './exposition.js';
import { metricNames, ruleQueries, signalOf } from './promql.js';
import { all, requireOrSkip } from './require.js';

const TEXT = `# HELP container_cpu_usage_seconds_total Cumulative CPU time consumed, in seconds.
# TYPE container_cpu_usage_seconds_total counter
container_cpu_usage_seconds_total{id="/",image="",name="",cpu="total"} 516.19
container_cpu_usage_seconds_total{id="/docker/abc",image="busybox",name="a \\"quoted\\" \\\\ name\\nx",cpu="total"} 1e3
# HELP machine_cpu_cores Number of logical CPU cores.
# TYPE machine_cpu_cores gauge
machine_cpu_cores 2
# HELP h A histogram.
# TYPE h histogram
h_bucket{le="0.1"} 1
h_bucket{le="+Inf"} 2
h_sum 0.3
h_count 2
# HELP g A gauge.
# TYPE g gauge
g NaN
g{x="1"} +Inf 1700000000000
`;

describe('parseExposition (text 0.0.4)', () => {
  it('reads names, labels with escapes, values and timestamps', () => {
    const { samples, families } = parseExposition(TEXT);
    expect(samples).toHaveLength(9);
    expect(one(samples, 'container_cpu_usage_seconds_total', { id: '/docker/abc' }).labels['name']).toBe('a "quoted" \\ name\nx');
    expect(value(samples, 'container_cpu_usage_seconds_total', { id: '/docker/abc' })).toBe(1000);
    expect(value(samples, 'machine_cpu_cores')).toBe(2);
    expect(select(samples, 'h_bucket')).toHaveLength(2);
    expect(select(samples, 'g').find((s) => s.labels['x'] === undefined)?.value).toBeNaN();
    expect(one(samples, 'g', { x: '1' })).toEqual({ name: 'g', labels: { x: '1' }, value: Infinity, timestamp: 1700000000000 });
    expect(families.get('h')?.type).toBe('histogram');
    expect(families.get('machine_cpu_cores')?.help).toBe('Number of logical CPU cores.');
  });

  const bad: Array<[string, string]> = [
    ['an unknown comment', '# something else\n'],
    ['a blank line', 'a 1\n\nb 2\n'],
    ['a value that is not a number', 'a one\n'],
    ['a missing value', 'a{x="1"}\n'],
    ['an unterminated label value', 'a{x="1} 1\n'],
    ['a bad escape', 'a{x="\\t"} 1\n'],
    ['a repeated label', 'a{x="1",x="2"} 1\n'],
    ['a repeated series', 'a{x="1"} 1\na{x="1"} 2\n'],
    ['a second TYPE', '# TYPE a gauge\n# TYPE a gauge\na 1\n'],
    ['an unknown type', '# TYPE a meter\na 1\n'],
    ['metadata after its samples', '# TYPE a gauge\na 1\n# HELP a late\n'],
    ['a split family', '# TYPE a gauge\na{x="1"} 1\n# TYPE b gauge\nb 1\na{x="2"} 1\n'],
    ['a sample its type does not allow', '# TYPE a histogram\na 1\n'],
    ['UNIT in the text format', '# UNIT a_seconds seconds\n'],
    ['no final newline', 'a 1'],
    ['trailing garbage', 'a 1 2 3\n'],
  ];
  it.each(bad)('throws on %s', (_what, text) => {
    expect(() => parseExposition(text)).toThrow(ExpositionError);
  });
});

describe('parseExposition (OpenMetrics 1.0)', () => {
  const OM = `# HELP c_seconds Help with \\"quotes\\".
# TYPE c_seconds counter
# UNIT c_seconds seconds
c_seconds_total{a="1"} 5
# TYPE u unknown
u 1
# EOF
`;
  it('reads counters under their family name with _total samples, UNIT and EOF', () => {
    const { samples, families } = parseExposition(OM, 'openmetrics');
    expect(value(samples, 'c_seconds_total', { a: '1' })).toBe(5);
    expect(families.get('c_seconds')).toEqual({ type: 'counter', help: 'Help with "quotes".', unit: 'seconds' });
  });
  it.each([
    ['no # EOF', OM.replace('# EOF\n', '')],
    ['content after # EOF', `${OM}u 2\n`],
    ['a counter sample without _total', '# TYPE c counter\nc 1\n# EOF\n'],
    ['a sample without a TYPE', 'x 1\n# EOF\n'],
    ['a UNIT the family name does not end with', '# TYPE c_bytes gauge\n# UNIT c_bytes seconds\n# EOF\n'],
    ['an untyped type', '# TYPE u untyped\nu 1\n# EOF\n'],
  ])('throws on %s', (_what, text) => {
    expect(() => parseExposition(text, 'openmetrics')).toThrow(ExpositionError);
  });
});

describe('PromQL reading', () => {
  it('finds the metric names of an expression, not its functions, labels or keywords', () => {
    expect(
      metricNames('sum by (name) (rate(container_cpu_usage_seconds_total{image!="",container_label_x=""}[1m])) / scalar(count(node_cpu_seconds_total{mode="user"})) * 100'),
    ).toEqual(['container_cpu_usage_seconds_total', 'node_cpu_seconds_total']);
    expect(metricNames('machine_cpu_cores')).toEqual(['machine_cpu_cores']);
    expect(metricNames('up == 0')).toEqual(['up']);
    expect(metricNames('absent(container_memory_usage_bytes{name="jenkins"})')).toEqual(['container_memory_usage_bytes']);
    expect(metricNames('sum(irate(node_disk_read_bytes_total[5m])) > 1e6')).toEqual(['node_disk_read_bytes_total']);
  });
  it('takes the condition off an alert expression', () => {
    expect(signalOf('absent(container_memory_usage_bytes{name="jenkins"})')).toBe('container_memory_usage_bytes{name="jenkins"}');
    expect(signalOf('sum(container_memory_usage_bytes{name="jenkins"}) > 1200000000')).toBe('sum(container_memory_usage_bytes{name="jenkins"})');
    expect(signalOf('scalar(count(x) > 0)')).toBe('scalar(count(x) > 0)');
  });
  it('reads the rules of a rule file', () => {
    expect(ruleQueries('groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up == 0\n')).toEqual([{ source: 'alert A', expr: 'up == 0', kind: 'alert' }]);
  });
});

describe('requireOrSkip', () => {
  it('is usable when the check passes', async () => {
    expect(await requireOrSkip('thing', async () => undefined, {})).toEqual({ what: 'thing', ok: true, reason: '' });
  });
  it('skips with a one-line reason when the check fails', async () => {
    const said: string[] = [];
    const a = await requireOrSkip('thing', async () => {
      throw new Error('not here\nat all');
    }, {}, (l) => said.push(l));
    expect(a).toEqual({ what: 'thing', ok: false, reason: 'not here | at all' });
    expect(said).toEqual(['[e2e] skipping: thing not usable: not here | at all\n']);
    expect(all({ what: 'x', ok: true, reason: '' }, a)).toBe(a);
  });
  it('fails instead of skipping when LOOKOUT_REQUIRE_E2E=1', async () => {
    await expect(requireOrSkip('thing', async () => 'no socket', { LOOKOUT_REQUIRE_E2E: '1' }, () => undefined)).rejects.toThrow(/thing is required \(LOOKOUT_REQUIRE_E2E=1\) but not usable: no socket/);
  });
});
