/**
 * The agent's HTTP routes, answered on the main thread for the server thread
 * (src/server-worker.ts), which owns the socket: the exporters' routes, `/healthz` (alive),
 * `/readyz` (first collection finished), the page at `/` and its API.
 */
import { Worker } from 'node:worker_threads';
import type { HttpResponse, HttpRoute } from './component.js';
import { LookoutError } from './errors.js';
import { reassertHeap } from './heap.js';
import type { Logger } from './log.js';
import type { Snapshot } from './model.js';
import type { RecentLine } from './logs.js';
import { containersView, PAGE_HTML } from './page.js';
import { plain, type ServerSecurity, type SharedBody, type ToMain, type ToWorker, type WorkerInit } from './server-worker.js';

export type { ServerSecurity } from './server-worker.js';

export interface ServerState {
  ready(): boolean;
  /** The pipeline's coalesced snapshot, for the page's API. */
  snapshot(): Promise<Snapshot>;
  /** A container's last log lines, by cgroup id, for the page. */
  recentLogs?(id: string): readonly RecentLine[];
}

/** The agent's own routes, beside the exporters'. */
export function coreRoutes(state: ServerState, version: string): HttpRoute[] {
  // The page's CPU column is a rate: keep the snapshot before the current one.
  let cur: Snapshot | undefined;
  let prev: Snapshot | undefined;
  return [
    { path: '/healthz', handle: async () => plain(200, 'ok\n') },
    { path: '/readyz', handle: async () => (state.ready() ? plain(200, 'ready\n') : plain(503, 'not ready: first collection not finished\n')) },
    { path: '/', handle: async () => ({ status: 200, headers: { 'content-type': 'text/html; charset=utf-8', 'x-lookout-version': version }, body: PAGE_HTML }) },
    {
      path: '/api/containers',
      handle: async () => {
        const s = await state.snapshot();
        if (s !== cur) {
          prev = cur;
          cur = s;
        }
        return { status: 200, headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' }, body: JSON.stringify(containersView(s, prev, state.recentLogs)) };
      },
    },
  ];
}

/**
 * The server thread. Built (dist/), its compiled module; run from the TypeScript sources
 * (the tests), the same module through tsx's loader, registered inside the thread.
 */
function spawn(init: WorkerInit): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./server-worker.js', import.meta.url), { workerData: init });
  const source = JSON.stringify(new URL('./server-worker.ts', import.meta.url).href);
  return new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${source}); })`, { eval: true, workerData: init });
}

/** Shared buffers in use at most; past that, a body is cloned into the message. */
const MAX_SLOTS = 16;

/**
 * Buffers shared with the server thread that carry response bodies, each filled again once
 * the server thread has released it (sent and no longer kept): the bodies of a scrape a
 * second cost one copy into memory already there, and no garbage on either thread.
 */
export class BodySlots {
  private readonly slots: Array<{ buffer: SharedArrayBuffer; free: boolean }> = [];

  /** The body copied into a free slot (a new or bigger one if none is big enough); undefined when MAX_SLOTS are in use. */
  put(body: Uint8Array): SharedBody | undefined {
    let slot = this.slots.findIndex((s) => s.free && s.buffer.byteLength >= body.byteLength);
    let fresh: SharedArrayBuffer | undefined;
    if (slot < 0) {
      slot = this.slots.findIndex((s) => s.free);
      if (slot < 0 && this.slots.length >= MAX_SLOTS) return undefined;
      if (slot < 0) slot = this.slots.length;
      // A quarter more than asked, in whole 64 KiB: the next scrape's body is a little bigger or smaller.
      fresh = new SharedArrayBuffer(Math.ceil((body.byteLength * 1.25 + 1) / 65536) * 65536);
      this.slots[slot] = { buffer: fresh, free: true };
    }
    const s = this.slots[slot] as { buffer: SharedArrayBuffer; free: boolean };
    new Uint8Array(s.buffer).set(body);
    s.free = false;
    return { slot, length: body.byteLength, ...(fresh ? { buffer: fresh } : {}) };
  }

  release(slot: number): void {
    const s = this.slots[slot];
    if (s !== undefined) s.free = true;
  }

  /** Slots made, for tests. */
  get size(): number {
    return this.slots.length;
  }
}

export class HttpServer {
  /** Handlers still running, by request id: aborted when the client goes away. */
  private readonly running = new Map<number, AbortController>();
  private readonly slots = new BodySlots();
  private closed: Promise<void> | undefined;
  private exited = false;
  /** The address listened on (port 0 resolved), once listening. */
  address = '';
  private readonly listening: Promise<void>;

  private constructor(
    private readonly worker: Worker,
    private readonly byPath: ReadonlyMap<string, HttpRoute>,
    private readonly log: Logger,
    listen: string,
  ) {
    this.listening = new Promise<void>((resolve, reject) => {
      const fail = (why: string): void => reject(new LookoutError('LOOKOUT_ERR_SERVER', `cannot listen on ${listen}: ${why}`));
      worker.on('message', (m: ToMain) => {
        if (m.type === 'listening') {
          this.address = m.address;
          resolve();
        } else if (m.type === 'failed') fail(m.message);
        else this.receive(m);
      });
      worker.on('error', (err) => {
        fail(String(err));
        log.error({ err: String(err) }, 'the HTTP server thread failed');
      });
      worker.on('exit', (code) => {
        this.exited = true;
        fail(`the server thread exited (${code})`);
        if (this.address !== '' && this.closed === undefined) log.error({ code }, 'the HTTP server thread exited: nothing is served until the agent is restarted');
      });
    });
  }

  /** Starts the server thread and listens on `listen`; rejects when it cannot. */
  static async start(routes: readonly HttpRoute[], listen: string, security: ServerSecurity, log: Logger): Promise<HttpServer> {
    const specs = routes.map((r) => ({ path: r.path, ...(r.late ? { late: { timeoutHeader: r.late.timeoutHeader, answerBy: r.late.answerBy } } : {}) }));
    const server = new HttpServer(spawn({ kind: 'lookout-http', routes: specs, listen, security }), new Map(routes.map((r) => [r.path, r])), log, listen);
    await server.listening;
    reassertHeap();
    return server;
  }

  private receive(m: ToMain): void {
    if (m.type === 'abort') this.running.get(m.id)?.abort();
    else if (m.type === 'release') this.slots.release(m.slot);
    else if (m.type === 'repeated') this.byPath.get(m.path)?.late?.repeated();
    else if (m.type === 'request') {
      const route = this.byPath.get(m.path);
      if (route === undefined) return this.post({ type: 'response', id: m.id, answer: plain(404, 'not found\n') });
      const gone = new AbortController();
      this.running.set(m.id, gone);
      route
        .handle({ headers: m.headers, signal: gone.signal })
        .then(
          (res) => this.respond(m.id, res),
          (err: unknown) => {
            this.log.error({ path: m.path, err: String(err) }, 'HTTP handler failed');
            this.post({ type: 'response', id: m.id, answer: plain(500, 'internal error\n') });
          },
        )
        .finally(() => this.running.delete(m.id));
    }
  }

  private post(m: ToWorker): void {
    if (this.closed === undefined) this.worker.postMessage(m);
  }

  private respond(id: number, res: HttpResponse): void {
    const shared = typeof res.body === 'string' || this.closed !== undefined ? undefined : this.slots.put(res.body);
    this.post({ type: 'response', id, answer: shared === undefined ? res : { ...res, body: shared } });
  }

  /** Shared body buffers made so far, for tests: as many as bodies the server thread holds at once. */
  get sharedBuffers(): number {
    return this.slots.size;
  }

  /** From now on every request gets 503 (the agent is stopping). */
  draining(): void {
    this.post({ type: 'closing' });
  }

  /** Closes the socket and ends the thread. */
  close(): Promise<void> {
    this.closed ??= new Promise<void>((resolve) => {
      if (this.exited) return resolve();
      this.worker.once('exit', () => resolve());
      this.worker.postMessage({ type: 'close' } satisfies ToWorker);
    });
    return this.closed;
  }
}
