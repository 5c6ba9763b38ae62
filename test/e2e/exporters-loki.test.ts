/**
 * The agent end to end with the Loki exporter: the log collector follows a Docker json-file
 * log on a fixture host root, and a loopback receiver decoding the pushes as Loki would (its
 * push.proto, a snappy implementation other than the encoder's) gets every line with its
 * container's labels and nanosecond time.
 */
import { appendFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { uncompressSync } from 'snappy';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent.js';
import { validate } from '../../src/config.js';
import { captureLog, Receiver, selfValue, until } from './exporters-support.js';
import { hostRoot, WEB_ID } from '../helpers/hostroot.js';

const PushRequest = protobuf.loadSync(fileURLToPath(new URL('../../exporters/loki/testdata/push.proto', import.meta.url))).lookupType('logproto.PushRequest');
type Push = { streams: Array<{ labels: string; entries: Array<{ timestamp: { seconds: string; nanos: number }; line: string }> }> };

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

describe('the agent shipping container logs to Loki', () => {
  it('follows a Docker json-file log into Loki streams with the container\'s labels and nanosecond times', async () => {
    const r = await Receiver.start();
    closers.push(() => r.stop());
    const root = hostRoot();
    const logFile = join(root, 'var/lib/docker/containers', WEB_ID, `${WEB_ID}-json.log`);
    const line = (log: string, stream: string, time: string): string => `${JSON.stringify({ log: `${log}\n`, stream, time })}\n`;
    appendFileSync(logFile, line('GET / 200', 'stdout', '2026-11-25T01:04:27.710798097Z') + line('level=error msg="upstream down"', 'stderr', '2026-11-25T01:04:28.000000001Z'));
    const config = validate(
      {
        root,
        state_dir: mkdtempSync(join(tmpdir(), 'lookout-e2e-state-')),
        server: { listen: '127.0.0.1:0' },
        collectors: { logs: { enabled: true, cri: false, detect_level: true } },
        exporters: { loki: { enabled: true, url: `${r.url}/loki/api/v1/push`, hostname: 'e2e-node' } },
      },
      'e2e',
    );
    const log = captureLog('info');
    const agent = await Agent.start(config, { log: log.log });
    closers.push(() => agent.stop(3000));
    const entries = (): Array<[string, string, string]> =>
      r.requests.flatMap((x) =>
        (PushRequest.toObject(PushRequest.decode(uncompressSync(x.body) as Buffer), { longs: String, defaults: true, arrays: true }) as Push).streams.flatMap((s) =>
          s.entries.map((e) => [s.labels, `${e.timestamp.seconds}${String(e.timestamp.nanos).padStart(9, '0')}`, e.line] as [string, string, string]),
        ),
      );
    await until('two lines at the receiver', () => entries().length >= 2, 15_000);
    appendFileSync(logFile, line('after start', 'stdout', '2026-11-25T01:04:29Z'));
    await until('the appended line', () => entries().length >= 3, 15_000);
    expect(entries()).toEqual([
      ['{host="e2e-node", job="lookout", name="web", stream="stdout"}', '1795568667710798097', 'GET / 200'],
      ['{host="e2e-node", job="lookout", level="error", name="web", stream="stderr"}', '1795568668000000001', 'level=error msg="upstream down"'],
      ['{host="e2e-node", job="lookout", name="web", stream="stdout"}', '1795568669000000000', 'after start'],
    ]);
    // Counted once the response is in: the receiver has the request a moment before.
    await until('three records counted as sent', async () => (await selfValue(agent.self, 'lookout_exporter_sent_total', { exporter: 'loki' })) === 3);
  });
});
