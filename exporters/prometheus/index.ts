/**
 * The Prometheus scrape endpoint: text format 0.0.4 by default, OpenMetrics 1.0 when the
 * scraper's Accept header asks for it, gzip when accepted. Each scrape is served from a
 * snapshot no older than `collect.min_interval`; the rendered container part is cached per
 * snapshot and format, so rapid or concurrent scrapes cost one rendering.
 */
import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import type { Exporter, ExporterContext, ExporterFactory, HttpRequestView, HttpResponse } from '../../src/component.js';
import { CONTENT_TYPE, finish, type Format, negotiate, renderFamilies, renderSampleFamilies } from '../../src/exposition.js';
import type { Snapshot } from '../../src/model.js';
import { configSchema, type PrometheusConfig } from './config.js';

const gzip = promisify(gzipCb);

function header(req: HttpRequestView, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

/** Renders a snapshot's families alone; exported for the benchmark and tests. */
export function renderSnapshot(snapshot: Snapshot, format: Format): string[] {
  const out: string[] = [];
  renderFamilies(snapshot.families, format, out);
  return out;
}

class PrometheusExporter implements Exporter {
  private cache: { snapshot: Snapshot; format: Format; parts: string[] } | undefined;

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
    let parts: string[];
    if (this.cache && this.cache.snapshot === snapshot && this.cache.format === format) parts = this.cache.parts;
    else {
      parts = renderSnapshot(snapshot, format);
      this.cache = { snapshot, format, parts };
    }
    const self = this.ctx.self;
    self.scrapes.inc({ format });
    const out = [...parts];
    renderSampleFamilies(await self.families(), format, out);
    const text = finish(out, format);
    const headers: Record<string, string> = { 'content-type': CONTENT_TYPE[format], vary: 'Accept, Accept-Encoding' };
    let body: string | Buffer = text;
    if (/\bgzip\b/.test(header(req, 'accept-encoding') ?? '')) {
      body = await gzip(text, { level: this.config.gzip_level });
      headers['content-encoding'] = 'gzip';
    }
    self.renderDuration.set((performance.now() - started) / 1000);
    return { status: 200, headers, body };
  }

  async shutdown(): Promise<void> {
    this.cache = undefined;
  }
}

export const prometheusExporter: ExporterFactory<PrometheusConfig> = {
  type: 'prometheus',
  description: 'The scrape endpoint for Prometheus (text format and OpenMetrics, gzip).',
  configSchema,
  create: (config, ctx) => new PrometheusExporter(config, ctx),
};
