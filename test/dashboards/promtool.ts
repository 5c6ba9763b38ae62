/**
 * promtool for the dashboard and alert tests (Debian package `prometheus`). Without it the
 * tests that need it skip with a one-line reason, or fail when LOOKOUT_REQUIRE_E2E=1.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exec, type ExecResult } from '../helpers/util.js';

export const PROMTOOL = process.env['LOOKOUT_E2E_PROMTOOL'] ?? 'promtool';

/** Availability check for requireOrSkip. */
export async function promtoolUsable(): Promise<void> {
  const r = await exec(PROMTOOL, ['--version'], { timeoutMs: 15_000 }).catch((err: Error) => ({ code: -1, stdout: '', stderr: err.message }));
  if (r.code !== 0) throw new Error(`${PROMTOOL} --version failed (install the Debian package prometheus): ${r.stderr.trim().split('\n')[0] ?? ''}`);
}

export function promtool(args: readonly string[]): Promise<ExecResult> {
  return exec(PROMTOOL, args, { timeoutMs: 60_000 });
}

/** Writes `content` to a temporary file, runs `fn` on its path, removes it. */
export async function withTempFile<T>(name: string, content: string, fn: (path: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'lookout-dashboards-'));
  try {
    const path = join(dir, name);
    writeFileSync(path, content);
    return await fn(path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
