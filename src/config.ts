/**
 * Configuration: defaults < YAML file < environment < flags, validated against one schema
 * composed from the core's settings and each registered component's own schema.
 * Every error names the key, the value and what would be valid.
 */
import { readFileSync } from 'node:fs';
import { type Static, type TObject, type TSchema, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { parse as parseYaml } from 'yaml';
import { collectors } from '../collectors/index.js';
import { exporters } from '../exporters/index.js';
import { LookoutError } from './errors.js';
import { DURATION_PATTERN, Duration, Secret, SecretFile } from './schema.js';

const LISTEN = '^(\\[[0-9a-fA-F:.]+\\]|[A-Za-z0-9.-]+):[0-9]{1,5}$';

function components(list: ReadonlyArray<{ type: string; configSchema: TObject; description: string }>): TObject {
  const props: Record<string, TSchema> = {};
  for (const c of list) props[c.type] = Type.Object(c.configSchema.properties, { additionalProperties: false, default: {}, description: c.description });
  return Type.Object(props, { additionalProperties: false, default: {} });
}

export const configSchema = Type.Object(
  {
    root: Type.String({
      default: '/',
      minLength: 1,
      description: "Host root: where the host's `/` is mounted (`/host` when lookout runs in a container). `sys/fs/cgroup`, `proc` and the runtimes' state are read under it.",
    }),
    state_dir: Type.String({
      default: '/var/lib/lookout',
      minLength: 1,
      description: "The agent's own writable directory (not under the host root): on-disk delivery buffers and log checkpoints. Created when first needed; nothing is written anywhere else.",
    }),
    server: Type.Object(
      {
        listen: Type.String({ default: '127.0.0.1:9337', pattern: LISTEN, description: 'HOST:PORT the HTTP server (metrics, probes) listens on; `[::1]:9337` for IPv6. Binds loopback only unless told otherwise.' }),
        tls: Type.Object(
          {
            cert_file: Type.String({ default: '', description: 'PEM certificate (chain) file; with `key_file`, the server speaks HTTPS only.' }),
            key_file: Type.String({ default: '', description: 'PEM private key file of `cert_file`.' }),
          },
          { additionalProperties: false, default: {}, description: 'HTTPS for everything the server serves.' },
        ),
        auth: Type.Object(
          {
            username: Type.String({ default: '', description: 'Basic auth user name; with a password, /metrics, the page and its API require it.' }),
            password: Secret('Basic auth password.'),
            password_file: SecretFile('File holding the basic auth password.'),
            bearer_token: Secret('A bearer token accepted instead of (or besides) basic auth.'),
            bearer_token_file: SecretFile('File holding the bearer token.'),
          },
          { additionalProperties: false, default: {}, description: 'Authentication for everything but /healthz and /readyz (probes stay open). Off when nothing is set.' },
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    log: Type.Object(
      {
        level: Type.Union(
          ['fatal', 'error', 'warn', 'info', 'debug', 'trace'].map((l) => Type.Literal(l)),
          { default: 'info', description: 'Log level of the agent\'s JSON log on stderr.' },
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    collect: Type.Object(
      {
        min_interval: Duration('1s', 'A scrape within this long of the last collection is served from it instead of collecting again (coalesces concurrent and rapid scrapes).'),
        max_series: Type.Integer({
          minimum: 1,
          default: 1_000_000,
          description: 'Most series one collection keeps (about 60 per container); past it, series are dropped and counted in `lookout_series_dropped_total`, so that no node can grow the agent\'s memory without bound.',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    limits: Type.Object(
      {
        max_rss_bytes: Type.Integer({
          minimum: 0,
          default: 512 * 1024 * 1024,
          description:
            "Resident memory budget of the agent, in bytes; 0 turns the watchdog off. Over `soft_ratio` of it the agent sheds work, in order: the push exporters' oldest queued batches (counted in `lookout_exporter_dropped_total{reason=\"memory\"}`), log reading (paused, nothing lost), then series per collection; undone under 90% of the soft mark. Cap the V8 heap too: `NODE_OPTIONS=--max-old-space-size=` about 60% of it in MiB. See docs/reliability.md.",
        }),
        soft_ratio: Type.Number({ minimum: 0.1, maximum: 1, default: 0.8, description: 'Share of `max_rss_bytes` where shedding starts.' }),
        check_interval: Duration('5s', 'How often the resident memory is sampled against the budget.'),
      },
      { additionalProperties: false, default: {}, description: "The agent's own resource limits." },
    ),
    container_labels: Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      uniqueItems: true,
      description:
        'Runtime labels (Docker labels, Kubernetes pod labels) to export on every series of a container, as `container_label_<key>` with the key sanitized (e.g. `com.docker.compose.service` becomes `container_label_com_docker_compose_service`), as cAdvisor\'s --whitelisted_container_labels. None by default: each label multiplies series.',
    }),
    collectors: components(collectors),
    exporters: components(exporters),
  },
  { additionalProperties: false },
);

export type Config = Static<typeof configSchema>;

/** A setting that a flag and an environment variable can set; drives `--help` too. */
export interface OptionDef {
  readonly flag: string;
  readonly env: string;
  /** Config key path, or null for options that are not config keys (`--config`). */
  readonly key: readonly string[] | null;
  readonly arg: string;
  readonly help: string;
}

export const OPTIONS: readonly OptionDef[] = [
  { flag: 'config', env: 'LOOKOUT_CONFIG', key: null, arg: 'FILE', help: 'YAML configuration file (see docs/configuration.md).' },
  { flag: 'listen', env: 'LOOKOUT_LISTEN', key: ['server', 'listen'], arg: 'HOST:PORT', help: 'Address of the HTTP server: /metrics, /healthz, /readyz. Default 127.0.0.1:9337.' },
  { flag: 'root', env: 'LOOKOUT_ROOT', key: ['root'], arg: 'DIR', help: "Where the host's / is mounted (e.g. /host in a container). Default /." },
  { flag: 'state-dir', env: 'LOOKOUT_STATE_DIR', key: ['state_dir'], arg: 'DIR', help: 'Writable directory for delivery buffers and log checkpoints. Default /var/lib/lookout.' },
  { flag: 'log-level', env: 'LOOKOUT_LOG_LEVEL', key: ['log', 'level'], arg: 'LEVEL', help: 'fatal, error, warn, info (default), debug or trace.' },
  { flag: 'log-output-file', env: 'LOOKOUT_LOG_OUTPUT_FILE', key: ['exporters', 'file', 'path'], arg: 'PATH', help: 'Write container log records as JSON lines to PATH (- for stdout); enables log collection.' },
];

/** Expands `${VAR}` and `${VAR:-default}` in every string of a parsed YAML tree; `$${` is a literal `${`. */
export function expandEnv(value: unknown, env: NodeJS.ProcessEnv, path = ''): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$?\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (whole, name: string, def: string | undefined) => {
      if (whole.startsWith('$$')) return whole.slice(1);
      const v = env[name];
      if (v !== undefined && v !== '') return v;
      if (def !== undefined) return def;
      throw new LookoutError('LOOKOUT_ERR_CONFIG', `config key "${path}": environment variable ${name} is not set; set it or write \${${name}:-default}`);
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => expandEnv(v, env, `${path}[${i}]`));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expandEnv(v, env, path ? `${path}.${k}` : k)]));
  }
  return value;
}

function subSchema(path: readonly string[]): TSchema {
  let s: TSchema = configSchema;
  for (const k of path) s = (s as TObject).properties[k] as TSchema;
  return s;
}

function setPath(obj: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let o = obj;
  for (const k of path.slice(0, -1)) {
    const next = o[k];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) o[k] = {};
    o = o[k] as Record<string, unknown>;
  }
  o[path[path.length - 1] as string] = value;
}

function describeAllowed(schema: TSchema): string {
  const s = schema as Record<string, unknown>;
  if (Array.isArray(s['anyOf'])) return `one of ${(s['anyOf'] as Array<{ const?: unknown }>).map((a) => JSON.stringify(a.const)).join(', ')}`;
  const parts: string[] = [];
  if (typeof s['type'] === 'string') parts.push(`${/^[aeiou]/.test(s['type']) ? 'an' : 'a'} ${s['type']}`);
  if (s['pattern'] === DURATION_PATTERN) parts.push('a duration like 500ms, 10s or 5m');
  else if (s['pattern'] === LISTEN) parts.push('HOST:PORT like 127.0.0.1:9337 or [::1]:9337');
  else if (typeof s['pattern'] === 'string') parts.push(`matching ${s['pattern']}`);
  if (typeof s['minimum'] === 'number') parts.push(`>= ${s['minimum']}`);
  if (typeof s['maximum'] === 'number') parts.push(`<= ${s['maximum']}`);
  if (typeof s['minLength'] === 'number') parts.push('not empty');
  return parts.join(', ');
}

const REDACTED = '(redacted)';

/** A value as config messages show it: credentials (schema `writeOnly`) and passwords in URLs are never printed. */
function shown(schema: TSchema, value: unknown): string {
  if ((schema as { writeOnly?: unknown }).writeOnly === true) return JSON.stringify(REDACTED);
  const text = JSON.stringify(value);
  return typeof text === 'string' ? text.replace(/(:\/\/[^/@\s"]*?:)[^/@\s"]*@/g, `$1${REDACTED}@`) : String(text);
}

/**
 * The config with every credential (schema `writeOnly`, in objects and in records) replaced
 * by "(redacted)" when set: what `lookout validate` prints.
 */
export function redacted(value: unknown, schema: TSchema = configSchema): unknown {
  const s = schema as { writeOnly?: unknown; properties?: Record<string, TSchema>; patternProperties?: Record<string, TSchema> };
  if (s.writeOnly === true) return typeof value === 'string' && value === '' ? value : REDACTED;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const each = s.patternProperties ? Object.values(s.patternProperties)[0] : undefined;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => {
      const child = s.properties?.[k] ?? each;
      return [k, child ? redacted(v, child) : v];
    }),
  );
}

/** Validates a merged, defaulted config and returns it typed, or throws one error listing every problem. */
export function validate(raw: unknown, origin: string): Config {
  const copy = Value.Clone(raw ?? {});
  let withDefaults: unknown;
  let defaultsFailed: unknown;
  try {
    withDefaults = Value.Default(configSchema, copy);
  } catch (err) {
    // TypeBox cannot fill defaults into some wrong shapes (an object with a `length` key where
    // a list belongs); the errors below, from the input as given, name the key instead.
    withDefaults = copy;
    defaultsFailed = err;
  }
  // Cloning drops an own `__proto__` key (a YAML file may hold one), so the schema never sees it.
  const problems: string[] = protoKeys(raw, '').map((key) => `config key "${key}" is not a known setting`);
  for (const e of Value.Errors(configSchema, withDefaults)) {
    // A JSON pointer: `/` separates keys, `~1` and `~0` stand for `/` and `~` inside one.
    const key = e.path.slice(1).split('/').map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~')).join('.');
    if (e.message === 'Unexpected property') {
      const allowed = Object.keys((e.schema as TObject).properties ?? {});
      const patterns = Object.keys((e.schema as { patternProperties?: Record<string, unknown> }).patternProperties ?? {});
      problems.push(`config key "${key}" is not a known setting; allowed here: ${allowed.length > 0 || patterns.length === 0 ? allowed.join(', ') : `keys matching ${patterns.join(' or ')}`}`);
    } else if (!problems.some((p) => p.startsWith(`config key "${key}" `))) {
      problems.push(`config key "${key}" = ${shown(e.schema, e.value)} is invalid: expected ${describeAllowed(e.schema)}`);
    }
  }
  if (defaultsFailed !== undefined && problems.length === 0) problems.push(`the configuration has a shape that cannot be read: ${String(defaultsFailed)}`);
  const cfg = withDefaults as Config;
  if (problems.length === 0) {
    const port = Number(cfg.server.listen.slice(cfg.server.listen.lastIndexOf(':') + 1));
    if (port > 65535) problems.push(`config key "server.listen" = "${cfg.server.listen}" is invalid: the port must be 0-65535 (0 picks a free one)`);
  }
  if (problems.length > 0) throw new LookoutError('LOOKOUT_ERR_CONFIG', `invalid configuration (${origin}):\n  ${problems.join('\n  ')}`);
  return cfg;
}

/** Paths of own `__proto__` keys in a parsed document. */
function protoKeys(v: unknown, path: string): string[] {
  if (v === null || typeof v !== 'object') return [];
  const found: string[] = [];
  for (const k of Object.keys(v)) {
    const here = Array.isArray(v) ? `${path}[${k}]` : path === '' ? k : `${path}.${k}`;
    if (k === '__proto__') found.push(here);
    else found.push(...protoKeys((v as Record<string, unknown>)[k], here));
  }
  return found;
}

export interface Sources {
  /** Parsed flags by flag name (without `--`). */
  readonly flags: Readonly<Record<string, string | undefined>>;
  readonly env: NodeJS.ProcessEnv;
}

/** Loads the effective configuration from the file named by `--config`/`LOOKOUT_CONFIG`, the environment and the flags. */
export function loadConfig({ flags, env }: Sources): { config: Config; file: string | undefined } {
  const file = flags['config'] ?? env['LOOKOUT_CONFIG'];
  let doc: Record<string, unknown> = {};
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new LookoutError('LOOKOUT_ERR_CONFIG', `cannot read config file ${file}: ${(err as Error).message}`, { cause: err });
    }
    let parsed: unknown;
    try {
      parsed = parseYaml(text);
    } catch (err) {
      throw new LookoutError('LOOKOUT_ERR_CONFIG', `config file ${file} is not valid YAML: ${(err as Error).message}`, { cause: err });
    }
    if (parsed !== null && parsed !== undefined && (typeof parsed !== 'object' || Array.isArray(parsed))) {
      throw new LookoutError('LOOKOUT_ERR_CONFIG', `config file ${file} must hold a mapping of settings at the top level`);
    }
    doc = (expandEnv(parsed ?? {}, env) as Record<string, unknown>) ?? {};
  }
  for (const layer of ['env', 'flag'] as const) {
    for (const o of OPTIONS) {
      if (o.key === null) continue;
      const v = layer === 'env' ? env[o.env] : flags[o.flag];
      if (v === undefined || v === '') continue;
      setPath(doc, o.key, Value.Convert(subSchema(o.key), v));
    }
  }
  return { config: validate(doc, file ?? 'defaults, environment and flags'), file };
}
