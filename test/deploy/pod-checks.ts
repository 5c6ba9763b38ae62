/**
 * What every lookout DaemonSet must satisfy, from deploy/kubernetes/ or the Helm chart:
 * every node, bounded resources, probes on the agent's port, read-only host mounts under the
 * --root, the node's name from the Downward API, a locked-down security context.
 */
import { expect } from 'vitest';
import { agentContainer, flagValue, type K8sObject, podSpec } from './kube.js';

/** Capabilities the agent may add (deploy/README.md, "Privileges"). */
export const ALLOWED_CAPS = ['DAC_READ_SEARCH', 'SYS_PTRACE'];

const BYTES: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, k: 1e3, M: 1e6, G: 1e9 };
/** A Kubernetes quantity as a number (cores or bytes). */
export function quantity(q: string | number): number {
  if (typeof q === 'number') return q;
  const m = /^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi|k|M|G)?$/.exec(q);
  if (!m) throw new Error(`unexpected quantity ${q}`);
  const n = Number(m[1]);
  if (m[2] === 'm') return n / 1000;
  return m[2] ? n * (BYTES[m[2]] as number) : n;
}

export interface PodExpectations {
  /** Host path of the state directory when it is a (writable) hostPath, else undefined (emptyDir). */
  readonly stateHostPath?: string;
  readonly scheme?: 'HTTP' | 'HTTPS';
}

export function checkAgentDaemonSet(ds: K8sObject, exp: PodExpectations = {}): void {
  expect(ds.kind).toBe('DaemonSet');
  const pod = podSpec(ds);
  const c = agentContainer(ds);
  const args: string[] = c.args ?? [];

  // Scheduled on every node: a toleration of every taint (no key, operator Exists, no effect).
  expect(pod.tolerations).toContainEqual({ operator: 'Exists' });

  // Requests and limits of CPU and memory, limits at least the requests.
  for (const r of ['cpu', 'memory']) {
    const req = c.resources?.requests?.[r];
    const lim = c.resources?.limits?.[r];
    expect(req, `resources.requests.${r}`).toBeDefined();
    expect(lim, `resources.limits.${r}`).toBeDefined();
    expect(quantity(lim)).toBeGreaterThanOrEqual(quantity(req));
  }

  // The agent listens on all addresses of the pod's network, on the container port named http.
  const listen = flagValue(args, 'listen');
  expect(listen, '--listen').toMatch(/^0\.0\.0\.0:\d+$/);
  const port = Number(listen?.split(':')[1]);
  const http = (c.ports ?? []).find((p: { name?: string }) => p.name === 'http');
  expect(http, 'a container port named http').toBeDefined();
  expect(http.containerPort).toBe(port);
  expect(pod.hostNetwork ?? false, 'hostNetwork: the agent listens on 0.0.0.0').toBe(false);

  // Probes: liveness on /healthz, readiness on /readyz, both on that port.
  const probePort = (p: { httpGet: { port: string | number } }): number => (p.httpGet.port === 'http' ? port : Number(p.httpGet.port));
  expect(c.livenessProbe?.httpGet?.path).toBe('/healthz');
  expect(c.readinessProbe?.httpGet?.path).toBe('/readyz');
  expect(probePort(c.livenessProbe)).toBe(port);
  expect(probePort(c.readinessProbe)).toBe(port);
  expect(c.livenessProbe.httpGet.scheme ?? 'HTTP').toBe(exp.scheme ?? 'HTTP');
  expect(c.readinessProbe.httpGet.scheme ?? 'HTTP').toBe(exp.scheme ?? 'HTTP');

  // The node's name from the Downward API.
  expect(c.env).toContainEqual({ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } });

  // Security: read-only root filesystem, no escalation, not privileged, all capabilities
  // dropped but the two the agent needs; the API token is not mounted.
  const sc = c.securityContext ?? {};
  expect(sc.readOnlyRootFilesystem).toBe(true);
  expect(sc.allowPrivilegeEscalation).toBe(false);
  expect(sc.privileged ?? false).toBe(false);
  expect(sc.capabilities?.drop).toEqual(['ALL']);
  for (const cap of sc.capabilities?.add ?? []) expect(ALLOWED_CAPS).toContain(cap);
  expect(pod.securityContext?.seccompProfile?.type).toBe('RuntimeDefault');
  expect(pod.automountServiceAccountToken).toBe(false);

  // Host mounts: every hostPath volume is mounted read-only at <--root><path>, except the
  // state directory when it is kept on the node.
  const root = flagValue(args, 'root');
  expect(root, '--root').toBe('/host');
  const stateDir = flagValue(args, 'state-dir') ?? '/var/lib/lookout';
  const volumes = new Map<string, K8sObject['spec']>((pod.volumes ?? []).map((v: { name: string }) => [v.name, v]));
  const hostVolumes = [...volumes.values()].filter((v) => v.hostPath !== undefined);
  expect(hostVolumes.length).toBeGreaterThan(0);
  const mounts: Array<{ name: string; mountPath: string; readOnly?: boolean }> = c.volumeMounts ?? [];
  for (const v of hostVolumes) {
    const ms = mounts.filter((m) => m.name === v.name);
    expect(ms.length, `volume ${v.name} is mounted`).toBeGreaterThan(0);
    for (const m of ms) {
      if (exp.stateHostPath !== undefined && v.hostPath.path === exp.stateHostPath) {
        expect(m.mountPath).toBe(stateDir);
        continue;
      }
      expect(m.readOnly, `hostPath ${v.hostPath.path} mounted read-only`).toBe(true);
      expect(m.mountPath, `hostPath ${v.hostPath.path} under the --root`).toBe(`${root}${v.hostPath.path}`);
    }
  }
  for (const ic of pod.initContainers ?? []) {
    for (const m of ic.volumeMounts ?? []) if (volumes.get(m.name)?.hostPath) expect(m.readOnly).toBe(true);
  }
  const writable = mounts.filter((m) => !m.readOnly);
  expect(writable.map((m) => m.mountPath)).toEqual([stateDir]);
  const state = volumes.get(writable[0]?.name ?? '');
  if (exp.stateHostPath === undefined) expect(state?.emptyDir).toBeDefined();
  else expect(state?.hostPath?.path).toBe(exp.stateHostPath);

  // What the agent reads is among the mounts: cgroups, /proc, pod logs.
  const hostPaths = hostVolumes.map((v) => v.hostPath.path as string);
  for (const needed of ['/sys', '/proc', '/var/log/pods']) expect(hostPaths).toContain(needed);

  // The config file the agent is told to read is a mounted ConfigMap.
  const config = flagValue(args, 'config');
  expect(config).toBe('/etc/lookout/lookout.yaml');
  const cm = mounts.find((m) => m.mountPath === '/etc/lookout');
  expect(cm?.readOnly).toBe(true);
  expect(volumes.get(cm?.name ?? '')?.configMap?.name).toBeDefined();
}
