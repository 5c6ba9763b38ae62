/**
 * Machine metrics as cAdvisor reports them, from the host's `/proc/cpuinfo` and
 * `/proc/meminfo` under the host root.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Collector, CollectorFactory, ComponentContext } from '../../src/component.js';
import { isVanished, LookoutError } from '../../src/errors.js';
import { type Accumulator, Labels, metric } from '../../src/model.js';
import { configSchema, type HostConfig } from './config.js';

export const M = {
  cpuCores: metric({ name: 'machine_cpu_cores', type: 'gauge', unit: '', help: 'Number of logical CPU cores on the machine.', labels: [], source: '/proc/cpuinfo' }),
  cpuPhysicalCores: metric({ name: 'machine_cpu_physical_cores', type: 'gauge', unit: '', help: 'Number of physical CPU cores on the machine.', labels: [], source: '/proc/cpuinfo' }),
  cpuSockets: metric({ name: 'machine_cpu_sockets', type: 'gauge', unit: '', help: 'Number of CPU sockets on the machine.', labels: [], source: '/proc/cpuinfo' }),
  memory: metric({ name: 'machine_memory_bytes', type: 'gauge', unit: 'bytes', help: 'Amount of memory installed on the machine, in bytes (MemTotal).', labels: [], source: '/proc/meminfo' }),
} as const;

export interface CpuInfo {
  logical: number;
  physical: number;
  sockets: number;
}

/** Counts processors, distinct (physical id, core id) pairs and distinct physical ids. */
export function parseCpuinfo(text: string): CpuInfo {
  let logical = 0;
  let physId = '0';
  const cores = new Set<string>();
  const sockets = new Set<string>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const key = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (key === 'processor') logical++;
    else if (key === 'physical id') {
      physId = value;
      sockets.add(value);
    } else if (key === 'core id') cores.add(`${physId}/${value}`);
  }
  if (logical === 0) throw new LookoutError('LOOKOUT_ERR_HOST', 'no "processor" line in /proc/cpuinfo');
  // Some virtual machines and architectures omit the topology lines.
  return { logical, physical: cores.size || logical, sockets: sockets.size || 1 };
}

/** MemTotal in bytes. */
export function parseMeminfo(text: string): number {
  const m = /^MemTotal:\s+(\d+) kB$/m.exec(text);
  const bytes = m ? Number(m[1]) * 1024 : NaN;
  if (!Number.isSafeInteger(bytes)) throw new LookoutError('LOOKOUT_ERR_HOST', 'no "MemTotal: N kB" line with a plausible N in /proc/meminfo');
  return bytes;
}

class HostCollector implements Collector {
  constructor(private readonly ctx: ComponentContext) {}

  async start(): Promise<void> {}

  async collect(acc: Accumulator): Promise<void> {
    const read = (file: string, fn: (t: string) => void): void => {
      try {
        fn(readFileSync(join(this.ctx.root, 'proc', file), 'latin1'));
      } catch (err) {
        acc.error('host', isVanished(err) ? new LookoutError('LOOKOUT_ERR_HOST', `no ${join(this.ctx.root, 'proc', file)}`, { cause: err }) : err);
      }
    };
    read('cpuinfo', (t) => {
      const c = parseCpuinfo(t);
      acc.add(M.cpuCores, Labels.EMPTY, c.logical);
      acc.add(M.cpuPhysicalCores, Labels.EMPTY, c.physical);
      acc.add(M.cpuSockets, Labels.EMPTY, c.sockets);
    });
    read('meminfo', (t) => acc.add(M.memory, Labels.EMPTY, parseMeminfo(t)));
  }

  async shutdown(): Promise<void> {}
}

export const hostCollector: CollectorFactory<HostConfig> = {
  type: 'host',
  description: 'Machine metrics (CPU cores, sockets, memory) from the host\'s /proc.',
  configSchema,
  metrics: Object.values(M),
  create: (_config, ctx) => new HostCollector(ctx),
};
