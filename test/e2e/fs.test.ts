/**
 * container_fs_usage_bytes and container_fs_limit_bytes against the real Docker engine: a
 * container that writes 5 MB into its root filesystem shows its usage grow by about that,
 * on the device that holds Docker's data root, within the capacity of that filesystem.
 */
import { statfsSync } from 'node:fs';
import { beforeAll, expect, it } from 'vitest';
import { useAgent } from '../helpers/agent.js';
import { docker, dockerUsable, IMAGE_LABEL, useContainers } from '../helpers/docker.js';
import { select, type Sample } from '../helpers/exposition.js';
import { describeWith, requireOrSkip } from '../helpers/require.js';
import { waitFor } from '../helpers/util.js';

const avail = await requireOrSkip('Docker', dockerUsable);

const MiB = 1024 * 1024;

describeWith(avail, 'container filesystem usage (writable layer) against the Docker engine', () => {
  const pool = useContainers();
  // A walk every second, so the test need not wait for the default minute.
  const agent = useAgent({ collect: { min_interval: '100ms' }, collectors: { docker: { fs_usage_interval: '1s' } } });

  beforeAll(async () => {
    await agent.start();
  });

  /** The container's one usage sample, once the walker has measured it (and, with `above`, once it exceeds that). */
  async function usage(name: string, above = -1, timeoutMs = 20_000): Promise<Sample> {
    return waitFor(`container_fs_usage_bytes of ${name}${above >= 0 ? ` above ${above}` : ''}`, async () => {
      const { samples } = await agent.get().scrape();
      const s = select(samples, 'container_fs_usage_bytes', { name });
      return s.length === 1 && (s[0] as Sample).value > above ? s[0] : undefined;
    }, timeoutMs, 250);
  }

  it('a container writing 5 MB into its root filesystem: usage grows by about 5 MB, limit is the capacity of the filesystem', async () => {
    const c = await pool.run({ prefix: 'fs', sh: 'sleep 600' });
    const before = await usage(c.name);
    expect(before.labels['image']).toBe(IMAGE_LABEL);
    expect(before.labels['id']).toContain(c.id);
    const device = before.labels['device'] ?? '';
    expect(device).not.toBe('');

    // The limit: the capacity of the filesystem that holds Docker's data root, on the same device.
    const { samples } = await agent.get().scrape();
    const limit = select(samples, 'container_fs_limit_bytes', { name: c.name });
    expect(limit).toHaveLength(1);
    expect(limit[0]?.labels['device']).toBe(device);
    const root = (await docker(['info', '--format', '{{.DockerRootDir}}'])) || '/var/lib/docker';
    const st = statfsSync(root);
    expect(limit[0]?.value).toBe(st.blocks * st.bsize);

    await docker(['exec', c.name, 'sh', '-c', 'dd if=/dev/urandom of=/five-mb bs=1048576 count=5 2>/dev/null && sync']);
    const after = await usage(c.name, before.value + 4 * MiB);
    const grown = after.value - before.value;
    // du counts blocks: 5 MiB of data, plus at most a few blocks of metadata and log lines.
    expect(grown).toBeGreaterThanOrEqual(5 * MiB);
    expect(grown).toBeLessThan(5 * MiB + 512 * 1024);
    expect(after.labels['device']).toBe(device);
  }, 90_000);

  it('a removed container leaves the output', async () => {
    const c = await pool.run({ prefix: 'fsgone', sh: 'sleep 600' });
    await usage(c.name);
    await pool.remove(c);
    await waitFor(`container_fs_usage_bytes of ${c.name} gone`, async () => {
      const { samples } = await agent.get().scrape();
      return select(samples, 'container_fs_usage_bytes', { name: c.name }).length === 0 ? true : undefined;
    }, 20_000, 250);
  }, 60_000);
});
