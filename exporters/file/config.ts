import { type Static, Type } from '@sinclair/typebox';

export const configSchema = Type.Object(
  {
    enabled: Type.Union([Type.Literal('auto'), Type.Boolean()], {
      default: 'auto',
      description: '`auto`: on when `path` is set (as `--log-output-file PATH` does); `true`: on, writing to `path` or, when it is empty, to stdout; `false`: off.',
    }),
    path: Type.String({
      default: '',
      description: 'File the log records are appended to, one JSON object per line; `-` for the agent\'s stdout. Created when missing.',
    }),
    fsync: Type.Boolean({
      default: false,
      description: 'fsync the file after every batch before acknowledging it: records survive a power loss, not only the agent\'s death, at the cost of one disk flush per batch.',
    }),
  },
  { additionalProperties: false },
);

export type FileConfig = Static<typeof configSchema>;
