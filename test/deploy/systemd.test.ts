/**
 * deploy/systemd/lookout.service: `systemd-analyze verify` finds nothing to say about it (run on a
 * copy whose lookout path points at an executable made here, since verify checks that ExecStart
 * exists), `systemd-analyze security` rates it well, it validates its config before starting and
 * carries the hardening asked for; the example /etc/lookout/lookout.yaml is valid for the agent.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, runCli } from '../helpers/cli.js';
import { describeWith, requireOrSkip } from '../helpers/require.js';
import { run } from './helm.js';
import { DEPLOY } from './kube.js';

const UNIT = join(DEPLOY, 'systemd/lookout.service');
const BIN = '/usr/local/bin/lookout';
const text = readFileSync(UNIT, 'utf8');

/** The unit's settings: section -> key -> every value given (in order). */
function parseUnit(src: string): Map<string, Map<string, string[]>> {
  const out = new Map<string, Map<string, string[]>>();
  let section = '';
  for (const raw of src.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const s = /^\[(.+)\]$/.exec(line);
    if (s) {
      section = s[1] as string;
      out.set(section, out.get(section) ?? new Map());
      continue;
    }
    const eq = line.indexOf('=');
    const [k, v] = [line.slice(0, eq).trim(), line.slice(eq + 1).trim()];
    const sec = out.get(section) as Map<string, string[]>;
    sec.set(k, [...(sec.get(k) ?? []), v]);
  }
  return out;
}

const analyze = await requireOrSkip('systemd-analyze (Debian package systemd)', async () => {
  const r = await run('systemd-analyze', ['--version'], { timeoutMs: 10_000 });
  if (r.code !== 0) return `systemd-analyze --version exited ${r.code}`;
});

describe('deploy/systemd/lookout.service', () => {
  const unit = parseUnit(text);
  const svc = unit.get('Service') as Map<string, string[]>;
  const one = (k: string): string | undefined => svc.get(k)?.at(-1);

  it('validates the config before starting, runs the agent with it, restarts always', () => {
    expect(svc.get('ExecStartPre')).toEqual([`${BIN} validate --config /etc/lookout/lookout.yaml`]);
    expect(svc.get('ExecStart')).toEqual([`${BIN} run --config /etc/lookout/lookout.yaml`]);
    expect(one('Restart')).toBe('always');
    expect(unit.get('Install')?.get('WantedBy')).toEqual(['multi-user.target']);
  });

  it('is hardened: read-only system but its state directory, no privileges to gain, two capabilities, inet and unix sockets only', () => {
    expect(one('ProtectSystem')).toBe('strict');
    expect(one('ReadWritePaths')).toBe('/var/lib/lookout');
    expect(one('StateDirectory')).toBe('lookout');
    expect(one('ProtectHome')).toMatch(/^(yes|read-only|tmpfs)$/);
    expect(one('NoNewPrivileges')).toBe('yes');
    expect(one('PrivateTmp')).toBe('yes');
    expect(one('RestrictAddressFamilies')?.split(/\s+/).sort()).toEqual(['AF_INET', 'AF_INET6', 'AF_UNIX']);
    expect(one('CapabilityBoundingSet')?.split(/\s+/).sort()).toEqual(['CAP_DAC_READ_SEARCH', 'CAP_SYS_PTRACE']);
    for (const k of ['ProtectControlGroups', 'ProtectKernelTunables', 'ProtectKernelModules', 'RestrictNamespaces', 'RestrictSUIDSGID', 'LockPersonality']) expect(one(k), k).toBe('yes');
    // What would break the agent: V8 needs W+X memory; it reads every process's /proc entries.
    expect(one('MemoryDenyWriteExecute') ?? 'no').toBe('no');
    expect(one('ProtectProc') ?? 'default').toBe('default');
    expect(one('ProcSubset') ?? 'all').toBe('all');
  });

  describe('the example /etc/lookout/lookout.yaml (deploy/lookout.yaml)', () => {
    beforeAll(async () => {
      await ensureBuilt();
    }, 180_000);

    it('passes `lookout validate`, keeps its state in the unit\'s StateDirectory and listens on loopback', async () => {
      const r = await runCli(['validate', '--config', join(DEPLOY, 'lookout.yaml')]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const eff = JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))) as { root: string; state_dir: string; server: { listen: string } };
      expect(eff.root).toBe('/');
      expect(eff.state_dir).toBe(`/var/lib/${one('StateDirectory')}`);
      expect(eff.server.listen).toMatch(/^127\.0\.0\.1:\d+$/);
    });
  });

  describeWith(analyze, 'systemd-analyze', () => {
    let tmp = '';
    let copy = '';
    beforeAll(() => {
      tmp = mkdtempSync(join(tmpdir(), 'lookout-systemd-'));
      const bin = join(tmp, 'bin/lookout');
      mkdirSync(join(tmp, 'bin'));
      writeFileSync(bin, '#!/bin/sh\nexit 0\n');
      chmodSync(bin, 0o755);
      mkdirSync(join(tmp, 'unit'));
      copy = join(tmp, 'unit/lookout.service');
      writeFileSync(copy, text.split(BIN).join(bin));
    });
    afterAll(() => rmSync(tmp, { recursive: true, force: true }));

    it('`systemd-analyze verify` accepts the unit without a warning', async () => {
      const r = await run('systemd-analyze', ['verify', copy], { cwd: join(tmp, 'unit'), timeoutMs: 60_000 });
      expect(r.stdout + r.stderr).toBe('');
      expect(r.code).toBe(0);
    });

    it('`systemd-analyze verify` does report a misspelt key and a bad value (control)', async () => {
      const bad = join(tmp, 'unit/lookout-bad.service');
      writeFileSync(bad, readFileSync(copy, 'utf8').replace('ProtectSystem=strict', 'ProtectSystem=strickt\nProtectHomes=yes'));
      const r = await run('systemd-analyze', ['verify', bad], { cwd: join(tmp, 'unit'), timeoutMs: 60_000 });
      expect(r.stderr).toMatch(/ProtectHomes/);
      expect(r.stderr).toMatch(/strickt/);
    });

    it('`systemd-analyze security --offline` rates its exposure below 3 ("OK")', async () => {
      const r = await run('systemd-analyze', ['security', '--offline=yes', '--no-pager', copy], { cwd: join(tmp, 'unit'), timeoutMs: 60_000 });
      const m = /Overall exposure level for lookout\.service: (\d+(?:\.\d+)?)/.exec(r.stdout);
      expect(m, r.stdout.slice(-500) + r.stderr).not.toBeNull();
      expect(Number(m?.[1])).toBeLessThan(3);
    });
  });
});
