import { type Static, Type } from '@sinclair/typebox';

export const configSchema = Type.Object(
  {
    enabled: Type.Boolean({ default: true, description: 'Report restarts, last termination (reason, exit code, time), OOM kills of exited containers and container counts per runtime and state, from what the runtime collectors know.' }),
  },
  { additionalProperties: false },
);

export type LifecycleConfig = Static<typeof configSchema>;
