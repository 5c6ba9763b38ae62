/**
 * The agent's HTTP server (fastify): the exporters' routes, `/healthz` (alive), `/readyz`
 * (first collection finished) and an index page. While closing, every request gets 503 so
 * that load balancers and probes stop sending traffic.
 */
import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import type { HttpRoute } from './component.js';
import { LookoutError } from './errors.js';
import type { Snapshot } from './model.js';
import type { RecentLine } from './logs.js';
import { containersView, PAGE_HTML } from './page.js';

export interface ServerState {
  ready(): boolean;
  closing(): boolean;
  /** The pipeline's coalesced snapshot, for the page's API. */
  snapshot(): Promise<Snapshot>;
  /** A container's last log lines, by cgroup id, for the page. */
  recentLogs?(id: string): readonly RecentLine[];
}

export function splitListen(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(':');
  const host = listen.slice(0, i).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(listen.slice(i + 1)) };
}

export interface ServerSecurity {
  /** PEM certificate and key: serve HTTPS. */
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer };
  readonly basic?: { readonly username: string; readonly password: string };
  readonly bearerToken?: string;
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

export function buildServer(routes: readonly HttpRoute[], state: ServerState, version: string, sec: ServerSecurity = {}): FastifyInstance {
  const app = Fastify({ logger: false, forceCloseConnections: true, return503OnClosing: true, ...(sec.tls ? { https: { cert: sec.tls.cert, key: sec.tls.key } } : {}) }) as unknown as FastifyInstance;
  app.addHook('onRequest', async (req, reply) => {
    if (state.closing()) return reply.code(503).header('connection', 'close').send('shutting down\n');
    const path = req.url.split('?')[0] ?? '';
    if (!OPEN.has(path) && !authorized(req.headers.authorization, sec)) {
      return reply
        .code(401)
        .header('www-authenticate', sec.basic ? 'Basic realm="lookout", charset="UTF-8"' : 'Bearer realm="lookout"')
        .send('authentication required\n');
    }
  });
  app.get('/healthz', async (_req, reply) => reply.type('text/plain').send('ok\n'));
  app.get('/readyz', async (_req, reply) =>
    state.ready() ? reply.type('text/plain').send('ready\n') : reply.code(503).type('text/plain').send('not ready: first collection not finished\n'),
  );
  app.get('/', async (_req, reply) => reply.type('text/html; charset=utf-8').header('x-lookout-version', version).send(PAGE_HTML));
  // The page's CPU column is a rate: keep the snapshot before the current one.
  let cur: Snapshot | undefined;
  let prev: Snapshot | undefined;
  app.get('/api/containers', async (_req, reply) => {
    const s = await state.snapshot();
    if (s !== cur) {
      prev = cur;
      cur = s;
    }
    return reply.header('cache-control', 'no-store').send(containersView(s, prev, state.recentLogs));
  });
  for (const r of routes) {
    app.get(r.path, async (req, reply) => {
      const gone = new AbortController();
      reply.raw.once('close', () => {
        if (!reply.raw.writableFinished) gone.abort();
      });
      const res = await r.handle({ headers: req.headers, signal: gone.signal });
      return reply.code(res.status).headers(res.headers).send(res.body);
    });
  }
  return app;
}

export async function listen(app: FastifyInstance, address: string): Promise<string> {
  const { host, port } = splitListen(address);
  try {
    await app.listen({ host, port });
  } catch (err) {
    throw new LookoutError('LOOKOUT_ERR_SERVER', `cannot listen on ${address}: ${(err as Error).message}`, { cause: err });
  }
  const a = app.server.address();
  return typeof a === 'object' && a !== null ? `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}` : address;
}
