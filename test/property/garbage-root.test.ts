/**
 * The whole agent on host roots full of garbage: cgroup files (v1 and v2), /proc files,
 * Docker's config.v2.json and json-file logs, CRI logs under /var/log/pods and the
 * /var/log/containers links hold random bytes, truncated content, huge numbers, nothing,
 * a directory where a file is expected, or a dangling symlink. On each such root the real
 * Agent (in-process, log collection on) must start, answer /healthz, and serve /metrics as
 * valid exposition, twice; what it could not read is counted in
 * lookout_collector_errors_total or lookout_log_errors_total, never thrown.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import fc from 'fast-check';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent.js';
import { validate } from '../../src/config.js';
import { LookoutError } from '../../src/errors.js';
import { parseExposition, type Sample } from '../helpers/exposition.js';

const ID = 'c'.repeat(64);
const CRI_ID = 'd'.repeat(64);
const PID = 4242;
const POD_DIR = 'var/log/pods/default_web-0_0000-1111';

/** Valid content of every file a collector reads, by path under the root. */
function validFiles(v2: boolean): Record<string, string> {
  const cg = 'sys/fs/cgroup';
  const files: Record<string, string> = {
    'proc/cpuinfo': 'processor\t: 0\nphysical id\t: 0\ncore id\t: 0\n\nprocessor\t: 1\nphysical id\t: 0\ncore id\t: 1\n\n',
    'proc/meminfo': 'MemTotal:        2048000 kB\nMemFree:          100000 kB\n',
    [`proc/${PID}/net/dev`]:
      'Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo:     100       2    0    0    0     0          0         0      100       2    0    0    0     0       0          0\n  eth0:    5000      40    1    0    0     0          0         0     3000      30    0    0    0     0       0          0\n',
    [`var/lib/docker/containers/${ID}/config.v2.json`]: JSON.stringify({ ID, Name: '/web', Config: { Image: 'nginx:1.27', Labels: { team: 'a' } }, State: { Running: true, Pid: PID, StartedAt: '2026-01-01T00:00:00.5Z', ExitCode: 0 }, RestartCount: 1 }),
    [`var/lib/docker/containers/${ID}/hostconfig.json`]: JSON.stringify({ NetworkMode: 'none', RestartPolicy: { Name: 'no' } }),
    [`var/lib/docker/containers/${ID}/${ID}-json.log`]: '{"log":"hello\\n","stream":"stdout","time":"2026-01-01T00:00:01.000000001Z"}\n{"log":"part ","stream":"stderr","time":"2026-01-01T00:00:02Z"}\n{"log":"two\\n","stream":"stderr","time":"2026-01-01T00:00:02.1Z"}\n',
    [`${POD_DIR}/web/0.log`]: '2026-01-01T00:00:01.000000001Z stdout F hello from cri\n2026-01-01T00:00:02Z stderr P part\n2026-01-01T00:00:02.5Z stderr F two\n',
  };
  if (v2) {
    const c = `${cg}/system.slice/docker-${ID}.scope`;
    Object.assign(files, {
      [`${cg}/cgroup.controllers`]: 'cpuset cpu io memory hugetlb pids rdma misc\n',
      [`${cg}/cpu.stat`]: 'usage_usec 1000000\nuser_usec 600000\nsystem_usec 400000\n',
      [`${c}/cgroup.procs`]: `${PID}\n`,
      [`${c}/cpu.stat`]: 'usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\nnr_periods 10\nnr_throttled 4\nthrottled_usec 300000\n',
      [`${c}/cpu.max`]: '50000 100000\n',
      [`${c}/cpu.weight`]: '100\n',
      [`${c}/cpu.pressure`]: 'some avg10=0.00 avg60=0.00 avg300=0.00 total=1234\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=567\n',
      [`${c}/memory.current`]: '8388608\n',
      [`${c}/memory.max`]: '67108864\n',
      [`${c}/memory.swap.max`]: 'max\n',
      [`${c}/memory.events`]: 'low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n',
      [`${c}/memory.stat`]: 'anon 4194304\nfile 4194304\ninactive_file 1048576\nactive_file 3145728\npgfault 100\npgmajfault 2\n',
      [`${c}/io.stat`]: '8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n',
      [`${c}/pids.current`]: '3\n',
      [`${c}/pids.max`]: 'max\n',
    });
  } else {
    const d = (ctl: string): string => `${cg}/${ctl}/docker/${ID}`;
    Object.assign(files, {
      [`${cg}/cpuacct/cpuacct.usage`]: '1000000000\n',
      [`${cg}/memory/memory.usage_in_bytes`]: '100000000\n',
      [`${d('cpu')}/cgroup.procs`]: `${PID}\n`,
      [`${d('cpu')}/cpu.cfs_quota_us`]: '50000\n',
      [`${d('cpu')}/cpu.cfs_period_us`]: '100000\n',
      [`${d('cpu')}/cpu.shares`]: '1024\n',
      [`${d('cpu')}/cpu.stat`]: 'nr_periods 10\nnr_throttled 4\nthrottled_time 300000000\n',
      [`${d('cpuacct')}/cpuacct.usage`]: '2500000000\n',
      [`${d('cpuacct')}/cpuacct.stat`]: 'user 200\nsystem 50\n',
      [`${d('memory')}/cgroup.procs`]: `${PID}\n`,
      [`${d('memory')}/memory.usage_in_bytes`]: '8388608\n',
      [`${d('memory')}/memory.limit_in_bytes`]: '67108864\n',
      [`${d('memory')}/memory.max_usage_in_bytes`]: '9000000\n',
      [`${d('memory')}/memory.failcnt`]: '0\n',
      [`${d('memory')}/memory.memsw.limit_in_bytes`]: '9223372036854771712\n',
      [`${d('memory')}/memory.soft_limit_in_bytes`]: '9223372036854771712\n',
      [`${d('memory')}/memory.oom_control`]: 'oom_kill_disable 0\nunder_oom 0\noom_kill 1\n',
      [`${d('memory')}/memory.stat`]: 'cache 4194304\nrss 4194304\nmapped_file 0\nswap 0\npgfault 100\npgmajfault 2\ntotal_inactive_file 1048576\n',
      [`${d('pids')}/pids.current`]: '3\n',
      [`${d('pids')}/pids.max`]: 'max\n',
      [`${d('blkio')}/blkio.throttle.io_service_bytes`]: '8:0 Read 4096\n8:0 Write 8192\nTotal 12288\n',
      [`${d('blkio')}/blkio.throttle.io_serviced`]: '8:0 Read 1\n8:0 Write 2\nTotal 3\n',
    });
  }
  return files;
}

type Fault = 'random' | 'truncated' | 'huge' | 'empty' | 'directory' | 'dangling';
type Damage = { kind: 'valid' } | { kind: 'random'; bytes: Uint8Array } | { kind: 'truncated'; at: number } | { kind: 'huge'; n: string } | { kind: Exclude<Fault, 'random' | 'truncated' | 'huge'> };

const damage: fc.Arbitrary<Damage> = fc.oneof(
  { weight: 6, arbitrary: fc.constant({ kind: 'valid' as const }) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 400 }).map((bytes) => ({ kind: 'random' as const, bytes })) },
  { weight: 1, arbitrary: fc.double({ min: 0, max: 1, noNaN: true }).map((at) => ({ kind: 'truncated' as const, at })) },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom('18446744073709551616', '99999999999999999999999999999999', '-1', '1e400', '-0', '9007199254740993', '0x10', 'NaN')
      .map((n) => ({ kind: 'huge' as const, n })),
  },
  { weight: 1, arbitrary: fc.constantFrom({ kind: 'empty' as const }, { kind: 'directory' as const }, { kind: 'dangling' as const }) },
);

/** Writes the tree; returns the faults applied, by path. */
function build(root: string, files: Record<string, string>, damages: readonly Damage[], linkDamage: Damage): Map<string, Fault> {
  const applied = new Map<string, Fault>();
  Object.entries(files).forEach(([rel, content], i) => {
    const p = join(root, rel);
    mkdirSync(dirname(p), { recursive: true });
    const d = damages[i % damages.length] ?? { kind: 'valid' };
    switch (d.kind) {
      case 'valid':
        writeFileSync(p, content);
        return;
      case 'random':
        writeFileSync(p, d.bytes);
        break;
      case 'truncated':
        writeFileSync(p, content.slice(0, Math.floor(content.length * d.at)));
        break;
      case 'huge':
        writeFileSync(p, content.replace(/\d+/g, d.n));
        break;
      case 'empty':
        writeFileSync(p, '');
        break;
      case 'directory':
        mkdirSync(join(p, 'x'), { recursive: true });
        break;
      case 'dangling':
        symlinkSync(join(root, 'nowhere', rel), p);
        break;
    }
    applied.set(rel, d.kind);
  });
  // The kubelet's link to the CRI log, itself damaged or not.
  const link = join(root, 'var/log/containers', `web-0_default_web-${CRI_ID}.log`);
  mkdirSync(dirname(link), { recursive: true });
  if (linkDamage.kind === 'valid') symlinkSync(`/${POD_DIR}/web/0.log`, link);
  else if (linkDamage.kind === 'directory') mkdirSync(link);
  else if (linkDamage.kind === 'dangling') symlinkSync('/nowhere/0.log', link);
  else writeFileSync(link, linkDamage.kind === 'random' ? linkDamage.bytes : 'garbage');
  if (linkDamage.kind !== 'valid') applied.set('var/log/containers link', linkDamage.kind === 'truncated' || linkDamage.kind === 'huge' || linkDamage.kind === 'empty' ? 'random' : linkDamage.kind);
  return applied;
}

const sum = (samples: readonly Sample[], name: string): number => samples.filter((s) => s.name === name).reduce((a, s) => a + s.value, 0);

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('the agent on a garbage host root', () => {
  it('never throws, stays alive, serves valid exposition, and counts what it could not read', async () => {
    const stats = { refused: 0, runs: 0, withErrors: 0, directoryOnStat: 0, directoryOnStatCounted: 0 };
    await fc.assert(
      fc.asyncProperty(fc.boolean(), fc.array(damage, { minLength: 1, maxLength: 40 }), damage, async (v2, damages, linkDamage) => {
        const root = mkdtempSync(join(tmpdir(), 'lookout-garbage-'));
        dirs.push(root);
        const files = validFiles(v2);
        const applied = build(join(root, 'host'), files, damages, linkDamage);
        const config = validate(
          {
            root: join(root, 'host'),
            state_dir: join(root, 'state'),
            server: { listen: '127.0.0.1:0' },
            collect: { min_interval: '0s' },
            // No sockets in the tree: the runtimes read their on-disk state.
            collectors: { logs: { watch: false, rescan_interval: '50ms', poll_interval: '50ms' } },
            exporters: { file: { path: join(root, 'out.jsonl') } },
          },
          'garbage root',
        );
        let agent: Agent;
        try {
          agent = await Agent.start(config, { log: pino({ level: 'silent' }) });
        } catch (err) {
          // The one refusal by design: no recognisable cgroup hierarchy at all (a wrong --root),
          // a permanent, typed error at start. Here: v2's marker file is a dangling link.
          expect(err).toBeInstanceOf(LookoutError);
          expect((err as LookoutError).code).toBe('LOOKOUT_ERR_HOST');
          expect(applied.get('sys/fs/cgroup/cgroup.controllers')).toBe('dangling');
          stats.refused++;
          return;
        }
        try {
          const base = `http://${agent.address}`;
          let last: Sample[] = [];
          for (let i = 0; i < 2; i++) {
            const res = await fetch(`${base}/metrics`, { headers: { accept: 'text/plain;version=0.0.4' } });
            expect(res.status).toBe(200);
            const text = await res.text();
            last = parseExposition(text).samples; // throws on invalid exposition
            expect((await fetch(`${base}/healthz`)).status).toBe(200);
            if (i === 0) await new Promise((r) => setTimeout(r, 150)); // let the log tailer read
          }
          expect(last.some((s) => s.name === 'lookout_build_info')).toBe(true);
          const errors = sum(last, 'lookout_collector_errors_total') + sum(last, 'lookout_log_errors_total');
          stats.runs++;
          if (errors > 0) stats.withErrors++;
          // A directory where a stat file belongs is not "the container went away": it must be counted.
          const dirOnStat = [...applied].some(([p, k]) => k === 'directory' && /\/(cpu|memory)\.stat$/.test(p));
          if (dirOnStat) {
            stats.directoryOnStat++;
            if (errors > 0) stats.directoryOnStatCounted++;
            expect(errors, `faults: ${JSON.stringify([...applied])}`).toBeGreaterThan(0);
          }
          // A valid tree reads without a single error.
          if (applied.size === 0) expect(errors, 'errors on an undamaged tree').toBe(0);
        } finally {
          await agent.stop(2000);
        }
      }),
      { numRuns: 80, endOnFailure: true },
    );
    process.stderr.write(`[property] garbage roots: ${JSON.stringify(stats)}\n`);
  }, 120_000);
});
