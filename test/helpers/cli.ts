/**
 * The built CLI (`node dist/src/cli.js`) for the end-to-end tests: built first when missing
 * or older than the sources, run to completion, or started as a server and stopped by the
 * test (every process started here is killed by `killAll()`, pass or fail).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { exec, type ExecResult } from './util.js';

export const REPO = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const CLI = join(REPO, 'dist/src/cli.js');
const SOURCES = ['src', 'collectors', 'exporters'];

function newestSource(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'testdata' && e.name !== 'node_modules') newest = Math.max(newest, newestSource(p));
    } else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

/** Whether dist/src/cli.js is missing or older than a source file. */
export function buildIsStale(): boolean {
  if (!existsSync(CLI)) return true;
  const built = statSync(CLI).mtimeMs;
  return SOURCES.some((d) => existsSync(join(REPO, d)) && newestSource(join(REPO, d)) > built);
}

/** Builds with `npx tsc -p tsconfig.json` when the build is missing or stale; throws with tsc's output on failure. */
export async function ensureBuilt(): Promise<'built' | 'up to date'> {
  if (!buildIsStale()) return 'up to date';
  const r = await exec('npx', ['tsc', '-p', join(REPO, 'tsconfig.json')], { timeoutMs: 180_000 });
  if (r.code !== 0) throw new Error(`npx tsc -p tsconfig.json exited ${r.code}:\n${r.stdout}${r.stderr}`);
  if (!existsSync(CLI)) throw new Error(`the build did not produce ${CLI}`);
  return 'built';
}

/** The environment without any LOOKOUT_* setting of the caller, plus `extra`. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('LOOKOUT_')) env[k] = v;
  return { ...env, ...extra };
}

/** Runs `lookout ARGS` to completion. */
export function runCli(args: readonly string[], env: Record<string, string> = {}, timeoutMs = 20_000): Promise<ExecResult> {
  return exec(process.execPath, [CLI, ...args], { env: cleanEnv(env), timeoutMs });
}

export interface CliProcess {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or the signal's name) and when it exited (performance.now()). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

const started = new Set<ChildProcess>();

/** Preloaded with `slowCloseMs`: delays the HTTP server's close, making the agent's stop slow. */
const SLOW_CLOSE = join(REPO, 'test/helpers/slow-close.mjs');

/** Starts `lookout ARGS` in the background; with `slowCloseMs`, its HTTP server takes that long to close. */
export function startCli(args: readonly string[], env: Record<string, string> = {}, slowCloseMs = 0): CliProcess {
  const node = slowCloseMs > 0 ? ['--import', pathToFileURL(SLOW_CLOSE).href] : [];
  const extra = slowCloseMs > 0 ? { ...env, E2E_SLOW_CLOSE_MS: String(slowCloseMs) } : env;
  const child = spawn(process.execPath, [...node, CLI, ...args], { env: cleanEnv(extra), stdio: ['ignore', 'pipe', 'pipe'] });
  started.add(child);
  let out = '';
  let err = '';
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) => {
    child.on('exit', (code, signal) => {
      started.delete(child);
      resolve({ code, signal, at: performance.now() });
    });
  });
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** Kills (SIGKILL) every CLI process started here that is still running. */
export async function killAll(): Promise<void> {
  const waits: Array<Promise<void>> = [];
  for (const child of started) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    waits.push(new Promise((resolve) => child.once('exit', () => resolve())));
    child.kill('SIGKILL');
  }
  await Promise.all(waits);
  started.clear();
}
