// Writes node/root/var/log/{pods,containers}: the kubelet's log directories on the node of the
// containerd collector's systemd fixture (pod shop/web-0, the same UID and container ids), with
// the paths and names the kubelet makes (pkg/kubelet/kuberuntime/helpers.go
// BuildPodLogsDirectory, BuildContainerLogsDirectory, buildContainerLogsPath; legacy.go
// logSymlink) and the CRI log line format the runtimes write (kubelet/kuberuntime/logs,
// `<RFC 3339 nano time> <stream> <P|F> <text>`). See README.md.
//
//   node collectors/kubernetes/testdata/gen-node.mjs
//
// The output is committed (the symlinks as symlinks); the tests read it, not this script.
// Git keeps no empty directories, so the test makes the one of a pod without containers yet.
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, 'node', 'root');

export const PODS = [
  {
    namespace: 'shop',
    pod: 'web-0',
    uid: '6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d',
    containers: [
      // app crashed once: attempt 0 (exited, kept until the kubelet collects it) and attempt 1.
      { name: 'app', attempt: 0, id: 'b1e2d3c4a5968778695a4b3c2d1e0f1f2e3d4c5b6a79880a1b2c3d4e5f607182', rotated: true },
      { name: 'app', attempt: 1, id: 'e5f6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f80912' },
    ],
  },
  {
    namespace: 'kube-system',
    pod: 'coredns-5d78c9869d-8xk2q',
    uid: '3b9c1e52-7a0d-4f6e-9b8a-2c4d6e8f0a1b',
    containers: [{ name: 'coredns', attempt: 0, id: '5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b' }],
  },
  {
    // A static pod: its UID is the hash of its manifest, not a UUID.
    namespace: 'kube-system',
    pod: 'etcd-node-1',
    uid: '9c3f0d3b0a5e2b6f8d1c4e7a9b2d5f80',
    containers: [{ name: 'etcd', attempt: 2, id: 'ee11dd22cc33bb44aa5599668877ff00ee11dd22cc33bb44aa5599668877ff00' }],
  },
];

rmSync(join(here, 'node'), { recursive: true, force: true });
const pods = join(root, 'var/log/pods');
const links = join(root, 'var/log/containers');
mkdirSync(links, { recursive: true });
let t = Date.parse('2026-11-25T00:16:08.301946984Z');
const line = (text) => `${new Date((t += 1234)).toISOString().replace('Z', '123456Z')} stdout F ${text}\n`;
for (const p of PODS) {
  const podDir = join(pods, `${p.namespace}_${p.pod}_${p.uid}`);
  mkdirSync(podDir, { recursive: true });
  for (const c of p.containers) {
    mkdirSync(join(podDir, c.name), { recursive: true });
    const file = join(podDir, c.name, `${c.attempt}.log`);
    writeFileSync(file, line(`${c.name} attempt ${c.attempt} started`) + line('listening'));
    // The kubelet's container log manager rotates to `<n>.log.<yyyymmdd-hhmmss>`.
    if (c.rotated) writeFileSync(`${file}.20261125-001609`, line(`${c.name} attempt ${c.attempt} started`));
    symlinkSync(
      `/var/log/pods/${p.namespace}_${p.pod}_${p.uid}/${c.name}/${c.attempt}.log`,
      join(links, `${p.pod}_${p.namespace}_${c.name}-${c.id}.log`),
    );
  }
}
