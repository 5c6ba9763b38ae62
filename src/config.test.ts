import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expandEnv, loadConfig, validate } from './config.js';
import { parseDuration } from './schema.js';
import { LookoutError } from './errors.js';

function file(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'lookout-config-'));
  const p = join(dir, 'lookout.yaml');
  writeFileSync(p, text);
  return p;
}

function errorOf(fn: () => unknown): LookoutError {
  try {
    fn();
  } catch (err) {
    if (err instanceof LookoutError) return err;
    throw err;
  }
  throw new Error('expected a LookoutError');
}

describe('config', () => {
  it('fills every default', () => {
    const c = validate({}, 'test');
    expect(c.server.listen).toBe('127.0.0.1:9337');
    expect(c.root).toBe('/');
    expect(c.log.level).toBe('info');
    expect(c.collect.min_interval).toBe('1s');
    expect(c.collectors.cgroups).toEqual({ enabled: true, raw_cgroups: true, max_open_files: 50000, network: true, network_interface_exclude: '^(lo|veth.*|docker.*|nerdctl.*)$' });
    expect(c.exporters['prometheus']).toEqual({ enabled: true, path: '/metrics', gzip_level: 1 });
  });

  it('rejects an unknown key, naming it and what is allowed there', () => {
    const e = errorOf(() => validate({ collectors: { cgroups: { raw_cgroup: false } } }, 'x.yaml'));
    expect(e.code).toBe('LOOKOUT_ERR_CONFIG');
    expect(e.message).toContain('config key "collectors.cgroups.raw_cgroup" is not a known setting');
    expect(e.message).toContain('allowed here: enabled, raw_cgroups, max_open_files, network, network_interface_exclude');
    expect(e.message).toContain('x.yaml');
  });

  it('rejects a bad value, naming the key, the value and what is valid', () => {
    expect(errorOf(() => validate({ server: { listen: 'localhost' } }, 't')).message).toContain(
      'config key "server.listen" = "localhost" is invalid: expected a string, HOST:PORT like 127.0.0.1:9337 or [::1]:9337',
    );
    expect(errorOf(() => validate({ log: { level: 'loud' } }, 't')).message).toContain('config key "log.level" = "loud" is invalid: expected one of "fatal", "error", "warn", "info", "debug", "trace"');
    expect(errorOf(() => validate({ collectors: { cgroups: { max_open_files: -1 } } }, 't')).message).toContain('"collectors.cgroups.max_open_files" = -1 is invalid: expected an integer, >= 0');
    expect(errorOf(() => validate({ collect: { min_interval: '5 minutes' } }, 't')).message).toContain('a duration like 500ms, 10s or 5m');
    expect(errorOf(() => validate({ server: { listen: '127.0.0.1:70000' } }, 't')).message).toContain('the port must be 0-65535');
  });

  it('names the key when a list is given as an object with a length key (TypeBox cannot fill defaults into it), and an own __proto__ key', () => {
    expect(() => validate({ container_labels: { length: [false] } }, 'test')).toThrow(/config key "container_labels" = .* is invalid: expected/);
    expect(() => validate(JSON.parse('{"server": {"__proto__": 1}}'), 'test')).toThrow(/config key "server.__proto__" is not a known setting/);
  });

  it('lists every problem at once', () => {
    const e = errorOf(() => validate({ nope: 1, log: { level: 'x' } }, 't'));
    expect(e.message).toContain('"nope"');
    expect(e.message).toContain('"log.level"');
  });

  it('takes flags over environment over the YAML file over defaults', () => {
    const p = file('server:\n  listen: 127.0.0.1:1111\nroot: /from-yaml\nlog:\n  level: debug\n');
    const env = { LOOKOUT_LISTEN: '127.0.0.1:2222', LOOKOUT_ROOT: '/from-env' };
    const { config } = loadConfig({ flags: { config: p, listen: '127.0.0.1:3333' }, env });
    expect(config.server.listen).toBe('127.0.0.1:3333');
    expect(config.root).toBe('/from-env');
    expect(config.log.level).toBe('debug');
    expect(config.collect.min_interval).toBe('1s');
  });

  it('finds the file through LOOKOUT_CONFIG', () => {
    const p = file('root: /r\n');
    expect(loadConfig({ flags: {}, env: { LOOKOUT_CONFIG: p } }).config.root).toBe('/r');
  });

  it('expands ${VAR} and ${VAR:-default} in the YAML file, and $${ stays literal', () => {
    const p = file('root: ${HOST_ROOT}\nserver:\n  listen: ${ADDR:-127.0.0.1:4444}\nexporters:\n  prometheus:\n    path: /m$${x}\n');
    expect(() => loadConfig({ flags: { config: p }, env: { HOST_ROOT: '/h' } })).toThrow(/must match|expected/);
    const p2 = file('root: ${HOST_ROOT}\nserver:\n  listen: ${ADDR:-127.0.0.1:4444}\n');
    const { config } = loadConfig({ flags: { config: p2 }, env: { HOST_ROOT: '/h' } });
    expect(config.root).toBe('/h');
    expect(config.server.listen).toBe('127.0.0.1:4444');
    expect(expandEnv('a$${B}c', {})).toBe('a${B}c');
  });

  it('names the key whose variable is unset', () => {
    const p = file('collectors:\n  docker:\n    data_root: ${DOCKER_ROOT}\n');
    expect(() => loadConfig({ flags: { config: p }, env: {} })).toThrow('config key "collectors.docker.data_root": environment variable DOCKER_ROOT is not set');
  });

  it('reports unreadable files and invalid YAML clearly', () => {
    expect(() => loadConfig({ flags: { config: '/nonexistent/lookout.yaml' }, env: {} })).toThrow('cannot read config file /nonexistent/lookout.yaml');
    expect(() => loadConfig({ flags: { config: file('server: [unclosed\n') }, env: {} })).toThrow(/is not valid YAML/);
    expect(() => loadConfig({ flags: { config: file('- a\n- b\n') }, env: {} })).toThrow(/mapping of settings/);
  });

  it('an empty file means defaults', () => {
    expect(loadConfig({ flags: { config: file('') }, env: {} }).config.server.listen).toBe('127.0.0.1:9337');
  });

  it('parses durations', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('2m')).toBe(120_000);
    expect(parseDuration('1h')).toBe(3_600_000);
    expect(() => parseDuration('5')).toThrow(/invalid duration/);
  });
});
