// Writes malformed/root/: a cgroup v1 tree (separate cpu, cpuacct, memory and pids mounts,
// no blkio mount and no unified tree) built from the real files of v1-hybrid-docker/, with
// one defect per file listed in DEFECTS below. The collector must emit everything else,
// count each defect it can detect, and never throw; expected-errors.json holds the counts.
//
//   node collectors/cgroups/testdata/gen-malformed.mjs
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const real = join(here, 'v1-hybrid-docker/root');
const out = join(here, 'malformed/root');
const cg = join(out, 'sys/fs/cgroup');

const CPU = 'docker/7641d6d2bf99a8c50ba691e36e640eee3f3bab4bc85f7bd3ba25d2937a51baa7';
const DIO = 'docker/4c27dce492b9293897c4e61e9af6118378204ff5f53ad190ca25ed2a716a4017';
export const IDS = {
  garbage: 'badbadbadbadbadbadbadbadbadbadbadbadbadbadbadbadbadbadbadbadbadb',
  empty: 'e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0',
  nometa: 'dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd',
};

/** Target cgroup -> the real cgroup whose files it starts from. */
const LAYOUT = { '': '', docker: 'docker', [`docker/${IDS.garbage}`]: CPU, [`docker/${IDS.empty}`]: DIO, [`docker/${IDS.nometa}`]: DIO };
const MOUNTS = ['cpu', 'cpuacct', 'memory', 'pids'];

const memoryStat = readFileSync(join(real, 'sys/fs/cgroup/memory', CPU, 'memory.stat'), 'latin1');
const cut = memoryStat.indexOf('total_inactive_file') + 'total_inactive_fi'.length;

/** [cgroup, controller, file] -> content (null: the file is removed). */
const DEFECTS = [
  // A garbage value on one line of cpu.stat: a parse error.
  [`docker/${IDS.garbage}`, 'cpu', 'cpu.stat', 'nr_periods 6500\nnr_throttled 6459\nthrottled_time 3.1e+11junk\nnr_bursts 0\nburst_time 0\n'],
  // Not a number: a parse error.
  [`docker/${IDS.garbage}`, 'memory', 'memory.usage_in_bytes', 'not-a-number\n'],
  // Cut in the middle of a key, as a short read would leave it: a parse error.
  [`docker/${IDS.garbage}`, 'memory', 'memory.stat', memoryStat.slice(0, cut)],
  // Empty single-value files: parse errors (the kernel never writes an empty value).
  [`docker/${IDS.empty}`, 'cpuacct', 'cpuacct.usage', ''],
  [`docker/${IDS.empty}`, 'memory', 'memory.limit_in_bytes', ''],
  [`docker/${IDS.empty}`, 'pids', 'pids.max', ''],
  // Empty keyed files and an empty cgroup.procs hold no pairs and no PIDs: not errors.
  [`docker/${IDS.empty}`, 'cpuacct', 'cpuacct.stat', ''],
  [`docker/${IDS.empty}`, 'memory', 'memory.oom_control', ''],
  [`docker/${IDS.empty}`, 'pids', 'cgroup.procs', ''],
];

rmSync(out, { recursive: true, force: true });
for (const [target, from] of Object.entries(LAYOUT)) {
  for (const c of MOUNTS) {
    // The empty container has no directory in the cpu hierarchy at all.
    if (c === 'cpu' && target === `docker/${IDS.empty}`) continue;
    const dir = join(cg, c, target);
    mkdirSync(dir, { recursive: true });
    for (const e of readdirSync(join(real, 'sys/fs/cgroup', c, from), { withFileTypes: true })) {
      if (e.isFile()) copyFileSync(join(real, 'sys/fs/cgroup', c, from, e.name), join(dir, e.name));
    }
  }
}
for (const [target, c, file, text] of DEFECTS) writeFileSync(join(cg, c, target, file), text);

const containers = join(out, 'var/lib/docker/containers');
const template = readFileSync(join(real, 'var/lib/docker/containers', CPU.slice(7), 'config.v2.json'), 'utf8');
// Truncated JSON: a metadata error; the container keeps its series with empty name and image.
mkdirSync(join(containers, IDS.garbage), { recursive: true });
writeFileSync(join(containers, IDS.garbage, 'config.v2.json'), template.slice(0, 200));
// Valid JSON, as Docker writes it.
mkdirSync(join(containers, IDS.empty), { recursive: true });
writeFileSync(join(containers, IDS.empty, 'config.v2.json'), template.replaceAll(CPU.slice(7), IDS.empty).replace('"Name":"/lkfx-cpu"', '"Name":"/empty-files"'));
// IDS.nometa has no config.v2.json: not an error (Docker may not have written it yet).
console.log(`wrote ${out}`);
