/**
 * The Prometheus scrape endpoint: text format 0.0.4 by default, OpenMetrics 1.0 when the
 * scraper's Accept header asks for it, gzip when accepted. Each scrape is served from a
 * snapshot no older than `collect.min_interval`; the rendered container part is cached per
 * snapshot and format, so rapid or concurrent scrapes cost one rendering.
 */
import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import type { Exporter, ExporterContext, ExporterFactory, HttpRequestView, HttpResponse } from '../../src/component.js';
import { CONTENT_TYPE, ExpositionWriter, negotiate, writeEnd, writeFamilies, writeSampleFamilies } from '../../src/exposition.js';
import { configSchema, type PrometheusConfig } from './config.js';

const gzip = promisify(gzipCb);

function header(req: HttpRequestView, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
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
    const snapshot = await this.ctx.snapshot();
    const format = negotiate(header(req, 'accept'));
    const started = performance.now();
    const self = this.ctx.self;
    self.scrapes.inc({ format });
    // One writer per response: concurrent scrapes must not share a buffer while gzip reads it.
    const w = new ExpositionWriter(this.lastSize + (this.lastSize >> 3));
    writeFamilies(snapshot.families, format, w);
    writeSampleFamilies(await self.families(), format, w);
    writeEnd(format, w);
    this.lastSize = w.length;
    const headers: Record<string, string> = { 'content-type': CONTENT_TYPE[format], vary: 'Accept, Accept-Encoding' };
    let body: Buffer = w.toBuffer();
    if (/\bgzip\b/.test(header(req, 'accept-encoding') ?? '')) {
      body = await gzip(body, { level: this.config.gzip_level });
      headers['content-encoding'] = 'gzip';
      // The text is compressed: its buffer can serve the next scrape instead of waiting for a full GC.
      w.release();
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
