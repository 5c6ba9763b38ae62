import { type Static, Type } from '@sinclair/typebox';
import { Duration, enabledSchema } from '../../src/schema.js';

/** Shared by the runtimes that speak the Docker Engine API (Docker, Podman's compatible service). */
export function engineConfigSchema(socket: string, dataRoot: string, what: string) {
  return Type.Object(
    {
      enabled: enabledSchema(`${what}'s socket or state directory`),
      socket: Type.String({ default: socket, minLength: 1, description: `${what}'s API socket, under the host root.` }),
      data_root: Type.String({
        default: dataRoot,
        minLength: 1,
        description: `${what}'s state directory, under the host root; container documents are read from \`containers/<id>/config.v2.json\` there while the socket is unavailable.`,
      }),
      disk_refresh_interval: Duration('5s', 'While the socket is unavailable, how often the state directory is re-read.'),
    },
    { additionalProperties: false },
  );
}

const engineSchema = engineConfigSchema('/var/run/docker.sock', '/var/lib/docker', 'Docker');

/** Docker's: the engine's settings, and the walk of writable layers (see fs.ts). */
export const configSchema = Type.Object(
  {
    ...engineSchema.properties,
    fs_usage_interval: Duration(
      '1m',
      'How often each running container\'s writable layer and state directory are walked for `container_fs_usage_bytes` (in the background, as cAdvisor does about every minute, with up to 25% jitter; scrapes serve the last figure). `0s` turns the walk off.',
    ),
  },
  { additionalProperties: false },
);

export type EngineConfig = Static<typeof engineSchema>;
export type DockerConfig = Static<typeof configSchema>;
