import { type Static, Type } from '@sinclair/typebox';
import { Duration } from '../../src/schema.js';
import { enabledSchema } from '../../src/schema.js';

export const configSchema = Type.Object(
  {
    enabled: enabledSchema("the kubelet's pod log directory"),
    pod_logs_dir: Type.String({
      default: '/var/log/pods',
      minLength: 1,
      description: "The kubelet's pod log directory (`podLogsDir`), under the host root: `<namespace>_<pod>_<uid>/<container>/<attempt>.log`.",
    }),
    container_logs_dir: Type.String({
      default: '/var/log/containers',
      minLength: 1,
      description: "The kubelet's container log symlinks, under the host root: `<pod>_<namespace>_<container>-<container id>.log`.",
    }),
    refresh_interval: Duration('5s', 'How often both directories are listed again (two readdirs; only new symlinks are read).'),
  },
  { additionalProperties: false },
);

export type KubernetesConfig = Static<typeof configSchema>;
