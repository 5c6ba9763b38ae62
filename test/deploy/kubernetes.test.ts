/**
 * deploy/kubernetes/: every object validates against the Kubernetes schemas (and the
 * Prometheus Operator's for ServiceMonitor and PodMonitor) with unknown fields refused; the
 * DaemonSet runs on every node with probes, limits and read-only host mounts; the objects
 * refer to each other consistently; the ConfigMap's configuration is valid for the agent.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, runCli } from '../helpers/cli.js';
import { agentContainer, DEPLOY, flagValue, type K8sObject, readYamlDocs, schemaErrors, selects, strictErrors, validateAll } from './kube.js';
import { checkAgentDaemonSet } from './pod-checks.js';

const DIR = join(DEPLOY, 'kubernetes');
const FILES = [
  ...readdirSync(DIR).filter((f) => f.endsWith('.yaml')),
  ...readdirSync(join(DIR, 'prometheus-operator')).filter((f) => f.endsWith('.yaml')).map((f) => `prometheus-operator/${f}`),
];
const objects = FILES.flatMap((f) => readYamlDocs(join(DIR, f)).map((obj, i) => ({ what: `${f}#${i}`, obj })));
const one = (kind: string): K8sObject => {
  const found = objects.filter((o) => o.obj.kind === kind);
  if (found.length !== 1) throw new Error(`expected one ${kind}, found ${found.length}`);
  return (found[0] as { obj: K8sObject }).obj;
};

describe('deploy/kubernetes manifests', () => {
  it('holds the namespace, account, config, DaemonSet, Service, ServiceMonitor and PodMonitor', () => {
    expect(FILES).toEqual(expect.arrayContaining(['daemonset.yaml', 'namespace.yaml', 'serviceaccount.yaml', 'service.yaml', 'configmap.yaml', 'prometheus-operator/servicemonitor.yaml', 'prometheus-operator/podmonitor.yaml']));
    expect(objects.map((o) => o.obj.kind).sort()).toEqual(['ConfigMap', 'DaemonSet', 'Namespace', 'PodMonitor', 'Service', 'ServiceAccount', 'ServiceMonitor']);
  });

  it('validates against the Kubernetes and Prometheus Operator schemas, unknown fields refused', async () => {
    expect(await validateAll(objects)).toEqual([]);
  }, 60_000);

  it('the validators catch a wrong type, a missing required field and an unknown field (controls)', async () => {
    const ds = structuredClone(one('DaemonSet'));
    agentContainer(ds).ports[0].containerPort = '9337';
    expect((await schemaErrors(ds)).join()).toMatch(/containerPort must be integer/);
    const noSelector = structuredClone(one('DaemonSet'));
    delete noSelector['spec'].selector;
    expect((await schemaErrors(noSelector)).join()).toMatch(/selector/);
    const typo = structuredClone(one('DaemonSet'));
    agentContainer(typo).securityContext.readOnlyRootFileSystem = true;
    expect(await schemaErrors(typo)).toEqual([]); // the API schema alone lets it through...
    expect(strictErrors([{ what: 'typo', obj: typo }]).join()).toMatch(/readOnlyRootFileSystem/); // ...the strict check does not
    const sm = structuredClone(one('ServiceMonitor'));
    sm['spec'].endpoints[0].interval = 'every 15 seconds';
    expect((await schemaErrors(sm)).join()).toMatch(/interval/);
  }, 60_000);

  it('runs the agent on every node with probes, limits, read-only host mounts and a locked-down security context', () => {
    checkAgentDaemonSet(one('DaemonSet'));
  });

  it('puts every object in the lookout namespace, and the account has no RBAC and no token', () => {
    const ns = one('Namespace').metadata?.name;
    expect(ns).toBe('lookout');
    for (const { what, obj } of objects) if (obj.kind !== 'Namespace') expect(obj.metadata?.namespace, what).toBe(ns);
    expect(objects.filter((o) => /Role|Binding/.test(o.obj.kind))).toEqual([]);
    const sa = one('ServiceAccount');
    expect(sa['automountServiceAccountToken']).toBe(false);
    expect(one('DaemonSet')['spec'].template.spec.serviceAccountName).toBe(sa.metadata?.name);
  });

  it('wires the Service, ServiceMonitor and PodMonitor to the agent pods and their http port', () => {
    const ds = one('DaemonSet');
    const podLabels = ds['spec'].template.metadata.labels as Record<string, string>;
    expect(selects(ds['spec'].selector.matchLabels, podLabels)).toBe(true);
    const svc = one('Service');
    expect(selects(svc['spec'].selector, podLabels)).toBe(true);
    const port = agentContainer(ds).ports.find((p: { name: string }) => p.name === 'http');
    const svcPort = svc['spec'].ports.find((p: { name: string }) => p.name === 'http');
    expect(svcPort.targetPort).toBe('http');
    expect(svcPort.port).toBe(port.containerPort);

    const sm = one('ServiceMonitor');
    expect(selects(sm['spec'].selector.matchLabels, svc.metadata?.labels)).toBe(true);
    expect(sm['spec'].namespaceSelector.matchNames).toEqual([svc.metadata?.namespace]);
    // job="lookout", what the dashboards and alert rules select.
    expect(svc.metadata?.labels?.[sm['spec'].jobLabel]).toBe('lookout');
    const pm = one('PodMonitor');
    expect(selects(pm['spec'].selector.matchLabels, podLabels)).toBe(true);
    expect(podLabels[pm['spec'].jobLabel]).toBe('lookout');
    for (const ep of [...sm['spec'].endpoints, ...pm['spec'].podMetricsEndpoints]) {
      expect(ep.port).toBe('http');
      expect(ep.path).toBe('/metrics');
      expect(ep.honorLabels).toBe(true);
    }
  });

  describe('the ConfigMap', () => {
    let tmp = '';
    beforeAll(async () => {
      await ensureBuilt();
      tmp = mkdtempSync(join(tmpdir(), 'lookout-k8s-'));
    });
    afterAll(() => rmSync(tmp, { recursive: true, force: true }));

    it('is mounted where --config points, and `lookout validate` accepts it with the DaemonSet\'s flags', async () => {
      const cm = one('ConfigMap');
      const ds = one('DaemonSet');
      const vol = ds['spec'].template.spec.volumes.find((v: { configMap?: { name: string } }) => v.configMap);
      expect(vol.configMap.name).toBe(cm.metadata?.name);
      const args: string[] = agentContainer(ds).args;
      expect(flagValue(args, 'config')).toBe(`/etc/lookout/${Object.keys(cm['data'])[0]}`);
      const file = join(tmp, 'lookout.yaml');
      writeFileSync(file, cm['data']['lookout.yaml']);
      const r = await runCli(['validate', `--config=${file}`, ...args.slice(1).filter((a) => !a.startsWith('--config'))], { NODE_NAME: 'node-1' });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const effective = JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))) as { root: string; server: { listen: string } };
      expect(effective.root).toBe('/host');
      expect(effective.server.listen).toBe('0.0.0.0:9337');
    }, 120_000);
  });
});
