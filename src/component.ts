/**
 * The contracts every collector and exporter implements. A component is a plain factory
 * object; the registries (`collectors/index.ts`, `exporters/index.ts`) list them, and
 * nothing else in the core knows a component by name.
 */
import type { TObject } from '@sinclair/typebox';
import type { Logger } from 'pino';
import type { ContainerDirectory } from './containers.js';
import type { Sheddable } from './delivery.js';
import type { LogRecord, LogSink } from './logs.js';
import type { Accumulator, MetricDef, Snapshot } from './model.js';
import type { SelfMetrics } from './selfmetrics.js';

/** The world a component sees. Injected so tests can point it at a fixture tree and a fake clock. */
export interface ComponentContext {
  /** Host root: `/`, or `/host` when the agent runs in a container with the host mounted there. */
  readonly root: string;
  /** Milliseconds since the epoch. */
  readonly now: () => number;
  readonly log: Logger;
  /** What the runtime collectors know of each container; shared by all components. */
  readonly containers: ContainerDirectory;
  /** Where log sources write records; `enabled` is false when no destination wants logs. */
  readonly logs: LogSink;
  /** The agent's writable state directory (checkpoints, buffers). */
  readonly stateDir: string;
}

export interface Collector {
  /** Prepares long-lived resources. Called once, before the first `collect`. */
  start(signal: AbortSignal): Promise<void>;
  /**
   * Adds the current values to `acc`. Must not throw for partial failures: report them
   * with `acc.error(kind, err)` and keep going. A target that vanished mid-read is normal
   * and is simply left out.
   */
  collect(acc: Accumulator): Promise<void>;
  /** Releases resources. Safe to call twice and before `start()`. */
  shutdown(): Promise<void>;
}

export interface CollectorFactory<C = unknown> {
  /** The key under `collectors:` in the config; a noun (`cgroups`, `host`). */
  readonly type: string;
  /** JSON Schema (TypeBox) of this collector's config; unknown keys are errors. */
  readonly configSchema: TObject;
  readonly description: string;
  /** Every metric this collector can emit: its part of the catalogue. */
  readonly metrics: readonly MetricDef[];
  create(config: C, ctx: ComponentContext): Collector;
}

/** What the core offers exporters beyond the common context. */
export interface ExporterContext extends ComponentContext {
  /**
   * A snapshot no older than `collect.min_interval`, collecting anew if needed; concurrent
   * callers share one collection. With `maxWaitMs`, the previous snapshot when the collection
   * takes longer than that (and there is one).
   */
  snapshot(maxWaitMs?: number): Promise<Snapshot>;
  /** The collection in progress, if there is one; never starts one. */
  collecting(): Promise<Snapshot> | undefined;
  /** The agent's own metrics, to serve beside the snapshot and to count deliveries. */
  readonly self: SelfMetrics;
  /** Registers an HTTP route on the agent's server; only valid before `start()`. */
  route(route: HttpRoute): void;
}

export interface HttpRequestView {
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** Aborted when the client goes away before the response is sent (a scraper that timed out). */
  readonly signal: AbortSignal;
}

export interface HttpResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string | Buffer;
}

export interface HttpRoute {
  readonly path: string;
  handle(req: HttpRequestView): Promise<HttpResponse>;
  /**
   * Lets the server thread answer on its own when `handle` is late: at `answerBy` of the
   * timeout that the client sends in the header `timeoutHeader` (seconds), with this route's
   * last 200 response for the same values of the request headers its `Vary` names; then
   * `repeated()` is called, and the late response is kept for the next request.
   */
  readonly late?: { readonly timeoutHeader: string; readonly answerBy: number; repeated(): void };
}

export interface Exporter {
  start(signal: AbortSignal): Promise<void>;
  /**
   * Delivers one snapshot. Pull exporters (the Prometheus endpoint) serve snapshots on
   * request instead and do nothing here.
   */
  export(snapshot: Snapshot): Promise<void>;
  /**
   * Present on exporters that take log records: resolves once the records are delivered,
   * durably buffered or counted as dropped (see src/logs.ts).
   */
  writeLogs?(records: readonly LogRecord[]): Promise<void>;
  /** The exporter's delivery queues, which the memory budget may shrink (src/budget.ts). */
  queues?(): readonly Sheddable[];
  /**
   * True for exporters that encode every snapshot into requests (the push exporters): their
   * short-lived objects want V8's default young generation (src/heap.ts).
   */
  readonly encodesSnapshots?: boolean;
  /** Flushes what it holds and releases resources. Safe to call twice and before `start()`. */
  shutdown(): Promise<void>;
}

export interface ExporterFactory<C = unknown> {
  /** The key under `exporters:` in the config; a noun (`prometheus`, `influxdb`). */
  readonly type: string;
  readonly configSchema: TObject;
  readonly description: string;
  create(config: C, ctx: ExporterContext): Exporter;
}
