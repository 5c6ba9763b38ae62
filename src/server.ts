/**
 * The agent's HTTP server (fastify): the exporters' routes, `/healthz` (alive), `/readyz`
 * (first collection finished) and an index page. While closing, every request gets 503 so
 * that load balancers and probes stop sending traffic.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { HttpRoute } from './component.js';
import { LookoutError } from './errors.js';
import type { Snapshot } from './model.js';
import { containersView, PAGE_HTML } from './page.js';

export interface ServerState {
  ready(): boolean;
  closing(): boolean;
  /** The pipeline's coalesced snapshot, for the page's API. */
  snapshot(): Promise<Snapshot>;
}

export function splitListen(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(':');
  const host = listen.slice(0, i).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(listen.slice(i + 1)) };
}

export function buildServer(routes: readonly HttpRoute[], state: ServerState, version: string): FastifyInstance {
  const app = Fastify({ logger: false, forceCloseConnections: true, return503OnClosing: true });
  app.addHook('onRequest', async (_req, reply) => {
    if (state.closing()) await reply.code(503).header('connection', 'close').send('shutting down\n');
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
    return reply.header('cache-control', 'no-store').send(containersView(s, prev));
  });
  for (const r of routes) {
    app.get(r.path, async (req, reply) => {
      const res = await r.handle({ headers: req.headers });
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
