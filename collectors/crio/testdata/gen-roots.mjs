// Writes the CRI-O fixture nodes: <case>/root/ (the containers/storage directory CRI-O saves
// each container's OCI spec in) and <case>/responses/ (what its info endpoint answers for the
// same containers), for the systemd and the cgroupfs cgroup driver. See README.md for the
// sources of each format.
//
// The specs start from a real runc spec (the Docker one captured in
// ../../containerd/testdata/captured/moby/, written by dockerd 20.10 on the development VM) and
// are changed where CRI-O's differ: its annotations, the kubelet's mounts, the pod's pinned
// namespaces, its cgroupsPath forms (`<pod slice>:crio:<id>` with systemd,
// `<cgroup parent>/crio-<id>` with cgroupfs), no Docker hooks.
//
//   node collectors/crio/testdata/gen-roots.mjs
//
// The output is committed; the tests read it, not this script.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const BASE = JSON.parse(
  readFileSync(join(here, '../../containerd/testdata/captured/moby/1ce7e140a0797ed74bda69475ef4049db6b3f040e0cc091fcf5277c931e7df90/config.json'), 'utf8'),
);
const STORAGE = 'var/lib/containers/storage';
const RUN_STORAGE = '/run/containers/storage/overlay-containers';

export const NODES = {
  // The CRI-O pod of the cgroup collector's v2-systemd fixture (besteffort pod slice, crio-<id>.scope).
  systemd: {
    driver: 'systemd',
    namespace: 'payments',
    pod: 'api-6c8f9d7b5-hz4tn',
    uid: '0a1b2c3d-5e6f-4789-9abc-def012345678',
    qos: 'besteffort',
    sandbox: '8b7a6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b',
    container: '4d3c2b1a0f9e8d7c6b5a49382716f5e4d3c2b1a09f8e7d6c5b4a392817160f5e',
    restartCount: 0,
    pid: 48213,
    libpod: '7e57ab1e5eed0fdecafbadd00dfeedface0ddba11ab1ec0de5caffe1dea5c0de',
  },
  cgroupfs: {
    driver: 'cgroupfs',
    namespace: 'payments',
    pod: 'ledger-0',
    uid: 'd2c4e6f8-0a1b-4c3d-8e5f-6a7b8c9d0e1f',
    qos: 'burstable',
    sandbox: '2f4e6d8c0b1a39485766f5e4d3c2b1a0ffeeddccbbaa99887766554433221100',
    container: '6e5d4c3b2a190817f6e5d4c3b2a1908176e5d4c3b2a190817f6e5d4c3b2a1909',
    restartCount: 3,
    pid: 51877,
    libpod: null,
  },
};

const IMAGE = 'docker.io/library/nginx:1.27-alpine';
const IMAGE_ID = '91734281c0ebfc6f1aea979cffeed5079cfe786228a71cc6f1f46a228cde6e34';
const IMAGE_REF = 'docker.io/library/nginx@sha256:2140dad235c130ac861018a4e13a6bc8aea3a35f3a40e20c1b060d51a7efd250';
const PAUSE = 'registry.k8s.io/pause:3.9';
const POD_ANNOTATIONS = { 'kubernetes.io/config.seen': '2026-11-25T00:30:11.482913776Z', 'kubernetes.io/config.source': 'api' };

/** Go's encoding/json: struct fields in order, map keys sorted, compact. */
function goJSON(v) {
  if (Array.isArray(v)) return `[${v.map(goJSON).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const keys = v.__struct ? Object.keys(v).filter((k) => k !== '__struct') : Object.keys(v).sort();
    return `{${keys.filter((k) => v[k] !== undefined).map((k) => `${JSON.stringify(k)}:${goJSON(v[k])}`).join(',')}}`;
  }
  if (typeof v === 'bigint') return v.toString();
  return JSON.stringify(v);
}
const struct = (o) => ({ __struct: true, ...o });

function spec(n, kind) {
  const s = structuredClone(BASE);
  const sandbox = kind === 'sandbox';
  const id = sandbox ? n.sandbox : n.container;
  const us = n.uid.replace(/-/g, '_');
  const parent = n.driver === 'systemd' ? `kubepods-${n.qos}-pod${us}.slice` : `/kubepods/${n.qos}/pod${n.uid}`;
  const podFull = `${n.namespace}_${n.pod}_${n.uid}`;
  const labels = sandbox
    ? { app: 'api', 'io.kubernetes.container.name': 'POD', 'io.kubernetes.pod.name': n.pod, 'io.kubernetes.pod.namespace': n.namespace, 'io.kubernetes.pod.uid': n.uid, 'pod-template-hash': '6c8f9d7b5' }
    : { 'io.kubernetes.container.name': 'api', 'io.kubernetes.pod.name': n.pod, 'io.kubernetes.pod.namespace': n.namespace, 'io.kubernetes.pod.uid': n.uid };
  const kube = sandbox
    ? POD_ANNOTATIONS
    : {
        'io.kubernetes.container.hash': '5d0f3a8c',
        'io.kubernetes.container.restartCount': String(n.restartCount),
        'io.kubernetes.container.terminationMessagePath': '/dev/termination-log',
        'io.kubernetes.container.terminationMessagePolicy': 'File',
        'io.kubernetes.pod.terminationGracePeriod': '30',
      };
  const crioName = sandbox ? `k8s_POD_${n.pod}_${n.namespace}_${n.uid}_0` : `k8s_api_${n.pod}_${n.namespace}_${n.uid}_${n.restartCount}`;
  const layer = sandbox ? 'a3c1e5f7b9d2c4e6f8a0b2d4f6a8c0e2a4c6e8a0c2e4a6c8e0a2c4e6a8c0e2f4' : 'b4d2f6a8c0e1d3f5a7c9e1f3a5c7e9b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a1c3';
  const ann = {
    ...labels,
    ...kube,
    'io.container.manager': 'cri-o',
    'io.kubernetes.cri-o.Annotations': JSON.stringify(kube),
    'io.kubernetes.cri-o.ContainerID': id,
    'io.kubernetes.cri-o.ContainerName': crioName,
    'io.kubernetes.cri-o.ContainerType': kind,
    'io.kubernetes.cri-o.Created': sandbox ? '2026-11-25T00:30:11.902177434Z' : '2026-11-25T00:30:14.117390512Z',
    'io.kubernetes.cri-o.Labels': JSON.stringify(labels),
    'io.kubernetes.cri-o.LogPath': sandbox ? `/var/log/pods/${podFull}/${id}.log` : `/var/log/pods/${podFull}/api/${n.restartCount}.log`,
    'io.kubernetes.cri-o.MountPoint': `/var/lib/containers/storage/overlay/${layer}/merged`,
    'io.kubernetes.cri-o.ResolvPath': `${RUN_STORAGE}/${n.sandbox}/userdata/resolv.conf`,
    'io.kubernetes.cri-o.SandboxID': n.sandbox,
    'io.kubernetes.cri-o.SeccompProfilePath': 'RuntimeDefault',
  };
  if (sandbox) {
    Object.assign(ann, {
      'io.kubernetes.cri-o.CgroupParent': parent,
      'io.kubernetes.cri-o.HostName': n.pod,
      'io.kubernetes.cri-o.HostNetwork': 'false',
      'io.kubernetes.cri-o.HostnamePath': `${RUN_STORAGE}/${id}/userdata/hostname`,
      'io.kubernetes.cri-o.Image': PAUSE,
      'io.kubernetes.cri-o.KubeName': n.pod,
      'io.kubernetes.cri-o.Metadata': JSON.stringify({ name: n.pod, uid: n.uid, namespace: n.namespace }),
      'io.kubernetes.cri-o.Name': `k8s_${n.pod}_${n.namespace}_${n.uid}_0`,
      'io.kubernetes.cri-o.Namespace': n.namespace,
      'io.kubernetes.cri-o.NamespaceOptions': '{"pid":1}',
      'io.kubernetes.cri-o.PortMappings': '[]',
      'io.kubernetes.cri-o.PrivilegedRuntime': 'false',
      'io.kubernetes.cri-o.RuntimeHandler': '',
      'io.kubernetes.cri-o.ShmPath': `${RUN_STORAGE}/${id}/userdata/shm`,
      ...(n.driver === 'systemd' ? { 'org.systemd.property.CollectMode': "'inactive-or-failed'" } : {}),
      ...POD_ANNOTATIONS,
    });
  } else {
    Object.assign(ann, {
      'io.kubernetes.cri-o.IP.0': '10.85.0.12',
      'io.kubernetes.cri-o.Image': IMAGE_ID,
      'io.kubernetes.cri-o.ImageName': IMAGE,
      'io.kubernetes.cri-o.ImageRef': IMAGE_REF,
      'io.kubernetes.cri-o.Metadata': JSON.stringify({ name: 'api', attempt: n.restartCount }),
      'io.kubernetes.cri-o.Name': crioName,
      'io.kubernetes.cri-o.SandboxName': `k8s_${n.pod}_${n.namespace}_${n.uid}_0`,
      'io.kubernetes.cri-o.Stdin': 'false',
      'io.kubernetes.cri-o.StdinOnce': 'false',
      'io.kubernetes.cri-o.TTY': 'false',
      'io.kubernetes.cri-o.Volumes': JSON.stringify([
        { container_path: '/etc/hosts', host_path: `/var/lib/kubelet/pods/${n.uid}/etc-hosts`, readonly: false, propagation: 0, selinux_relabel: false },
        { container_path: '/dev/termination-log', host_path: `/var/lib/kubelet/pods/${n.uid}/containers/api/7c1d2e3f`, readonly: false, propagation: 0, selinux_relabel: false },
      ]),
    });
  }
  delete s.hooks;
  s.hostname = n.pod;
  s.process.args = sandbox ? ['/pause'] : ['/docker-entrypoint.sh', 'nginx', '-g', 'daemon off;'];
  s.process.env = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=xterm', `HOSTNAME=${n.pod}`];
  s.process.oomScoreAdj = n.qos === 'besteffort' ? 1000 : sandbox ? -998 : 968;
  s.root = { path: ann['io.kubernetes.cri-o.MountPoint'], ...(sandbox ? { readonly: true } : {}) };
  s.mounts = s.mounts.filter((m) => !m.destination.startsWith('/etc/') && m.destination !== '/dev/shm');
  s.mounts.push(
    { destination: '/dev/shm', type: 'bind', source: `${RUN_STORAGE}/${n.sandbox}/userdata/shm`, options: ['rw', 'bind'] },
    { destination: '/etc/resolv.conf', type: 'bind', source: ann['io.kubernetes.cri-o.ResolvPath'], options: ['ro', 'bind', 'nodev', 'nosuid', 'noexec'] },
    { destination: '/etc/hostname', type: 'bind', source: `${RUN_STORAGE}/${n.sandbox}/userdata/hostname`, options: ['ro', 'bind', 'nodev', 'nosuid', 'noexec'] },
  );
  if (!sandbox) {
    s.mounts.push(
      { destination: '/etc/hosts', type: 'bind', source: `/var/lib/kubelet/pods/${n.uid}/etc-hosts`, options: ['rw', 'rbind', 'rprivate', 'bind'] },
      { destination: '/dev/termination-log', type: 'bind', source: `/var/lib/kubelet/pods/${n.uid}/containers/api/7c1d2e3f`, options: ['rw', 'rbind', 'rprivate', 'bind'] },
    );
  }
  s.annotations = ann;
  s.linux.cgroupsPath = n.driver === 'systemd' ? `${parent}:crio:${id}` : `${parent}/crio-${id}`;
  const pinned = '9abac4ae-94a6-4853-b299-e4c1c2c508c0';
  s.linux.namespaces = [
    { type: 'pid' },
    { type: 'network', path: `/var/run/netns/${pinned}` },
    { type: 'ipc', path: `/var/run/ipcns/${pinned}` },
    { type: 'uts', path: `/var/run/utsns/${pinned}` },
    { type: 'mount' },
  ];
  s.linux.resources = { devices: [{ allow: false, access: 'rwm' }], cpu: { shares: n.qos === 'besteffort' || sandbox ? 2 : 256 } };
  return { s, ann, labels, kube, crioName, layer };
}

function podmanSpec(id) {
  const s = structuredClone(BASE);
  delete s.hooks;
  s.hostname = id.slice(0, 12);
  // What libpod's generateSpec always adds (libpod/container_internal_common.go).
  s.annotations = {
    'io.container.manager': 'libpod',
    'io.kubernetes.cri-o.Created': '2026-11-24T23:58:02.417738810Z',
    'org.opencontainers.image.stopSignal': '15',
  };
  s.process.env.push('container=libpod');
  s.linux.cgroupsPath = `machine.slice:libpod:${id}`;
  return s;
}

for (const [name, n] of Object.entries(NODES)) {
  rmSync(join(here, name), { recursive: true, force: true });
  const storage = join(here, name, 'root', STORAGE, 'overlay-containers');
  const responses = join(here, name, 'responses');
  mkdirSync(join(responses, 'containers'), { recursive: true });
  mkdirSync(storage, { recursive: true });
  writeFileSync(join(storage, 'containers.lock'), '');
  for (const kind of ['sandbox', 'container']) {
    const { s, ann, labels, kube, crioName, layer } = spec(n, kind);
    const id = kind === 'sandbox' ? n.sandbox : n.container;
    mkdirSync(join(storage, id, 'userdata'), { recursive: true });
    writeFileSync(join(storage, id, 'userdata', 'config.json'), JSON.stringify(s, null, '\t'));
    // types.ContainerInfo as server/inspect.go fills it. A sandbox whose infra container was
    // dropped (CRI-O's default drop_infra_ctr) reports the pid of a container of the pod.
    const info = struct({
      name: crioName,
      pid: n.pid,
      image: kind === 'sandbox' ? PAUSE : IMAGE,
      image_ref: kind === 'sandbox' ? '' : IMAGE_REF,
      // Nanoseconds: more digits than a double holds.
      created_time: BigInt(Date.parse(ann['io.kubernetes.cri-o.Created'])) * 1_000_000n + (kind === 'sandbox' ? 177434n : 390512n),
      labels,
      annotations: kube,
      crio_annotations: ann,
      log_path: ann['io.kubernetes.cri-o.LogPath'],
      root: `/var/lib/containers/storage/overlay/${layer}/merged`,
      sandbox: n.sandbox,
      ip_addresses: ['10.85.0.12'],
      host_network: false,
    });
    writeFileSync(join(responses, 'containers', `${id}.json`), goJSON(info));
  }
  if (n.libpod) {
    mkdirSync(join(storage, n.libpod, 'userdata'), { recursive: true });
    writeFileSync(join(storage, n.libpod, 'userdata', 'config.json'), JSON.stringify(podmanSpec(n.libpod), null, '\t'));
  }
  const full = struct({ container_id: 0, host_id: 0, size: 4294967295 });
  writeFileSync(
    join(responses, 'info.json'),
    goJSON(
      struct({
        storage_driver: 'overlay',
        storage_image: '',
        storage_root: '/var/lib/containers/storage',
        cgroup_driver: n.driver,
        default_id_mappings: struct({ uids: [full], gids: [full] }),
      }),
    ),
  );
}
