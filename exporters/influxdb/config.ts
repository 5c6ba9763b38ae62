import { type Static, Type } from '@sinclair/typebox';
import { logPushSettings } from '../../src/logpush.js';
import { pushSettings } from '../../src/push.js';
import { Secret, SecretFile } from '../../src/schema.js';

const TAG_KEY = '^[^\\s,=\\\\]+$';

export const configSchema = Type.Object(
  {
    ...pushSettings({
      what: 'InfluxDB (1.x with the `influx` client; 2.x, 3.x and Cloud through `api: v2`)',
      url: 'http://127.0.0.1:8086',
      urlHelp: 'InfluxDB base URL (a path prefix, for a proxy, is kept).',
      interval: '10s',
      maxBatchSamples: 5000,
      samples: 'field values',
    }),
    api: Type.Union([Type.Literal('v1'), Type.Literal('v2')], {
      default: 'v1',
      description: '`v1`: InfluxDB 1.x `/write` (database, retention policy, username/password) through the `influx` client; `v2`: `/api/v2/write` with a token (InfluxDB 2.x, 3.x, Cloud).',
    }),
    database: Type.String({ default: 'lookout', minLength: 1, description: '`api: v1`: the database to write to.' }),
    retention_policy: Type.String({ default: '', description: '`api: v1`: retention policy to write to; empty for the database\'s default.' }),
    create_database: Type.Boolean({ default: true, description: '`api: v1`: run `CREATE DATABASE` before the first write (needs admin rights; harmless when it exists). When refused, writing goes on.' }),
    username: Type.String({ default: '', description: '`api: v1`: user name for HTTP Basic authentication; empty for none.' }),
    password: Secret('`api: v1`: password of `username`.'),
    password_file: SecretFile('`api: v1`: file holding the password (instead of `password`).'),
    org: Type.String({ default: '', description: '`api: v2`: organization name (InfluxDB 2.x; 3.x ignores it).' }),
    bucket: Type.String({ default: '', description: '`api: v2`: bucket (InfluxDB 3.x: database) to write to; required with `api: v2`.' }),
    token: Secret('`api: v2`: API token, sent as `Authorization: Token ...`.'),
    token_file: SecretFile('`api: v2`: file holding the token (instead of `token`).'),
    precision: Type.Union([Type.Literal('s'), Type.Literal('ms'), Type.Literal('us'), Type.Literal('ns')], {
      default: 'ms',
      description: 'Timestamp precision of the points. Keep it when switching on `buffer: disk`: buffered batches carry timestamps in it.',
    }),
    layout: Type.Union([Type.Literal('telegraf'), Type.Literal('prometheus')], {
      default: 'telegraf',
      description: '`telegraf`: Telegraf docker input\'s measurements, tags and fields (see exporters/influxdb/README.md); `prometheus`: one measurement per metric with a `value` field and the labels as tags.',
    }),
    raw_cgroups: Type.Boolean({ default: false, description: '`layout: telegraf`: also write raw cgroups (systemd services, slices, the root), tagged `cgroup`; Telegraf reports containers only.' }),
    hostname: Type.String({ default: '', description: 'The `host` tag on every point (and Telegraf\'s `engine_host`); empty for the machine\'s host name. On Kubernetes, `${NODE_NAME}` from the Downward API.' }),
    tags: Type.Record(Type.String({ pattern: TAG_KEY }), Type.String(), { additionalProperties: false, default: {}, description: 'Static tags added to every point (Telegraf\'s global_tags); a series\' own tags win on a clash.' }),
    logs: Type.Object(
      {
        enabled: Type.Boolean({
          default: false,
          description: 'Also write container log records, as Telegraf\'s syslog input writes them (what Chronograf\'s log viewer reads; see exporters/influxdb/README.md), to the same database or bucket, with nanosecond timestamps. Off by default.',
        }),
        measurement: Type.String({ default: 'syslog', minLength: 1, description: 'Measurement of the log points.' }),
        ...logPushSettings('influxdb_logs'),
      },
      { additionalProperties: false, default: {}, description: 'Container logs to InfluxDB, beside the metrics (connection, credentials, `timeout`, `hostname` and `tags` are shared; batches and buffer are the logs\' own). Self-metrics under `exporter="influxdb_logs"`.' },
    ),
  },
  { additionalProperties: false },
);

export type InfluxConfig = Static<typeof configSchema>;
