/**
 * A minimal Docker Engine API client over its unix socket: JSON requests and the `/events`
 * stream. Only GETs; lookout never changes the engine's state.
 */
import { request } from 'node:http';
import { LookoutError } from '../../src/errors.js';

/** The API version path prefix; 1.41 is Docker 20.10, and newer engines serve it too. */
const API = '/v1.41';

export class EngineError extends LookoutError {
  constructor(
    message: string,
    readonly status: number | undefined,
    options?: { cause?: unknown },
  ) {
    super('LOOKOUT_ERR_METADATA', message, options);
  }
}

export interface DockerEvent {
  Type?: string;
  Action?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
  time?: number;
  timeNano?: number;
}

export class DockerEngine {
  constructor(
    readonly socketPath: string,
    private readonly timeoutMs = 5000,
  ) {}

  /** GETs a JSON document; resolves undefined on 404 (a container removed meanwhile). */
  get<T>(path: string): Promise<T | undefined> {
    return new Promise((resolve, reject) => {
      const req = request({ socketPath: this.socketPath, path: `${API}${path}`, method: 'GET', timeout: this.timeoutMs, headers: { host: 'docker' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => reject(new EngineError(`docker ${path}: ${err.message}`, res.statusCode, { cause: err })));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode === 404) return resolve(undefined);
          if (res.statusCode !== 200) return reject(new EngineError(`docker ${path}: HTTP ${res.statusCode}: ${body.slice(0, 200)}`, res.statusCode));
          try {
            resolve(JSON.parse(body) as T);
          } catch (err) {
            reject(new EngineError(`docker ${path}: response is not JSON`, res.statusCode, { cause: err }));
          }
        });
      });
      req.on('timeout', () => req.destroy(new Error(`timed out after ${this.timeoutMs} ms`)));
      req.on('error', (err) => reject(new EngineError(`docker ${path}: ${err.message}`, undefined, { cause: err })));
      req.end();
    });
  }

  /**
   * Streams container events until the connection ends or `signal` aborts; resolves when the
   * stream ends (dockerd stopped, say) and rejects if it cannot be opened. `onOpen` runs once
   * the engine has accepted the subscription, so a caller can list containers after it
   * without missing an event in between.
   */
  events(onEvent: (e: DockerEvent) => void, signal: AbortSignal, onOpen: () => void): Promise<void> {
    const filters = encodeURIComponent(JSON.stringify({ type: ['container'] }));
    return new Promise((resolve, reject) => {
      const req = request({ socketPath: this.socketPath, path: `${API}/events?filters=${filters}`, method: 'GET', headers: { host: 'docker' }, signal }, (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(new EngineError(`docker /events: HTTP ${res.statusCode}`, res.statusCode));
          return;
        }
        onOpen();
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buf += chunk;
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (line.length === 0) continue;
            try {
              onEvent(JSON.parse(line) as DockerEvent);
            } catch {
              // A garbled event line is skipped; the next relist corrects what it would have told.
            }
          }
        });
        res.on('end', () => resolve());
        res.on('error', () => resolve());
        res.on('aborted', () => resolve());
      });
      req.on('error', (err) => {
        if (signal.aborted) resolve();
        else reject(new EngineError(`docker /events: ${err.message}`, undefined, { cause: err }));
      });
      req.end();
    });
  }
}
