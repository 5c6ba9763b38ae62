/**
 * Podman, for real: rootful `podman run --network none` of the busybox image (imported from
 * Debian's busybox-static, as .ci/services.sh does for Docker), with an in-process agent.
 *
 * - Without Podman's API service (the usual case: it is socket-activated): the container's
 *   cgroup series are named from the on-disk state, with its image and allow-listed label,
 *   and its k8s-file log lines reach the file destination with the same identity.
 * - With `podman system service` on a temporary unix socket: the same, through the API.
 *
 * Host notes (cgroup v1 with the unified hierarchy beside it, systemd not PID 1, no
 * CAP_SYS_RESOURCE): Podman runs with `--cgroup-manager cgroupfs` (its systemd manager needs
 * systemd), `--events-backend file` (no journald; the file log is also where the on-disk
 * fallback finds labels), runc (Debian's default), and explicit `--ulimit nofile/nproc`:
 * Podman's default limits (1048576) are above this host's hard limits, and runc cannot raise
 * them without CAP_SYS_RESOURCE.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type RunningAgent, startAgent } from '../helpers/agent.js';
import { select, value } from '../helpers/exposition.js';
import { describeWith, requireOrSkip } from '../helpers/require.js';
import { exec, waitFor } from '../helpers/util.js';

const IMAGE = 'lookout-busybox:latest';
/** The image as Podman records it (containers.json's image-name, the API's Config.Image). */
const IMAGE_LABEL = 'localhost/lookout-busybox:latest';
const E2E_LABEL = 'lookout.e2e';

/** Global flags: the cgroupfs manager unless systemd runs the host; the file event logger. */
const GLOBAL = [...(existsSync('/run/systemd/system') ? [] : ['--cgroup-manager', 'cgroupfs']), '--events-backend', 'file'];
const RUN = ['run', '-d', '--network', 'none', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=4096:4096', '--log-driver', 'k8s-file', '--label', `${E2E_LABEL}=1`];

async function podman(args: readonly string[], timeoutMs = 60_000): Promise<string> {
  const r = await exec('podman', [...GLOBAL, ...args], { timeoutMs });
  if (r.code !== 0) throw new Error(`podman ${args.join(' ')} exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout.trim();
}

/** Imports the busybox image when it is missing (idempotent; .ci/services.sh does the same). */
async function ensureImage(): Promise<void> {
  if ((await exec('podman', [...GLOBAL, 'image', 'exists', IMAGE])).code === 0) return;
  if (!existsSync('/bin/busybox')) throw new Error(`image ${IMAGE} is missing and /bin/busybox (busybox-static) is not there to build it`);
  const r = await exec('sh', ['-c', `set -e; d=$(mktemp -d); mkdir -p "$d/bin" "$d/dev" "$d/proc" "$d/sys" "$d/tmp" "$d/etc"; cp /bin/busybox "$d/bin/busybox"; for a in $("$d/bin/busybox" --list); do [ "$a" = busybox ] || ln -s busybox "$d/bin/$a"; done; tar -C "$d" -c . | podman ${GLOBAL.join(' ')} import -c 'ENV PATH=/bin' - ${IMAGE} >/dev/null; rm -rf "$d"`], { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`importing ${IMAGE} into podman failed: ${r.stderr.trim()}`);
}

const avail = await requireOrSkip('Podman', async () => {
  if (process.getuid?.() !== 0) return 'the Podman tests run rootful (as root)';
  const v = await exec('podman', ['--version'], { timeoutMs: 15_000 }).catch(() => undefined);
  if (!v || v.code !== 0) return 'no podman binary (apt-get install podman)';
  await ensureImage();
});

describeWith(avail, 'Podman containers, from the on-disk state and through the API socket', () => {
  const names: string[] = [];
  let dir = '';

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'lookout-e2e-podman-'));
  });
  afterAll(async () => {
    if (names.length > 0) await exec('podman', [...GLOBAL, 'rm', '-f', '-t', '0', ...names], { timeoutMs: 60_000 });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function run(prefix: string, labels: readonly string[], sh: string): Promise<{ id: string; name: string }> {
    const name = `lookout-e2e-podman-${prefix}-${process.pid}`;
    names.push(name);
    await exec('podman', [...GLOBAL, 'rm', '-f', '-t', '0', name]);
    const id = await podman([...RUN, '--name', name, ...labels.flatMap((l) => ['--label', l]), IMAGE, 'sh', '-c', sh]);
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    return { id, name };
  }

  async function until<T>(a: RunningAgent, what: string, pick: (s: Awaited<ReturnType<RunningAgent['scrape']>>['samples']) => T | undefined, timeoutMs = 20_000): Promise<T> {
    return waitFor(what, async () => pick((await a.scrape()).samples), timeoutMs, 200);
  }

  function records(out: string, id: string): Array<{ message: string; stream: string; labels: Record<string, string>; source: string }> {
    let text = '';
    try {
      text = readFileSync(out, 'utf8');
    } catch {
      return [];
    }
    return text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { message: string; stream: string; labels: Record<string, string>; source: string })
      .filter((r) => r.source.includes(id));
  }

  it('without the API service: cgroup series named from disk, and k8s-file log lines in the file destination', async () => {
    const out = join(dir, 'logs.jsonl');
    const a = await startAgent({
      collect: { min_interval: '100ms' },
      state_dir: join(dir, 'state-disk'),
      container_labels: ['com.example.team'],
      // A socket that does not exist: the on-disk state is all there is.
      collectors: { podman: { socket: join(dir, 'no-service.sock'), refresh_interval: '500ms' }, logs: { docker: false, cri: false } },
      exporters: { file: { path: out } },
    });
    try {
      const c = await run('disk', ['com.example.team=payments', 'com.example.secret=x'], 'echo "hello from podman"; printf "no newline yet"; sleep 1; echo " ...now"; echo oops >&2; sleep 1000');
      const cgroup = existsSync('/run/systemd/system') ? `/machine.slice/libpod-${c.id}.scope` : `/libpod_parent/libpod-${c.id}`;
      const s = await until(a, 'named podman series', (ss) => select(ss, 'container_memory_usage_bytes', { name: c.name })[0]);
      expect(s.labels).toEqual({ id: cgroup, image: IMAGE_LABEL, name: c.name, container_label_com_example_team: 'payments' });
      const { samples } = await a.scrape();
      expect(select(samples, 'container_cpu_usage_seconds_total', { id: cgroup })[0]?.labels['name']).toBe(c.name);
      expect(value(samples, 'lookout_runtime_connected', { runtime: 'podman' })).toBe(0);
      expect(select(samples, 'container_start_time_seconds', { name: c.name })[0]?.value).toBeGreaterThan(Date.now() / 1000 - 120);

      const recs = await waitFor('the log lines', () => {
        const r = records(out, c.id);
        return r.length >= 3 ? r : undefined;
      }, 20_000, 200);
      expect(recs.map((r) => [r.stream, r.message])).toEqual([
        ['stdout', 'hello from podman'],
        ['stdout', 'no newline yet ...now'],
        ['stderr', 'oops'],
      ]);
      for (const r of recs) expect(r.labels).toMatchObject({ id: cgroup, image: IMAGE_LABEL, name: c.name });
      expect(recs[0]?.source).toBe(`/var/lib/containers/storage/overlay-containers/${c.id}/userdata/ctr.log`);

      // An exited container: its exit code from the file event log's `died` event.
      const e = await run('exit3', [], 'exit 3');
      const code = await until(a, 'exit code', (ss) => select(ss, 'container_last_terminated_exit_code', { name: e.name })[0]);
      expect(code.value).toBe(3);
    } finally {
      await a.stop();
    }
  }, 120_000);

  it('through the API socket of `podman system service`', async () => {
    const sock = join(dir, 'podman.sock');
    const service: ChildProcess = spawn('podman', [...GLOBAL, 'system', 'service', '--time', '0', `unix://${sock}`], { stdio: 'ignore' });
    let a: RunningAgent | undefined;
    try {
      await waitFor('the podman API socket', () => (existsSync(sock) ? true : undefined), 30_000, 100);
      a = await startAgent({
        collect: { min_interval: '100ms' },
        state_dir: join(dir, 'state-api'),
        container_labels: ['com.example.team'],
        collectors: { podman: { socket: sock } },
      });
      const agent = a;
      await until(agent, 'connected to podman', (ss) => (value(ss, 'lookout_runtime_connected', { runtime: 'podman' }) === 1 ? true : undefined), 30_000);
      const c = await run('api', ['com.example.team=checkout'], 'sleep 1000');
      const cgroup = existsSync('/run/systemd/system') ? `/machine.slice/libpod-${c.id}.scope` : `/libpod_parent/libpod-${c.id}`;
      const s = await until(agent, 'named podman series', (ss) => select(ss, 'container_memory_usage_bytes', { name: c.name })[0]);
      expect(s.labels).toEqual({ id: cgroup, image: IMAGE_LABEL, name: c.name, container_label_com_example_team: 'checkout' });
      await podman(['stop', '-t', '0', c.name]);
      const st = await until(agent, 'stopped', (ss) => select(ss, 'container_runtime_containers', { runtime: 'podman', state: 'exited' })[0]);
      expect(st.value).toBeGreaterThanOrEqual(1);
    } finally {
      await a?.stop();
      service.kill('SIGTERM');
    }
  }, 120_000);
});
