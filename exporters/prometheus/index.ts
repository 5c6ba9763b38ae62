/**
 * The Prometheus scrape endpoint: text format 0.0.4 by default, OpenMetrics 1.0 when the
 * scraper's Accept header asks for it, gzip when accepted. Each scrape is served from a
 * snapshot no older than `collect.min_interval` (concurrent scrapes share one collection), or
 * from the previous one when a new collection would outlast 25% of the scraper's timeout; a
 * gzipped response is rendered once per snapshot, and one not done by 40% of the timeout
 * gives way to the last one that is. When this thread has not answered by 60% of the timeout,
 * the server thread repeats the previous response on its own (src/server-worker.ts). Each
 * older answer is counted in `lookout_stale_snapshots_total`.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { Exporter, ExporterContext, ExporterFactory, HttpRequestView, HttpResponse } from '../../src/component.js';
import { CONTENT_TYPE, ExpositionWriter, type Format, negotiate, writeEnd, writeFamilies, writeSampleFamilies } from '../../src/exposition.js';
import { ParallelGzip } from '../../src/gzip.js';
import { timeoutMs } from '../../src/server-worker.js';
import type { Snapshot } from '../../src/model.js';
import { configSchema, type PrometheusConfig } from './config.js';

function header(req: HttpRequestView, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

/** How long a scrape waits for a new collection, as a share of the scraper's timeout. */
const WAIT_FOR_COLLECTION = 0.25;

/** The scraper's timeout in milliseconds, from the header Prometheus sends with every scrape; Infinity without a usable one. */
function scrapeTimeoutMs(timeoutSeconds: string | undefined): number {
  return timeoutMs(timeoutSeconds) ?? Infinity;
}

/**
 * How long a scrape waits for a new collection: 25% of the scraper's timeout, leaving the
 * rest to render, compress and send (the 500-container soak, docs/reliability.md, saw the
 * event loop held up to 0.3 s on a starved node). Without the header, as long as it takes.
 */
export function collectionWait(timeoutSeconds: string | undefined): number {
  return WAIT_FOR_COLLECTION * scrapeTimeoutMs(timeoutSeconds);
}

/** Metric families rendered between two yields to the event loop: about a millisecond's work at 1000 containers. */
const FAMILIES_PER_TURN = 1;

/** When a scrape must be answered at the latest, as a share of the scraper's timeout: what is left is for sending, and for a scraper as short of CPU as the node. */
const ANSWER_BY = 0.4;

/**
 * When the server thread answers with the previous response if this thread has not answered
 * (its event loop held up: by a GC pause, by a node with no CPU to spare), as a share of the
 * scraper's timeout.
 */
const REPEAT_BY = 0.6;

const TIMEOUT_HEADER = 'x-prometheus-scrape-timeout-seconds';

/** A gzipped response, rendered or being rendered: of which snapshot, in which format. */
interface Rendered {
  /** The snapshot's time, which tells snapshots apart (the snapshot itself is not held: it is the pipeline's to keep). */
  readonly time: number;
  readonly format: Format;
  readonly body: Promise<Buffer>;
}

class PrometheusExporter implements Exporter {
  /** Size of the last uncompressed response, to size the next one's buffer in one allocation. */
  private lastSize = 1 << 16;
  /** The last gzipped response rendered to the end, and the one being rendered. */
  private ready: Rendered | undefined;
  private rendering: Rendered | undefined;
  /** How long the last gzipped response took to render, wall clock, in milliseconds. */
  private lastRenderMs = 0;

  constructor(
    private readonly config: PrometheusConfig,
    private readonly ctx: ExporterContext,
  ) {
    if (config.enabled) {
      ctx.route({
        path: config.path,
        handle: (req) => this.scrape(req),
        late: { timeoutHeader: TIMEOUT_HEADER, answerBy: REPEAT_BY, repeated: () => ctx.self.staleSnapshots.inc() },
      });
    }
  }

  async start(): Promise<void> {}

  async export(): Promise<void> {}

  /**
   * `turns`: yield to the event loop every few families (a timer or another scrape gets its
   * turn on a busy node), and wait after each family while compressed chunks queue up (their
   * deflate stays on the threadpool, off the thread that answers scrapes).
   */
  private async render(snapshot: Snapshot, format: Format, w: ExpositionWriter, turns: boolean): Promise<void> {
    const families = snapshot.families;
    if (!turns) writeFamilies(families, format, w);
    else {
      for (let i = 0; i < families.length; i++) {
        writeFamilies(families.slice(i, i + 1), format, w);
        if ((i + 1) % FAMILIES_PER_TURN === 0) await yieldToLoop();
        await w.room();
      }
    }
    writeSampleFamilies(await this.ctx.self.families(), format, w);
    writeEnd(format, w);
    w.end();
  }

  /** Starts rendering and compressing a response; it becomes `ready` when done. */
  private startGzip(snapshot: Snapshot, format: Format): Rendered {
    const started = performance.now();
    const gzip = new ParallelGzip(this.config.gzip_level);
    const r: Rendered = {
      time: snapshot.time,
      format,
      body: this.render(snapshot, format, new ExpositionWriter(gzip), true).then(() => gzip.result()),
    };
    this.rendering = r;
    r.body.then(
      () => {
        this.lastRenderMs = performance.now() - started;
        this.ctx.self.renderDuration.set(this.lastRenderMs / 1000);
        if (this.rendering === r) this.rendering = undefined;
        if (this.ready === undefined || this.ready.time <= r.time) this.ready = r;
      },
      () => {
        if (this.rendering === r) this.rendering = undefined;
      },
    );
    return r;
  }

  /**
   * A gzipped response for a scrape that has a deadline or not. A response already rendered or
   * being rendered for the same snapshot is shared (a second Prometheus of an HA pair, a scrape
   * served the previous collection). Under a deadline, one response is rendered at a time (a
   * scrape arriving meanwhile takes the one in progress), and at the deadline a response not yet
   * done gives way to the last one that is: on a node with no CPU to spare, a scrape one
   * collection old rather than a failed one.
   */
  private async gzipped(snapshot: Snapshot, format: Format, deadline: number): Promise<Rendered> {
    const same = (r: Rendered | undefined): boolean => r !== undefined && r.format === format && r.time === snapshot.time;
    const timed = Number.isFinite(deadline);
    const r = same(this.rendering) ? (this.rendering as Rendered) : same(this.ready) ? (this.ready as Rendered) : timed && this.rendering?.format === format ? this.rendering : this.startGzip(snapshot, format);
    const fallback = this.ready;
    if (!timed || fallback === undefined || fallback === r || fallback.format !== format) {
      await r.body;
      return r;
    }
    // The last render took longer than the time left: not worth waiting for this one.
    if (this.lastRenderMs > deadline - performance.now()) return fallback;
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        r.body.then(() => r),
        new Promise<Rendered>((resolve) => {
          timer = setTimeout(() => resolve(fallback), Math.max(0, deadline - performance.now()));
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * A collection still going on after a scrape was answered (without it, on a busy node): its
   * response is rendered as soon as it ends, so that the next scrape finds it ready.
   */
  private prepare(format: Format): void {
    const next = this.ctx.collecting();
    if (next === undefined) return;
    next.then(
      (s) => {
        if (this.rendering === undefined && this.ready?.time !== s.time) this.startGzip(s, format);
      },
      () => undefined,
    );
  }

  private async scrape(req: HttpRequestView): Promise<HttpResponse> {
    const received = performance.now();
    const timeout = header(req, TIMEOUT_HEADER);
    const snapshot = await this.ctx.snapshot(collectionWait(timeout));
    // A collection still going on means the pipeline answered with the previous one, and counted it.
    const counted = this.ctx.collecting() !== undefined;
    // The scraper gave up meanwhile: rendering for nobody would only hold memory and CPU that the next scrape needs.
    if (req.signal.aborted) return { status: 503, headers: { 'content-type': 'text/plain' }, body: 'the client went away\n' };
    const format = negotiate(header(req, 'accept'));
    const self = this.ctx.self;
    self.scrapes.inc({ format });
    const headers: Record<string, string> = { 'content-type': CONTENT_TYPE[format], vary: 'Accept, Accept-Encoding' };
    if (/\bgzip\b/.test(header(req, 'accept-encoding') ?? '')) {
      const deadline = received + ANSWER_BY * scrapeTimeoutMs(timeout);
      const r = await this.gzipped(snapshot, format, deadline);
      if (r.time !== snapshot.time && !counted) self.staleSnapshots.inc();
      if (Number.isFinite(deadline)) this.prepare(format);
      headers['content-encoding'] = 'gzip';
      return { status: 200, headers, body: await r.body };
    }
    // One writer per response: concurrent scrapes must not share a buffer while it is sent.
    const started = performance.now();
    const w = new ExpositionWriter(this.lastSize + (this.lastSize >> 3));
    await this.render(snapshot, format, w, false);
    this.lastSize = w.length;
    self.renderDuration.set((performance.now() - started) / 1000);
    return { status: 200, headers, body: w.toBuffer() };
  }

  async shutdown(): Promise<void> {}
}

export const prometheusExporter: ExporterFactory<PrometheusConfig> = {
  type: 'prometheus',
  description: 'The scrape endpoint for Prometheus (text format and OpenMetrics, gzip).',
  configSchema,
  create: (config, ctx) => new PrometheusExporter(config, ctx),
};
