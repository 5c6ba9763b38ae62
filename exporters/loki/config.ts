import { type Static, Type } from '@sinclair/typebox';
import { logPushSettings } from '../../src/logpush.js';
import { PUSH_URL_PATTERN } from '../../src/push.js';
import { Duration, Secret, SecretFile } from '../../src/schema.js';

const LABEL_NAME = '^[a-zA-Z_][a-zA-Z0-9_]*$';
const HEADER_NAME = '^[A-Za-z0-9!#$%&\'*+.^_`|~-]+$';

/** The stream labels sent unless `labels` says otherwise: few values each, so few streams. */
export const DEFAULT_LABELS = ['job', 'host', 'namespace', 'pod', 'container', 'name', 'stream', 'level'];

export const configSchema = Type.Object(
  {
    enabled: Type.Boolean({ default: false, description: 'Push container log records to Grafana Loki. Off by default.' }),
    url: Type.String({
      default: 'http://127.0.0.1:3100/loki/api/v1/push',
      pattern: PUSH_URL_PATTERN,
      description: 'Loki\'s push endpoint, used as is (`http://HOST:3100/loki/api/v1/push`; Grafana Cloud: `https://logs-prod-....grafana.net/loki/api/v1/push`). Credentials go in their own settings, never in the URL.',
    }),
    encoding: Type.Union([Type.Literal('protobuf'), Type.Literal('json')], {
      default: 'protobuf',
      description: '`protobuf`: a snappy-compressed `logproto.PushRequest` (what Promtail and Alloy send); `json`: the JSON push body. Keep it while `buffer: disk` holds batches: they are stored encoded.',
    }),
    labels: Type.Array(Type.String({ pattern: LABEL_NAME }), {
      default: DEFAULT_LABELS,
      uniqueItems: true,
      description:
        'Stream labels, from: `job` (the `job` setting), `host` (`hostname`), `stream` (stdout or stderr), `level` (when detected), and the record\'s identity labels (`namespace`, `pod`, `container`, `name`, `image`, `id`, `container_label_<key>`). `name` is left out of Kubernetes containers (those with a `pod`), where it is a per-instance id. Each label multiplies streams: never `id` unless you mean it.',
    }),
    static_labels: Type.Record(Type.String({ pattern: LABEL_NAME }), Type.String(), {
      additionalProperties: false,
      default: {},
      description: 'Labels added to every stream, such as `cluster: prod-eu`; a label from `labels` of the same name wins.',
    }),
    job: Type.String({ default: 'lookout', description: 'Value of the `job` label; empty to leave it out.' }),
    hostname: Type.String({ default: '', description: 'Value of the `host` label; empty for the machine\'s host name. On Kubernetes, `${NODE_NAME}` from the Downward API.' }),
    tenant_id: Type.String({ default: '', description: 'Sent as `X-Scope-OrgID` (a multi-tenant Loki\'s tenant); empty for none.' }),
    basic_auth: Type.Object(
      {
        username: Type.String({ default: '', description: 'User name for HTTP Basic authentication (Grafana Cloud: the instance id); empty for none.' }),
        password: Secret('Password of `username`.'),
        password_file: SecretFile('File holding the password (instead of `password`).'),
      },
      { additionalProperties: false, default: {}, description: 'HTTP Basic authentication.' },
    ),
    bearer_token: Secret('Bearer token, sent as `Authorization: Bearer ...` (not with basic_auth).'),
    bearer_token_file: SecretFile('File holding the bearer token (instead of `bearer_token`).'),
    headers: Type.Record(Type.String({ pattern: HEADER_NAME }), Type.String({ writeOnly: true }), {
      additionalProperties: false,
      default: {},
      description: 'Extra HTTP headers sent with each push. Their values are treated as credentials: never printed.',
    }),
    max_out_of_order: Duration(
      '1h',
      'How far behind the newest entry already sent for its stream an entry may be and keep its own time: Loki 2.4 and later accept out-of-order entries within `max_chunk_age / 2` (1h by default). An entry further behind is sent with that newest time instead, so Loki does not reject it. `0s` for Loki before 2.4, which accepts no entry older than the last.',
    ),
    timeout: Duration('10s', 'Timeout of one request.'),
    ...logPushSettings('loki'),
  },
  { additionalProperties: false },
);

export type LokiConfig = Static<typeof configSchema>;
