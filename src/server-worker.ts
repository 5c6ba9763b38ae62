/**
 * The agent's HTTP server, on a thread of its own: it accepts connections, checks
 * credentials, serves TLS, and passes each request to the main thread, where the routes run
 * (src/server.ts). A route that declares a late answer (the scrape endpoint) is answered here
 * when the main thread is held up past its deadline: with the route's last response for the
 * same request headers, as its `Vary` names them. A node short of CPU, a long GC pause or a
 * slow kernel read stall the main thread's event loop for up to half a second (the
 * 500-container soak, docs/reliability.md); this thread does no collecting, so a scraper gets
 * a response one collection old rather than a timeout.
 *
 * While the agent stops, every request gets 503, so that load balancers and probes stop
 * sending traffic.
 */
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';

export interface ServerSecurity {
  /** PEM certificate and key: serve HTTPS. */
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer };
  readonly basic?: { readonly username: string; readonly password: string };
  readonly bearerToken?: string;
}

/** When the server thread answers a route on its own: at `answerBy` of the timeout the client sends in `timeoutHeader` (in seconds). */
export interface LateAnswer {
  readonly timeoutHeader: string;
  readonly answerBy: number;
}

export interface RouteSpec {
  readonly path: string;
  readonly late?: LateAnswer;
}

export interface WorkerInit {
  /** Marks the thread as this server's: the module is also imported for its helpers. */
  readonly kind: 'lookout-http';
  readonly routes: readonly RouteSpec[];
  readonly listen: string;
  readonly security: ServerSecurity;
}

export type RequestHeaders = Readonly<Record<string, string | string[] | undefined>>;

/** A body in one of the shared buffers that carry bodies to this thread (BodySlots, in src/server.ts). */
export interface SharedBody {
  readonly slot: number;
  readonly length: number;
  /** The slot's buffer, sent with the first body in it (a new slot, or a bigger one). */
  readonly buffer?: SharedArrayBuffer;
}

export interface Answer<B = string | Uint8Array | SharedBody> {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: B;
}

/** An answer as this thread sends it; `slot` names the shared buffer its body is a view of. */
interface Ready extends Answer<string | Buffer> {
  readonly slot?: number;
}

/** Messages from the server thread to the main thread. */
export type ToMain =
  | { readonly type: 'listening'; readonly address: string }
  | { readonly type: 'failed'; readonly message: string }
  | { readonly type: 'request'; readonly id: number; readonly path: string; readonly headers: RequestHeaders }
  /** The client went away before the response was sent. */
  | { readonly type: 'abort'; readonly id: number }
  /** Request `id` was answered here with an earlier response: the main thread's came too late. */
  | { readonly type: 'repeated'; readonly id: number; readonly path: string }
  /** No body here uses shared buffer `slot` any more: the main thread may fill it again. */
  | { readonly type: 'release'; readonly slot: number };

/** Messages from the main thread to the server thread. */
export type ToWorker =
  | { readonly type: 'response'; readonly id: number; readonly answer: Answer }
  | { readonly type: 'closing' }
  | { readonly type: 'close' };

export function splitListen(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(':');
  const host = listen.slice(0, i).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(listen.slice(i + 1)) };
}

/** How long an idle keep-alive connection stays open (fastify's default). */
const KEEP_ALIVE_MS = 72_000;

/** Paths that stay open whatever the auth settings: Kubernetes and load balancers probe them. */
const OPEN = new Set(['/healthz', '/readyz']);

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Whether an Authorization header satisfies the configured credentials (constant-time comparisons). */
export function authorized(header: string | undefined, sec: ServerSecurity): boolean {
  if (!sec.basic && !sec.bearerToken) return true;
  if (!header) return false;
  const [scheme = '', value = ''] = header.split(' ', 2);
  if (sec.bearerToken && scheme.toLowerCase() === 'bearer') return same(value, sec.bearerToken);
  if (sec.basic && scheme.toLowerCase() === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    return i >= 0 && same(decoded.slice(0, i), sec.basic.username) && same(decoded.slice(i + 1), sec.basic.password);
  }
  return false;
}

/** The deadline, on this thread's clock, of a request received at `received`; undefined without a usable timeout header. */
export function lateDeadline(late: LateAnswer, headers: RequestHeaders, received: number): number | undefined {
  const v = headers[late.timeoutHeader];
  const ms = timeoutMs(Array.isArray(v) ? v[0] : v);
  return ms === undefined ? undefined : received + late.answerBy * ms;
}

/** A timeout header's value, in seconds, as milliseconds; undefined unless it is a positive finite number. */
export function timeoutMs(seconds: string | undefined): number | undefined {
  const t = Number(seconds);
  return seconds !== undefined && seconds !== '' && Number.isFinite(t) && t > 0 ? t * 1000 : undefined;
}

/** Responses kept per route, one per distinct value of the headers its `Vary` names: a scraper sends the same ones every time. */
const KEPT_PER_ROUTE = 8;

/** The last 200 response of each late-answer route, by the request headers its `Vary` names; `dropped` is called for each one it lets go. */
export class ResponseCache<A extends Answer<unknown>> {
  private readonly routes = new Map<string, { vary: string[]; byKey: Map<string, A> }>();

  constructor(private readonly dropped: (a: A) => void = () => undefined) {}

  private static key(vary: readonly string[], headers: RequestHeaders): string {
    return vary.map((h) => String(headers[h] ?? '')).join('\n');
  }

  /** Keeps `answer` if it is a 200; returns whether it did. */
  store(path: string, headers: RequestHeaders, answer: A): boolean {
    if (answer.status !== 200) return false;
    const vary = (answer.headers['vary'] ?? '').split(',').map((h) => h.trim().toLowerCase()).filter((h) => h !== '');
    let r = this.routes.get(path);
    if (r === undefined || r.vary.join() !== vary.join()) {
      for (const old of r?.byKey.values() ?? []) this.dropped(old);
      r = { vary, byKey: new Map() };
      this.routes.set(path, r);
    }
    const key = ResponseCache.key(vary, headers);
    const old = r.byKey.get(key);
    if (old !== undefined) {
      r.byKey.delete(key);
      this.dropped(old);
    }
    r.byKey.set(key, answer);
    for (const [k, a] of r.byKey) {
      if (r.byKey.size <= KEPT_PER_ROUTE) break;
      r.byKey.delete(k);
      this.dropped(a);
    }
    return true;
  }

  find(path: string, headers: RequestHeaders): A | undefined {
    const r = this.routes.get(path);
    return r?.byKey.get(ResponseCache.key(r.vary, headers));
  }
}

interface Pending {
  readonly path: string;
  readonly headers: RequestHeaders;
  /** Set once the client has its answer (the main thread's, or a repeated one). */
  answered: boolean;
  resolve(a: Ready): void;
}

/**
 * The shared buffers this thread holds, and how many answers use each (a cached response, a
 * response being sent): a buffer no answer uses goes back to the main thread for reuse.
 * Bodies cloned into fresh buffers instead would leave the buffers of every scrape to this
 * thread's garbage collector, which, with almost no JavaScript garbage to prompt it, let
 * them pile up to 60 MB.
 */
class HeldSlots {
  private readonly buffers: SharedArrayBuffer[] = [];
  private readonly uses = new Map<number, number>();

  constructor(private readonly release: (slot: number) => void) {}

  /** The answer as sent from here, used once (by the caller, until it calls `drop`). */
  open(a: Answer): Ready {
    const b = a.body;
    if (typeof b === 'string') return { status: a.status, headers: a.headers, body: b };
    if (b instanceof Uint8Array) return { status: a.status, headers: a.headers, body: Buffer.from(b.buffer, b.byteOffset, b.byteLength) };
    if (b.buffer !== undefined) this.buffers[b.slot] = b.buffer;
    const buffer = this.buffers[b.slot];
    if (buffer === undefined) throw new Error(`shared body slot ${b.slot} was never sent`);
    const ready = { status: a.status, headers: a.headers, body: Buffer.from(buffer, 0, b.length), slot: b.slot };
    this.hold(ready);
    return ready;
  }

  hold(r: Ready): void {
    if (r.slot !== undefined) this.uses.set(r.slot, (this.uses.get(r.slot) ?? 0) + 1);
  }

  drop(r: Ready): void {
    if (r.slot === undefined) return;
    const n = (this.uses.get(r.slot) ?? 0) - 1;
    if (n > 0) this.uses.set(r.slot, n);
    else {
      this.uses.delete(r.slot);
      this.release(r.slot);
    }
  }
}

/** A plain-text answer. */
export const plain = (status: number, body: string, headers: Record<string, string> = {}): Answer<string> => ({ status, headers: { 'content-type': 'text/plain; charset=utf-8', ...headers }, body });

/**
 * The server itself: node:http (node:https with TLS), not fastify, which in a thread of its
 * own would cost 21 MB of RSS for the five GET routes served here.
 */
function serve(init: WorkerInit, post: (m: ToMain) => void): { server: Server; receive(m: ToWorker): void } {
  const sec = init.security;
  const routes = new Map(init.routes.map((r) => [r.path, r]));
  const pending = new Map<number, Pending>();
  const slots = new HeldSlots((slot) => post({ type: 'release', slot }));
  const cache = new ResponseCache<Ready>((a) => slots.drop(a));
  let nextId = 1;
  let closing = false;

  const send = (req: IncomingMessage, res: ServerResponse, a: Ready): void => {
    if (res.destroyed) return;
    slots.hold(a);
    // 'close' follows 'finish' (the body handed to the kernel) or an aborted connection.
    res.once('close', () => slots.drop(a));
    res.writeHead(a.status, { ...a.headers, 'content-length': String(Buffer.byteLength(a.body)) });
    res.end(req.method === 'HEAD' ? undefined : a.body);
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const received = performance.now();
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (closing) return send(req, res, plain(503, 'shutting down\n', { connection: 'close' }));
    if (!OPEN.has(path) && !authorized(req.headers.authorization, sec)) {
      return send(req, res, plain(401, 'authentication required\n', { 'www-authenticate': sec.basic ? 'Basic realm="lookout", charset="UTF-8"' : 'Bearer realm="lookout"' }));
    }
    const route = routes.get(path);
    if (route === undefined) return send(req, res, plain(404, `no route ${req.method ?? ''} ${path}\n`));
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(req, res, plain(405, `${req.method ?? ''} ${path}: only GET and HEAD\n`, { allow: 'GET, HEAD' }));
    const id = nextId++;
    const headers = req.headers as RequestHeaders;
    const p: Pending = { path, headers, answered: false, resolve: (a) => send(req, res, a) };
    pending.set(id, p);
    post({ type: 'request', id, path, headers });
    res.once('close', () => {
      if (!res.writableFinished && !p.answered) post({ type: 'abort', id });
    });
    const deadline = route.late === undefined ? undefined : lateDeadline(route.late, headers, received);
    if (deadline === undefined) return;
    setTimeout(() => {
      const earlier = p.answered ? undefined : cache.find(path, headers);
      if (earlier === undefined) return;
      p.answered = true;
      post({ type: 'repeated', id, path });
      p.resolve(earlier);
    }, Math.max(0, deadline - performance.now())).unref();
  };
  const server = sec.tls ? createHttpsServer({ cert: Buffer.from(sec.tls.cert), key: Buffer.from(sec.tls.key) }, handle) : createServer(handle);
  // Node closes a connection idle for 5 s, and a client reusing it at that moment gets a reset
  // (the benchmark's scraper did, between two 2.5 s scrapes at 5000 containers): keep idle
  // connections as long as fastify does, longer than scrapers and load balancers keep theirs.
  server.keepAliveTimeout = KEEP_ALIVE_MS;
  server.headersTimeout = KEEP_ALIVE_MS + 1000;
  return {
    server,
    receive(m: ToWorker): void {
      if (m.type === 'closing') closing = true;
      else if (m.type === 'response') {
        const a = slots.open(m.answer);
        const p = pending.get(m.id);
        pending.delete(m.id);
        if (p !== undefined && routes.get(p.path)?.late !== undefined && cache.store(p.path, p.headers, a)) slots.hold(a);
        if (p !== undefined && !p.answered) {
          p.answered = true;
          p.resolve(a);
        }
        slots.drop(a);
      }
    },
  };
}

async function main(port: NonNullable<typeof parentPort>, init: WorkerInit): Promise<void> {
  const post = (m: ToMain): void => port.postMessage(m);
  const { server, receive } = serve(init, post);
  port.on('message', (m: ToWorker) => {
    if (m.type !== 'close') return receive(m);
    receive({ type: 'closing' });
    server.close(() => port.close());
    server.closeAllConnections();
  });
  const { host, port: portNumber } = splitListen(init.listen);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(portNumber, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    post({ type: 'failed', message: (err as Error).message });
    port.close();
    return;
  }
  const a = server.address();
  post({ type: 'listening', address: typeof a === 'object' && a !== null ? `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}` : init.listen });
}

if (!isMainThread && parentPort !== null && (workerData as Partial<WorkerInit> | null)?.kind === 'lookout-http') void main(parentPort, workerData as WorkerInit);
