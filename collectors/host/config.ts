import { type Static, Type } from '@sinclair/typebox';

export const configSchema = Type.Object(
  {
    enabled: Type.Boolean({ default: true, description: 'Report the machine metrics (`machine_cpu_cores`, `machine_memory_bytes`, ...) from the host\'s /proc.' }),
  },
  { additionalProperties: false },
);

export type HostConfig = Static<typeof configSchema>;
