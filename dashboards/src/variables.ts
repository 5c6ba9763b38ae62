/**
 * Template variables and the label selectors built from them. Container series carry `id`,
 * `name`, `image` (plus `namespace`, `pod`, `container` on Kubernetes); raw cgroups carry
 * `name=""`, so `name!=""` selects containers (it also keeps containers whose runtime
 * metadata is not known yet, which have `image=""` but their id as name).
 */
import type { VariableSpec } from './lib.js';

/** The lookout scrape job(s): every lookout target reports lookout_build_info. */
export const JOB: VariableSpec = {
  name: 'job',
  label: 'Job',
  description: 'Prometheus job that scrapes lookout.',
  selector: 'lookout_build_info',
  multi: false,
};

/** One node: the overview and the drill-down show one node's containers. */
export const NODE: VariableSpec = {
  name: 'instance',
  label: 'Node',
  description: 'The lookout target (one per node).',
  selector: 'lookout_build_info{job=~"$job"}',
  multi: false,
};

/** Any number of nodes: the Kubernetes view and the agent view span the cluster. */
export const NODES: VariableSpec = { ...NODE, multi: true, allValue: '.+' };

export const TARGET = 'job=~"$job", instance=~"$instance"';
/** Containers only (raw cgroups have name=""). */
export const CONTAINERS = `${TARGET}, name!=""`;
/** The root cgroup: the whole node, as cAdvisor reports it. */
export const ROOT = `${TARGET}, id="/"`;
