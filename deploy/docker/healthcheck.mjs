// The image's HEALTHCHECK: GET /healthz on the address the agent listens on, exit 0 when it
// answers 200 within 4 s, else 1. The address is resolved the way the agent resolves it (flags
// of the agent's command line, then LOOKOUT_* environment variables, then the config file,
// then the default), with the agent's own config loader, so that `--listen`, LOOKOUT_LISTEN and
// `server.listen` in the file are all followed. A wildcard address (0.0.0.0, ::) is asked on
// loopback; with `server.tls` set, HTTPS without verifying the certificate (this checks that
// the agent answers, not who it is). The agent's command line is read from /proc/1/cmdline (the container's entrypoint);
// LOOKOUT_HEALTHCHECK_PID names another process (with `docker run --init`, or in tests).
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { parseCli } from './dist/src/commands.js';
import { loadConfig } from './dist/src/config.js';

const fail = (msg) => {
  process.stderr.write(`healthcheck: ${msg}\n`);
  process.exit(1);
};

function agentArgs() {
  const pid = process.env.LOOKOUT_HEALTHCHECK_PID || '1';
  let argv;
  try {
    argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((a) => a !== '');
  } catch {
    return [];
  }
  const cli = argv.findIndex((a) => a.endsWith('/dist/src/cli.js') || a === 'lookout' || a.endsWith('/lookout'));
  return cli < 0 ? [] : argv.slice(cli + 1);
}

let listen;
let tls = false;
try {
  const { flags } = parseCli(agentArgs());
  const { server } = loadConfig({ flags, env: process.env }).config;
  listen = server.listen;
  tls = (server.tls?.cert_file ?? '') !== '';
} catch (err) {
  fail(`cannot resolve the listen address: ${err instanceof Error ? err.message : String(err)}`);
}

const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(listen);
if (!m) fail(`unexpected listen address "${listen}"`);
let host = m[1] ?? m[2];
if (host === '0.0.0.0') host = '127.0.0.1';
if (host === '::') host = '::1';
const url = `${tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${m[3]}/healthz`;

const status = await new Promise((resolve) => {
  const req = (tls ? httpsRequest : httpRequest)(url, { timeout: 4000, rejectUnauthorized: false }, (res) => {
    res.resume();
    resolve(res.statusCode === 200 ? '' : `HTTP ${res.statusCode}`);
  });
  req.on('timeout', () => req.destroy(new Error('no answer within 4 s')));
  req.on('error', (err) => resolve(err.message));
  req.end();
});
if (status !== '') fail(`${url}: ${status}`);
process.exit(0);
