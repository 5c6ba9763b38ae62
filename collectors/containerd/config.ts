import { type Static, Type } from '@sinclair/typebox';
import { Duration } from '../../src/schema.js';
import { enabledSchema } from '../../src/schema.js';

export const configSchema = Type.Object(
  {
    enabled: enabledSchema("containerd's task state directory"),
    state_dir: Type.String({
      default: '/run/containerd/io.containerd.runtime.v2.task',
      minLength: 1,
      description:
        "containerd's v2 task state directory, under the host root: the shims keep each running container's OCI bundle in `<namespace>/<id>/config.json` there.",
    }),
    exclude_namespaces: Type.Array(Type.String({ minLength: 1 }), {
      default: ['moby'],
      description: "containerd namespaces to ignore. `moby` is Docker's own: the docker collector names those containers.",
    }),
    refresh_interval: Duration('5s', 'How often the state directory is listed again; only bundles whose config.json changed are parsed again.'),
  },
  { additionalProperties: false },
);

export type ContainerdConfig = Static<typeof configSchema>;
