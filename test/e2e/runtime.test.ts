/**
 * What the runtime collectors add, against the real Docker engine: names, images and
 * allow-listed labels, exit codes and termination reasons, OOM kills of a container that
 * dies of it, restart counters, loopback network traffic, and a dockerd restart while the
 * agent runs.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, expect, it } from 'vitest';
import { useAgent } from '../helpers/agent.js';
import { type Container, docker, dockerUsable, exec, IMAGE_LABEL, inspect, useContainers } from '../helpers/docker.js';
import { type Sample, select, value } from '../helpers/exposition.js';
import { describeWith, requireOrSkip } from '../helpers/require.js';
import { sleep, waitFor } from '../helpers/util.js';

const avail = await requireOrSkip('Docker', dockerUsable);

describeWith(avail, 'runtime metadata and lifecycle from the Docker engine', () => {
  const pool = useContainers();
  const agent = useAgent({
    collect: { min_interval: '100ms' },
    container_labels: ['com.example.team'],
    collectors: { cgroups: { network_interface_exclude: '^(veth.*|docker.*)$' } },
  });

  beforeAll(async () => {
    await agent.start();
  });

  /** Scrapes until `pick` finds what it wants. */
  async function until<T>(what: string, pick: (s: Sample[]) => T | undefined, timeoutMs = 15_000): Promise<T> {
    return waitFor(what, async () => pick((await agent.get().scrape()).samples), timeoutMs, 200);
  }

  it('names containers, with their image and allow-listed labels only', async () => {
    const c = await pool.run({ prefix: 'labels', flags: ['--label', 'com.example.team=payments', '--label', 'com.example.secret=x'], sh: 'sleep 1000' });
    const s = await until('labelled series', (ss) => select(ss, 'container_memory_usage_bytes', { name: c.name })[0]);
    expect(s.labels).toMatchObject({ id: `/docker/${c.id}`, name: c.name, image: IMAGE_LABEL, container_label_com_example_team: 'payments' });
    expect(Object.keys(s.labels).filter((k) => k.startsWith('container_label_'))).toEqual(['container_label_com_example_team']);
  });

  it('reports the exit code and reason of a container that exited with 3', async () => {
    const c = await pool.run({ prefix: 'exit3', sh: 'exit 3' });
    await until('exit code', (ss) => select(ss, 'container_last_terminated_exit_code', { name: c.name })[0]);
    const { samples } = await agent.get().scrape();
    expect(value(samples, 'container_last_terminated_exit_code', { name: c.name })).toBe(3);
    expect(value(samples, 'container_last_terminated_reason', { name: c.name, reason: 'Error' })).toBe(1);
    expect(value(samples, 'container_last_terminated_timestamp_seconds', { name: c.name })).toBeGreaterThan(Date.now() / 1000 - 120);
    expect(select(samples, 'container_runtime_containers', { runtime: 'docker', state: 'exited' })[0]?.value).toBeGreaterThanOrEqual(1);
  });

  it('counts the OOM kill of a container that dies of it, although its cgroup is gone before any scrape', async () => {
    // busybox sh -c with one command execs dd: the OOM killer kills the container's init.
    const c = await pool.run({ prefix: 'oomdie', flags: ['--memory', '16m', '--memory-swap', '16m'], sh: 'dd if=/dev/zero of=/dev/shm/fill bs=1M count=60' });
    const st = await waitFor('container exit', async () => {
      const i = await inspect(c.name);
      return i.status === 'exited' ? i : undefined;
    }, 20_000);
    expect(st.status).toBe('exited');
    const kills = await until('oom count', (ss) => select(ss, 'container_oom_events_total', { name: c.name })[0]);
    expect(kills.value).toBe(1);
    const { samples } = await agent.get().scrape();
    expect(value(samples, 'container_last_terminated_exit_code', { name: c.name })).toBe(137);
    expect(value(samples, 'container_last_terminated_reason', { name: c.name, reason: 'OOMKilled' })).toBe(1);
  });

  it('raises the restart counter of a container restarted by its policy', async () => {
    const c = await pool.run({ prefix: 'restart', flags: ['--restart', 'on-failure:3'], sh: 'sleep 0.2; exit 1' });
    const restarts = await until('three restarts', (ss) => {
      const s = select(ss, 'container_restarts_total', { name: c.name })[0];
      return s && s.value >= 3 ? s : undefined;
    }, 30_000);
    expect(restarts.value).toBe(3);
    expect(restarts.labels['id']).toBe(`/docker/${c.id}`);
  });

  it('reports loopback traffic of a --network none container that pings itself', async () => {
    const c = await pool.run({ prefix: 'ping', sh: 'ping -c 5 -i 0.2 127.0.0.1; sleep 1000' });
    // Five requests and five replies, one every 0.2 s: wait for all ten.
    const samples = await until('loopback traffic', (ss) => {
      const s = select(ss, 'container_network_transmit_packets_total', { name: c.name, interface: 'lo' })[0];
      return s && s.value >= 10 ? ss : undefined;
    });
    const rx = select(samples, 'container_network_receive_bytes_total', { name: c.name, interface: 'lo' })[0] as Sample;
    // ICMP echo over lo: every packet sent is received; 5 requests and 5 replies of 84 bytes.
    expect(value(samples, 'container_network_transmit_packets_total', { name: c.name, interface: 'lo' })).toBe(10);
    expect(rx.value).toBe(value(samples, 'container_network_transmit_bytes_total', { name: c.name, interface: 'lo' }));
    expect(rx.value).toBe(10 * 84);
  });

  it('keeps reporting cgroup metrics while dockerd restarts, and the metadata comes back', async () => {
    const pid = Number((await exec('pidof', ['dockerd'])).stdout.trim().split(/\s+/)[0]);
    expect(pid).toBeGreaterThan(0);
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((a) => a !== '');
    // Without --live-restore dockerd stops its containers when it stops; restart it with it first.
    const live = (await docker(['info', '--format', '{{.LiveRestoreEnabled}}'])) === 'true';
    const restartDockerd = async (args: string[]): Promise<void> => {
      const p = Number((await exec('pidof', ['dockerd'])).stdout.trim().split(/\s+/)[0]);
      process.kill(p, 'SIGTERM');
      await waitFor('dockerd to stop', async () => ((await exec('pidof', ['dockerd'])).code !== 0 ? true : undefined), 30_000, 200);
      await exec('sh', ['-c', `nohup ${args.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ')} >>/tmp/lookout-e2e-dockerd.log 2>&1 &`]);
      await waitFor('dockerd to answer', async () => ((await exec('docker', ['info'], { timeoutMs: 5000 })).code === 0 ? true : undefined), 60_000, 500);
    };
    const args = live ? argv : [...argv, '--live-restore'];
    if (!live) await restartDockerd(args);

    const c: Container = await pool.run({ prefix: 'survivor', sh: 'sleep 1000' });
    await until('named series', (ss) => select(ss, 'container_memory_usage_bytes', { name: c.name })[0]);
    expect(value((await agent.get().scrape()).samples, 'lookout_runtime_connected', { runtime: 'docker' })).toBe(1);

    const p = Number((await exec('pidof', ['dockerd'])).stdout.trim().split(/\s+/)[0]);
    process.kill(p, 'SIGTERM');
    await waitFor('dockerd to stop', async () => ((await exec('pidof', ['dockerd'])).code !== 0 ? true : undefined), 30_000, 200);
    // The engine is down: the agent notices, and the container's cgroup series stay, still named.
    await until('disconnected', (ss) => (value(ss, 'lookout_runtime_connected', { runtime: 'docker' }) === 0 ? true : undefined));
    const during = (await agent.get().scrape()).samples;
    expect(select(during, 'container_cpu_usage_seconds_total', { name: c.name, id: `/docker/${c.id}` })).toHaveLength(1);
    await sleep(500);

    await exec('sh', ['-c', `nohup ${args.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ')} >>/tmp/lookout-e2e-dockerd.log 2>&1 &`]);
    await waitFor('dockerd to answer', async () => ((await exec('docker', ['info'], { timeoutMs: 5000 })).code === 0 ? true : undefined), 60_000, 500);
    await until('reconnected', (ss) => (value(ss, 'lookout_runtime_connected', { runtime: 'docker' }) === 1 ? true : undefined), 45_000);
    // A container started after the restart is named from the engine again.
    const after = await pool.run({ prefix: 'after', sh: 'sleep 1000' });
    const s = await until('named after restart', (ss) => select(ss, 'container_memory_usage_bytes', { name: after.name })[0]);
    expect(s.labels['image']).toBe(IMAGE_LABEL);
    expect(select((await agent.get().scrape()).samples, 'container_memory_usage_bytes', { name: c.name })).toHaveLength(1);
  }, 240_000);
});
