/**
 * `npm run bench -- logs`: the whole log pipeline (tail, parse, checkpoints, file
 * destination) on a pre-written backlog, against rsyslog's imfile -> omfile on the same file,
 * side by side in one run (issue 4).
 *
 * - Two host roots under `<BENCH_DIR>/logs/`, generated once and kept: `cri/root` with one
 *   kubelet pod log `var/log/pods/<ns>_<pod>_<uid>/app/0.log` (and its
 *   `var/log/containers/` symlink), and `docker/root` with one json-file log
 *   `var/lib/docker/containers/<id>/<id>-json.log`. Both hold the same LINES messages
 *   (logfmt-style application lines with a quoted field, so the Docker form has escapes),
 *   about 140 bytes per CRI line.
 * - lookout: `node dist/src/cli.js run --config <yaml>` as a child process, with the root,
 *   a fresh state directory (checkpoints on, defaults: journal per batch, full write every
 *   second) and `exporters.file.path`; every other setting is the default.
 * - rsyslog: `rsyslogd -n -f <conf> -i <pid file>` with its own work directory, loading only
 *   imfile (inotify mode, from the start of the file) and writing each line as it is
 *   (`%msg%\n`) with omfile. Nothing else: no system socket, no other rules.
 * - Completion: the output file holds LINES lines (counted as they come). CPU is
 *   utime + stime of /proc/<pid>/stat at that moment, peak RSS VmHWM of /proc/<pid>/status;
 *   then the process is stopped with SIGTERM. Each runs REPS times per format, alternating
 *   which goes first; medians are reported.
 */
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, rmSync, statSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

/** Bump when the generated files change. */
const LOGS_VERSION = 2;
const CLK_TCK = 100;

export type LogFormat = 'cri' | 'docker';
export type Contender = 'lookout' | 'rsyslog';

export interface LogRun {
  format: LogFormat;
  who: Contender;
  /** Lines in the output when the run ended (must be `lines`). */
  out: number;
  /** Seconds from spawning until the last line was in the output. */
  seconds: number;
  /** Seconds from spawning until the first line was in the output. */
  firstSeconds: number;
  /** CPU seconds (user + system) at completion, and at the first output line (start-up). */
  cpu: number;
  cpuAtFirst: number;
  /** VmHWM at completion, bytes. */
  peakRss: number;
  /** Why it failed, if it did. */
  failure?: string;
  /** Which repetition: the two contenders of one repetition ran back to back. */
  rep?: number;
}

export interface LogFiles {
  lines: number;
  cri: { root: string; file: string; bytes: number };
  docker: { root: string; file: string; bytes: number };
  generatedSeconds: number;
}

const POD = 'bench_logbench-7d9f8c6b5-x2x4q_0b6f3a52-8f2e-4d1c-9a57-3c2d1e0f4b6a';
const CRI_ID = 'c3'.repeat(32);
const DOCKER_ID = 'd0'.repeat(32);

/** Deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PATHS = ['/api/v1/items', '/api/v1/orders', '/healthz', '/api/v2/users/search', '/static/app.js', '/api/v1/cart/checkout'];
const METHODS = ['GET', 'GET', 'GET', 'POST', 'PUT', 'DELETE'];
const LEVELS = ['info', 'info', 'info', 'info', 'debug', 'warn', 'error'];
const MSGS = ['request served', 'cache miss', 'upstream slow', 'request served', 'retrying'];

/** About 100 bytes of logfmt, with a quoted field. */
function message(r: () => number, i: number): string {
  const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)] as T;
  const status = r() < 0.9 ? 200 : pick([201, 304, 404, 500]);
  return `level=${pick(LEVELS)} msg="${pick(MSGS)}" method=${pick(METHODS)} path=${pick(PATHS)}/${Math.floor(r() * 100000)} status=${status} dur_ms=${(r() * 250).toFixed(1)} req=${(i * 2654435761 >>> 0).toString(16).padStart(8, '0')}`;
}

function time(i: number): string {
  // 2026-11-25T01:00:00Z plus 50 µs per line, with nanoseconds as the runtimes write them.
  const ns = BigInt(Date.UTC(2026, 10, 25, 1, 0, 0)) * 1_000_000n + BigInt(i) * 50_000n + BigInt(i % 997);
  const ms = Number(ns / 1_000_000n);
  const iso = new Date(ms).toISOString(); // ...ss.mmmZ
  return `${iso.slice(0, 19)}.${String(ns % 1_000_000_000n).padStart(9, '0')}Z`;
}

/** Writes both files (or reuses them): the same messages, CRI and Docker json-file. */
export function ensureLogFiles(dir: string, lines: number): LogFiles {
  const base = join(dir, 'logs');
  const criRoot = join(base, 'cri', 'root');
  const dockerRoot = join(base, 'docker', 'root');
  const criDir = join(criRoot, 'var/log/pods', POD, 'app');
  const criFile = join(criDir, '0.log');
  const dockerDir = join(dockerRoot, 'var/lib/docker/containers', DOCKER_ID);
  const dockerFile = join(dockerDir, `${DOCKER_ID}-json.log`);
  const stamp = join(base, 'done.json');
  const want = JSON.stringify({ version: LOGS_VERSION, lines });
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === want && existsSync(criFile) && existsSync(dockerFile)) {
    return { lines, cri: { root: criRoot, file: criFile, bytes: statSync(criFile).size }, docker: { root: dockerRoot, file: dockerFile, bytes: statSync(dockerFile).size }, generatedSeconds: 0 };
  }
  const t0 = performance.now();
  rmSync(base, { recursive: true, force: true });
  mkdirSync(criDir, { recursive: true });
  mkdirSync(dockerDir, { recursive: true });
  // An empty cgroup v2 hierarchy: the agent refuses a root without one, and its cgroup collector then finds no container.
  for (const root of [criRoot, dockerRoot]) {
    mkdirSync(join(root, 'sys/fs/cgroup'), { recursive: true });
    writeFileSync(join(root, 'sys/fs/cgroup/cgroup.controllers'), 'cpu io memory pids\n');
  }
  // The kubelet's symlink, which gives the CRI container its id.
  const links = join(criRoot, 'var/log/containers');
  mkdirSync(links, { recursive: true });
  const [ns, pod] = POD.split('_') as [string, string];
  symlinkSync(`/var/log/pods/${POD}/app/0.log`, join(links, `${pod}_${ns}_app-${CRI_ID}.log`));
  const cfd = openSync(criFile, 'w');
  const dfd = openSync(dockerFile, 'w');
  const r = rng(4);
  let c = '';
  let d = '';
  for (let i = 0; i < lines; i++) {
    const m = message(r, i);
    const t = time(i);
    const stream = i % 10 === 9 ? 'stderr' : 'stdout';
    c += `${t} ${stream} F ${m}\n`;
    d += `{"log":${JSON.stringify(`${m}\n`)},"stream":"${stream}","time":"${t}"}\n`;
    if (c.length > 1 << 20) {
      writeSync(cfd, c);
      writeSync(dfd, d);
      c = d = '';
    }
  }
  writeSync(cfd, c);
  writeSync(dfd, d);
  closeSync(cfd);
  closeSync(dfd);
  writeFileSync(stamp, want);
  return {
    lines,
    cri: { root: criRoot, file: criFile, bytes: statSync(criFile).size },
    docker: { root: dockerRoot, file: dockerFile, bytes: statSync(dockerFile).size },
    generatedSeconds: (performance.now() - t0) / 1000,
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0));
    });
  });
}

function procCpu(pid: number): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 (utime, stime), counted from the state (field 3) at index 0.
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return Number.NaN;
  }
}

function procHwm(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** Counts the lines appended to a file since the last call. */
class LineCounter {
  private offset = 0;
  count = 0;
  private readonly buf = Buffer.allocUnsafe(4 << 20);
  constructor(private readonly path: string) {}
  poll(): number {
    let fd: number;
    try {
      fd = openSync(this.path, 'r');
    } catch {
      return this.count;
    }
    try {
      for (;;) {
        const n = readSync(fd, this.buf, 0, this.buf.length, this.offset);
        if (n === 0) break;
        // Count complete lines only: a partial last line is counted when its newline comes.
        let last = -1;
        for (let i = this.buf.indexOf(10, 0); i >= 0 && i < n; i = this.buf.indexOf(10, i + 1)) {
          this.count++;
          last = i;
        }
        if (last < 0) break;
        this.offset += last + 1;
        if (n < this.buf.length) break;
      }
    } finally {
      closeSync(fd);
    }
    return this.count;
  }
}

interface Spawned {
  pid: number;
  exited: Promise<number | null>;
  stop(): void;
  stderr(): string;
}

function start(cmd: string, args: string[]): Spawned {
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (c: Buffer) => {
    if (err.length < 8192) err += c.toString('utf8');
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.once('error', (e) => {
    err += String(e);
  });
  return { pid: child.pid ?? -1, exited, stop: () => child.kill('SIGTERM'), stderr: () => err };
}

async function measure(format: LogFormat, who: Contender, proc: Spawned, outFile: string, lines: number, timeoutMs: number): Promise<LogRun> {
  const counter = new LineCounter(outFile);
  const t0 = performance.now();
  let firstSeconds = Number.NaN;
  let cpuAtFirst = Number.NaN;
  let exitCode: number | null | undefined;
  void proc.exited.then((c) => {
    exitCode = c;
  });
  const run: LogRun = { format, who, out: 0, seconds: Number.NaN, firstSeconds: Number.NaN, cpu: Number.NaN, cpuAtFirst: Number.NaN, peakRss: Number.NaN };
  for (;;) {
    await new Promise((r) => setTimeout(r, 20));
    const n = counter.poll();
    const el = (performance.now() - t0) / 1000;
    if (n > 0 && Number.isNaN(firstSeconds)) {
      firstSeconds = el;
      cpuAtFirst = procCpu(proc.pid);
    }
    if (n >= lines) {
      run.seconds = el;
      run.cpu = procCpu(proc.pid);
      run.peakRss = procHwm(proc.pid);
      break;
    }
    if (exitCode !== undefined) {
      run.failure = `exited with ${exitCode} after ${n} lines: ${proc.stderr().trim().slice(-500)}`;
      break;
    }
    if (el * 1000 > timeoutMs) {
      run.failure = `only ${n} of ${lines} lines after ${(timeoutMs / 1000).toFixed(0)} s`;
      run.cpu = procCpu(proc.pid);
      run.peakRss = procHwm(proc.pid);
      break;
    }
  }
  proc.stop();
  const killer = setTimeout(() => {
    try {
      process.kill(proc.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }, 10_000);
  await proc.exited;
  clearTimeout(killer);
  run.out = counter.poll();
  run.firstSeconds = firstSeconds;
  run.cpuAtFirst = cpuAtFirst;
  if (run.failure === undefined && run.out !== lines) run.failure = `${run.out} lines in the output for ${lines} read (duplicates)`;
  return run;
}

/**
 * One lookout run. `logsSettings` go under `collectors.logs` (e.g. `{ batch_max_lines: 500 }`),
 * for experiments; the bench itself runs with the defaults.
 */
export async function runLookout(cliJs: string, work: string, format: LogFormat, files: LogFiles, timeoutMs: number, nodeArgs: string[] = [], logsSettings: Readonly<Record<string, number | string | boolean>> = {}): Promise<LogRun> {
  const dir = join(work, `lookout-${format}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const out = join(dir, 'out.jsonl');
  const cfg = join(dir, 'lookout.yaml');
  const port = await freePort();
  writeFileSync(
    cfg,
    [
      `root: ${JSON.stringify(files[format].root)}`,
      `state_dir: ${JSON.stringify(join(dir, 'state'))}`,
      'server:',
      `  listen: 127.0.0.1:${port}`,
      'log:',
      '  level: warn',
      'exporters:',
      '  file:',
      `    path: ${JSON.stringify(out)}`,
      ...(Object.keys(logsSettings).length > 0 ? ['collectors:', '  logs:', ...Object.entries(logsSettings).map(([k, v]) => `    ${k}: ${JSON.stringify(v)}`)] : []),
      '',
    ].join('\n'),
  );
  const proc = start(process.execPath, [...nodeArgs, cliJs, 'run', '--config', cfg]);
  return measure(format, 'lookout', proc, out, files.lines, timeoutMs);
}

export async function runRsyslog(work: string, format: LogFormat, files: LogFiles, timeoutMs: number): Promise<LogRun> {
  const dir = join(work, `rsyslog-${format}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'work'), { recursive: true });
  const out = join(dir, 'out.log');
  const conf = join(dir, 'rsyslog.conf');
  writeFileSync(
    conf,
    [
      `global(workDirectory="${join(dir, 'work')}")`,
      'module(load="imfile" mode="inotify")',
      'template(name="raw" type="string" string="%msg%\\n")',
      `input(type="imfile" file="${files[format].file}" tag="bench" ruleset="out" freshStartTail="off")`,
      `ruleset(name="out") { action(type="omfile" file="${out}" template="raw") }`,
      '',
    ].join('\n'),
  );
  const proc = start('rsyslogd', ['-n', '-f', conf, '-i', join(dir, 'rsyslogd.pid')]);
  return measure(format, 'rsyslog', proc, out, files.lines, timeoutMs);
}

/** `rsyslogd 8.2302.0 (aka 2023.02)`, or undefined when rsyslogd is not installed. */
export function rsyslogVersion(): string | undefined {
  try {
    return execFileSync('rsyslogd', ['-v'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0]?.replace(/\s+compiled with:$/, '').replace(/\s+/g, ' ').trim();
  } catch {
    return undefined;
  }
}
