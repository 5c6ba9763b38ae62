/**
 * A minimal client of CRI-O's info endpoint, served on its CRI socket (the one cAdvisor uses):
 * `GET /info` and `GET /containers/<id>`. Only GETs.
 */
import { request } from 'node:http';
import { LookoutError } from '../../src/errors.js';

export class CrioError extends LookoutError {
  /** @param status the HTTP status; undefined when CRI-O could not be reached. */
  constructor(
    message: string,
    readonly status: number | undefined,
    options?: { cause?: unknown },
  ) {
    super('LOOKOUT_ERR_METADATA', message, options);
  }
}

export class CrioClient {
  constructor(
    readonly socketPath: string,
    private readonly timeoutMs = 5000,
  ) {}

  /** GETs a JSON document; resolves undefined on 404 (a container CRI-O does not know). */
  get<T>(path: string, signal?: AbortSignal): Promise<T | undefined> {
    return new Promise((resolve, reject) => {
      const req = request({ socketPath: this.socketPath, path, method: 'GET', timeout: this.timeoutMs, headers: { host: 'crio' }, signal }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => reject(new CrioError(`crio ${path}: ${err.message}`, undefined, { cause: err })));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode === 404) return resolve(undefined);
          if (res.statusCode !== 200) return reject(new CrioError(`crio ${path}: HTTP ${res.statusCode}: ${body.trim().slice(0, 200)}`, res.statusCode));
          try {
            resolve(JSON.parse(body) as T);
          } catch (err) {
            reject(new CrioError(`crio ${path}: response is not JSON`, res.statusCode, { cause: err }));
          }
        });
      });
      req.on('timeout', () => req.destroy(new Error(`timed out after ${this.timeoutMs} ms`)));
      req.on('error', (err) => reject(new CrioError(`crio ${path}: ${err.message}`, undefined, { cause: err })));
      req.end();
    });
  }
}
