// Writes testdata/cri/: a kubelet node's pod logs as containerd's CRI plugin writes them
// (internal/cri/io/logger.go: `<time.RFC3339Nano> <stream> <P|F> <line>\n`, lines longer
// than max_container_log_line_size = 16384 bytes split into P pieces; RFC3339Nano drops
// trailing zeros of the fraction and writes the local offset), rotated by the kubelet
// (pkg/kubelet/logs/container_log_manager.go: rename to `<n>.log.<YYYYMMDD-hhmmss>`,
// then ReopenContainerLog), with the /var/log/containers symlinks.
// Run: node collectors/logs/testdata/gen-cri.mjs
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), 'cri');
const POD = 'default_web-7d9f8b6c5-x2x4z_6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
const APP_ID = 'e5f6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f80912';
const MAX = 16384;

rmSync(ROOT, { recursive: true, force: true });
const dir = join(ROOT, 'var/log/pods', POD, 'app');
mkdirSync(dir, { recursive: true });
mkdirSync(join(ROOT, 'var/log/containers'), { recursive: true });

let ns = 100_000_000;
/** RFC3339Nano as Go writes it: trailing zeros of the fraction dropped. */
function ts(sec, offset = 'Z') {
  ns += 1_234_500;
  const frac = String(ns).padStart(9, '0').replace(/0+$/, '');
  return `2026-11-25T01:${String(Math.floor(sec / 60)).padStart(2, '0')}:${String(sec % 60).padStart(2, '0')}${frac ? `.${frac}` : ''}${offset}`;
}

/** What containerd writes for one line of output: split into P pieces past MAX bytes. */
function cri(stream, text, sec) {
  const b = Buffer.from(text);
  const out = [];
  let i = 0;
  do {
    const piece = b.subarray(i, i + MAX);
    i += MAX;
    out.push(Buffer.concat([Buffer.from(`${ts(sec)} ${stream} ${i < b.length ? 'P' : 'F'} `), piece, Buffer.from('\n')]));
  } while (i < b.length);
  return Buffer.concat(out);
}

const big = (n, c) => c.repeat(n);
// The rotated file: numbered lines, then the first pieces of a 40 KiB line whose last piece
// went to the new file after the rotation.
const rotated = [];
for (let i = 0; i < 50; i++) rotated.push(cri('stdout', `line ${i}`, 0));
rotated.push(cri('stderr', 'warning: to stderr', 1));
const long = cri('stdout', `${big(40 * 1024, 'y')}`, 2).toString().split('\n').filter((l) => l !== '');
rotated.push(Buffer.from(`${long[0]}\n${long[1]}\n`));
writeFileSync(join(dir, '0.log.20261125-010002'), Buffer.concat(rotated));

const current = [Buffer.from(`${long[2]}\n`)];
for (let i = 50; i < 100; i++) current.push(cri('stdout', `line ${i}`, 3));
current.push(cri('stdout', '', 3)); // an empty line: "... stdout F \n"
current.push(cri('stdout', 'caf\u00e9 \u65e5\u672c', 3));
current.push(Buffer.from(`${ts(4, '+02:00')} stdout F with an offset\n`));
current.push(Buffer.from('not a CRI line at all\n'));
current.push(cri('stdout', 'after the bad line', 4));
writeFileSync(join(dir, '0.log'), Buffer.concat(current));
symlinkSync(`/var/log/pods/${POD}/app/0.log`, join(ROOT, 'var/log/containers', `web-7d9f8b6c5-x2x4z_default_app-${APP_ID}.log`));
