/**
 * Resolves block device numbers (MAJ:MIN) to `/dev` names the way the host sees them, from
 * `<root>/sys/dev/block/MAJ:MIN/uevent` (DEVNAME), falling back to `<root>/proc/partitions`.
 * An unknown device is labelled `MAJ:MIN`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Labels } from '../../src/model.js';
import type { DeviceLabels } from './metrics.js';
import type { DeviceIo } from './parse.js';

export class DeviceNames {
  private readonly cache = new Map<string, DeviceLabels>();
  private partitions: Map<string, string> | undefined;

  constructor(private readonly root: string) {}

  labels(d: DeviceIo): DeviceLabels {
    const key = `${d.major}:${d.minor}`;
    let l = this.cache.get(key);
    if (l === undefined) {
      const name = this.resolve(key);
      const dev: [string, string] = ['device', name];
      const mm: Array<[string, string]> = [['major', String(d.major)], ['minor', String(d.minor)]];
      l = {
        device: new Labels([dev]),
        read: new Labels([dev, ...mm, ['operation', 'Read']]),
        write: new Labels([dev, ...mm, ['operation', 'Write']]),
      };
      this.cache.set(key, l);
    }
    return l;
  }

  private resolve(key: string): string {
    try {
      const m = /^DEVNAME=(.+)$/m.exec(readFileSync(join(this.root, 'sys/dev/block', key, 'uevent'), 'utf8'));
      if (m?.[1]) return `/dev/${m[1]}`;
    } catch {
      // not in sysfs: try /proc/partitions
    }
    if (this.partitions === undefined) {
      this.partitions = new Map();
      try {
        for (const line of readFileSync(join(this.root, 'proc/partitions'), 'utf8').split('\n')) {
          const f = line.trim().split(/\s+/);
          if (f.length === 4 && /^\d+$/.test(f[0] ?? '')) this.partitions.set(`${f[0]}:${f[1]}`, `/dev/${f[3]}`);
        }
      } catch {
        // no /proc under the root (a fixture tree): devices keep their numbers
      }
    }
    return this.partitions.get(key) ?? key;
  }
}
