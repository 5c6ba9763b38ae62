import { type Static, Type } from '@sinclair/typebox';
import { Duration, enabledSchema } from '../../src/schema.js';

export const configSchema = Type.Object(
  {
    enabled: enabledSchema("Podman's API socket or its storage directory (`storage_root`/overlay-containers)"),
    socket: Type.String({
      default: '/run/podman/podman.sock',
      minLength: 1,
      description:
        "Podman's API socket (`podman system service`, Docker-compatible), under the host root. Used while it answers; the on-disk state is read while it does not (the service is socket-activated and often not running).",
    }),
    storage_root: Type.String({
      default: '/var/lib/containers/storage',
      minLength: 1,
      description:
        "containers/storage's graph root (`graphroot` in storage.conf), under the host root: `overlay-containers/containers.json` lists the containers (id, name, image), `overlay-containers/<id>/userdata/config.json` is each one's OCI spec (cgroup, annotations).",
    }),
    run_root: Type.String({
      default: '/run/containers/storage',
      minLength: 1,
      description:
        "containers/storage's run root (`runroot` in storage.conf), under the host root: `overlay-containers/<id>/userdata/pidfile` gives the container's process, from which `running` and its start time are read.",
    }),
    events_log: Type.String({
      default: '/run/libpod/events/events.log',
      description:
        "Podman's event log when `events_logger = \"file\"` in containers.conf, under the host root: its `create` events carry the container labels, `died` events the exit code. Empty: not read. With the default journald event logger this file does not exist, and labels and exit codes are known only through the API socket.",
    }),
    refresh_interval: Duration('5s', 'While the socket does not answer, how often the on-disk state is read again; only files whose mtime or size changed are parsed again.'),
  },
  { additionalProperties: false },
);

export type PodmanConfig = Static<typeof configSchema>;
