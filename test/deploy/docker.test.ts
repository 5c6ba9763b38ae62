/**
 * deploy/docker/Dockerfile, as far as this machine allows: no registry but npm's is reachable,
 * so neither base image can be pulled and `docker build` cannot run. Instead:
 * - the Dockerfile is checked statically (stages, non-root user, read-only-friendly state volume,
 *   health check, entrypoint, what the context filter lets through);
 * - its build is replayed: each stage gets a directory as its filesystem, the build stage's COPY
 *   instructions copy from the repository as Dockerfile.dockerignore filters it, its RUN
 *   instructions run as written (`npm ci --ignore-scripts`, `npm run build`, `npm prune
 *   --omit=dev`, ...) in a clean copy, then the runtime stage's COPY --from instructions assemble
 *   the runtime tree, which must hold no development dependency and must run: `--help`,
 *   `validate`, and `run` with the image's environment, answering /readyz and /metrics, its
 *   HEALTHCHECK command passing while it runs and failing once it has stopped on SIGTERM.
 * What only a real build shows (the base images' contents, the user and ownership in the image,
 * --read-only at run time) is listed in deploy/README.md as not tested here.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, posix } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv } from '../helpers/cli.js';
import { freePort, waitFor } from '../helpers/util.js';
import { contextFiles, dockerignore, envOf, execForm, parseCopy, parseDockerfile, type Stage } from './dockerfile.js';
import { run } from './helm.js';
import { DEPLOY, REPO } from './kube.js';

const DOCKERFILE = join(DEPLOY, 'docker/Dockerfile');
const df = parseDockerfile(readFileSync(DOCKERFILE, 'utf8'));
const ignored = dockerignore(readFileSync(join(DEPLOY, 'docker/Dockerfile.dockerignore'), 'utf8'));
const build = df.stages.find((s) => s.name === 'build') as Stage;
const runtime = df.stages.at(-1) as Stage;
const ops = (s: Stage, op: string): string[] => s.instructions.filter((i) => i.op === op).map((i) => i.rest);
const last = (s: Stage, op: string): string | undefined => ops(s, op).at(-1);
const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };

describe('deploy/docker/Dockerfile', () => {
  it('builds in a Node 20 stage and runs in a distroless Node 20 stage', () => {
    expect(df.stages.map((s) => s.name)).toEqual(['build', '1']);
    expect(build.from).toBe('node:20-bookworm-slim');
    expect(runtime.from).toBe('gcr.io/distroless/nodejs20-debian12:nonroot');
    const runs = ops(build, 'RUN').join('\n');
    expect(runs).toMatch(/npm ci\b/);
    expect(runs).toMatch(/npm run build\b/);
    expect(runs).toMatch(/npm prune --omit=dev\b/);
    expect(ops(runtime, 'RUN')).toEqual([]); // distroless: no shell in the runtime stage
  });

  it('runs as a non-root user, with the state directory as its one volume, listening as documented', () => {
    const user = last(runtime, 'USER') ?? '0';
    expect(user.split(':')[0]).not.toMatch(/^(0|root)$/);
    expect(execForm(last(runtime, 'VOLUME') ?? '')).toEqual(['/var/lib/lookout']);
    const env = envOf(runtime);
    expect(env.get('LOOKOUT_ROOT')).toBe('/host');
    expect(env.get('LOOKOUT_LISTEN')).toBe('0.0.0.0:9337');
    expect(env.get('LOOKOUT_STATE_DIR')).toBe('/var/lib/lookout');
    expect(ops(runtime, 'EXPOSE')).toEqual(['9337']);
    // The state directory is handed over owned by that user.
    const state = ops(runtime, 'COPY').map(parseCopy).find((c) => c.dest === '/var/lib/lookout');
    expect(state?.chown).toBe(user);
  });

  it('has an exec-form ENTRYPOINT on the CLI, CMD run, and an exec-form HEALTHCHECK', () => {
    expect(execForm(last(runtime, 'ENTRYPOINT') ?? '')).toEqual(['/nodejs/bin/node', '/app/dist/src/cli.js']);
    expect(execForm(last(runtime, 'CMD') ?? '')).toEqual(['run']);
    const hc = /^((?:--\S+\s+)*)CMD\s+(.*)$/.exec(last(runtime, 'HEALTHCHECK') ?? '');
    expect(hc).not.toBeNull();
    expect(execForm(hc?.[2] ?? '')).toEqual(['/nodejs/bin/node', '/app/healthcheck.mjs']);
    expect(hc?.[1]).toMatch(/--interval=\d+s/);
    expect(hc?.[1]).toMatch(/--timeout=\d+s/);
  });

  it('copies only what exists and what the context filter lets through; the filter keeps tests and other files out', () => {
    for (const stage of df.stages) {
      for (const c of ops(stage, 'COPY').map(parseCopy)) {
        if (c.from !== undefined) {
          expect(df.stages.map((s) => s.name)).toContain(c.from);
          continue;
        }
        for (const src of c.sources) {
          expect(existsSync(join(REPO, src)), src).toBe(true);
          expect(contextFiles(REPO, src, ignored).length, `${src} after Dockerfile.dockerignore`).toBeGreaterThan(0);
        }
      }
    }
    expect(ignored('package.json')).toBe(false);
    expect(ignored('src/cli.ts')).toBe(false);
    expect(ignored('src/config.test.ts')).toBe(true);
    expect(ignored('collectors/docker/testdata/x.json')).toBe(true);
    expect(ignored('node_modules/yaml/package.json')).toBe(true);
    expect(ignored('dist/src/cli.js')).toBe(true);
    expect(ignored('.git/HEAD')).toBe(true);
    expect(ignored('deploy/docker/healthcheck.mjs')).toBe(false);
    expect(ignored('deploy/helm/lookout/values.yaml')).toBe(true);
  });

  describe('its build, replayed in a clean copy', () => {
    let tmp = '';
    const roots = new Map<string, string>();
    const inStage = (stage: Stage, p: string): string => join(roots.get(stage.name) as string, p);
    let agent: ChildProcess | undefined;

    beforeAll(async () => {
      tmp = mkdtempSync(join(tmpdir(), 'lookout-docker-'));
      for (const stage of df.stages) {
        roots.set(stage.name, join(tmp, `stage-${stage.name}`));
        mkdirSync(roots.get(stage.name) as string);
        let workdir = '/';
        const env = new Map<string, string>();
        for (const i of stage.instructions) {
          if (i.op === 'WORKDIR') {
            workdir = posix.resolve(workdir, i.rest);
            mkdirSync(inStage(stage, workdir), { recursive: true });
          } else if (i.op === 'ENV') {
            for (const [k, v] of envOf({ ...stage, instructions: [i] })) env.set(k, v);
          } else if (i.op === 'COPY') {
            const c = parseCopy(i.rest);
            const dest = posix.resolve(workdir, c.dest);
            for (const src of c.sources) {
              if (c.from !== undefined) {
                const from = df.stages.find((s) => s.name === c.from) as Stage;
                cpSync(inStage(from, src), inStage(stage, dest), { recursive: true });
                continue;
              }
              const isDir = statSync(join(REPO, src)).isDirectory();
              for (const f of contextFiles(REPO, src, ignored)) {
                const target = isDir ? join(inStage(stage, dest), f.slice(src.replace(/\/$/, '').length + 1)) : c.dest.endsWith('/') ? join(inStage(stage, dest), basename(f)) : inStage(stage, dest);
                mkdirSync(join(target, '..'), { recursive: true });
                cpSync(join(REPO, f), target);
              }
            }
          } else if (i.op === 'RUN') {
            const r = await run('sh', ['-c', i.rest], { cwd: inStage(stage, workdir), env: { ...cleanEnv(), ...Object.fromEntries(env) }, timeoutMs: 600_000 });
            if (r.code !== 0) throw new Error(`Dockerfile line ${i.line}: RUN ${i.rest} exited ${r.code}:\n${r.stdout.slice(-2000)}${r.stderr.slice(-2000)}`);
          }
        }
      }
    }, 900_000);

    afterAll(async () => {
      if (agent && agent.exitCode === null && agent.signalCode === null) {
        const gone = new Promise((resolve) => agent?.once('exit', resolve));
        agent.kill('SIGKILL');
        await gone;
      }
      rmSync(tmp, { recursive: true, force: true });
    });

    const app = (p: string): string => inStage(runtime, p);
    const node = (argv: readonly string[]): string[] => argv.map((a) => (a === '/nodejs/bin/node' ? process.execPath : a.startsWith('/app/') ? app(a) : a));

    it('built dist/ from the copied sources and pruned the development dependencies', () => {
      expect(existsSync(app('/app/dist/src/cli.js'))).toBe(true);
      expect(existsSync(app('/app/healthcheck.mjs'))).toBe(true);
      expect(existsSync(app('/var/lib/lookout'))).toBe(true);
      const modules = app('/app/node_modules');
      for (const dep of Object.keys(pkg.dependencies)) expect(existsSync(join(modules, dep)), dep).toBe(true);
      for (const dev of ['typescript', 'vitest', 'fast-check', 'playwright-core', 'kubernetes-models', '@grafana/grafana-foundation-sdk']) {
        expect(Object.keys(pkg.devDependencies)).toContain(dev);
        expect(existsSync(join(modules, dev)), `${dev} pruned`).toBe(false);
      }
      // Only the agent's code: no tests, no benchmarks, no dashboards generator.
      expect(readdirSync(app('/app/dist')).sort()).toEqual(['collectors', 'exporters', 'src']);
      expect(readdirSync(app('/app/dist/src')).filter((f) => f.includes('.test.'))).toEqual([]);
    });

    it('runs `--help` and `validate` from the runtime tree alone', async () => {
      const entry = node(execForm(last(runtime, 'ENTRYPOINT') ?? '') ?? []);
      const help = await run(entry[0] as string, [...entry.slice(1), '--help'], { env: cleanEnv(), cwd: tmp });
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(/^lookout \d+\.\d+\.\d+: container metrics agent/);
      expect(help.stdout).not.toMatch(/lookout 0\.0\.0/); // package.json was found beside dist/
      const validate = await run(entry[0] as string, [...entry.slice(1), 'validate', '--config', join(DEPLOY, 'compose/lookout.yaml')], { env: cleanEnv({ NODE_NAME: 'n1' }), cwd: tmp });
      expect(validate.stderr).toBe('');
      expect(validate.code).toBe(0);
    });

    it('starts with the image\'s CMD and environment, serves /readyz and /metrics, passes its HEALTHCHECK, stops on SIGTERM and then fails it', async () => {
      const port = await freePort();
      const image = Object.fromEntries(envOf(runtime));
      // The image's environment, with the host root at / (this machine) and the state under tmp.
      // LOOKOUT_LISTEN stays the image's: the --listen flag wins over it, and the health check
      // must find that from the agent's command line.
      const env = cleanEnv({ ...image, LOOKOUT_ROOT: '/', LOOKOUT_STATE_DIR: join(tmp, 'state'), LOOKOUT_LOG_LEVEL: 'warn' });
      const entry = node([...(execForm(last(runtime, 'ENTRYPOINT') ?? '') ?? []), ...(execForm(last(runtime, 'CMD') ?? '') ?? []), `--listen=127.0.0.1:${port}`]);
      let stderr = '';
      agent = spawn(entry[0] as string, entry.slice(1), { env, cwd: tmp, stdio: ['ignore', 'ignore', 'pipe'] });
      agent.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
      const exited = new Promise<number | null>((resolve) => agent?.once('exit', (code) => resolve(code)));
      const url = `http://127.0.0.1:${port}`;
      await waitFor('/readyz', async () => ((await fetch(`${url}/readyz`)).status === 200 ? true : undefined), 30_000, 200).catch((err: Error) => {
        throw new Error(`${err.message}\nagent stderr: ${stderr.slice(-2000)}`);
      });
      const metrics = await (await fetch(`${url}/metrics`)).text();
      expect(metrics).toMatch(/^lookout_build_info\{/m);
      expect(metrics).toMatch(/^machine_cpu_cores /m);

      const hcArgv = node(execForm(/CMD\s+(.*)$/.exec(last(runtime, 'HEALTHCHECK') ?? '')?.[1] ?? '') ?? []);
      const healthcheck = (): ReturnType<typeof run> => run(hcArgv[0] as string, hcArgv.slice(1), { env: { ...env, LOOKOUT_HEALTHCHECK_PID: String(agent?.pid) }, cwd: tmp, timeoutMs: 20_000 });
      const ok = await healthcheck();
      expect(ok.stderr).toBe('');
      expect(ok.code).toBe(0);

      agent.kill('SIGTERM');
      expect(await exited).toBe(0);
      const down = await run(hcArgv[0] as string, hcArgv.slice(1), { env: { ...env, LOOKOUT_HEALTHCHECK_PID: String(process.pid), LOOKOUT_LISTEN: `127.0.0.1:${port}` }, cwd: tmp, timeoutMs: 20_000 });
      expect(down.code).toBe(1);
      expect(down.stderr).toMatch(new RegExp(`healthcheck: http://127\\.0\\.0\\.1:${port}/healthz: .*ECONNREFUSED`));
    }, 60_000);
  });
});
