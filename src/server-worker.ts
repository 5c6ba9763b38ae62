/**
 * The agent's HTTP server, on a thread of its own (fastify): it accepts connections, checks
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
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import Fastify, { type FastifyInstance } from 'fastify';

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

export interface Answer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string | Uint8Array;
}

/** Messages from the server thread to the main thread. */
export type ToMain =
  | { readonly type: 'listening'; readonly address: string }
  | { readonly type: 'failed'; readonly message: string }
  | { readonly type: 'request'; readonly id: number; readonly path: string; readonly headers: RequestHeaders }
  /** The client went away before the response was sent. */
  | { readonly type: 'abort'; readonly id: number }
  /** Request `id` was answered here with an earlier response: the main thread's came too late. */
  | { readonly type: 'repeated'; readonly id: number; readonly path: string };

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
  const seconds = Number(Array.isArray(v) ? v[0] : v);
  return v !== undefined && v !== '' && Number.isFinite(seconds) && seconds > 0 ? received + late.answerBy * seconds * 1000 : undefined;
}

/** Responses kept per route, one per distinct value of the headers its `Vary` names: a scraper sends the same ones every time. */
const KEPT_PER_ROUTE = 8;

/** The last 200 response of each late-answer route, by the request headers its `Vary` names. */
export class ResponseCache {
  private readonly routes = new Map<string, { vary: string[]; byKey: Map<string, Answer> }>();

  private static key(vary: readonly string[], headers: RequestHeaders): string {
    return vary.map((h) => String(headers[h] ?? '')).join('\n');
  }

  store(path: string, headers: RequestHeaders, answer: Answer): void {
    if (answer.status !== 200) return;
    const vary = (answer.headers['vary'] ?? '').split(',').map((h) => h.trim().toLowerCase()).filter((h) => h !== '');
    let r = this.routes.get(path);
    if (r === undefined || r.vary.join() !== vary.join()) {
      r = { vary, byKey: new Map() };
      this.routes.set(path, r);
    }
    const key = ResponseCache.key(vary, headers);
    r.byKey.delete(key);
    r.byKey.set(key, answer);
    for (const k of r.byKey.keys()) {
      if (r.byKey.size <= KEPT_PER_ROUTE) break;
      r.byKey.delete(k);
    }
  }

  find(path: string, headers: RequestHeaders): Answer | undefined {
    const r = this.routes.get(path);
    return r?.byKey.get(ResponseCache.key(r.vary, headers));
  }
}

interface Pending {
  readonly path: string;
  readonly headers: RequestHeaders;
  /** Set once the client has its answer (the main thread's, or a repeated one). */
  answered: boolean;
  resolve(a: Answer): void;
}

function bodyOf(a: Answer): string | Buffer {
  return typeof a.body === 'string' ? a.body : Buffer.from(a.body.buffer, a.body.byteOffset, a.body.byteLength);
}

function serve(init: WorkerInit, post: (m: ToMain) => void): { app: FastifyInstance; receive(m: ToWorker): void } {
  const sec = init.security;
  const app = Fastify({ logger: false, forceCloseConnections: true, return503OnClosing: true, ...(sec.tls ? { https: { cert: Buffer.from(sec.tls.cert), key: Buffer.from(sec.tls.key) } } : {}) }) as unknown as FastifyInstance;
  const pending = new Map<number, Pending>();
  const cache = new ResponseCache();
  let nextId = 1;
  let closing = false;

  app.addHook('onRequest', async (req, reply) => {
    if (closing) return reply.code(503).header('connection', 'close').send('shutting down\n');
    const path = req.url.split('?')[0] ?? '';
    if (!OPEN.has(path) && !authorized(req.headers.authorization, sec)) {
      return reply
        .code(401)
        .header('www-authenticate', sec.basic ? 'Basic realm="lookout", charset="UTF-8"' : 'Bearer realm="lookout"')
        .send('authentication required\n');
    }
  });
  for (const route of init.routes) {
    app.get(route.path, async (req, reply) => {
      const received = performance.now();
      const id = nextId++;
      const headers = req.headers as RequestHeaders;
      const answer = await new Promise<Answer>((resolve) => {
        const p: Pending = { path: route.path, headers, answered: false, resolve };
        pending.set(id, p);
        post({ type: 'request', id, path: route.path, headers });
        reply.raw.once('close', () => {
          if (!reply.raw.writableFinished && !p.answered) post({ type: 'abort', id });
        });
        const deadline = route.late === undefined ? undefined : lateDeadline(route.late, headers, received);
        if (deadline === undefined) return;
        const timer = setTimeout(() => {
          const earlier = p.answered ? undefined : cache.find(route.path, headers);
          if (earlier === undefined) return;
          p.answered = true;
          resolve(earlier);
          post({ type: 'repeated', id, path: route.path });
        }, Math.max(0, deadline - performance.now()));
        timer.unref();
      });
      return reply.code(answer.status).headers(answer.headers).send(bodyOf(answer));
    });
  }
  return {
    app,
    receive(m: ToWorker): void {
      if (m.type === 'closing') closing = true;
      else if (m.type === 'response') {
        const p = pending.get(m.id);
        if (p === undefined) return;
        pending.delete(m.id);
        if (init.routes.find((r) => r.path === p.path)?.late !== undefined) cache.store(p.path, p.headers, m.answer);
        if (!p.answered) {
          p.answered = true;
          p.resolve(m.answer);
        }
      }
    },
  };
}

async function main(port: NonNullable<typeof parentPort>, init: WorkerInit): Promise<void> {
  const post = (m: ToMain): void => port.postMessage(m);
  const { app, receive } = serve(init, post);
  port.on('message', (m: ToWorker) => {
    if (m.type !== 'close') return receive(m);
    receive({ type: 'closing' });
    void app.close().then(() => port.close());
  });
  const { host, port: portNumber } = splitListen(init.listen);
  try {
    await app.listen({ host, port: portNumber });
  } catch (err) {
    post({ type: 'failed', message: (err as Error).message });
    port.close();
    return;
  }
  const a = app.server.address();
  post({ type: 'listening', address: typeof a === 'object' && a !== null ? `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}` : init.listen });
}

if (!isMainThread && parentPort !== null && (workerData as Partial<WorkerInit> | null)?.kind === 'lookout-http') void main(parentPort, workerData as WorkerInit);
