// Writes systemd/root/ and cgroupfs/root/: containerd task state directories as the shims
// leave them on a Kubernetes node, made from the real bundles in captured/ (see README.md).
// Only what differs between the capture and the node being reproduced is changed: the
// container ids and pod UID (those of the cgroup collector's v2-systemd and v1-cgroupfs-kube
// fixtures, so that the two can be combined), the QoS class, and `linux.cgroupsPath` in the
// form the CRI plugin writes with each cgroup driver (containerd getCgroupsPath:
// `<pod slice>:cri-containerd:<id>` with systemd, `<cgroup parent>/<id>` with cgroupfs), and
// nerdctl's `system.slice:nerdctl:<id>` under systemd. Byte-for-byte otherwise.
//
//   node collectors/containerd/testdata/gen-roots.mjs
//
// The output is committed; the tests read it, not this script.
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const captured = join(here, 'captured');
const TASKS = 'run/containerd/io.containerd.runtime.v2.task';

/** Captured ids and pod UID (ctr run in a private containerd, 2026-11-25). */
const CAP = {
  sandbox: 'c3b9f9ba788cd839970f292f524039c8625d047461f6951dfdfd01dc8378a51e',
  app: '1d0abfa5dc066d774ef57fdbd2611f814e2a3635f55520b071ff2d25ee74296c',
  nerdctl: '88f9f2380b7bad50450b7a3a11c5d124dac1892a2035d9d278171c3884e895c5',
  plain: '7710bc330276d3d0fdbffac466faba2c2c01e6927de71366c288969aa116a9d0',
  moby: '1ce7e140a0797ed74bda69475ef4049db6b3f040e0cc091fcf5277c931e7df90',
  uid: '1e4075b5-520e-4635-a695-6f764fa19ed6',
};

export const ROOTS = {
  systemd: {
    uid: '6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d',
    qos: 'burstable',
    sandbox: 'c0ffee1234567890abcdef1234567890abcdef1234567890abcdef1234567890',
    app: 'e5f6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f80912',
    other: { ns: 'default', from: CAP.nerdctl, id: CAP.nerdctl, cgroupsPath: `system.slice:nerdctl:${CAP.nerdctl}` },
    cgroupsPath: (uid, qos, id) => `kubepods-${qos}-pod${uid.replace(/-/g, '_')}.slice:cri-containerd:${id}`,
  },
  cgroupfs: {
    uid: '2c6b7f0e-1d3a-4b5c-9e8f-7a6b5c4d3e2f',
    qos: 'burstable',
    sandbox: '1f0e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0',
    app: 'aa55aa55aa55aa55aa55aa55aa55aa55aa55aa55aa55aa55aa55aa55aa55aa55',
    other: { ns: 'default', from: CAP.plain, id: CAP.plain, cgroupsPath: `/default/${CAP.plain}` },
    cgroupsPath: (uid, qos, id) => `/kubepods/${qos}/pod${uid}/${id}`,
  },
};

function copyBundle(ns, from, to, root, edit) {
  const src = join(captured, ns, from);
  const dst = join(root, TASKS, ns, to);
  mkdirSync(dst, { recursive: true });
  for (const f of readdirSync(src)) {
    if (f === 'config.json') {
      const spec = JSON.parse(readFileSync(join(src, f), 'utf8'));
      edit?.(spec);
      // containerd writes the spec with encoding/json: compact, no newline.
      writeFileSync(join(dst, f), JSON.stringify(spec));
    } else copyFileSync(join(src, f), join(dst, f));
  }
}

const rename = (text, r) =>
  text
    .replaceAll(CAP.sandbox, r.sandbox)
    .replaceAll(CAP.app, r.app)
    .replaceAll(CAP.uid, r.uid)
    .replaceAll('besteffort', r.qos);

for (const [name, r] of Object.entries(ROOTS)) {
  const root = join(here, name, 'root');
  rmSync(join(here, name), { recursive: true, force: true });
  for (const [from, to] of [[CAP.sandbox, r.sandbox], [CAP.app, r.app]]) {
    copyBundle('k8s.io', from, to, root, (spec) => {
      spec.annotations = JSON.parse(rename(JSON.stringify(spec.annotations), r));
      spec.linux.cgroupsPath = r.cgroupsPath(r.uid, r.qos, to);
      spec.linux.namespaces = JSON.parse(rename(JSON.stringify(spec.linux.namespaces), r));
    });
  }
  copyBundle(r.other.ns, r.other.from, r.other.id, root, (spec) => {
    spec.linux.cgroupsPath = r.other.cgroupsPath;
  });
  // Docker's own containerd keeps its bundles under /run/docker/containerd/daemon/...; one
  // that runs on the system containerd puts them here, in namespace moby.
  copyBundle('moby', CAP.moby, CAP.moby, root);
}
