/**
 * Preloaded into `lookout run` by the CLI tests (node --import): delays the HTTP server's
 * close by E2E_SLOW_CLOSE_MS, as a server draining slow connections would, so that the
 * agent's stop is slow and waits on the event loop (where signals are delivered).
 */
import http from 'node:http';

const delay = Number(process.env.E2E_SLOW_CLOSE_MS ?? '0');
if (delay > 0) {
  const close = http.Server.prototype.close;
  http.Server.prototype.close = function slowClose(...args) {
    setTimeout(() => close.apply(this, args), delay);
    return this;
  };
}
