import { type Static, Type } from '@sinclair/typebox';

export const configSchema = Type.Object(
  {
    enabled: Type.Boolean({ default: true, description: 'Serve metrics for Prometheus to scrape on the agent\'s HTTP server.' }),
    path: Type.String({ default: '/metrics', pattern: '^/[A-Za-z0-9/_.-]*$', description: 'URL path of the scrape endpoint.' }),
    gzip_level: Type.Integer({
      minimum: 1,
      maximum: 9,
      default: 1,
      description: 'gzip level when the scraper accepts gzip (Prometheus always does). Level 1 compresses exposition text about as well as 6 at a fraction of the CPU.',
    }),
  },
  { additionalProperties: false },
);

export type PrometheusConfig = Static<typeof configSchema>;
