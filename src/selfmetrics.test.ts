import { closeSync, openSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SelfMetrics } from './selfmetrics.js';

const value = async (self: SelfMetrics, name: string): Promise<number | undefined> =>
  (await self.families()).find((f) => f.name === name)?.samples[0]?.value;

describe.runIf(process.platform === 'linux')('lookout_process_open_fds', () => {
  it('counts the descriptors the process holds, as listing /proc/self/fd does', async () => {
    const self = new SelfMetrics('test');
    const before = await value(self, 'lookout_process_open_fds');
    const fds = Array.from({ length: 25 }, () => openSync('/proc/self/stat', 'r'));
    try {
      const during = await value(self, 'lookout_process_open_fds');
      expect(during).toBe(readdirSync('/proc/self/fd').length - 1);
      expect(during).toBe((before ?? NaN) + 25);
    } finally {
      for (const fd of fds) closeSync(fd);
    }
    expect(await value(self, 'lookout_process_open_fds')).toBe(before);
    // The rest of prom-client's process metrics stay, e.g. the limit the dashboard divides by.
    expect(await value(self, 'lookout_process_max_fds')).toBeGreaterThan(0);
  });
});
