import { type Static, Type } from '@sinclair/typebox';
import { pushSettings } from '../../src/push.js';
import { Secret, SecretFile } from '../../src/schema.js';

const LABEL_NAME = '^[a-zA-Z_][a-zA-Z0-9_]*$';
const HEADER_NAME = '^[A-Za-z0-9!#$%&\'*+.^_`|~-]+$';

export const configSchema = Type.Object(
  {
    ...pushSettings({
      what: 'a Prometheus remote-write receiver (Prometheus with --web.enable-remote-write-receiver, Thanos Receive, Mimir, VictoriaMetrics, ...)',
      url: 'http://127.0.0.1:9090/api/v1/write',
      urlHelp: 'The receiver\'s remote-write URL (Prometheus: `/api/v1/write`; Mimir: `/api/v1/push`; VictoriaMetrics: `/api/v1/write`).',
      interval: '15s',
      maxBatchSamples: 2000,
      samples: 'samples (series: one sample each)',
    }),
    external_labels: Type.Record(Type.String({ pattern: LABEL_NAME }), Type.String(), {
      additionalProperties: false,
      default: {},
      description: 'Labels added to every series, such as `node: ${NODE_NAME}`; a series\' own label of the same name wins, as in Prometheus.',
    }),
    basic_auth: Type.Object(
      {
        username: Type.String({ default: '', description: 'User name for HTTP Basic authentication; empty for none.' }),
        password: Secret('Password of `username`.'),
        password_file: SecretFile('File holding the password (instead of `password`).'),
      },
      { additionalProperties: false, default: {}, description: 'HTTP Basic authentication.' },
    ),
    bearer_token: Secret('Bearer token, sent as `Authorization: Bearer ...` (not with basic_auth).'),
    bearer_token_file: SecretFile('File holding the bearer token (instead of `bearer_token`).'),
    headers: Type.Record(Type.String({ pattern: HEADER_NAME }), Type.String(), {
      additionalProperties: false,
      default: {},
      description: 'Extra HTTP headers, such as `X-Scope-OrgID` for a Mimir tenant; credentials belong in basic_auth or bearer_token.',
    }),
  },
  { additionalProperties: false },
);

export type RemoteWriteConfig = Static<typeof configSchema>;
