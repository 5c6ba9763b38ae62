/**
 * The built CLI as a user and an init system run it: help, `validate` on good and bad
 * files, `run` serving on a loopback port and stopping on signals, and the precedence of
 * flags over environment over the YAML file.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { OPTIONS } from '../../src/config.js';
import { CLI, ensureBuilt, killAll, runCli, startCli, type CliProcess } from '../helpers/cli.js';
import { parseExposition, value } from '../helpers/exposition.js';
import { freePort, sleep, waitFor } from '../helpers/util.js';

let dir = '';

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

/** The effective configuration `validate` prints after its first line. */
function effective(stdout: string): Record<string, unknown> {
  const [first, ...rest] = stdout.split('\n');
  expect(first).toMatch(/^configuration OK \(/);
  return JSON.parse(rest.join('\n')) as Record<string, unknown>;
}

describe('the lookout CLI', () => {
  beforeAll(async () => {
    const how = await ensureBuilt();
    process.stderr.write(`[e2e] ${CLI}: ${how}\n`);
    dir = mkdtempSync(join(tmpdir(), 'lookout-e2e-cli-'));
  }, 180_000);

  afterEach(() => killAll());
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('--help exits 0 and lists every flag with its environment variable', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(OPTIONS.length).toBeGreaterThanOrEqual(4);
    for (const o of OPTIONS) {
      const line = r.stdout.split('\n').find((l) => l.trimStart().startsWith(`--${o.flag} ${o.arg}`));
      expect(line, `--${o.flag} in --help`).toBeDefined();
      expect(line).toContain(`env ${o.env}`);
    }
    expect(r.stdout).toMatch(/^\s+--help\s/m);
    expect(r.stdout).toMatch(/^\s+--version\s/m);
    expect(r.stdout).toContain('lookout run');
    expect(r.stdout).toContain('lookout validate');
    // No command is help too; an unknown flag is a usage error naming it.
    expect((await runCli([])).stdout).toBe(r.stdout);
    const bad = await runCli(['run', '--no-such-flag']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('no-such-flag');
  });

  it('validate --config exits 0 on a good file and prints the effective settings', async () => {
    const f = file(
      'good.yaml',
      ['server:', '  listen: 127.0.0.1:9411', 'log:', '  level: warn', 'collect:', '  min_interval: 2s', 'collectors:', '  cgroups:', '    raw_cgroups: false', ''].join('\n'),
    );
    const r = await runCli(['validate', '--config', f]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe(`configuration OK (${f})`);
    const c = effective(r.stdout) as {
      root: string;
      server: { listen: string };
      log: { level: string };
      collect: { min_interval: string };
      collectors: { cgroups: { raw_cgroups: boolean; enabled: boolean } };
    };
    expect(c.server.listen).toBe('127.0.0.1:9411');
    expect(c.log.level).toBe('warn');
    expect(c.collect.min_interval).toBe('2s');
    expect(c.collectors.cgroups.raw_cgroups).toBe(false);
    // Defaults fill the rest.
    expect(c.root).toBe('/');
    expect(c.collectors.cgroups.enabled).toBe(true);
  });

  it('validate exits 1 on an unknown key and names it', async () => {
    const nested = await runCli(['validate', '--config', file('unknown.yaml', 'server:\n  lisen: 127.0.0.1:9411\n')]);
    expect(nested.code).toBe(1);
    expect(nested.stdout).toBe('');
    expect(nested.stderr).toContain('"server.lisen"');
    expect(nested.stderr).toContain('not a known setting');
    expect(nested.stderr).toContain('listen');
    const top = await runCli(['validate', '--config', file('unknown-top.yaml', 'colectors: {}\n')]);
    expect(top.code).toBe(1);
    expect(top.stderr).toContain('"colectors"');
    expect(top.stderr).toContain('collectors');
  });

  it('validate exits 1 on a bad value, naming the key, the value and what is valid', async () => {
    const dur = await runCli(['validate', '--config', file('bad-duration.yaml', 'collect:\n  min_interval: fast\n')]);
    expect(dur.code).toBe(1);
    expect(dur.stderr).toContain('"collect.min_interval"');
    expect(dur.stderr).toContain('"fast"');
    expect(dur.stderr).toMatch(/duration like 500ms/);
    const level = await runCli(['validate', '--config', file('bad-level.yaml', 'log:\n  level: loud\n')]);
    expect(level.code).toBe(1);
    expect(level.stderr).toContain('"log.level"');
    expect(level.stderr).toContain('"loud"');
    expect(level.stderr).toMatch(/one of .*"info"/);
    // A bad flag value is named the same way.
    const flag = await runCli(['validate', '--listen', 'nowhere']);
    expect(flag.code).toBe(1);
    expect(flag.stderr).toContain('"server.listen"');
    expect(flag.stderr).toContain('"nowhere"');
    expect(flag.stderr).toContain('HOST:PORT');
  });

  it('flags override the environment, which overrides the YAML file (and ${VAR:-default} expands)', async () => {
    const f = file(
      'layers.yaml',
      ['root: /from-yaml', 'server:', '  listen: 127.0.0.1:1111', 'log:', '  level: error', 'collect:', '  min_interval: ${LOOKOUT_E2E_INTERVAL:-3s}', ''].join('\n'),
    );
    const yamlOnly = effective((await runCli(['validate', '--config', f])).stdout) as { root: string; server: { listen: string }; log: { level: string }; collect: { min_interval: string } };
    expect([yamlOnly.root, yamlOnly.server.listen, yamlOnly.log.level, yamlOnly.collect.min_interval]).toEqual(['/from-yaml', '127.0.0.1:1111', 'error', '3s']);

    const env = { LOOKOUT_LISTEN: '127.0.0.1:2222', LOOKOUT_ROOT: '/from-env', LOOKOUT_E2E_INTERVAL: '250ms' };
    const withEnv = effective((await runCli(['validate', '--config', f], env)).stdout) as typeof yamlOnly;
    expect([withEnv.root, withEnv.server.listen, withEnv.log.level, withEnv.collect.min_interval]).toEqual(['/from-env', '127.0.0.1:2222', 'error', '250ms']);

    // The file named by LOOKOUT_CONFIG instead of --config; a flag beats the environment.
    const r = await runCli(['validate', '--listen', '127.0.0.1:3333'], { ...env, LOOKOUT_CONFIG: f });
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe(`configuration OK (${f})`);
    const all = effective(r.stdout) as typeof yamlOnly;
    expect([all.root, all.server.listen, all.log.level, all.collect.min_interval]).toEqual(['/from-env', '127.0.0.1:3333', 'error', '250ms']);
  });

  async function serve(slowCloseMs = 0): Promise<{ p: CliProcess; url: string }> {
    const port = await freePort();
    const p = startCli(['run', '--listen', `127.0.0.1:${port}`, '--log-level', 'info'], {}, slowCloseMs);
    const url = `http://127.0.0.1:${port}`;
    let exited = false;
    void p.exited.then(() => (exited = true));
    await waitFor(
      '/readyz to answer 200',
      async () => {
        if (exited) throw new Error(`lookout run exited early: ${p.stderr().slice(-2000)}`);
        const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) });
        return res.status === 200 ? true : undefined;
      },
      15_000,
    );
    return { p, url };
  }

  it('run --listen 127.0.0.1:PORT serves /metrics and /readyz, and exits 0 within 1 s of SIGTERM', async () => {
    const { p, url } = await serve();
    expect(await (await fetch(`${url}/readyz`)).text()).toBe('ready\n');
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const res = await fetch(`${url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const { samples } = parseExposition(await res.text());
    expect(value(samples, 'machine_cpu_cores')).toBeGreaterThan(0);
    expect(samples.some((s) => s.name === 'container_cpu_usage_seconds_total' && s.labels['id'] === '/')).toBe(true);
    // The log is JSON lines on stderr, and says where it listens.
    const listening = p
      .stderr()
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { msg: string; address?: string })
      .find((l) => l.msg === 'lookout listening');
    expect(listening?.address).toBe(url.slice('http://'.length));

    const sent = performance.now();
    p.child.kill('SIGTERM');
    const exit = await p.exited;
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(exit.at - sent).toBeLessThan(1000);
    expect(p.stderr()).toContain('lookout stopped');
    // The port is released.
    await expect(fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) })).rejects.toThrow();
  }, 30_000);

  it('a stop slower than its deadline still exits 0 within 1 s of SIGTERM', async () => {
    // The HTTP server takes 3 s to close: the agent's 700 ms deadline ends the stop.
    const { p } = await serve(3000);
    const sent = performance.now();
    p.child.kill('SIGTERM');
    const exit = await p.exited;
    expect(exit).toMatchObject({ code: 0, signal: null });
    // The deadline is 700 ms; process teardown comes on top (slower on a loaded host).
    expect(exit.at - sent).toBeGreaterThan(600);
    expect(exit.at - sent).toBeLessThan(1200);
    expect(p.stderr()).toContain('shutdown deadline passed');
  }, 30_000);

  it('a second signal during a slow stop forces the exit at once', async () => {
    const { p } = await serve(3000);
    p.child.kill('SIGTERM');
    await waitFor('the stop to begin', () => (p.stderr().includes('"msg":"stopping"') ? true : undefined), 5000, 10);
    await sleep(100);
    const second = performance.now();
    p.child.kill('SIGINT');
    const exit = await p.exited;
    // Well before the first stop's deadline (900 ms after SIGTERM).
    expect(exit.at - second).toBeLessThan(500);
    expect(exit.signal).toBeNull();
    expect(exit.code).not.toBe(0);
    const log = p.stderr();
    expect(log).toContain('second signal: exiting now');
    expect(log).not.toContain('lookout stopped');
  }, 30_000);

  it('SIGHUP reloads the configuration, and rejects a bad one while the agent keeps running', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lookout-hup-'));
    const file = join(dir, 'lookout.yaml');
    writeFileSync(file, 'exporters:\n  prometheus:\n    path: /metrics\n');
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const p = startCli(['run', '--listen', `127.0.0.1:${port}`, '--config', file, '--state-dir', join(dir, 'state'), '--log-level', 'info']);
    const status = (path: string): Promise<number | undefined> => fetch(`${url}${path}`, { signal: AbortSignal.timeout(2000) }).then((r) => r.status, () => undefined);
    await waitFor('ready', async () => ((await status('/readyz')) === 200 ? true : undefined), 15_000);
    expect(await status('/metrics')).toBe(200);

    writeFileSync(file, 'exporters:\n  prometheus:\n    path: /custom\n');
    p.child.kill('SIGHUP');
    await waitFor('the new path', async () => ((await status('/custom')) === 200 ? true : undefined), 15_000);
    expect(await status('/metrics')).toBe(404);

    writeFileSync(file, 'exporters:\n  prometheus:\n    pth: /oops\n');
    p.child.kill('SIGHUP');
    await waitFor('the rejection in the log', () => (p.stderr().includes('new configuration rejected') ? true : undefined), 10_000);
    expect(p.stderr()).toContain('exporters.prometheus.pth');
    expect(await status('/custom')).toBe(200);

    p.child.kill('SIGTERM');
    expect((await p.exited).code).toBe(0);
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);
});
