import { describe, expect, it } from 'vitest';
import { compareTime, parseLogTime, recordTime, timeNs } from './logs.js';
import { Labels } from './model.js';

describe('log record times to the nanosecond', () => {
  it('parses RFC 3339 exactly, with any fraction and offset', () => {
    expect(parseLogTime('2026-11-25T01:04:27.710798097Z')).toEqual({ seconds: 1795568667, nanos: 710798097 });
    expect(parseLogTime('2026-11-25T01:04:27Z')).toEqual({ seconds: 1795568667, nanos: 0 });
    expect(parseLogTime('2026-11-25T01:04:27.5Z')).toEqual({ seconds: 1795568667, nanos: 500000000 });
    expect(parseLogTime('2026-11-25T01:04:27.0000000019Z')).toEqual({ seconds: 1795568667, nanos: 1 }); // past the ninth digit: cut
    expect(parseLogTime('2026-11-25T03:34:27.000000001+02:30')).toEqual({ seconds: 1795568667, nanos: 1 });
    expect(parseLogTime('2026-11-24T23:04:27.000000001-02:00')).toEqual({ seconds: 1795568667, nanos: 1 });
    expect(parseLogTime('1970-01-01T00:00:00.000000001Z')).toEqual({ seconds: 0, nanos: 1 });
    for (const bad of ['', 'yesterday', '2026-11-25 01:04', '2026-13-25T01:04:27Z', '2026-11-25T01:04:27', '2026-11-25T25:04:27Z']) expect(parseLogTime(bad), bad).toBeUndefined();
  });

  it('prints nanoseconds since the epoch exactly, where a float cannot', () => {
    expect(timeNs({ seconds: 1795568667, nanos: 710798097 })).toBe('1795568667710798097');
    expect(timeNs({ seconds: 1795568667, nanos: 7 })).toBe('1795568667000000007');
    expect(timeNs({ seconds: 0, nanos: 7 })).toBe('7');
    expect(timeNs({ seconds: -1, nanos: 500000000 })).toBe('-500000000');
    expect(String(1795568667710798097)).not.toBe('1795568667710798097');
  });

  it('orders times, and falls back to the encoding time for a record without one', () => {
    expect(compareTime({ seconds: 1, nanos: 2 }, { seconds: 1, nanos: 3 })).toBeLessThan(0);
    expect(compareTime({ seconds: 2, nanos: 0 }, { seconds: 1, nanos: 999999999 })).toBeGreaterThan(0);
    expect(recordTime({ time: 'garbage', stream: 'stdout', message: '', labels: Labels.EMPTY }, 1_795_568_667_123.25)).toEqual({ seconds: 1795568667, nanos: 123250000 });
  });
});
