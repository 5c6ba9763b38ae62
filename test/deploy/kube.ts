/**
 * Kubernetes objects of deploy/ (plain manifests and the rendered Helm chart): read, validated
 * against the Kubernetes schemas, and small accessors for the checks the tests share.
 *
 * The schemas come from npm (no other registry is reachable): `kubernetes-models` holds the
 * validators generated from the Kubernetes OpenAPI documents (types, required fields, enums,
 * formats) and `@kubernetes-models/prometheus-operator` those of the operator's CRDs
 * (ServiceMonitor, PodMonitor). Like the API server they accept unknown fields, which would let
 * a misspelt key (`readOnlyRootFileSystem`) pass silently; the strict check adds kubeconform's
 * `-strict`: each object, as a TypeScript literal typed with the same package's interfaces,
 * must compile, so any field the schema does not know is an excess-property error.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { parseAllDocuments } from 'yaml';

export const REPO = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const DEPLOY = join(REPO, 'deploy');

export type K8sObject = { apiVersion: string; kind: string; metadata?: { name?: string; namespace?: string; labels?: Record<string, string> }; [k: string]: any };

/** Every non-empty YAML document of a text, as plain objects; throws on a YAML error. */
export function yamlDocs(text: string, what: string): K8sObject[] {
  const out: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`${what}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const v = doc.toJS() as unknown;
    if (v === null || v === undefined) continue;
    out.push(v as K8sObject);
  }
  return out;
}

export function readYamlDocs(file: string): K8sObject[] {
  return yamlDocs(readFileSync(file, 'utf8'), file);
}

/** The package subpath holding the model of an apiVersion and kind. */
function modelModule(o: K8sObject): { module: string; iface: string } {
  const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
  if (group === 'monitoring.coreos.com') return { module: `@kubernetes-models/prometheus-operator/${group}/${version}/${o.kind}`, iface: `I${o.kind}` };
  return { module: `kubernetes-models/${group === '' ? '' : `${group}/`}${version}/${o.kind}`, iface: `I${o.kind}` };
}

type ModelClass = new (data: unknown) => { validate(): void };

/** Schema errors of one object (empty when valid), from the generated Kubernetes validators. */
export async function schemaErrors(o: K8sObject): Promise<string[]> {
  if (typeof o.apiVersion !== 'string' || typeof o.kind !== 'string') return ['apiVersion and kind must be strings'];
  const { module } = modelModule(o);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(module)) as Record<string, unknown>;
  } catch (err) {
    return [`no schema for ${o.apiVersion} ${o.kind} (${module}): ${(err as Error).message}`];
  }
  const Model = mod[o.kind] as ModelClass | undefined;
  if (typeof Model !== 'function') return [`no model ${o.kind} in ${module}`];
  try {
    new Model(o).validate();
    return [];
  } catch (err) {
    return [(err as Error).message];
  }
}

/**
 * Unknown fields and type errors of objects, by compiling each as a TypeScript literal of the
 * package's interface (excess property checks reach every nesting level of a literal).
 * Returns one message per diagnostic, naming the object.
 */
export function strictErrors(objects: ReadonlyArray<{ what: string; obj: K8sObject }>): string[] {
  const file = join(REPO, 'test/deploy/__strict_manifests__.ts');
  const lines: string[] = [];
  const owner: string[] = [];
  objects.forEach(({ what, obj }, i) => {
    const { module, iface } = modelModule(obj);
    lines.push(`import type { ${iface} as T${i} } from '${module}';`);
    owner.push(what);
  });
  const startLine = lines.length;
  objects.forEach(({ obj }, i) => lines.push(`export const o${i}: T${i} = ${JSON.stringify(obj)};`));
  const source = lines.join('\n');
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, lang, ...rest) => (name === file ? ts.createSourceFile(name, source, lang) : getSourceFile(name, lang, ...rest));
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === file || fileExists(name);
  const readFile = host.readFile.bind(host);
  host.readFile = (name) => (name === file ? source : readFile(name));
  const program = ts.createProgram([file], options, host);
  const sf = program.getSourceFile(file);
  if (!sf) return ['the strict check could not create its source file'];
  const diags = [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)];
  return diags.map((d) => {
    const line = d.start === undefined ? -1 : sf.getLineAndCharacterOfPosition(d.start).line;
    const what = line >= startLine ? owner[line - startLine] : 'imports';
    const near = d.start === undefined ? '' : ` near ${JSON.stringify(source.slice(Math.max(0, d.start - 40), d.start + 40))}`;
    return `${what}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}${near}`;
  });
}

/** Both checks over a set of objects: the list of problems, empty when all are valid. */
export async function validateAll(objects: ReadonlyArray<{ what: string; obj: K8sObject }>): Promise<string[]> {
  const problems: string[] = [];
  for (const { what, obj } of objects) for (const e of await schemaErrors(obj)) problems.push(`${what}: ${e}`);
  problems.push(...strictErrors(objects));
  return problems;
}

// Accessors for the DaemonSet's pod.

export function podSpec(ds: K8sObject): K8sObject['spec'] {
  return ds['spec'].template.spec;
}

export function agentContainer(ds: K8sObject): K8sObject['spec'] {
  const c = podSpec(ds).containers.find((x: { name: string }) => x.name === 'lookout');
  if (!c) throw new Error('no container named lookout');
  return c;
}

/** The value of a `--flag=value` or `--flag value` argument. */
export function flagValue(args: readonly string[], flag: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === `--${flag}`) return args[i + 1];
    if (a.startsWith(`--${flag}=`)) return a.slice(flag.length + 3);
  }
  return undefined;
}

/** Whether a label selector's matchLabels all appear in `labels`. */
export function selects(matchLabels: Record<string, string>, labels: Record<string, string> | undefined): boolean {
  return Object.entries(matchLabels).every(([k, v]) => labels?.[k] === v);
}
