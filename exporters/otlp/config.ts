import { type Static, Type } from '@sinclair/typebox';
import { logPushSettings } from '../../src/logpush.js';
import { PUSH_URL_PATTERN, pushSettings } from '../../src/push.js';

const HEADER_NAME = '^[A-Za-z0-9!#$%&\'*+.^_`|~-]+$';

export const configSchema = Type.Object(
  {
    ...pushSettings({
      what: 'an OpenTelemetry collector or backend over OTLP/HTTP (protobuf)',
      url: 'http://127.0.0.1:4318/v1/metrics',
      urlHelp: 'The OTLP/HTTP metrics endpoint, used as is (the collector\'s is `http://HOST:4318/v1/metrics`).',
      interval: '10s',
      maxBatchSamples: 5000,
      samples: 'data points',
    }),
    headers: Type.Record(Type.String({ pattern: HEADER_NAME }), Type.String({ writeOnly: true }), {
      additionalProperties: false,
      default: {},
      description: 'HTTP headers sent with each request, such as an API key (`Authorization: Api-Token ${DT_TOKEN}`). Their values are treated as credentials: never printed.',
    }),
    compression: Type.Union([Type.Literal('none'), Type.Literal('gzip')], { default: 'none', description: '`gzip` compresses request bodies (`Content-Encoding: gzip`).' }),
    host_name: Type.String({ default: '', description: 'The `host.name` resource attribute; empty for the machine\'s host name. On Kubernetes, `${NODE_NAME}` from the Downward API.' }),
    resource_attributes: Type.Record(Type.String({ minLength: 1 }), Type.String(), {
      additionalProperties: false,
      default: {},
      description: 'Attributes added to every resource, such as `k8s.cluster.name` or `deployment.environment.name`.',
    }),
    container_attributes: Type.Union([Type.Literal('resource'), Type.Literal('datapoint')], {
      default: 'resource',
      description: '`resource`: one resource per container with its `container.*` and `k8s.*` attributes, as the semantic conventions define them (what the collector\'s processors expect); `datapoint`: one host resource and those attributes on each data point (for backends that keep only data point attributes as labels, such as Prometheus\'s OTLP receiver without promote_resource_attributes).',
    }),
    logs: Type.Object(
      {
        enabled: Type.Boolean({ default: false, description: 'Also send container log records as OpenTelemetry logs (resource per container, body, severity, `log.iostream`). Off by default.' }),
        url: Type.String({
          default: '',
          pattern: `^$|${PUSH_URL_PATTERN}`,
          description: 'The OTLP/HTTP logs endpoint; empty: `url` with its `/v1/metrics` replaced by `/v1/logs`.',
        }),
        ...logPushSettings('otlp_logs'),
      },
      { additionalProperties: false, default: {}, description: 'Container logs over OTLP/HTTP, beside the metrics (`headers`, `compression`, `timeout`, `host_name` and `resource_attributes` are shared; batches and buffer are the logs\' own). Self-metrics under `exporter="otlp_logs"`.' },
    ),
  },
  { additionalProperties: false },
);

export type OtlpConfig = Static<typeof configSchema>;
