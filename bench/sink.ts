/**
 * A loopback HTTP sink for the push exporters' benchmark: accepts every request, reads and
 * discards its body, and answers as each protocol expects (204 for line protocol and
 * remote_write, 200 with an empty body for OTLP, a JSON result for InfluxDB 1.x's
 * `/query`, which the `influx` client sends for CREATE DATABASE). Counts requests and body
 * bytes per path. Listens on 127.0.0.1 only.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SinkCounts {
  requests: number;
  bytes: number;
}

export interface Sink {
  readonly url: string;
  /** By path without the query string. */
  readonly counts: Map<string, SinkCounts>;
  close(): Promise<void>;
}

export async function startSink(): Promise<Sink> {
  const counts = new Map<string, SinkCounts>();
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] as string;
    let c = counts.get(path);
    if (!c) counts.set(path, (c = { requests: 0, bytes: 0 }));
    const cc = c;
    cc.requests++;
    req.on('data', (chunk: Buffer) => {
      cc.bytes += chunk.length;
    });
    req.on('end', () => {
      if (path === '/query') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"results":[{"statement_id":0}]}');
      } else if (path === '/v1/metrics') {
        res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': '0' });
        res.end();
      } else {
        res.writeHead(204);
        res.end();
      }
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    counts,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
