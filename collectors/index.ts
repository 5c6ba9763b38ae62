/**
 * The collector registry: one line per collector. Order matters: runtime collectors fill
 * the container directory before the cgroup collector labels series from it, and the
 * lifecycle collector runs last, knowing which cgroups that collection read.
 */
import type { CollectorFactory } from '../src/component.js';
import { registry } from '../src/registry.js';
import { cgroupsCollector } from './cgroups/index.js';
import { containerdCollector } from './containerd/index.js';
import { crioCollector } from './crio/index.js';
import { dockerCollector } from './docker/index.js';
import { hostCollector } from './host/index.js';
import { kubernetesCollector } from './kubernetes/index.js';
import { lifecycleCollector } from './lifecycle/index.js';
import { logsCollector } from './logs/index.js';
import { podmanCollector } from './podman/index.js';

export const collectors: readonly CollectorFactory[] = registry('collector', [
  dockerCollector,
  podmanCollector,
  containerdCollector,
  crioCollector,
  kubernetesCollector,
  cgroupsCollector,
  logsCollector,
  hostCollector,
  lifecycleCollector,
]);
