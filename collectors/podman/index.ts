/**
 * Podman, through its Docker-compatible API service (`podman system service`, socket
 * `/run/podman/podman.sock`): the same client and semantics as the Docker collector.
 * Podman's cgroups (`libpod-<id>.scope`, `libpod_parent/libpod-<id>`) are recognized by the
 * cgroup collector.
 */
import type { CollectorFactory } from '../../src/component.js';
import { type EngineConfig, engineConfigSchema } from '../docker/config.js';
import { dockerCollector, EngineCollector } from '../docker/index.js';

export const podmanCollector: CollectorFactory<EngineConfig> = {
  type: 'podman',
  description: "Podman metadata (name, image, labels, state, restarts, exit codes, OOM kills) through its Docker-compatible API socket and event stream.",
  configSchema: engineConfigSchema('/run/podman/podman.sock', '/var/lib/containers/storage/overlay-containers', 'Podman'),
  metrics: dockerCollector.metrics,
  create: (config, ctx) => new EngineCollector(config, ctx, 'podman'),
};
