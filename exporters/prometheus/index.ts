/**
 * The Prometheus scrape endpoint: text format 0.0.4 by default, OpenMetrics 1.0 when the
 * scraper's Accept header asks for it, gzip when accepted. Each scrape is served from a
 * snapshot no older than `collect.min_interval` (concurrent scrapes share one collection), or
 * from the previous one when a new collection would outlast half the scraper's timeout.
 */
import type { Exporter, ExporterContext, ExporterFactory, HttpRequestView, HttpResponse } from '../../src/component.js';
import { CHUNK_BYTES, CONTENT_TYPE, ExpositionWriter, negotiate, writeEnd, writeFamilies, writeSampleFamilies } from '../../src/exposition.js';
import { ParallelGzip } from '../../src/gzip.js';
import { configSchema, type PrometheusConfig } from './config.js';

function header(req: HttpRequestView, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

/**
 * How long a scrape waits for a new collection: half the scraper's timeout, which Prometheus
 * sends with every scrape, leaving the other half to render, compress and send. Without the
 * header, as long as it takes.
 */
export function collectionWait(timeoutSeconds: string | undefined): number {
  const t = Number(timeoutSeconds);
  return timeoutSeconds !== undefined && timeoutSeconds !== '' && Number.isFinite(t) && t > 0 ? (t * 1000) / 2 : Infinity;
}

class PrometheusExporter implements Exporter {
  /** Size of the last response, to size the next one's buffer in one allocation. */
  private lastSize = 1 << 16;

  constructor(
    private readonly config: PrometheusConfig,
    private readonly ctx: ExporterContext,
  ) {
    if (config.enabled) ctx.route({ path: config.path, handle: (req) => this.scrape(req) });
  }

  async start(): Promise<void> {}

  async export(): Promise<void> {}

  private async scrape(req: HttpRequestView): Promise<HttpResponse> {
    const snapshot = await this.ctx.snapshot(collectionWait(header(req, 'x-prometheus-scrape-timeout-seconds')));
    // The scraper gave up meanwhile: rendering for nobody would only hold memory and CPU that the next scrape needs.
    if (req.signal.aborted) return { status: 503, headers: { 'content-type': 'text/plain' }, body: 'the client went away\n' };
    const format = negotiate(header(req, 'accept'));
    const started = performance.now();
    const self = this.ctx.self;
    self.scrapes.inc({ format });
    const headers: Record<string, string> = { 'content-type': CONTENT_TYPE[format], vary: 'Accept, Accept-Encoding' };
    const gzip = /\bgzip\b/.test(header(req, 'accept-encoding') ?? '') ? new ParallelGzip(this.config.gzip_level) : undefined;
    // One writer per response: concurrent scrapes must not share a buffer while it is sent or compressed.
    const w = gzip !== undefined ? new ExpositionWriter(CHUNK_BYTES, gzip) : new ExpositionWriter(this.lastSize + (this.lastSize >> 3));
    writeFamilies(snapshot.families, format, w);
    writeSampleFamilies(await self.families(), format, w);
    writeEnd(format, w);
    w.end();
    let body: Buffer;
    if (gzip !== undefined) {
      body = await gzip.result();
      headers['content-encoding'] = 'gzip';
    } else {
      this.lastSize = w.length;
      body = w.toBuffer();
    }
    self.renderDuration.set((performance.now() - started) / 1000);
    return { status: 200, headers, body };
  }

  async shutdown(): Promise<void> {}
}

export const prometheusExporter: ExporterFactory<PrometheusConfig> = {
  type: 'prometheus',
  description: 'The scrape endpoint for Prometheus (text format and OpenMetrics, gzip).',
  configSchema,
  create: (config, ctx) => new PrometheusExporter(config, ctx),
};
