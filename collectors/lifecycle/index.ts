/**
 * Container lifecycle metrics from the container directory that the runtime collectors fill:
 * restarts, the last termination's reason, exit code and time, OOM kills of containers whose
 * cgroup is gone, and how many containers each runtime has in each state. These are what
 * crash-loop and OOM alerts page on. Runs after the cgroup collector (registry order), so it
 * knows which containers' cgroups that collection read.
 */
import type { Collector, CollectorFactory, ComponentContext } from '../../src/component.js';
import { type Accumulator, Labels, metric } from '../../src/model.js';
import { M as CGROUP } from '../cgroups/metrics.js';
import { configSchema, type LifecycleConfig } from './config.js';

export const M = {
  restarts: metric({ name: 'container_restarts_total', type: 'counter', unit: '', help: 'Times the runtime restarted the container (Docker RestartCount; Kubernetes restart attempts).', labels: [], source: 'runtime' }),
  exitCode: metric({ name: 'container_last_terminated_exit_code', type: 'gauge', unit: '', help: 'Exit code of the container\'s last termination.', labels: [], source: 'runtime' }),
  reason: metric({ name: 'container_last_terminated_reason', type: 'gauge', unit: '', help: 'Always 1; `reason` says why the container last terminated: OOMKilled, Error (non-zero exit) or Completed (exit 0).', labels: ['reason'], source: 'runtime' }),
  finishedAt: metric({ name: 'container_last_terminated_timestamp_seconds', type: 'gauge', unit: 'seconds', help: 'When the container last terminated, since the Unix epoch, in seconds.', labels: [], source: 'runtime' }),
  containers: metric({ name: 'container_runtime_containers', type: 'gauge', unit: '', help: 'Containers each runtime knows, by state (running, exited, paused, restarting, created, dead).', labels: ['runtime', 'state'], source: 'runtime' }),
};

const REASONS = new Map(['OOMKilled', 'Error', 'Completed'].map((r) => [r, new Labels([['reason', r]])]));

class LifecycleCollector implements Collector {
  private readonly countLabels = new Map<string, Labels>();
  constructor(private readonly ctx: ComponentContext) {}

  async start(): Promise<void> {}

  async collect(acc: Accumulator): Promise<void> {
    const dir = this.ctx.containers;
    const counts = new Map<string, number>();
    for (const id of dir.ids()) {
      const m = dir.get(id);
      if (m?.runtime === undefined) continue;
      const state = m.state ?? 'unknown';
      const key = `${m.runtime}\u0000${state}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      const path = dir.lastCgroupPath(id) ?? m.cgroupPath;
      if (path === undefined) continue;
      const labels = dir.identity(id, path);
      if (m.restartCount !== undefined) acc.add(M.restarts, labels, m.restartCount);
      const reason = dir.lastTerminationReason(id);
      if (reason !== undefined) {
        acc.add(M.exitCode, labels, m.exitCode ?? 0);
        acc.add(M.reason, labels, 1, REASONS.get(reason));
        acc.add(M.finishedAt, labels, m.finishedAt ?? 0);
      }
      // A live cgroup's own counter was reported by the cgroup collector in this collection.
      if (dir.cgroupSeenAt(id) < acc.time) {
        const kills = dir.oomKillsAfterExit(id);
        if (kills > 0) acc.add(CGROUP.oomEvents, labels, kills);
      }
    }
    for (const [key, n] of counts) {
      let l = this.countLabels.get(key);
      if (l === undefined) {
        const [runtime = '', state = ''] = key.split('\u0000');
        l = new Labels([['runtime', runtime], ['state', state]]);
        this.countLabels.set(key, l);
      }
      acc.add(M.containers, Labels.EMPTY, n, l);
    }
  }

  async shutdown(): Promise<void> {}
}

export const lifecycleCollector: CollectorFactory<LifecycleConfig> = {
  type: 'lifecycle',
  description: 'Restarts, last termination (reason, exit code, time), OOM kills of exited containers and counts per runtime and state, from the runtime collectors.',
  configSchema,
  metrics: [...Object.values(M)],
  create: (_config, ctx) => new LifecycleCollector(ctx),
};
