import { type Static, Type } from '@sinclair/typebox';
import { pushSettings } from '../../src/push.js';

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
  },
  { additionalProperties: false },
);

export type OtlpConfig = Static<typeof configSchema>;
