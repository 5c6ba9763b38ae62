/**
 * The live page at `/` in a real headless Chromium (Debian's, driven by playwright-core): it
 * loads, lists a real running container with its memory limit and its recent log lines, and
 * updates. A screenshot is saved under test-results/.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { chromium } from 'playwright-core';
import { useAgent } from '../helpers/agent.js';
import { dockerUsable, useContainers } from '../helpers/docker.js';
import { all, describeWith, requireOrSkip } from '../helpers/require.js';

const CHROMIUM = process.env['LOOKOUT_E2E_CHROMIUM'] ?? '/usr/bin/chromium';
const avail = all(
  await requireOrSkip('Docker', dockerUsable),
  await requireOrSkip('Chromium', async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`no ${CHROMIUM} (apt-get install chromium)`);
  }),
);

describeWith(avail, 'the live page in headless Chromium', () => {
  const pool = useContainers();
  // A log destination, so that the logs collector reads and the page has recent lines to show.
  const dir = mkdtempSync(join(tmpdir(), 'lookout-e2e-page-'));
  const agent = useAgent({ collect: { min_interval: '100ms' }, exporters: { file: { path: join(dir, 'logs.jsonl') } } });
  beforeAll(async () => {
    await agent.start();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('lists a running container with its memory limit and recent log lines, and updates', async () => {
    const c = await pool.run({ prefix: 'page', flags: ['--memory', '64m', '--cpus', '0.5'], sh: 'echo "page-hello <b>not bold</b>"; echo "page-oops" >&2; while :; do :; done' });
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 700 } });
      await page.goto(`${agent.get().url}/`);
      const row = page.locator(`tr:has(td:text-is("${c.name}"))`);
      await row.waitFor({ timeout: 15_000 });
      await expect.poll(async () => (await row.locator('td').nth(3).textContent()) ?? '', { timeout: 10_000 }).toContain('/ 64.0 MiB');
      // CPU becomes a number once two snapshots are apart, and the page keeps refreshing.
      await expect.poll(async () => Number((await row.locator('td').nth(2).textContent())?.split(' / ')[0]), { timeout: 15_000 }).toBeGreaterThan(0.2);
      // Its last log lines, below its row, escaped (no <b> element made of the log text).
      const logs = page.locator(`tr.logs[data-logs-of="${await row.getAttribute('data-id')}"]`);
      await expect.poll(async () => (await logs.textContent()) ?? '', { timeout: 15_000 }).toContain('page-hello <b>not bold</b>');
      expect(await logs.locator('b').count()).toBe(0);
      expect(await logs.locator('.stderr').textContent()).toContain('page-oops');
      const t1 = await page.locator('#updated').getAttribute('data-time');
      await expect.poll(async () => page.locator('#updated').getAttribute('data-time'), { timeout: 10_000 }).not.toBe(t1);
      mkdirSync('test-results', { recursive: true });
      await page.screenshot({ path: 'test-results/page.png' });
    } finally {
      await browser.close();
    }
  }, 60_000);
});
