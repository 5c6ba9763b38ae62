/**
 * The lookout agent in-process, on a loopback port the kernel picks, for the end-to-end
 * tests; and scraping its /metrics into samples.
 */
import { pino } from 'pino';
import { afterAll } from 'vitest';
import { Agent } from '../../src/agent.js';
import { type Config, validate } from '../../src/config.js';
import { type Format, type Parsed, parseExposition } from './exposition.js';

export interface RunningAgent {
  readonly agent: Agent;
  readonly config: Config;
  /** `http://127.0.0.1:PORT`, the port the agent really listens on. */
  readonly url: string;
  /** HOST:PORT for a Prometheus target. */
  readonly target: string;
  /** GETs /metrics (as the given format) and parses it strictly. */
  scrape(format?: Format): Promise<Parsed & { text: string }>;
  /** GETs /metrics and returns the raw response text, after checking the status and content type. */
  scrapeText(format?: Format): Promise<string>;
  stop(): Promise<void>;
}

const ACCEPT: Record<Format, string> = {
  text: 'text/plain;version=0.0.4',
  openmetrics: 'application/openmetrics-text;version=1.0.0',
};
const CONTENT_TYPE: Record<Format, RegExp> = {
  text: /^text\/plain; version=0\.0\.4; charset=utf-8$/,
  openmetrics: /^application\/openmetrics-text; version=1\.0\.0; charset=utf-8$/,
};

/**
 * The config the tests start the agent with: `validate()`d settings (defaults filled in)
 * with `overrides` on top, listening on 127.0.0.1 port 0 (the kernel picks a free port;
 * Agent.address reports it).
 */
export function agentConfig(overrides: Record<string, unknown> = {}): Config {
  return validate({ ...overrides, server: { listen: '127.0.0.1:0' } }, 'e2e test');
}

export async function startAgent(overrides: Record<string, unknown> = {}, level: 'silent' | 'warn' = 'warn'): Promise<RunningAgent> {
  const config = agentConfig(overrides);
  const agent = await Agent.start(config, { log: pino({ level }) });
  const m = /^127\.0\.0\.1:(\d+)$/.exec(agent.address);
  if (!m || Number(m[1]) === 0) {
    await agent.stop();
    throw new Error(`Agent.address is "${agent.address}", expected 127.0.0.1:<the real port>`);
  }
  const url = `http://${agent.address}`;
  const scrapeText = async (format: Format = 'text'): Promise<string> => {
    const res = await fetch(`${url}/metrics`, { headers: { accept: ACCEPT[format] }, signal: AbortSignal.timeout(10_000) });
    const body = await res.text();
    if (res.status !== 200) throw new Error(`GET /metrics: HTTP ${res.status}: ${body.slice(0, 200)}`);
    const ct = res.headers.get('content-type') ?? '';
    if (!CONTENT_TYPE[format].test(ct)) throw new Error(`GET /metrics as ${format}: content type "${ct}"`);
    return body;
  };
  return {
    agent,
    config,
    url,
    target: agent.address,
    scrapeText,
    scrape: async (format: Format = 'text') => {
      const text = await scrapeText(format);
      return { text, ...parseExposition(text, format) };
    },
    stop: () => agent.stop(),
  };
}

/**
 * Starts an agent for a test file and stops it after the file's tests. Access it through the
 * returned getter, after beforeAll has run.
 */
export function useAgent(overrides: Record<string, unknown> = {}): { start(): Promise<RunningAgent>; get(): RunningAgent } {
  let running: RunningAgent | undefined;
  afterAll(async () => {
    await running?.stop();
  });
  return {
    start: async () => {
      running = await startAgent(overrides);
      return running;
    },
    get: () => {
      if (!running) throw new Error('the agent has not been started (call start() in beforeAll)');
      return running;
    },
  };
}
