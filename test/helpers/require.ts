/**
 * Availability of the outside things the end-to-end tests need (a Docker engine,
 * Prometheus). Without them the tests are skipped with a one-line reason, unless
 * LOOKOUT_REQUIRE_E2E=1 (set by .ci/run), where a missing dependency fails the run instead:
 * in CI a skip would hide that nothing was tested.
 */
import { describe } from 'vitest';

export interface Availability {
  readonly what: string;
  readonly ok: boolean;
  /** Why it is not usable (one line); empty when ok. */
  readonly reason: string;
}

/** Whether the environment asks for the end-to-end tests to fail rather than skip. */
export function e2eRequired(env: NodeJS.ProcessEnv = process.env): boolean {
  return env['LOOKOUT_REQUIRE_E2E'] === '1';
}

/**
 * Runs `check` (which throws, or returns a reason string, when `what` is unusable).
 * Returns the availability; throws instead when unusable and LOOKOUT_REQUIRE_E2E=1, which
 * fails the test file at collection.
 */
export async function requireOrSkip(
  what: string,
  check: () => Promise<void | string>,
  env: NodeJS.ProcessEnv = process.env,
  say: (line: string) => void = (line) => process.stderr.write(line),
): Promise<Availability> {
  let reason = '';
  try {
    const r = await check();
    if (typeof r === 'string' && r !== '') reason = r;
  } catch (err) {
    reason = err instanceof Error ? err.message : String(err);
  }
  reason = reason.split('\n').map((l) => l.trim()).filter((l) => l !== '').join(' | ');
  if (reason === '') return { what, ok: true, reason: '' };
  if (e2eRequired(env)) throw new Error(`${what} is required (LOOKOUT_REQUIRE_E2E=1) but not usable: ${reason}`);
  say(`[e2e] skipping: ${what} not usable: ${reason}\n`);
  return { what, ok: false, reason };
}

/** All of them usable, or the first that is not. */
export function all(...avail: Availability[]): Availability {
  return avail.find((a) => !a.ok) ?? { what: avail.map((a) => a.what).join(' and '), ok: true, reason: '' };
}

/** `describe`, or `describe.skip` with the reason in its title when `avail` is not usable. */
export function describeWith(avail: Availability, title: string, fn: () => void): void {
  if (avail.ok) describe(title, fn);
  else describe.skip(`${title} (skipped: ${avail.what} not usable: ${avail.reason})`, fn);
}
