/**
 * Container logs with the real Docker engine and the built agent: a container writes a
 * numbered sequence of lines with `--log-opt max-size=64k --log-opt max-file=3`, so that
 * its log rotates many times, while the agent (`lookout run --log-output-file OUT`) is
 * killed with SIGKILL and started again: every number must arrive in OUT, in order, with
 * duplicates only from the batch in flight at each kill; lines of 40 KiB arrive whole.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { CLI, type CliProcess, ensureBuilt, killAll, startCli } from '../helpers/cli.js';
import { docker, dockerUsable, useContainers } from '../helpers/docker.js';
import { describeWith, requireOrSkip } from '../helpers/require.js';
import { sleep, waitFor } from '../helpers/util.js';

const avail = await requireOrSkip('Docker', dockerUsable);

/** Lines the container writes; every 1000th (from 500) is 40 KiB long. */
const N = 5000;
const BIG = 40 * 1024;
const KILLS = 4;
/** batch_max_lines' default: what one batch in flight can repeat. */
const BATCH = 2000;

interface Out {
  readonly message: string;
  readonly source?: string;
  readonly labels: Record<string, string>;
}

describeWith(avail, 'container logs from the Docker engine, across rotations and SIGKILLs', () => {
  const pool = useContainers();
  let dir = '';

  beforeAll(async () => {
    const how = await ensureBuilt();
    process.stderr.write(`[e2e] ${CLI}: ${how}\n`);
    dir = mkdtempSync(join(tmpdir(), 'lookout-e2e-logs-'));
  }, 180_000);
  afterEach(() => killAll());
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function agent(out: string): CliProcess {
    return startCli(['run', '--listen', '127.0.0.1:0', '--state-dir', join(dir, 'state'), '--log-output-file', out, '--log-level', 'info']);
  }

  /** Waits until the agent says it is following the logs (starting takes seconds on a loaded machine). */
  async function following(a: CliProcess): Promise<void> {
    await waitFor('the agent following logs', () => (a.stderr().includes('following container logs') ? true : undefined), 30_000, 50);
  }

  function read(out: string, id: string): Out[] {
    let text = '';
    try {
      text = readFileSync(out, 'utf8');
    } catch {
      return [];
    }
    const recs: Out[] = [];
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const r = JSON.parse(line) as Out;
      if (r.source?.includes(id)) recs.push(r);
    }
    return recs;
  }

  it('every number arrives in order, duplicates only from the batch in flight at a kill, 40 KiB lines whole', async () => {
    const out = join(dir, 'out.jsonl');
    let a = agent(out);
    await following(a);
    // 25 lines per 0.1 s (~20 KB/s of json-file): a rotation every 3 s or so, and 3 files
    // kept: lines stay on disk about 9 s, longer than the agent takes to start again.
    const sh = [
      'i=0',
      `while [ $i -lt ${N} ]; do`,
      `  if [ $((i % 1000)) -eq 500 ]; then printf "%d " $i; head -c ${BIG} /dev/zero | tr "\\0" x; echo;`,
      '  else echo "$i the quick brown fox jumps over the lazy dog"; fi',
      '  i=$((i+1))',
      '  if [ $((i % 25)) -eq 0 ]; then sleep 0.1; fi',
      'done',
    ].join('\n');
    const c = await pool.run({ prefix: 'logs', flags: ['--log-opt', 'max-size=64k', '--log-opt', 'max-file=3'], sh });
    const kills: number[] = [];
    for (let k = 0; k < KILLS; k++) {
      await sleep(500 + Math.random() * 2500);
      kills.push(read(out, c.id).length);
      a.child.kill('SIGKILL');
      await a.exited;
      a = agent(out);
      await following(a);
    }
    await docker(['wait', c.name], 120_000);
    const last = `${N - 1} the quick brown fox jumps over the lazy dog`;
    await waitFor('the last line in the output', () => (read(out, c.id).some((r) => r.message === last) ? true : undefined), 60_000, 250);
    a.child.kill('SIGTERM');
    const exit = await a.exited;
    expect(exit.code, a.stderr()).toBe(0);

    const recs = read(out, c.id);
    const nums = recs.map((r) => Number.parseInt(r.message, 10));
    // Every number, whole.
    const seen = new Set(nums);
    const missing = Array.from({ length: N }, (_, i) => i).filter((i) => !seen.has(i));
    expect(missing, `missing numbers (kills after ${kills.join(', ')} records)`).toEqual([]);
    for (const r of recs) {
      const i = Number.parseInt(r.message, 10);
      if (i % 1000 === 500) expect(r.message).toBe(`${i} ${'x'.repeat(BIG)}`);
      else expect(r.message).toBe(`${i} the quick brown fox jumps over the lazy dog`);
    }
    // In order: each number follows the one before, except where a restart sent again what
    // was in flight at a kill (a step back of at most one batch).
    const back: Array<[number, number]> = [];
    for (let j = 1; j < nums.length; j++) {
      const prev = nums[j - 1] as number;
      const cur = nums[j] as number;
      if (cur === prev + 1) continue;
      expect(cur, `record ${j}: ${cur} after ${prev}`).toBeLessThanOrEqual(prev);
      back.push([prev, cur]);
    }
    expect(back.length, `steps back: ${JSON.stringify(back)}`).toBeLessThanOrEqual(KILLS);
    for (const [prev, cur] of back) expect(prev - cur + 1).toBeLessThanOrEqual(BATCH);
    expect(nums.length - N).toBeLessThanOrEqual(KILLS * BATCH);
    // Labels as on the container's metric series.
    expect(recs[recs.length - 1]?.labels['name']).toBe(c.name);
    expect(recs[recs.length - 1]?.labels['image']).toBe('lookout-busybox');
    process.stderr.write(`[e2e] logs: ${nums.length} records for ${N} lines, ${nums.length - N} repeated after ${KILLS} kills; steps back ${JSON.stringify(back)}\n`);
  }, 180_000);
});
