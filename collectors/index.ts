/** The collector registry: one line per collector. */
import type { CollectorFactory } from '../src/component.js';
import { registry } from '../src/registry.js';
import { cgroupsCollector } from './cgroups/index.js';
import { hostCollector } from './host/index.js';

export const collectors: readonly CollectorFactory[] = registry('collector', [
  cgroupsCollector,
  hostCollector,
]);
