/**
 * `lookout run | validate | help`. Flags, environment variables and their help all come
 * from one table (OPTIONS in config.ts).
 */
import { parseArgs } from 'node:util';
import { Agent } from './agent.js';
import { type Config, loadConfig, OPTIONS, redacted } from './config.js';
import { LookoutError } from './errors.js';
import { createLogger } from './log.js';
import { VERSION } from './version.js';

export function usage(): string {
  const width = Math.max(...OPTIONS.map((o) => `--${o.flag} ${o.arg}`.length));
  const flags = OPTIONS.map((o) => `  ${`--${o.flag} ${o.arg}`.padEnd(width)}  ${o.help} [env ${o.env}]`).join('\n');
  return `lookout ${VERSION}: container metrics agent (cgroups -> Prometheus, cAdvisor-compatible)

Usage:
  lookout run [flags]                   start the agent
  lookout validate [--config FILE]      check a configuration and print the effective settings, without starting
  lookout --help | --version

Flags (flags override environment variables, which override the config file):
${flags}
  ${'--help'.padEnd(width)}  Show this help.
  ${'--version'.padEnd(width)}  Print the version.

Endpoints: /metrics (Prometheus text or OpenMetrics, gzip), /healthz, /readyz.
Configuration reference: docs/configuration.md. Metrics: docs/metrics.md.
`;
}

interface Parsed {
  command: string;
  flags: Record<string, string | undefined>;
  help: boolean;
  version: boolean;
}

export function parseCli(argv: readonly string[]): Parsed {
  const options: Record<string, { type: 'string' | 'boolean' }> = { help: { type: 'boolean' }, version: { type: 'boolean' } };
  for (const o of OPTIONS) options[o.flag] = { type: 'string' };
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new LookoutError('LOOKOUT_ERR_CONFIG', `${(err as Error).message}; run "lookout --help" for the flags`);
  }
  const { values, positionals } = parsed;
  if (positionals.length > 1) throw new LookoutError('LOOKOUT_ERR_CONFIG', `unexpected arguments: ${positionals.slice(1).join(' ')}; run "lookout --help"`);
  const flags: Record<string, string | undefined> = {};
  for (const o of OPTIONS) {
    const v = values[o.flag];
    if (typeof v === 'string') flags[o.flag] = v;
  }
  return { command: positionals[0] ?? 'help', flags, help: values['help'] === true, version: values['version'] === true };
}

/**
 * Runs the agent until SIGTERM or SIGINT. SIGHUP reloads the configuration from the same
 * file, environment and flags: a configuration that does not validate is rejected with its
 * errors in the log and the running agent keeps its own; a valid, different one replaces the
 * agent (stopped in order, so exporters flush, log checkpoints are saved and on-disk buffers
 * are taken up by the new one).
 */
async function run(config: Config, reload: () => Config): Promise<void> {
  let log = createLogger(config.log.level);
  let current = config;
  let agent: Agent | undefined;
  // The handlers are in place before the agent starts: a SIGTERM that arrives while it starts
  // stops it in order once it is up, instead of killing the process mid-write.
  const starting = Agent.start(config, { log }).then((a) => {
    agent = a;
  });
  let signals = 0;
  let reloading: Promise<void> = starting.catch(() => undefined);
  const onSignal = (sig: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      log.warn({ signal: sig }, 'second signal: exiting now');
      process.exit(130);
    }
    log.info({ signal: sig }, 'stopping');
    void reloading.then(() => agent?.stop()).then(() => process.exit(0));
  };
  const onHup = (): void => {
    reloading = reloading.then(async () => {
      if (signals > 0) return;
      let next: Config;
      try {
        next = reload();
      } catch (err) {
        log.error({ err: (err as Error).message }, 'SIGHUP: new configuration rejected; keeping the running one');
        return;
      }
      if (JSON.stringify(next) === JSON.stringify(current)) {
        log.info('SIGHUP: configuration unchanged');
        return;
      }
      log.info('SIGHUP: configuration changed; restarting the agent with it');
      await agent?.stop();
      try {
        log = createLogger(next.log.level);
        agent = await Agent.start(next, { log });
        current = next;
      } catch (err) {
        log.error({ err: (err as Error).message }, 'SIGHUP: the new configuration failed to start; going back to the previous one');
        agent = await Agent.start(current, { log });
      }
    });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('SIGHUP', onHup);
  await starting;
}

export async function main(argv: readonly string[]): Promise<number> {
  let cli: Parsed;
  try {
    cli = parseCli(argv);
  } catch (err) {
    process.stderr.write(`lookout: ${(err as Error).message}\n`);
    return 2;
  }
  if (cli.version) {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  if (cli.help || cli.command === 'help') {
    process.stdout.write(usage());
    return 0;
  }
  if (cli.command !== 'run' && cli.command !== 'validate') {
    process.stderr.write(`lookout: unknown command "${cli.command}"; commands are run and validate (see lookout --help)\n`);
    return 2;
  }
  let loaded;
  try {
    loaded = loadConfig({ flags: cli.flags, env: process.env });
  } catch (err) {
    process.stderr.write(`lookout: ${(err as Error).message}\n`);
    return 1;
  }
  if (cli.command === 'validate') {
    process.stdout.write(`configuration OK (${loaded.file ?? 'no file: defaults, environment and flags'})\n${JSON.stringify(redacted(loaded.config), null, 2)}\n`);
    return 0;
  }
  try {
    await run(loaded.config, () => loadConfig({ flags: cli.flags, env: process.env }).config);
  } catch (err) {
    const code = err instanceof LookoutError ? `${err.code}: ` : '';
    process.stderr.write(`lookout: ${code}${(err as Error).message}\n`);
    return 1;
  }
  return -1;
}

