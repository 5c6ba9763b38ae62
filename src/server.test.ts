import { execFile } from 'node:child_process';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { HttpRequestView, HttpResponse, HttpRoute } from './component.js';
import { BodySlots, HttpServer } from './server.js';
import { type Answer, ResponseCache } from './server-worker.js';

let server: HttpServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const TIMEOUT = 'x-prometheus-scrape-timeout-seconds';

/** A route answering `body-<n>` for its n-th request, after `delay(n)` ms; counts repeats. */
function counting(delay: (n: number) => number): HttpRoute & { repeats: number; seen: HttpRequestView[] } {
  let n = 0;
  const route = {
    path: '/metrics',
    repeats: 0,
    seen: [] as HttpRequestView[],
    handle: async (req: HttpRequestView): Promise<HttpResponse> => {
      const i = ++n;
      route.seen.push(req);
      await new Promise((r) => setTimeout(r, delay(i)));
      const gz = /gzip/.test(String(req.headers['accept-encoding'] ?? ''));
      return { status: 200, headers: { 'content-type': 'text/plain', vary: 'Accept-Encoding' }, body: Buffer.from(`body-${i}${gz ? '-gz' : ''}`) };
    },
    late: { timeoutHeader: TIMEOUT, answerBy: 0.5, repeated: () => void route.repeats++ },
  };
  return route;
}

async function get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; ms: number }> {
  const t0 = performance.now();
  const res = await fetch(`http://${server?.address}${path}`, { headers });
  return { status: res.status, body: await res.text(), ms: performance.now() - t0 };
}

describe('the HTTP server thread', () => {
  it('passes requests to the main thread and its answers back, and 404s an unknown path', async () => {
    const route = counting(() => 0);
    server = await HttpServer.start([route], '127.0.0.1:0', {}, pino({ level: 'silent' }));
    expect(server.address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(await get('/metrics', { 'x-test': 'a', 'accept-encoding': 'identity' })).toMatchObject({ status: 200, body: 'body-1' });
    expect(route.seen[0]?.headers['x-test']).toBe('a');
    expect((await get('/nothing')).status).toBe(404);
    const head = await fetch(`http://${server.address}/metrics?x=1`, { method: 'HEAD', headers: { 'accept-encoding': 'identity' } });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe('6');
    expect(await head.text()).toBe('');
    const post = await fetch(`http://${server.address}/metrics`, { method: 'POST', body: 'x' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    // Each body was released once sent: the shared buffers are reused, not one per response.
    for (let i = 0; i < 20; i++) expect((await get('/metrics', { 'accept-encoding': 'identity' })).body).toBe(`body-${i + 3}`);
    expect(server.sharedBuffers).toBeLessThanOrEqual(2);
  });

  it('keeps an idle keep-alive connection open past the 5 s of a plain node:http server', async () => {
    server = await HttpServer.start([counting(() => 0)], '127.0.0.1:0', {}, pino({ level: 'silent' }));
    const { request, Agent } = await import('node:http');
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const once = (): Promise<{ body: string; port: number | undefined }> =>
      new Promise((resolve, reject) => {
        request(`http://${server?.address}/metrics`, { agent, headers: { 'accept-encoding': 'identity' } }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ body, port: res.socket?.localPort }));
        }).on('error', reject).end();
      });
    try {
      const first = await once();
      await new Promise((r) => setTimeout(r, 6000));
      const second = await once();
      expect(second.body).toBe('body-2');
      // The same connection: the server did not close it while idle.
      expect(second.port).toBe(first.port);
    } finally {
      agent.destroy();
    }
  }, 15_000);

  it('answers a late scrape with the last response for the same Vary headers at its share of the timeout, counts it, and keeps the late one for the next', async () => {
    // Request 2 is late (1.5 s against a 0.5 s deadline); the others answer at once.
    const route = counting((n) => (n === 2 ? 1500 : 0));
    server = await HttpServer.start([route], '127.0.0.1:0', {}, pino({ level: 'silent' }));
    const h = { [TIMEOUT]: '1', 'accept-encoding': 'identity' };
    expect((await get('/metrics', h)).body).toBe('body-1');
    const late = await get('/metrics', h);
    expect(late).toMatchObject({ status: 200, body: 'body-1' });
    expect(late.ms).toBeGreaterThanOrEqual(450);
    expect(late.ms).toBeLessThan(1400);
    await vi.waitFor(() => expect(route.repeats).toBe(1));
    // Another encoding has no earlier response: it waits for its own (request 3, at once).
    expect((await get('/metrics', { [TIMEOUT]: '1', 'accept-encoding': 'gzip' })).body).toBe('body-3-gz');
    // Request 2's response, once it came, replaced request 1's for the next late scrape.
    await new Promise((r) => setTimeout(r, 1200));
    expect((await get('/metrics', h)).body).toBe('body-4');
    expect(route.repeats).toBe(1);
  });

  it('waits for the main thread without a timeout header, and for a route without a late answer', async () => {
    const route = counting((n) => (n === 2 ? 800 : 0));
    const page = { path: '/page', handle: async (): Promise<HttpResponse> => new Promise((r) => setTimeout(() => r({ status: 200, headers: {}, body: 'page' }), 800)) };
    server = await HttpServer.start([route, page], '127.0.0.1:0', {}, pino({ level: 'silent' }));
    await get('/metrics');
    expect(await get('/metrics')).toMatchObject({ body: 'body-2-gz' });
    expect(await get('/page', { [TIMEOUT]: '0.1' })).toMatchObject({ body: 'page' });
    expect(route.repeats).toBe(0);
  });

  it('answers while the main thread is blocked', async () => {
    let n = 0;
    const route: HttpRoute = {
      path: '/metrics',
      handle: async () => {
        if (++n === 2) {
          // Held up the way a GC pause or a starved CPU holds the event loop: nothing else runs.
          const end = Date.now() + 2000;
          while (Date.now() < end);
        }
        return { status: 200, headers: {}, body: `body-${n}` };
      },
      late: { timeoutHeader: TIMEOUT, answerBy: 0.5, repeated: () => undefined },
    };
    server = await HttpServer.start([route], '127.0.0.1:0', {}, pino({ level: 'silent' }));
    expect((await get('/metrics', { [TIMEOUT]: '1' })).body).toBe('body-1');
    // The client runs in another process: this one's event loop is the one held up.
    const out = await new Promise<string>((resolve, reject) => {
      execFile('curl', ['-s', '-H', `${TIMEOUT}: 1`, '-w', '\\n%{time_total}', `http://${server?.address}/metrics`], (err, stdout) => (err ? reject(err) : resolve(stdout)));
    });
    const [body, seconds] = out.split('\n');
    expect(body).toBe('body-1');
    expect(Number(seconds)).toBeLessThan(1.5);
  });

  it('aborts the handler when the client goes away', async () => {
    let aborted: () => void = () => undefined;
    const wasAborted = new Promise<void>((r) => (aborted = r));
    const route: HttpRoute = {
      path: '/slow',
      handle: (req) =>
        new Promise((resolve) => {
          req.signal.addEventListener('abort', () => {
            aborted();
            resolve({ status: 503, headers: {}, body: 'gone\n' });
          });
        }),
    };
    server = await HttpServer.start([route], '127.0.0.1:0', {}, pino({ level: 'silent' }));
    const ac = new AbortController();
    const req = fetch(`http://${server.address}/slow`, { signal: ac.signal }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 200));
    ac.abort();
    await req;
    await expect(wasAborted).resolves.toBeUndefined();
  });

  it('rejects an address it cannot listen on, naming it', async () => {
    const first = await HttpServer.start([], '127.0.0.1:0', {}, pino({ level: 'silent' }));
    try {
      await expect(HttpServer.start([], first.address, {}, pino({ level: 'silent' }))).rejects.toThrow(new RegExp(`cannot listen on ${first.address.replace(/\./g, '\\.')}: .*EADDRINUSE`));
    } finally {
      await first.close();
    }
  });
});

describe('ResponseCache', () => {
  const ok = (body: string, vary = 'Accept, Accept-Encoding'): Answer => ({ status: 200, headers: { vary }, body });

  it('keeps one response per value of the Vary headers, only 200s, and at most 8 per route', () => {
    const c = new ResponseCache();
    c.store('/m', { accept: 'a', 'accept-encoding': 'gzip' }, ok('1'));
    c.store('/m', { accept: 'b', 'accept-encoding': 'gzip' }, ok('2'));
    c.store('/m', { accept: 'a', 'accept-encoding': 'gzip' }, { status: 503, headers: {}, body: 'x' });
    expect(c.find('/m', { accept: 'a', 'accept-encoding': 'gzip', 'user-agent': 'other' })?.body).toBe('1');
    expect(c.find('/m', { accept: 'b', 'accept-encoding': 'gzip' })?.body).toBe('2');
    expect(c.find('/m', { accept: 'a' })).toBeUndefined();
    expect(c.find('/other', { accept: 'a', 'accept-encoding': 'gzip' })).toBeUndefined();
    for (let i = 0; i < 20; i++) c.store('/m', { accept: `x${i}` }, ok(`x${i}`));
    expect(c.find('/m', { accept: 'x19' })?.body).toBe('x19');
    expect(c.find('/m', { accept: 'x12' })?.body).toBe('x12');
    expect(c.find('/m', { accept: 'x11' })).toBeUndefined();
    expect(c.find('/m', { accept: 'a', 'accept-encoding': 'gzip' })).toBeUndefined();
  });

  it('starts afresh when the route changes its Vary headers', () => {
    const c = new ResponseCache();
    c.store('/m', { accept: 'a' }, ok('1', 'Accept'));
    c.store('/m', { accept: 'a', 'accept-encoding': 'gzip' }, ok('2', 'Accept-Encoding'));
    expect(c.find('/m', { accept: 'b', 'accept-encoding': 'gzip' })?.body).toBe('2');
    expect(c.find('/m', { accept: 'a' })).toBeUndefined();
  });
});

describe('BodySlots', () => {
  it('reuses a released slot big enough, grows a free one too small, and gives up at 16 in use', () => {
    const slots = new BodySlots();
    const a = slots.put(Buffer.from('first body'));
    expect(a).toMatchObject({ slot: 0, length: 10 });
    expect(new Uint8Array(a?.buffer as SharedArrayBuffer, 0, 10)).toEqual(new Uint8Array(Buffer.from('first body')));
    // In use: the next body takes a new slot.
    expect(slots.put(Buffer.from('second'))).toMatchObject({ slot: 1, length: 6 });
    slots.release(0);
    // Slot 0 again, its buffer already on the server thread: not sent again, and overwritten.
    const again = slots.put(Buffer.from('third'));
    expect(again).toEqual({ slot: 0, length: 5 });
    expect(Buffer.from(a?.buffer as SharedArrayBuffer, 0, 5).toString()).toBe('third');
    slots.release(0);
    const big = slots.put(Buffer.alloc(100_000, 1));
    expect(big?.slot).toBe(0);
    expect(big?.buffer?.byteLength).toBeGreaterThanOrEqual(125_000);
    for (let i = 2; i < 16; i++) expect(slots.put(Buffer.from('x'))?.slot).toBe(i);
    expect(slots.put(Buffer.from('x'))).toBeUndefined();
    expect(slots.size).toBe(16);
  });
});
