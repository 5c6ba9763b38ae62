/**
 * Fault runs against the real Docker engine, beyond what other files cover (see
 * docs/reliability.md for the whole list: push destinations down and back are in
 * exporters-*.test.ts, dockerd restarting in runtime.test.ts, SIGKILLs at random moments
 * across rotations in logs.test.ts):
 *
 * - a SIGKILL that tears a write: the output file ends in part of a record and the
 *   checkpoint journal in part of an entry, a temporary checkpoint file is left behind;
 *   the restarted agent loses no line, and every other line of the output parses;
 * - the state directory's disk full (a small tmpfs): the agent keeps running and serving,
 *   counts and logs the checkpoint write failures, and checkpoints again once space returns;
 * - the memory budget exceeded: the agent keeps serving, pauses log reading (nothing lost)
 *   and says so in its metrics; the held lines arrive once the budget lets go.
 */
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync, writeSync, openSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { Agent } from '../../src/agent.js';
import { validate } from '../../src/config.js';
import { CLI, type CliProcess, ensureBuilt, killAll, startCli } from '../helpers/cli.js';
import { docker, dockerUsable, exec, useContainers } from '../helpers/docker.js';
import { parseExposition, select, value } from '../helpers/exposition.js';
import { all, describeWith, requireOrSkip } from '../helpers/require.js';
import { freePort, sleep, waitFor } from '../helpers/util.js';
import { captureLog } from './exporters-support.js';

const dockerAvail = await requireOrSkip('Docker', dockerUsable);
const rootAvail = await requireOrSkip('root (mount -t tmpfs)', async () => {
  if (process.getuid?.() !== 0) return 'not running as root';
  const r = await exec('mount', ['--version']).catch((err: Error) => ({ code: -1, stdout: '', stderr: err.message }));
  return r.code === 0 ? '' : `mount: ${r.stderr.trim()}`;
});

/** batch_max_lines' default: what one batch in flight can repeat. */
const BATCH = 2000;

interface Out {
  readonly message: string;
  readonly source?: string;
}

/** The records of container `id` in the JSON-lines output, and the lines that do not parse. */
function read(out: string, id: string): { recs: Out[]; bad: string[] } {
  let text = '';
  try {
    text = readFileSync(out, 'utf8');
  } catch {
    return { recs: [], bad: [] };
  }
  const recs: Out[] = [];
  const bad: string[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let r: Out;
    try {
      r = JSON.parse(line) as Out;
    } catch {
      bad.push(line.slice(0, 120));
      continue;
    }
    if (r.source?.includes(id)) recs.push(r);
  }
  return { recs, bad };
}

/** Numbers 0..n-1 missing from the records' leading numbers. */
function missing(recs: readonly Out[], n: number): number[] {
  const seen = new Set(recs.map((r) => Number.parseInt(r.message, 10)));
  return Array.from({ length: n }, (_, i) => i).filter((i) => !seen.has(i));
}

/** A container that prints `N` numbered lines, `per` of them every 0.1 s. */
function counting(n: number, per: number): string {
  return [`i=0`, `while [ $i -lt ${n} ]; do`, '  echo "$i the quick brown fox jumps over the lazy dog"', '  i=$((i+1))', `  if [ $((i % ${per})) -eq 0 ]; then sleep 0.1; fi`, 'done'].join('\n');
}

async function metricsOf(base: string): Promise<ReturnType<typeof parseExposition>> {
  const res = await fetch(`${base}/metrics`, { headers: { accept: 'text/plain;version=0.0.4' }, signal: AbortSignal.timeout(10_000) });
  expect(res.status).toBe(200);
  return parseExposition(await res.text());
}

describeWith(dockerAvail, 'faults: a SIGKILL that tears the output file and the checkpoint journal', () => {
  const pool = useContainers();
  let dir = '';

  beforeAll(async () => {
    const how = await ensureBuilt();
    process.stderr.write(`[e2e] ${CLI}: ${how}\n`);
    dir = mkdtempSync(join(tmpdir(), 'lookout-e2e-faults-'));
  }, 180_000);
  afterEach(() => killAll());
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function following(a: CliProcess): Promise<void> {
    await waitFor('the agent following logs', () => (a.stderr().includes('following container logs') ? true : undefined), 30_000, 50);
  }

  const TORN = '{"time":"2026-01-01T00:00:00.000000000Z","stream":"stdout","message":"torn by SIGKIL';

  /**
   * Runs a container printing N numbered lines; SIGKILLs the agent after 300 are out, leaves
   * what a kill inside a write leaves, restarts it, and returns the output once the last line
   * is in. A fatal signal ends a regular-file write(2) between pages, so a kill in the middle
   * of a batch leaves part of it; a kill while the journal or a full checkpoint is written
   * leaves part of an entry, or the temporary file.
   */
  async function killTornRestart(name: string, tearOutput: boolean): Promise<{ recs: Out[]; bad: string[]; before: number }> {
    const N = 3000;
    const out = join(dir, `${name}.jsonl`);
    const state = join(dir, `state-${name}`);
    const run = (): CliProcess => startCli(['run', '--listen', '127.0.0.1:0', '--state-dir', state, '--log-output-file', out, '--log-level', 'info']);
    let a = run();
    await following(a);
    const c = await pool.run({ prefix: name, sh: counting(N, 50) });
    await waitFor('some records delivered', () => (read(out, c.id).recs.length >= 300 ? true : undefined), 30_000, 50);
    a.child.kill('SIGKILL');
    await a.exited;
    const before = read(out, c.id).recs.length;
    if (tearOutput) appendFileSync(out, TORN);
    appendFileSync(join(state, 'logs', 'checkpoints.journal'), '[999999,1,2,');
    writeFileSync(join(state, 'logs', '.checkpoints.json.tmp'), '{"version":1,"seq":12,"fi');
    a = run();
    await following(a);
    await docker(['wait', c.name], 120_000);
    const last = `${N - 1} the quick brown fox jumps over the lazy dog`;
    await waitFor('the last line in the output', () => (read(out, c.id).recs.some((r) => r.message === last) ? true : undefined), 60_000, 250);
    a.child.kill('SIGTERM');
    expect((await a.exited).code, a.stderr()).toBe(0);
    await pool.remove(c);
    const got = read(out, c.id);
    expect(missing(got.recs, N), `missing numbers (kill after ${before} records)`).toEqual([]);
    expect(got.recs.length - N, 'repeated records').toBeLessThanOrEqual(BATCH);
    return { ...got, before };
  }

  it('a torn checkpoint journal entry and a leftover temporary checkpoint: no line lost, duplicates within one batch', async () => {
    const { bad } = await killTornRestart('journal', false);
    expect(bad, 'lines that do not parse').toEqual([]);
  }, 120_000);

  it('a torn record at the end of the output file: no line lost, only the torn line unreadable', async () => {
    const { bad } = await killTornRestart('output', true);
    expect(bad, 'lines that do not parse').toEqual([TORN]);
  }, 120_000);
});

describeWith(all(dockerAvail, rootAvail), 'faults: the state directory\'s disk full, then space again', () => {
  const pool = useContainers();
  let dir = '';
  let mnt = '';
  let mounted = false;
  let agent: Agent | undefined;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'lookout-e2e-full-'));
    mnt = join(dir, 'state');
    mkdirSync(mnt);
  });
  afterAll(async () => {
    await agent?.stop(3000);
    if (mounted) await exec('umount', ['-l', mnt]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it('keeps running and serving, counts and logs checkpoint write failures, and checkpoints once space returns', async () => {
    const m = await exec('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=0700', 'lookout-e2e-full', mnt]);
    expect(m.code, m.stderr).toBe(0);
    mounted = true;
    // Fill it: one file takes every block.
    const filler = join(mnt, 'filler');
    const fd = openSync(filler, 'w');
    try {
      for (;;) writeSync(fd, Buffer.alloc(4096, 1));
    } catch (err) {
      expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC');
    } finally {
      closeSync(fd);
    }

    const out = join(dir, 'out.jsonl');
    const cap = captureLog('info');
    const config = validate(
      {
        state_dir: mnt,
        server: { listen: '127.0.0.1:0' },
        collect: { min_interval: '0s' },
        collectors: { logs: { checkpoint_interval: '200ms' } },
        exporters: { file: { path: out } },
      },
      'faults test',
    );
    agent = await Agent.start(config, { log: cap.log });
    const base = `http://${agent.address}`;
    const N = 400;
    const c = await pool.run({ prefix: 'full', sh: `${counting(N, 20)}; sleep 1000` });
    await waitFor('lines delivered with the state directory full', () => (read(out, c.id).recs.length >= 100 ? true : undefined), 30_000, 100);

    const failing = await metricsOf(base);
    const errs = value(failing.samples, 'lookout_log_errors_total', { kind: 'checkpoint_write' });
    expect(errs, 'checkpoint write failures counted').toBeGreaterThan(0);
    expect(cap.text()).toMatch(/"kind":"checkpoint_write".*ENOSPC/);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect(select(failing.samples, 'lookout_collections_total')[0]?.value).toBeGreaterThan(0);
    expect(existsSync(join(mnt, 'logs', 'checkpoints.json'))).toBe(false);

    // Space again: the next full write goes through and records the container's file.
    unlinkSync(filler);
    const saved = await waitFor('a checkpoint with the container\'s log file', () => {
      const f = join(mnt, 'logs', 'checkpoints.json');
      if (!existsSync(f)) return undefined;
      const doc = JSON.parse(readFileSync(f, 'utf8')) as { files: Array<{ path: string; offset: number }> };
      return doc.files.find((e) => e.path.includes(c.id) && e.offset > 0);
    }, 15_000, 100);
    expect(saved.offset).toBeGreaterThan(0);
    await waitFor('every line delivered', () => (missing(read(out, c.id).recs, N).length === 0 ? true : undefined), 30_000, 200);
    // No new failures once there is room, and the checkpoint keeps moving with the file.
    const after = value((await metricsOf(base)).samples, 'lookout_log_errors_total', { kind: 'checkpoint_write' });
    await sleep(1000);
    expect(value((await metricsOf(base)).samples, 'lookout_log_errors_total', { kind: 'checkpoint_write' })).toBe(after);
    const size = statSync(join(mnt, 'logs', 'checkpoints.json')).size;
    expect(size).toBeGreaterThan(0);
    await agent.stop(3000);
    agent = undefined;
    const final = JSON.parse(readFileSync(join(mnt, 'logs', 'checkpoints.json'), 'utf8')) as { files: Array<{ path: string; offset: number }> };
    const entry = final.files.find((e) => e.path.includes(c.id) && !/\.\d+$/.test(e.path));
    const logFile = entry?.path ?? '';
    expect(entry?.offset, 'the checkpoint is at the end of the container\'s log').toBe(statSync(logFile).size);
    await pool.remove(c);
  }, 90_000);
});

describeWith(dockerAvail, 'faults: the memory budget exceeded', () => {
  const pool = useContainers();
  let dir = '';
  let agent: Agent | undefined;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'lookout-e2e-budget-'));
  });
  afterAll(async () => {
    await agent?.stop(3000);
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it('keeps serving, drops queued push batches and holds log reading while over the budget, and counts it; the held lines arrive once the budget lets go', async () => {
    const out = join(dir, 'out.jsonl');
    // A push destination that is down: its queue grows, and the budget sheds it.
    const down = await freePort();
    // Any process is over 16 MiB: every check sheds at the last level.
    const config = validate(
      {
        state_dir: join(dir, 'state'),
        server: { listen: '127.0.0.1:0' },
        collect: { min_interval: '0s' },
        limits: { max_rss_bytes: 16 * 2 ** 20, check_interval: '100ms' },
        exporters: { file: { path: out }, remotewrite: { enabled: true, url: `http://127.0.0.1:${down}/api/v1/write`, interval: '100ms', min_backoff: '1s' } },
      },
      'faults test',
    );
    const cap = captureLog('info');
    agent = await Agent.start(config, { log: cap.log });
    const base = `http://${agent.address}`;
    await waitFor('shedding at the last level', async () => (value((await metricsOf(base)).samples, 'lookout_memory_shed_level') === 3 ? true : undefined), 10_000, 100);
    const c = await pool.run({ prefix: 'budget', sh: `${counting(100, 100)}; sleep 1000` });
    await sleep(2000);
    const { samples } = await metricsOf(base);
    expect(value(samples, 'lookout_memory_budget_bytes')).toBe(16 * 2 ** 20);
    expect(value(samples, 'lookout_memory_shed_events_total', { action: 'logs' })).toBeGreaterThan(0);
    expect(value(samples, 'lookout_memory_shed_events_total', { action: 'series' })).toBeGreaterThan(0);
    expect(value(samples, 'lookout_memory_shed_events_total', { action: 'queues' })).toBeGreaterThan(0);
    expect(value(samples, 'lookout_exporter_dropped_total', { exporter: 'remotewrite', reason: 'memory' }), 'queued batches shed and counted').toBeGreaterThan(0);
    expect(read(out, c.id).recs, 'no line delivered while log reading is paused').toHaveLength(0);
    expect(cap.text()).toContain('shedding');
    // Stopping lets go of the held batch; the lines are still on disk for the next start.
    await agent.stop(3000);
    agent = await Agent.start({ ...config, limits: { ...config.limits, max_rss_bytes: 0 } }, { log: cap.log });
    await waitFor('every line delivered once the budget is off', () => (missing(read(out, c.id).recs, 100).length === 0 ? true : undefined), 20_000, 100);
    await pool.remove(c);
  }, 60_000);
});
